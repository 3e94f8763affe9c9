# Copyright (c) mmweak contributors.
from .sat_loss import SATLoss
from .bas_loss import BASLoss

__all__ = ['BASLoss', 'SATLoss']
