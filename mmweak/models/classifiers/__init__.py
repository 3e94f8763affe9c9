# Copyright (c) mmweak contributors.
from .wsol_classifier import WSOLClassifier
from .bas_classifier import BASClassifier
from .multilabel_cam_classifier import MultiLabelCAMClassifier
from .bas_wsss_classifier import BASWSSSClassifier

__all__ = [
    'BASClassifier', 'WSOLClassifier', 'MultiLabelCAMClassifier',
    'BASWSSSClassifier'
]
