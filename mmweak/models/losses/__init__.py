# Copyright (c) mmweak contributors.
from .sat_loss import SATLoss
from .bas_loss import BASLoss
from .area_loss import AreaLoss
from .point_guided_consistency_loss import PointGuidedConsistencyLoss
from .pos_neg_ce_loss import PosNegCrossEntropyLoss, pos_neg_cross_entropy
from .weighted_cross_entropy import (WeightedCrossEntropyLoss,
                                     weighted_cross_entropy)

__all__ = [
    'BASLoss', 'SATLoss', 'AreaLoss', 'PosNegCrossEntropyLoss',
    'pos_neg_cross_entropy', 'WeightedCrossEntropyLoss',
    'weighted_cross_entropy', 'PointGuidedConsistencyLoss'
]
