# Copyright (c) mmweak contributors.
from .box_sweep import (max_box_acc, sweep_box_ious, sweep_max_ious,
                        sweep_thresholds)
from .pxap import pxap_from_histograms, score_histograms, score_levels
from .seg_confusion import (confusion_matrix, inclusive_range, seg_scores,
                            sweep_confusion)

__all__ = [
    'max_box_acc', 'sweep_box_ious', 'sweep_max_ious', 'sweep_thresholds',
    'pxap_from_histograms', 'score_histograms', 'score_levels',
    'confusion_matrix', 'inclusive_range', 'seg_scores', 'sweep_confusion'
]
