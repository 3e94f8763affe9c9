# Copyright (c) mmweak contributors.
"""Pixel-wise average precision (PxAP) and PIoU from pooled histograms.

PxAP is defined by Choe et al., "Evaluation for Weakly Supervised Object
Localization: Protocol, Metrics, and Datasets" (arXiv 2007.04178): all
non-ignored pixels of the evaluated images are pooled, the map is thresholded
at ``tau = 1, 1 - step, ..., 0`` (``s >= tau`` is positive) and the area under
the pixel precision-recall curve is accumulated. PIoU (BAS-Extension) is the
best pooled ``TP / (TP + FP + FN)`` over the same thresholds.

Scores are stored as per-image histograms over ``num_bins + 1`` levels so
that distributed evaluation only has to add them up: bin ``j`` counts pixels
with ``j / num_bins <= s < (j + 1) / num_bins``, and the last bin holds
``s >= 1``.
"""
from typing import Optional, Tuple

import numpy as np


def score_levels(num_bins: int = 1000) -> np.ndarray:
    """Thresholds ``j / num_bins`` for ``j = 0 .. num_bins`` (ascending)."""
    if num_bins < 1:
        raise ValueError(f'`num_bins` must be >= 1, got {num_bins!r}.')
    return np.arange(num_bins + 1, dtype=np.float64) / num_bins


def score_histograms(score_map: np.ndarray,
                     gt_mask: np.ndarray,
                     num_bins: int = 1000,
                     ignore_mask: Optional[np.ndarray] = None,
                     dtype=np.int64) -> np.ndarray:
    """Histograms of the scores of foreground and background pixels.

    Args:
        score_map (np.ndarray): Map (H, W); clipped to [0, 1], NaN as 0.
        gt_mask (np.ndarray): Foreground (H, W); non-zero is foreground.
        num_bins (int): Threshold step is ``1 / num_bins``. Defaults to 1000.
        ignore_mask (np.ndarray, optional): (H, W); non-zero pixels are left
            out (foreground pixels are never ignored). Defaults to None.
        dtype: Integer dtype of the counts. Defaults to ``np.int64``.

    Returns:
        np.ndarray: (2, num_bins + 1) counts: row 0 foreground, row 1
        background.
    """
    score_map = np.asarray(score_map)
    gt_mask = np.asarray(gt_mask)
    if score_map.shape != gt_mask.shape:
        raise ValueError(f'score map shape {score_map.shape} and mask shape '
                         f'{gt_mask.shape} differ.')
    # Levels with a +inf sentinel so that ``bins + 1`` is always a valid index.
    levels = np.append(score_levels(num_bins), np.inf)
    scores = np.clip(
        np.nan_to_num(score_map.astype(np.float64, copy=False).ravel(),
                      nan=0.), 0, 1)
    # Index of the highest level <= score, so ``s >= levels[j]`` <=> bin >= j:
    # a fast estimate, then a correction for rounding next to the levels.
    bins = (scores * num_bins).astype(np.int64)
    bins -= levels[bins] > scores
    bins += levels[bins + 1] <= scores
    length = num_bins + 1
    # One bincount for both rows: foreground codes first, background codes
    # shifted by ``length``, ignored pixels in a dropped last bucket.
    codes = bins + length * (gt_mask.ravel() == 0)
    if ignore_mask is not None:
        ignored = (np.asarray(ignore_mask).ravel() != 0) & (codes >= length)
        codes[ignored] = 2 * length
    hist = np.bincount(codes, minlength=2 * length + 1)[:2 * length]
    return hist.reshape(2, length).astype(dtype)


def pxap_from_histograms(fg_hist: np.ndarray,
                         bg_hist: np.ndarray) -> Tuple[float, float]:
    """PxAP and PIoU (percent) from pooled score histograms.

    Thresholds are visited from high to low and thresholds without any
    positive pixel are skipped (they can only come first):
    ``PxAP = 100 * sum_l P_l * (R_l - R_{l-1})`` with ``R_0 = 0``.

    Args:
        fg_hist (np.ndarray): (L,) pooled foreground counts per level.
        bg_hist (np.ndarray): (L,) pooled background counts per level.

    Returns:
        tuple[float, float]: ``(pxap, piou)`` in percent; ``(0, 0)`` if there
        is no foreground pixel.
    """
    fg_hist = np.asarray(fg_hist, dtype=np.int64)
    bg_hist = np.asarray(bg_hist, dtype=np.int64)
    num_fg = int(fg_hist.sum())
    if num_fg == 0:
        return 0., 0.
    tp = np.cumsum(fg_hist[::-1]).astype(np.float64)
    fp = np.cumsum(bg_hist[::-1]).astype(np.float64)
    fn = num_fg - tp
    piou = float((tp / (tp + fp + fn)).max()) * 100
    positive = (tp + fp) > 0
    precision = tp[positive] / (tp[positive] + fp[positive])
    recall = tp[positive] / num_fg
    pxap = float((precision * np.diff(recall, prepend=0.)).sum()) * 100
    return pxap, piou
