# Copyright (c) mmweak contributors.
from .dense_feature_extractor import DenseFeatureExtractor
from .gradient_reversal import (GradientReversal, GradientReversalFunction,
                                gradient_reversal)

__all__ = [
    'GradientReversal', 'GradientReversalFunction', 'gradient_reversal',
    'DenseFeatureExtractor'
]
