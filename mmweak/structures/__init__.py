# Copyright (c) mmweak contributors.
"""Shared map and box helpers (importable from anywhere in mmweak)."""
from .box_iou import bbox_overlaps, box_iou, box_iou_inclusive
from .map_boxes import (boxes_from_maps, choe_threshold_levels, contour_boxes,
                        largest_cc_box, largest_contour_box, minmax_maps,
                        prepare_wsol_maps, quantize_maps, wsol_map_boxes)
from .label_map import (IGNORE_INDEX, RESERVED_INDICES, UNCERTAIN_INDEX,
                        check_label_values)
from .map_ops import normalize_maps, resize_maps

__all__ = [
    'bbox_overlaps', 'box_iou', 'box_iou_inclusive', 'boxes_from_maps',
    'choe_threshold_levels', 'contour_boxes', 'largest_cc_box',
    'largest_contour_box', 'minmax_maps', 'prepare_wsol_maps', 'quantize_maps',
    'wsol_map_boxes', 'normalize_maps', 'resize_maps', 'IGNORE_INDEX',
    'UNCERTAIN_INDEX', 'RESERVED_INDICES', 'check_label_values'
]
