# Copyright (c) mmweak contributors.
from .formatting import PackWSOLInputs
from .loading import LoadWSOLAnnotations
from .processing import (WSOLCenterCrop, WSOLClipBoxes, WSOLRandomCrop,
                         WSOLRandomFlip, WSOLResize)

__all__ = [
    'LoadWSOLAnnotations', 'WSOLResize', 'WSOLRandomCrop', 'WSOLCenterCrop',
    'WSOLRandomFlip', 'WSOLClipBoxes', 'PackWSOLInputs'
]
