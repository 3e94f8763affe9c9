# Copyright (c) mmweak contributors.
from .wsol_metric import WSOLMetric

__all__ = ['WSOLMetric']
