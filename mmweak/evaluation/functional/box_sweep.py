# Copyright (c) mmweak contributors.
"""Threshold sweep for MaxBoxAcc / MaxBoxAccV2 (Choe et al.).

Choe et al., "Evaluating Weakly Supervised Object Localization Methods
Right" (CVPR 2020, arXiv 2001.07437) and "Evaluation for Weakly Supervised
Object Localization: Protocol, Metrics, and Datasets" (arXiv 2007.04178):
``BoxAcc(tau, delta) = mean_n 1[IoU_n(tau) >= delta]`` and
``MaxBoxAcc(delta) = max_tau BoxAcc(tau, delta)``. For MaxBoxAccV2 every
contour of the binarised map gives a candidate box and ``IoU_n(tau)`` is the
best IoU over candidate and ground-truth boxes.
"""
from typing import Dict, Sequence, Tuple, Union

import cv2
import numpy as np

from mmweak.structures import (bbox_overlaps, choe_threshold_levels,
                               largest_cc_box, quantize_maps)


def sweep_thresholds(interval: float = 0.01) -> np.ndarray:
    """Thresholds ``0, interval, 2 * interval, ... < 1`` (``np.arange``).

    Args:
        interval (float): Step of the sweep in (0, 1]. Defaults to 0.01.

    Returns:
        np.ndarray: float64 thresholds (T,).
    """
    if not 0 < interval <= 1:
        raise ValueError(
            f'`cam_curve_interval` must be in (0, 1], got {interval!r}.')
    return np.arange(0, 1, interval)


def sweep_max_ious(
    score_map: np.ndarray,
    gt_bboxes: np.ndarray,
    thresholds: np.ndarray,
    iou_offset: int = 1,
    box_convention: str = 'reference',
    return_largest: bool = False
) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
    """Best IoU between all-contour boxes and GT boxes at every threshold.

    The map is quantised once (``q = uint8(255 * s)``); at threshold ``tau``
    the foreground is ``q > int(tau * max(q))`` and every contour
    (``cv2.findContours``, ``RETR_TREE``, ``CHAIN_APPROX_SIMPLE``) gives one
    box. Thresholds that yield the same integer level share one contour
    search, and since the foreground shrinks as ``tau`` grows, each search
    runs only inside the previous foreground's bounding box (plus a one pixel
    zero margin), which leaves the contours unchanged. A threshold without
    any contour scores the box ``[0, 0, 0, 0]``. With ``return_largest``
    the IoU of the largest-area contour's box (MaxBoxAcc of the CVPR 2020
    paper) is returned as well.

    Args:
        score_map (np.ndarray): Map (H, W) in [0, 1].
        gt_bboxes (np.ndarray): Ground-truth boxes (G, 4), x0, y0, x1, y1.
        thresholds (np.ndarray): Ascending thresholds (T,).
        iou_offset (int): 1 (inclusive IoU, default) or 0.
        box_convention (str): ``'reference'`` (``x1 = min(x + w, W - 1)``,
            default) or ``'inclusive'`` (``x1 = x + w - 1``).
        return_largest (bool): Also return the largest-contour IoUs.
            Defaults to False.

    Returns:
        np.ndarray | tuple: float64 (T,) best IoU over all contours per
        threshold (0 if G == 0); with ``return_largest`` a tuple
        ``(all_contours, largest_contour)`` of such arrays.
    """
    if box_convention not in ('reference', 'inclusive'):
        raise ValueError("`box_convention` must be 'reference' or "
                         f"'inclusive', got {box_convention!r}.")
    thresholds = np.asarray(thresholds, dtype=np.float64)
    gt_bboxes = np.asarray(gt_bboxes, dtype=np.float64).reshape(-1, 4)
    if len(gt_bboxes) == 0:
        zeros = np.zeros(len(thresholds), dtype=np.float64)
        return (zeros, zeros.copy()) if return_largest else zeros
    if len(thresholds) > 1 and np.any(np.diff(thresholds) < 0):
        raise ValueError('`thresholds` must be sorted in ascending order.')
    quantized = quantize_maps(score_map)
    height, width = quantized.shape
    qmax = int(quantized.max())
    levels = choe_threshold_levels(quantized, thresholds)
    uniq_levels, inverse = np.unique(levels, return_inverse=True)

    # Bounding box of {q > level} for every level at once, from the row and
    # column maxima; searching only inside it (plus a one pixel zero margin
    # where it does not touch the border) leaves the contours unchanged.
    searched = uniq_levels[uniq_levels < qmax]
    col_on = quantized.max(axis=0)[None, :] > searched[:, None]
    row_on = quantized.max(axis=1)[None, :] > searched[:, None]
    x_lo = np.maximum(col_on.argmax(axis=1) - 1, 0)
    x_hi = np.minimum(width - col_on[:, ::-1].argmax(axis=1) + 1, width)
    y_lo = np.maximum(row_on.argmax(axis=1) - 1, 0)
    y_hi = np.minimum(height - row_on[:, ::-1].argmax(axis=1) + 1, height)

    contours_all = []
    counts = []  # contours per level
    for level, x0, x1, y0, y1 in zip(searched.tolist(), x_lo.tolist(),
                                     x_hi.tolist(), y_lo.tolist(),
                                     y_hi.tolist()):
        binary = cv2.threshold(quantized[y0:y1, x0:x1], level, 1,
                               cv2.THRESH_BINARY)[1]
        contours = cv2.findContours(binary, cv2.RETR_TREE,
                                    cv2.CHAIN_APPROX_SIMPLE)[-2]
        contours_all.extend(contours)
        counts.append(len(contours))
    offsets = np.stack([x_lo, y_lo], axis=1)

    num_searched = len(counts)
    best = np.zeros(len(uniq_levels), dtype=np.float64)
    largest = np.zeros(len(uniq_levels), dtype=np.float64)
    if num_searched < len(uniq_levels):
        # Levels at or above max(q): empty foreground, box [0, 0, 0, 0].
        empty_iou = bbox_overlaps(np.zeros((1, 4)),
                                  gt_bboxes,
                                  offset=iou_offset).max()
        best[num_searched:] = empty_iou
        largest[num_searched:] = empty_iou
    if num_searched:
        counts = np.asarray(counts)
        lengths = np.fromiter((len(c) for c in contours_all),
                              dtype=np.int64,
                              count=len(contours_all))
        points = np.concatenate(contours_all).reshape(-1, 2)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        mins = np.minimum.reduceat(points, starts, axis=0)
        maxs = np.maximum.reduceat(points, starts, axis=0)
        shift = np.repeat(np.asarray(offsets), counts, axis=0)
        mins = mins + shift
        maxs = maxs + shift
        if box_convention == 'reference':
            ends = np.minimum(maxs + 1, [width - 1, height - 1])
        else:
            ends = maxs
        boxes = np.concatenate([mins, ends], axis=1)
        ious = bbox_overlaps(boxes, gt_bboxes, offset=iou_offset).max(axis=1)
        level_starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        best[:num_searched] = np.maximum.reduceat(ious, level_starts)
        if return_largest:
            # First contour of largest polygon area in each level, as
            # ``max(contours, key=cv2.contourArea)`` picks it.
            areas = np.fromiter((cv2.contourArea(c) for c in contours_all),
                                dtype=np.float64,
                                count=len(contours_all))
            group = np.repeat(np.arange(num_searched), counts)
            is_max = areas == np.maximum.reduceat(areas, level_starts)[group]
            candidates = np.flatnonzero(is_max)
            _, first = np.unique(group[candidates], return_index=True)
            largest[:num_searched] = ious[candidates[first]]
    if return_largest:
        return best[inverse], largest[inverse]
    return best[inverse]


def sweep_box_ious(score_map: np.ndarray,
                   gt_bboxes: np.ndarray,
                   thresholds: np.ndarray,
                   method: str = 'largest_cc',
                   iou_offset: int = 1,
                   box_convention: str = 'reference') -> np.ndarray:
    """IoU of the single fixed-threshold box with the GT at every threshold.

    At each ``tau`` the box is exactly the one
    :func:`~mmweak.structures.boxes_from_maps` gives for ``score_map`` at
    ``tau`` with ``method`` (the box behind GT-known / Top-1 Loc), so
    ``argmax_tau mean_n 1[IoU_n(tau) >= 0.5]`` is the threshold maximising
    GT-known Loc. ``largest_contour`` reuses :func:`sweep_max_ious`;
    ``largest_cc`` (foreground ``s > tau``) labels each distinct foreground
    once (thresholds between the same two map values share it).

    Args:
        score_map (np.ndarray): Prepared map (H, W) in [0, 1].
        gt_bboxes (np.ndarray): Ground-truth boxes (G, 4).
        thresholds (np.ndarray): Ascending thresholds (T,).
        method (str): ``'largest_cc'`` or ``'largest_contour'``.
            Defaults to ``'largest_cc'``.
        iou_offset (int): 1 (inclusive IoU, default) or 0.
        box_convention (str): ``'reference'`` (default) or ``'inclusive'``.

    Returns:
        np.ndarray: float64 (T,) IoU per threshold (max over GT boxes; 0 if
        G == 0).
    """
    if method == 'largest_contour':
        return sweep_max_ious(score_map,
                              gt_bboxes,
                              thresholds,
                              iou_offset=iou_offset,
                              box_convention=box_convention,
                              return_largest=True)[1]
    if method != 'largest_cc':
        raise ValueError("`method` must be 'largest_cc' or "
                         f"'largest_contour', got {method!r}.")
    thresholds = np.asarray(thresholds, dtype=np.float64)
    gt_bboxes = np.asarray(gt_bboxes, dtype=np.float64).reshape(-1, 4)
    if len(gt_bboxes) == 0:
        return np.zeros(len(thresholds), dtype=np.float64)
    score_map = np.asarray(score_map, dtype=np.float32)
    # ``s > tau`` is compared in float32, as in ``boxes_from_maps``; two
    # thresholds with the same number of map values <= tau give one mask.
    thrs32 = thresholds.astype(np.float32)
    values = np.unique(score_map)
    keys = np.searchsorted(values, thrs32, side='right')
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    ious = np.empty(len(first), dtype=np.float64)
    for j, index in enumerate(first.tolist()):
        mask = (score_map > thrs32[index]).astype(np.uint8)
        box = largest_cc_box(mask, box_convention)
        ious[j] = bbox_overlaps(box[None].astype(np.float64),
                                gt_bboxes,
                                offset=iou_offset).max()
    return ious[inverse.reshape(-1)]


def max_box_acc(
    max_ious: np.ndarray,
    thresholds: np.ndarray,
    iou_thrs: Sequence[float] = (0.3, 0.5, 0.7)
) -> Dict[float, tuple]:
    """MaxBoxAcc at each IoU threshold from per-sample sweep results.

    Args:
        max_ious (np.ndarray): (N, T) best IoU of each sample per threshold.
        thresholds (np.ndarray): (T,) thresholds of the sweep.
        iou_thrs (Sequence[float]): IoU thresholds delta.
            Defaults to (0.3, 0.5, 0.7).

    Returns:
        dict: ``{delta: (max_box_acc_percent, best_tau)}``; ties pick the
        lowest tau.
    """
    max_ious = np.asarray(max_ious).reshape(-1, len(thresholds))
    results = {}
    for delta in iou_thrs:
        box_acc = (max_ious >= delta).mean(axis=0) * 100 if len(max_ious) \
            else np.zeros(len(thresholds))
        best = int(np.argmax(box_acc))
        results[delta] = (float(box_acc[best]), float(thresholds[best]))
    return results
