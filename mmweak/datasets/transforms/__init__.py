# Copyright (c) mmweak contributors.
from .formatting import PackWSOLInputs
from .image_level_labels import SEG_META_KEYS_WITH_TAGS, LoadImageLevelLabels
from .label_values import MapLabelValues
from .loading import LoadImageFromFile, LoadWSOLAnnotations
from .region_features import (LoadRegionFeatures, PackTriadInputs,
                              region_feature_path)
from .processing import (WSOLCenterCrop, WSOLClipBoxes, WSOLRandomCrop,
                         WSOLRandomFlip, WSOLResize)

__all__ = [
    'LoadImageFromFile', 'LoadWSOLAnnotations', 'WSOLResize',
    'WSOLRandomCrop', 'WSOLCenterCrop', 'WSOLRandomFlip', 'WSOLClipBoxes',
    'PackWSOLInputs', 'MapLabelValues', 'LoadImageLevelLabels',
    'SEG_META_KEYS_WITH_TAGS', 'LoadRegionFeatures', 'PackTriadInputs',
    'region_feature_path'
]
