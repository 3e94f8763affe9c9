# Copyright (c) mmweak contributors.
from .seed_metric import (SeedMetric, format_seed_table, save_seed_report,
                          seed_report)
from .wsol_metric import WSOLMetric
from .grounding_metric import GroundingAccuracy

__all__ = [
    'WSOLMetric', 'SeedMetric', 'seed_report', 'save_seed_report',
    'format_seed_table', 'GroundingAccuracy'
]
