# Copyright (c) mmweak contributors.
from .formatting import PackWSOLInputs
from .label_values import MapLabelValues
from .loading import LoadImageFromFile, LoadWSOLAnnotations
from .processing import (WSOLCenterCrop, WSOLClipBoxes, WSOLRandomCrop,
                         WSOLRandomFlip, WSOLResize)

__all__ = [
    'LoadImageFromFile', 'LoadWSOLAnnotations', 'WSOLResize',
    'WSOLRandomCrop', 'WSOLCenterCrop', 'WSOLRandomFlip', 'WSOLClipBoxes',
    'PackWSOLInputs', 'MapLabelValues'
]
