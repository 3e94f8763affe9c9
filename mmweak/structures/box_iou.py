# Copyright (c) mmweak contributors.
"""Pairwise IoU of axis-aligned boxes with a configurable pixel offset."""
from typing import Union

import numpy as np
import torch

ArrayLike = Union[torch.Tensor, np.ndarray]


def _check_boxes(boxes: ArrayLike, name: str) -> None:
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
        raise ValueError(f'`{name}` must have shape (N, 4) in x0, y0, x1, y1 '
                         f'order, got {tuple(boxes.shape)}.')


def bbox_overlaps(pred: ArrayLike,
                  gt: ArrayLike,
                  offset: int = 1) -> ArrayLike:
    """Pairwise IoU between two sets of boxes.

    With ``offset=1`` the "inclusive" convention of the WSOL reference
    evaluators (Choe et al., CVPR 2020, arXiv 2001.07437; BAS; SAT) is used:
    a box covers ``x1 - x0 + 1`` columns. ``offset=0`` is the continuous
    convention of mmdet / torchvision. Widths and heights are clamped at 0;
    a zero union gives an IoU of 0.

    Args:
        pred (Tensor | np.ndarray): Boxes (N, 4) as x0, y0, x1, y1.
        gt (Tensor | np.ndarray): Boxes (M, 4) as x0, y0, x1, y1.
        offset (int): 1 (inclusive, default) or 0 (continuous).

    Returns:
        Tensor | np.ndarray: IoU matrix (N, M); a tensor if either input is a
        tensor (float32, on ``pred``'s device), else a float64 array.
    """
    if offset not in (0, 1):
        raise ValueError(f'`offset` must be 0 or 1, got {offset!r}.')
    _check_boxes(pred, 'pred')
    _check_boxes(gt, 'gt')
    if isinstance(pred, torch.Tensor) or isinstance(gt, torch.Tensor):
        device = pred.device if isinstance(pred, torch.Tensor) else gt.device
        pred = torch.as_tensor(pred, dtype=torch.float32, device=device)
        gt = torch.as_tensor(gt, dtype=torch.float32, device=device)
        lt = torch.maximum(pred[:, None, :2], gt[None, :, :2])
        rb = torch.minimum(pred[:, None, 2:], gt[None, :, 2:])
        wh = (rb - lt + offset).clamp(min=0)
        pred_wh = (pred[:, 2:] - pred[:, :2] + offset).clamp(min=0)
        gt_wh = (gt[:, 2:] - gt[:, :2] + offset).clamp(min=0)
        inter = wh[..., 0] * wh[..., 1]
        union = (pred_wh[:, 0] * pred_wh[:, 1])[:, None] + \
            (gt_wh[:, 0] * gt_wh[:, 1])[None, :] - inter
        return torch.where(union > 0, inter / union.clamp(min=1e-12),
                           torch.zeros_like(inter))
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    lt = np.maximum(pred[:, None, :2], gt[None, :, :2])
    rb = np.minimum(pred[:, None, 2:], gt[None, :, 2:])
    wh = np.clip(rb - lt + offset, 0, None)
    pred_wh = np.clip(pred[:, 2:] - pred[:, :2] + offset, 0, None)
    gt_wh = np.clip(gt[:, 2:] - gt[:, :2] + offset, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = (pred_wh[:, 0] * pred_wh[:, 1])[:, None] + \
        (gt_wh[:, 0] * gt_wh[:, 1])[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.)


def box_iou(pred: ArrayLike, gt: ArrayLike, offset: int = 1) -> ArrayLike:
    """Alias of :func:`bbox_overlaps` (pairwise IoU, ``offset=1``)."""
    return bbox_overlaps(pred, gt, offset=offset)


def box_iou_inclusive(pred: ArrayLike, gt: ArrayLike) -> ArrayLike:
    """Pairwise IoU with the inclusive ("+1") convention of Choe et al."""
    return bbox_overlaps(pred, gt, offset=1)
