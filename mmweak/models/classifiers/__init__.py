# Copyright (c) mmweak contributors.
from .wsol_classifier import WSOLClassifier
from .bas_classifier import BASClassifier

__all__ = ['BASClassifier', 'WSOLClassifier']
