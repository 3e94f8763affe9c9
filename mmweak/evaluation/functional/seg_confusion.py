# Copyright (c) mmweak contributors.
"""Confusion matrices of label maps and of CAM seeds over a whole sweep of
background thresholds (``shared/specs/wsss-protocol.md``, section 5).

A confusion matrix is a ``(C, C + 1)`` int64 tensor: rows are GT classes,
columns predicted classes, and the last column counts "no prediction" (a
predicted 254 / 255, a false negative of the GT class). GT pixels equal to
``ignore_index`` (255) are left out. Scores follow SEAM / MARS: per class
``IoU = TP / (TP + FP + FN)``, ``FP rate = FP / (TP + FP + FN)`` and
``FN rate = FN / (TP + FP + FN)`` (so the three add up to 1), plus precision
and recall (LPCAM); mIoU is the mean over classes with ``TP + FP + FN > 0``.

:func:`sweep_confusion` gives the matrices of every background threshold
(or power) from one pass over the pixels: the foreground argmax and the
largest CAM value ``m`` of a pixel do not depend on the threshold, and the
pixel is background exactly when ``m <= b`` for the threshold's boundary
``b`` (:func:`mmweak.wsss.bg_boundaries`; background wins ties, as in
:func:`mmweak.wsss.cams_to_label`). So it suffices to histogram, per
(GT class, foreground class), the number of boundaries below ``m``, and to
take cumulative sums over that histogram.
"""
import functools
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from mmweak.structures import IGNORE_INDEX, UNCERTAIN_INDEX
from mmweak.wsss.seeds import (Keys, _check_cams, _fg_max, _label_lut,
                               bg_boundaries, cams_to_label)

ArrayLike = Union[Tensor, np.ndarray]


def inclusive_range(start: float, stop: float, step: float) -> np.ndarray:
    """``start, start + step, ..., stop`` (inclusive), rounded to 10
    decimals so that e.g. ``(0.05, 0.60, 0.01)`` gives 56 clean values."""
    if not step > 0 or stop < start:
        raise ValueError(f'need step > 0 and stop >= start, got start='
                         f'{start}, stop={stop}, step={step}')
    num = int(np.floor((stop - start) / step + 1e-9)) + 1
    return np.round(start + step * np.arange(num), 10)


def _as_tensor(value: ArrayLike, name: str) -> Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, Tensor):
        raise TypeError(f'`{name}` must be a Tensor or ndarray, got '
                        f'{type(value).__name__}')
    if value.is_floating_point() or value.is_complex():
        raise TypeError(
            f'`{name}` must hold integer labels, got {value.dtype}')
    return value


@functools.lru_cache(maxsize=16)
def _luts(num_classes: int, ignore_index: int,
          device: torch.device) -> Dict[str, Tensor]:
    """Value (0..255) -> row (GT) / column (prediction) tables, int32
    (cached; never modified).

    Rows: ``0..C-1`` classes, ``C`` ignored, ``C + 1`` invalid. Columns:
    ``0..C-1`` classes, ``C`` no prediction, ``C + 1`` invalid.
    """
    if not 1 <= num_classes <= UNCERTAIN_INDEX:
        raise ValueError(f'`num_classes` must be in 1..{UNCERTAIN_INDEX}, '
                         f'got {num_classes}')
    if not num_classes <= ignore_index <= 255:
        raise ValueError(f'`ignore_index` must be in {num_classes}..255 '
                         f'(not a class id), got {ignore_index}')
    rows = torch.full((256, ),
                      num_classes + 1,
                      dtype=torch.int32,
                      device=device)
    rows[:num_classes] = torch.arange(num_classes, device=device)
    rows[ignore_index] = num_classes
    cols = rows.clone()
    cols[[UNCERTAIN_INDEX, IGNORE_INDEX, ignore_index]] = num_classes
    return dict(rows=rows, cols=cols)


def _gt_error(values: list, num_classes: int, ignore_index: int) -> str:
    return (f'GT label values {values[:10]} are outside 0..{num_classes - 1}'
            f' and the ignore index {ignore_index}')


def _pred_error(values: list, num_classes: int) -> str:
    return (f'predicted label values {values[:10]} are outside 0..'
            f'{num_classes - 1} and {UNCERTAIN_INDEX} / {IGNORE_INDEX} (no '
            'prediction)')


def _bytes(values: Tensor, error) -> Tensor:
    """``values`` as int32, after checking that they lie in 0..255."""
    if values.dtype != torch.uint8 and values.numel():
        low, high = torch.aminmax(values)
        if int(low) < 0 or int(high) > 255:
            bad = torch.unique(values[(values < 0) | (values > 255)])
            raise ValueError(error(bad.tolist()))
    return values.int()


def _step_counter(bounds: Tensor):
    """A function ``m -> #{i: bounds[i] < m}`` (int32) for ascending
    ``bounds``: ``torch.bucketize`` made cheap with a lookup table.

    ``m`` is first mapped to one of G cells of a uniform grid over the
    boundaries' range by a monotone float expression; applied to the
    boundaries themselves, the same expression tells which cells hold
    which boundaries (boundaries in lower cells are below ``m``, those in
    higher cells above). When no cell holds two distinct boundaries, the
    count is the number of boundaries in lower cells plus, if ``m`` exceeds
    the boundary of its own cell, its multiplicity: exact. G doubles until
    that holds; past ``2 ** 16`` cells ``torch.bucketize`` is used.
    """
    work = torch.float32 if bounds.element_size() < 4 else bounds.dtype
    bounds = bounds.to(work)
    num = len(bounds)
    low, span = bounds[0], float(bounds[-1] - bounds[0])
    if span == 0:
        return lambda top: (top.to(work) > low).to(torch.int32) * num
    uniq, counts = torch.unique_consecutive(bounds, return_counts=True)
    grid = 64
    while grid <= 2**16:
        scale = (grid - 1) / span

        def cell(x: Tensor, scale: float = scale, grid: int = grid) -> Tensor:
            return torch.sub(x.to(work),
                             low).mul_(scale).clamp_(0, grid - 1).int()

        ucell = cell(uniq).long()
        if not bool((ucell[1:] == ucell[:-1]).any()):
            break
        grid *= 2
    else:
        return lambda top: torch.bucketize(
            top.to(work), bounds, out_int32=True)
    device = bounds.device
    base = torch.searchsorted(
        cell(bounds).long(), torch.arange(grid, device=device)).int()
    value = torch.full((grid, ), float('inf'), dtype=work, device=device)
    value[ucell] = uniq
    # entry 2c: boundaries below any m of cell c; 2c + 1: also those in it
    table = torch.stack([base, base], dim=1)
    table[ucell, 1] += counts.int()
    table = table.flatten()

    def count(top: Tensor) -> Tensor:
        cells = cell(top).flatten()
        over = top.to(work).flatten() > value.index_select(0, cells)
        return table.index_select(0, torch.add(over, cells,
                                               alpha=2)).view(top.shape)

    return count


@functools.lru_cache(maxsize=32)
def _sweep_plan(values: Tuple[float, ...], mode: str, dtype: torch.dtype,
                device: torch.device) -> Tuple[Tensor, List[int], Callable]:
    """Where each value sits among the sorted boundaries, the powers to
    evaluate directly and the step counter of a sweep (cached: the same
    sweep runs for every image)."""
    bounds, exact = bg_boundaries(values, mode, dtype, device)
    order = torch.argsort(bounds, stable=True)
    inexact = (~exact).nonzero().flatten().tolist()
    return torch.argsort(order), inexact, _step_counter(bounds[order])


def confusion_matrix(pred: ArrayLike,
                     gt: ArrayLike,
                     num_classes: int,
                     ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Confusion matrix of a label map (or a batch of them).

    Args:
        pred (Tensor | np.ndarray): Predicted labels, integer, any shape;
            ``0..C-1`` classes, 254 / 255 (and ``ignore_index``) "no
            prediction".
        gt (Tensor | np.ndarray): GT labels of the same shape; ``0..C-1``
            or ``ignore_index`` (left out).
        num_classes (int): C, including background.
        ignore_index (int): Ignored GT value. Defaults to 255.

    Returns:
        Tensor: int64 (C, C + 1) on ``pred``'s device; the last column counts
        GT pixels without a prediction.
    """
    pred = _as_tensor(pred, 'pred')
    gt = _as_tensor(gt, 'gt').to(pred.device)
    if pred.shape != gt.shape:
        raise ValueError(f'prediction shape {tuple(pred.shape)} and GT shape '
                         f'{tuple(gt.shape)} differ')
    num = num_classes
    luts = _luts(num, ignore_index, pred.device)
    pred32 = _bytes(pred, lambda bad: _pred_error(bad, num)).flatten()
    gt32 = _bytes(gt, lambda bad: _gt_error(bad, num, ignore_index))
    size = num + 2  # + ignored / no-prediction + invalid
    rows = luts['rows'].index_select(0, gt32.flatten())
    cols = luts['cols'].index_select(0, pred32)
    counts = torch.bincount(torch.add(cols, rows, alpha=size),
                            minlength=size * size).view(size, size)
    if counts[num + 1].any():
        bad = torch.unique(gt32[luts['rows'][gt32.long()] == num + 1])
        raise ValueError(_gt_error(bad.tolist(), num, ignore_index))
    if counts[:, num + 1].any():
        bad = torch.unique(pred32[luts['cols'][pred32.long()] == num + 1])
        raise ValueError(_pred_error(bad.tolist(), num))
    return counts[:num, :num + 1].clone()


def sweep_confusion(cams: Tensor,
                    keys: Keys,
                    gt: ArrayLike,
                    num_classes: int,
                    thresholds: Optional[Sequence[float]] = None,
                    powers: Optional[Sequence[float]] = None,
                    ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Confusion matrices of the CAM seeds at every background threshold
    (or power), in one pass over the pixels.

    Equal, matrix for matrix, to ``confusion_matrix(cams_to_label(cams,
    keys, t), gt)`` for each ``t`` (background wins ties). Powers whose
    boundary :func:`~mmweak.wsss.bg_boundaries` cannot certify (never seen
    for float32 CAMs; common for float64 ones) are evaluated that way.

    Args:
        cams (Tensor): CAMs of the tagged classes (K, H, W), or a batch
            (B, K, H, W) with the same K; finite values (in [0, 1]).
        keys (Tensor | list): 0-based foreground indices (K,), or (B, K) /
            a list of B vectors for a batch.
        gt (Tensor | np.ndarray): GT labels (H, W) or (B, H, W).
        num_classes (int): C, including background.
        thresholds (Sequence[float], optional): Constant backgrounds ``t``.
        powers (Sequence[float], optional): ``alpha`` of ``bg = (1 - max
            cam) ** alpha``. Give exactly one of the two.
        ignore_index (int): Ignored GT value. Defaults to 255.

    Returns:
        Tensor: int64 (T, C, C + 1) on ``cams``' device, in the order of
        the given thresholds / powers (last column all zero: a seed always
        predicts).
    """
    if (thresholds is None) == (powers is None):
        raise ValueError('give exactly one of `thresholds` and `powers`')
    mode = 'threshold' if thresholds is not None else 'power'
    values = list(thresholds if thresholds is not None else powers)
    _check_cams(cams)
    device = cams.device
    gt = _as_tensor(gt, 'gt').to(device)
    batch = cams.shape[0] if cams.dim() == 4 else None
    num_keys = cams.shape[-3]
    if tuple(gt.shape) != cams.shape[:-3] + cams.shape[-2:]:
        raise ValueError(f'GT shape {tuple(gt.shape)} does not match the '
                         f'CAMs {tuple(cams.shape)}')
    labels = _label_lut(keys, batch, num_keys, device)
    if labels.numel() and int(labels.max()) >= num_classes:
        raise ValueError(f'`keys` {labels[..., 1:].sub(1).tolist()} must be '
                         f'< num_classes - 1 = {num_classes - 1}')
    num_thrs = len(values)
    luts = _luts(num_classes, ignore_index, device)
    gt32 = _bytes(gt, lambda bad: _gt_error(bad, num_classes, ignore_index))
    rows = luts['rows'].index_select(0, gt32.flatten())
    size = num_classes + 2  # + ignored + invalid rows
    bins = num_thrs + 1
    if num_keys == 0 or num_thrs == 0:
        # always background: every pixel in step 0 (column 0 is unused)
        flat = rows * (num_classes * bins)
        rank = None
    else:
        rank, inexact, counter = _sweep_plan(tuple(values), mode, cams.dtype,
                                             device)
        top, fg = _fg_max(cams, labels, torch.int32)
        # number of boundaries strictly below m: background from there on
        steps = counter(top).flatten()
        flat = torch.add(steps,
                         torch.add(fg.flatten(), rows, alpha=num_classes),
                         alpha=bins)
    hist = torch.bincount(flat, minlength=size * num_classes * bins)
    hist = hist.view(size, num_classes, bins)
    if hist[num_classes + 1].any():
        bad = torch.unique(gt[(luts['rows'] == num_classes + 1)[gt.long()]])
        raise ValueError(_gt_error(bad.tolist(), num_classes, ignore_index))
    hist = hist[:num_classes]
    if num_thrs == 0:
        return hist.new_zeros(0, num_classes, num_classes + 1)
    below = hist.cumsum(dim=-1)[..., :num_thrs]  # background at step i
    conf = hist.new_zeros(num_thrs, num_classes, num_classes + 1)
    conf[:, :, :num_classes] = (hist.sum(-1, keepdim=True) - below).permute(
        2, 0, 1)
    conf[:, :, 0] += below.sum(1).t()
    if rank is None:
        return conf
    out = conf.index_select(0, rank)  # back to the order of `values`
    for i in inexact:
        seeds = cams_to_label(cams, keys, bg_power=values[i])
        out[i] = confusion_matrix(seeds, gt, num_classes, ignore_index)
    return out


def seg_scores(conf: ArrayLike) -> Dict[str, Union[np.ndarray, float]]:
    """Per-class scores of one confusion matrix (or a stack of them).

    Args:
        conf (Tensor | np.ndarray): (C, C + 1) or (..., C, C + 1) counts.

    Returns:
        dict: fractions in [0, 1], NaN where undefined: per class (..., C)
        ``iou``, ``precision`` (TP / (TP + FP)), ``recall`` (TP / (TP +
        FN)), ``fp_rate``, ``fn_rate`` (FP, FN over TP + FP + FN); the
        class means ``miou``, ``mprecision``, ``mrecall``, ``mfp_rate``,
        ``mfn_rate`` (over classes where the score is defined; for IoU
        those with TP + FP + FN > 0), floats for one matrix; and the int64
        counts ``tp``, ``fp``, ``fn``.
    """
    if isinstance(conf, Tensor):
        conf = conf.detach().cpu().numpy()
    conf = np.asarray(conf, dtype=np.int64)
    if conf.ndim < 2 or conf.shape[-1] != conf.shape[-2] + 1:
        raise ValueError('a confusion matrix must be (C, C + 1), got '
                         f'{conf.shape}')
    num_classes = conf.shape[-2]
    square = conf[..., :num_classes]
    tp = np.diagonal(square, axis1=-2, axis2=-1).copy()
    fp = square.sum(-2) - tp
    fn = conf.sum(-1) - tp
    union = tp + fp + fn

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        with np.errstate(divide='ignore', invalid='ignore'):
            return np.where(den > 0, num / np.maximum(den, 1), np.nan)

    scores = dict(iou=ratio(tp, union),
                  precision=ratio(tp, tp + fp),
                  recall=ratio(tp, tp + fn),
                  fp_rate=ratio(fp, union),
                  fn_rate=ratio(fn, union))
    for key in list(scores):
        per_class = scores[key]
        defined = ~np.isnan(per_class)
        total = np.where(defined, per_class, 0).sum(-1)
        count = defined.sum(-1)
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        name = 'miou' if key == 'iou' else f'm{key}'
        scores[name] = float(mean) if mean.ndim == 0 else mean
    scores.update(tp=tp, fp=fp, fn=fn)
    return scores
