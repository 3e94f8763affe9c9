# Copyright (c) mmweak contributors.
from .wsol_classifier import WSOLClassifier
from .bas_classifier import BASClassifier
from .multilabel_cam_classifier import MultiLabelCAMClassifier

__all__ = ['BASClassifier', 'WSOLClassifier', 'MultiLabelCAMClassifier']
