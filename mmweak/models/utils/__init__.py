# Copyright (c) mmweak contributors.
from .gradient_reversal import (GradientReversal, GradientReversalFunction,
                                gradient_reversal)

__all__ = [
    'GradientReversal', 'GradientReversalFunction', 'gradient_reversal'
]
