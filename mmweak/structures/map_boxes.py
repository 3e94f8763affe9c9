# Copyright (c) mmweak contributors.
"""Turn localization maps into boxes, as in the WSOL evaluation protocol.

Two thresholding rules and three region-to-box rules are implemented
(see ``shared/specs/wsol-protocol.md`` section 3):

- ``largest_cc`` (BAS / SAT "paper" mode): foreground is ``s > thr``; the box
  encloses the 8-connected component with the most pixels. No foreground
  gives the whole image.
- ``largest_contour`` (MaxBoxAcc of Choe et al., CVPR 2020,
  arXiv 2001.07437): the map is quantised to ``q = uint8(255 * s)`` and
  foreground is ``q > int(thr * max(q))``; the box encloses the
  ``cv2.findContours`` contour with the largest polygon area.
- ``all_contours`` (MaxBoxAccV2, arXiv 2007.04178): one box per contour,
  see :func:`contour_boxes`.

Box conventions: ``'reference'`` reproduces the reference code, whose right /
bottom ends are one past the last foreground pixel (``x + w``; clipped to
``W - 1`` for contours); ``'inclusive'`` uses the last foreground pixel.

:func:`wsol_map_boxes` is the one box rule of mmweak: ``WSOLMetric`` scores
the boxes it returns and the overlays draw the same boxes.
"""
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch

from .map_ops import resize_maps

ArrayLike = Union[torch.Tensor, np.ndarray]

BOX_METHODS = ('largest_cc', 'largest_contour')
BOX_CONVENTIONS = ('reference', 'inclusive')
MAP_NORMALIZATIONS = ('clip', 'minmax')


def _check_convention(box_convention: str) -> None:
    if box_convention not in BOX_CONVENTIONS:
        raise ValueError(f'`box_convention` must be one of {BOX_CONVENTIONS}, '
                         f'got {box_convention!r}.')


def quantize_maps(maps: ArrayLike) -> np.ndarray:
    """Quantise maps in [0, 1] to uint8 as ``uint8(255 * s)`` (truncated).

    Values are clipped to [0, 1] first and NaN becomes 0.

    Args:
        maps (Tensor | np.ndarray): Maps of shape (..., H, W).

    Returns:
        np.ndarray: uint8 array of the same shape.
    """
    if isinstance(maps, torch.Tensor):
        maps = maps.detach().cpu().numpy()
    maps = np.asarray(maps, dtype=np.float32)
    # ``maps > 0`` is False for NaN, so NaN and negative values become 0.
    maps = np.where(maps > 0, np.minimum(maps, 1), np.float32(0))
    return (maps * np.float32(255)).astype(np.uint8)


def choe_threshold_levels(quantized: np.ndarray,
                          thrs: Union[float, np.ndarray]) -> np.ndarray:
    """Integer levels ``int(thr * max(q))`` of Choe et al.'s binarisation.

    Foreground at threshold ``thr`` is ``q > level`` (``cv2.THRESH_BINARY``).

    Args:
        quantized (np.ndarray): One uint8 map (H, W).
        thrs (float | np.ndarray): Threshold(s) in [0, 1].

    Returns:
        np.ndarray: int64 levels with the shape of ``thrs``.
    """
    qmax = int(quantized.max()) if quantized.size else 0
    return (np.asarray(thrs, dtype=np.float64) * qmax).astype(np.int64)


def largest_cc_box(mask: np.ndarray,
                   box_convention: str = 'reference') -> np.ndarray:
    """Box of the largest 8-connected component of a binary mask.

    Ties in pixel count go to the lowest label (raster order of the first
    pixel), like ``np.argmax`` over scikit-image ``regionprops`` areas.

    Args:
        mask (np.ndarray): Binary mask (H, W); non-zero is foreground.
        box_convention (str): ``'reference'`` (exclusive ends, default) or
            ``'inclusive'``.

    Returns:
        np.ndarray: float32 box (4,) x0, y0, x1, y1. Without foreground the
        whole image: ``[0, 0, W, H]`` (reference) or ``[0, 0, W-1, H-1]``.
    """
    _check_convention(box_convention)
    height, width = mask.shape
    end = 0 if box_convention == 'reference' else 1
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    num, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if num <= 1:
        return np.array([0, 0, width - end, height - end], dtype=np.float32)
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = stats[best, :4]
    return np.array([x, y, x + w - end, y + h - end], dtype=np.float32)


def _rects_to_boxes(rects: np.ndarray, height: int, width: int,
                    box_convention: str) -> np.ndarray:
    """(x, y, w, h) bounding rectangles to boxes under a convention."""
    rects = rects.astype(np.float32).reshape(-1, 4)
    x0, y0 = rects[:, 0], rects[:, 1]
    if box_convention == 'reference':
        x1 = np.minimum(x0 + rects[:, 2], width - 1)
        y1 = np.minimum(y0 + rects[:, 3], height - 1)
    else:
        x1 = x0 + rects[:, 2] - 1
        y1 = y0 + rects[:, 3] - 1
    return np.stack([x0, y0, x1, y1], axis=1)


def _find_contours(binary: np.ndarray) -> list:
    return cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[-2]


def contour_boxes(binary: np.ndarray,
                  box_convention: str = 'reference') -> np.ndarray:
    """One box per contour of a binary mask (``all_contours``).

    Contours come from ``cv2.findContours`` with ``RETR_TREE`` and
    ``CHAIN_APPROX_SIMPLE`` (hole borders included), as in MaxBoxAccV2 of
    Choe et al. (arXiv 2007.04178).

    Args:
        binary (np.ndarray): Mask (H, W); non-zero is foreground.
        box_convention (str): ``'reference'`` (``x1 = min(x + w, W - 1)``,
            default) or ``'inclusive'`` (last foreground pixel).

    Returns:
        np.ndarray: float32 boxes (C, 4); ``[[0, 0, 0, 0]]`` if there is no
        contour.
    """
    _check_convention(box_convention)
    binary = np.ascontiguousarray(binary != 0, dtype=np.uint8)
    contours = _find_contours(binary)
    if len(contours) == 0:
        return np.zeros((1, 4), dtype=np.float32)
    rects = np.array([cv2.boundingRect(c) for c in contours])
    return _rects_to_boxes(rects, *binary.shape, box_convention)


def largest_contour_box(binary: np.ndarray,
                        box_convention: str = 'reference') -> np.ndarray:
    """Box of the contour with the largest polygon area (Choe et al.).

    Args:
        binary (np.ndarray): Mask (H, W); non-zero is foreground.
        box_convention (str): ``'reference'`` (default) or ``'inclusive'``.

    Returns:
        np.ndarray: float32 box (4,); ``[0, 0, 0, 0]`` if there is no contour.
    """
    _check_convention(box_convention)
    binary = np.ascontiguousarray(binary != 0, dtype=np.uint8)
    contours = _find_contours(binary)
    if len(contours) == 0:
        return np.zeros(4, dtype=np.float32)
    largest = max(contours, key=cv2.contourArea)
    rect = np.array(cv2.boundingRect(largest))
    return _rects_to_boxes(rect, *binary.shape, box_convention)[0]


def boxes_from_maps(maps: ArrayLike,
                    thr: float,
                    method: str = 'largest_cc',
                    box_convention: str = 'reference') -> torch.Tensor:
    """Extract one box per map at a fixed threshold.

    The maps must already be normalised to [0, 1] and sized like the image
    the boxes refer to (see :func:`~mmweak.structures.normalize_maps` and
    :func:`~mmweak.structures.resize_maps`). Thresholding is done for the
    whole batch at once; the region search runs per map in OpenCV.

    Args:
        maps (Tensor | np.ndarray): Maps (B, H, W) or one map (H, W), on
            any device.
        thr (float): Threshold tau in [0, 1].
        method (str): ``'largest_cc'`` (``s > thr``, largest 8-connected
            component; default) or ``'largest_contour'`` (Choe et al.'s
            quantised threshold, largest-area contour).
        box_convention (str): ``'reference'`` (default) or ``'inclusive'``.

    Returns:
        Tensor: float32 boxes (B, 4) as x0, y0, x1, y1 on the CPU.
    """
    if method not in BOX_METHODS:
        raise ValueError(f'`method` must be one of {BOX_METHODS}, '
                         f'got {method!r}.')
    _check_convention(box_convention)
    if isinstance(maps, torch.Tensor):
        maps = maps.detach().cpu().float().numpy()
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3:
        raise ValueError('`maps` must have shape (B, H, W) or (H, W), got '
                         f'{maps.shape}.')
    if method == 'largest_cc':
        # explicit float32 threshold: the same comparison on every numpy
        masks = (maps > np.float32(thr)).astype(np.uint8)
        boxes = [largest_cc_box(m, box_convention) for m in masks]
    else:
        quantized = quantize_maps(maps)
        qmax = quantized.reshape(len(quantized), -1).max(axis=1) \
            if quantized.size else np.zeros(len(quantized), np.uint8)
        levels = (np.float64(thr) * qmax.astype(np.int64)).astype(np.int64)
        masks = (quantized > levels[:, None, None]).astype(np.uint8)
        boxes = [largest_contour_box(m, box_convention) for m in masks]
    if not boxes:
        return torch.zeros((0, 4), dtype=torch.float32)
    return torch.from_numpy(np.stack(boxes))


def minmax_maps(maps: np.ndarray) -> np.ndarray:
    """Min-max normalise each map of a stack (Choe et al.'s rule).

    Constant maps and maps containing NaN become all zeros.

    Args:
        maps (np.ndarray): Maps (B, H, W).

    Returns:
        np.ndarray: float32 maps (B, H, W) in [0, 1].
    """
    maps = np.asarray(maps, dtype=np.float32)
    flat = maps.reshape(len(maps), -1)
    if flat.shape[1] == 0:
        return maps.copy()
    low = flat.min(axis=1, keepdims=True)
    span = flat.max(axis=1, keepdims=True) - low
    valid = span > 0  # False for constant maps and NaN spans
    normed = (flat - low) / np.where(valid, span, 1)
    normed[~valid[:, 0]] = 0
    return normed.reshape(maps.shape).astype(np.float32, copy=False)


def prepare_wsol_maps(maps: ArrayLike,
                      img_shape: Optional[Sequence[int]] = None,
                      interpolation: str = 'bilinear',
                      normalization: str = 'clip') -> np.ndarray:
    """Bring maps to the image frame and the range the WSOL metric scores.

    Args:
        maps (Tensor | np.ndarray): Maps (B, h, w) or one map (h, w) with
            values in [0, 1].
        img_shape (Sequence[int], optional): (H, W) of the image the boxes
            refer to; None keeps the maps' size.
        interpolation (str): ``'bilinear'`` or ``'bicubic'`` resizing with
            half-pixel centres (OpenCV semantics). Defaults to
            ``'bilinear'``.
        normalization (str): ``'clip'`` (``paper`` preset: clip to [0, 1],
            NaN becomes 0) or ``'minmax'`` (``choe`` preset: per-map min-max
            after resizing; constant or NaN maps become 0). Defaults to
            ``'clip'``.

    Returns:
        np.ndarray: float32 maps (B, H, W).
    """
    if normalization not in MAP_NORMALIZATIONS:
        raise ValueError(f'`normalization` must be one of '
                         f'{MAP_NORMALIZATIONS}, got {normalization!r}.')
    if isinstance(maps, torch.Tensor):
        maps = maps.detach().cpu().float().numpy()
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3:
        raise ValueError('`maps` must have shape (B, H, W) or (H, W), got '
                         f'{maps.shape}.')
    if img_shape is not None:
        img_shape = tuple(int(v) for v in img_shape[:2])
        if tuple(maps.shape[-2:]) != img_shape:
            maps = resize_maps(torch.from_numpy(maps),
                               img_shape,
                               mode=interpolation).numpy()
    if normalization == 'minmax':
        return minmax_maps(maps)
    # NaN and negative values become 0
    return np.where(maps > 0, np.minimum(maps, 1), np.float32(0))


def wsol_map_boxes(
        maps: ArrayLike,
        thr: float,
        img_shape: Optional[Sequence[int]] = None,
        interpolation: str = 'bilinear',
        normalization: str = 'clip',
        method: str = 'largest_cc',
        box_convention: str = 'reference') -> Tuple[np.ndarray, np.ndarray]:
    """The fixed-threshold box of each map, as ``WSOLMetric`` scores it.

    :func:`prepare_wsol_maps` followed by :func:`boxes_from_maps`. The
    metric and the overlays (``WSOLVisualizationHook``) both call it, so a
    drawn box is the scored box.

    Args:
        maps (Tensor | np.ndarray): Maps (B, h, w) or (h, w) in [0, 1].
        thr (float): Threshold tau in [0, 1].
        img_shape (Sequence[int], optional): (H, W) of the image frame.
        interpolation (str): ``'bilinear'`` or ``'bicubic'``.
        normalization (str): ``'clip'`` or ``'minmax'``.
        method (str): ``'largest_cc'`` or ``'largest_contour'``.
        box_convention (str): ``'reference'`` or ``'inclusive'``.

    Returns:
        tuple[np.ndarray, np.ndarray]: The prepared float32 maps (B, H, W)
        and the float32 boxes (B, 4), x0, y0, x1, y1.
    """
    prepared = prepare_wsol_maps(maps, img_shape, interpolation, normalization)
    boxes = boxes_from_maps(prepared,
                            thr,
                            method=method,
                            box_convention=box_convention).numpy()
    return prepared, boxes.reshape(-1, 4)
