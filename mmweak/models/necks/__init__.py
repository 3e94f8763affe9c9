# Copyright (c) mmweak contributors.
from .feature_clip import FeatureClip
from .offset_sampler import OffsetSampler, deform_sample
from .esol_neck import ESOLExpansionNeck, ESOLShrinkageNeck

__all__ = [
    'ESOLExpansionNeck', 'ESOLShrinkageNeck', 'FeatureClip', 'OffsetSampler',
    'deform_sample'
]
