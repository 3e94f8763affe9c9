# Copyright (c) mmweak contributors.
from .formatting import PackWSOLInputs
from .image_level_labels import SEG_META_KEYS_WITH_TAGS, LoadImageLevelLabels
from .label_values import MapLabelValues
from .loading import LoadImageFromFile, LoadWSOLAnnotations
from .processing import (WSOLCenterCrop, WSOLClipBoxes, WSOLRandomCrop,
                         WSOLRandomFlip, WSOLResize)

__all__ = [
    'LoadImageFromFile', 'LoadWSOLAnnotations', 'WSOLResize',
    'WSOLRandomCrop', 'WSOLCenterCrop', 'WSOLRandomFlip', 'WSOLClipBoxes',
    'PackWSOLInputs', 'MapLabelValues', 'LoadImageLevelLabels',
    'SEG_META_KEYS_WITH_TAGS'
]
