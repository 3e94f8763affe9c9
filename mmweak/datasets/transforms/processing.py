# Copyright (c) mmweak contributors.
"""Box- and mask-aware geometric transforms for WSOL pipelines.

All transforms here move ``img``, ``gt_bboxes`` (float32, (N, 4), x1 y1 x2 y2
in pixels of the current image) and ``gt_seg_map`` (uint8 (H, W)) together,
so the packed sample holds the ground truth in the frame the model sees.

The ``crop256`` protocol of the WSOL papers is::

    WSOLResize(scale=(256, 256))     # aspect ratio distorted
    WSOLRandomCrop(crop_size=224)    # training; WSOLCenterCrop(224) at test
    WSOLRandomFlip(prob=0.5)         # training only
    WSOLClipBoxes(inclusive=True, truncate=True)   # test: [0, 223], int

and ``resize224`` is ``WSOLResize(scale=(224, 224))`` followed by
``WSOLClipBoxes(inclusive=False, truncate=True)`` at test time.

Crops never drop a box: boxes are clipped to the crop, and a box that lies
completely outside it becomes degenerate (zero width or height) but stays,
so every sample keeps its ground truth (a degenerate box simply cannot be
matched by a prediction).
"""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms import RandomFlip as MMCVRandomFlip
from mmcv.transforms import Resize as MMCVResize
from mmcv.transforms.utils import cache_randomness

from mmweak.registry import TRANSFORMS
from .loading import ensure_box_array


def _pair(size: Union[int, Sequence[int]], name: str) -> Tuple[int, int]:
    if isinstance(size, int):
        size = (size, size)
    size = tuple(size)
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise ValueError(f'`{name}` must be a positive int or a (w, h) pair '
                         f'of positive ints, got {size}.')
    return size  # type: ignore[return-value]


def _check_seg_shape(results: dict) -> None:
    seg = results.get('gt_seg_map', None)
    img = results.get('img', None)
    if seg is not None and img is not None and \
            tuple(seg.shape[:2]) != tuple(img.shape[:2]):
        raise ValueError(
            f'`gt_seg_map` of "{results.get("img_path")}" has shape '
            f'{tuple(seg.shape[:2])} but the image has shape '
            f'{tuple(img.shape[:2])}; they must be aligned.')


def crop_results(results: dict, x0: int, y0: int, crop_w: int,
                 crop_h: int) -> dict:
    """Crop image, mask and boxes of ``results`` to a region in place.

    Boxes are shifted by the crop offset and clipped to ``[0, crop_w]`` x
    ``[0, crop_h]``; none is removed (see the module docstring).

    Args:
        results (dict): The results dict holding ``img``.
        x0 (int): Left column of the crop.
        y0 (int): Top row of the crop.
        crop_w (int): Crop width.
        crop_h (int): Crop height.

    Returns:
        dict: ``results`` with ``img``, ``img_shape``, ``gt_seg_map``,
        ``gt_bboxes`` updated and ``crop_bbox`` (x1, y1, x2, y2 of the crop
        in the frame before cropping) added.
    """
    _check_seg_shape(results)
    ensure_box_array(results)
    img = results['img']
    results['img'] = img[y0:y0 + crop_h, x0:x0 + crop_w]
    results['img_shape'] = results['img'].shape[:2]
    if results.get('gt_seg_map', None) is not None:
        results['gt_seg_map'] = results['gt_seg_map'][y0:y0 + crop_h,
                                                      x0:x0 + crop_w]
    if results.get('gt_bboxes', None) is not None:
        boxes = results['gt_bboxes'] - np.array([x0, y0, x0, y0],
                                                dtype=np.float32)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, crop_w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, crop_h)
        results['gt_bboxes'] = boxes.astype(np.float32)
    results['crop_bbox'] = np.array([x0, y0, x0 + crop_w, y0 + crop_h],
                                    dtype=np.float32)
    return results


def _check_crop_fits(results: dict, crop_w: int, crop_h: int,
                     name: str) -> Tuple[int, int]:
    img_h, img_w = results['img'].shape[:2]
    if crop_w > img_w or crop_h > img_h:
        raise ValueError(
            f'{name}: crop size (w={crop_w}, h={crop_h}) is larger than the '
            f'image "{results.get("img_path")}" of size (w={img_w}, '
            f'h={img_h}); resize it first (e.g. WSOLResize(scale=256)).')
    return img_h, img_w


@TRANSFORMS.register_module()
class WSOLResize(MMCVResize):
    """Resize the image, ``gt_bboxes`` and ``gt_seg_map`` together.

    A thin subclass of mmcv's ``Resize`` (which already scales ``gt_bboxes``
    by ``scale_factor`` and resizes ``gt_seg_map`` with nearest
    interpolation) that keeps ``gt_bboxes`` as ``float32`` (N, 4). For the
    WSOL ``crop256`` preset use ``scale=(256, 256), keep_ratio=False``
    (x' = x * 256 / W), for ``resize224`` use ``scale=(224, 224)``.

    Args:
        scale (int | tuple[int, int], optional): Target size as (w, h).
            Defaults to None.
        scale_factor (float | tuple[float, float], optional): Scale factor
            used when ``scale`` is None. Defaults to None.
        keep_ratio (bool): Keep the aspect ratio. The WSOL presets distort
            it. Defaults to False.
        clip_object_border (bool): Clip boxes to the resized image.
            Defaults to True.
        backend (str): Image resize backend. Defaults to 'cv2'.
        interpolation (str): Image interpolation; masks always use nearest.
            Defaults to 'bilinear'.
    """

    def __init__(self,
                 scale: Optional[Union[int, Tuple[int, int]]] = None,
                 scale_factor: Optional[Union[float, Tuple[float,
                                                           float]]] = None,
                 keep_ratio: bool = False,
                 clip_object_border: bool = True,
                 backend: str = 'cv2',
                 interpolation: str = 'bilinear') -> None:
        if isinstance(scale, list):
            scale = tuple(scale)
        super().__init__(scale=scale,
                         scale_factor=scale_factor,
                         keep_ratio=keep_ratio,
                         clip_object_border=clip_object_border,
                         backend=backend,
                         interpolation=interpolation)

    def transform(self, results: dict) -> dict:
        """Resize ``img``, ``gt_bboxes`` and ``gt_seg_map``."""
        _check_seg_shape(results)
        ensure_box_array(results)
        results = super().transform(results)
        ensure_box_array(results)
        return results


@TRANSFORMS.register_module()
class WSOLRandomCrop(BaseTransform):
    """Random crop of a fixed size that moves boxes and mask with the image.

    The offset is drawn uniformly among all integer positions where the crop
    fits (torchvision ``RandomCrop`` without padding, as in the ``crop256``
    training recipe). Boxes are shifted and clipped to the crop; a box
    outside the crop becomes degenerate but is kept.

    Required keys: ``img``; optional ``gt_bboxes``, ``gt_seg_map``.
    Modified keys: ``img``, ``img_shape``, ``gt_bboxes``, ``gt_seg_map``.
    Added keys: ``crop_bbox``.

    Args:
        crop_size (int | tuple[int, int]): Crop size as (w, h); an int gives
            a square crop. An image smaller than the crop raises a
            ``ValueError``.
    """

    def __init__(self, crop_size: Union[int, Tuple[int, int]]) -> None:
        self.crop_size = _pair(crop_size, 'crop_size')

    @cache_randomness
    def _random_offset(self, img_h: int, img_w: int) -> Tuple[int, int]:
        crop_w, crop_h = self.crop_size
        x0 = int(np.random.randint(0, img_w - crop_w + 1))
        y0 = int(np.random.randint(0, img_h - crop_h + 1))
        return x0, y0

    def transform(self, results: dict) -> dict:
        """Crop ``img``, ``gt_bboxes`` and ``gt_seg_map`` randomly."""
        crop_w, crop_h = self.crop_size
        img_h, img_w = _check_crop_fits(results, crop_w, crop_h,
                                        self.__class__.__name__)
        x0, y0 = self._random_offset(img_h, img_w)
        return crop_results(results, x0, y0, crop_w, crop_h)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(crop_size={self.crop_size})'


@TRANSFORMS.register_module()
class WSOLCenterCrop(BaseTransform):
    """Centre crop that moves boxes and mask with the image.

    The offset is ``round((W - w) / 2)``, ``round((H - h) / 2)`` (16 for 224
    out of 256, as in the ``crop256`` protocol). Boxes are shifted and
    clipped to ``[0, w]`` x ``[0, h]``; use ``WSOLClipBoxes`` afterwards for
    the protocol's ``[0, w - 1]`` clipping and integer truncation.

    Required keys: ``img``; optional ``gt_bboxes``, ``gt_seg_map``.
    Modified keys: ``img``, ``img_shape``, ``gt_bboxes``, ``gt_seg_map``.
    Added keys: ``crop_bbox``.

    Args:
        crop_size (int | tuple[int, int]): Crop size as (w, h); an int gives
            a square crop. An image smaller than the crop raises a
            ``ValueError``.
    """

    def __init__(self, crop_size: Union[int, Tuple[int, int]]) -> None:
        self.crop_size = _pair(crop_size, 'crop_size')

    def transform(self, results: dict) -> dict:
        """Crop ``img``, ``gt_bboxes`` and ``gt_seg_map`` at the centre."""
        crop_w, crop_h = self.crop_size
        img_h, img_w = _check_crop_fits(results, crop_w, crop_h,
                                        self.__class__.__name__)
        x0 = int(round((img_w - crop_w) / 2.))
        y0 = int(round((img_h - crop_h) / 2.))
        return crop_results(results, x0, y0, crop_w, crop_h)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(crop_size={self.crop_size})'


@TRANSFORMS.register_module()
class WSOLRandomFlip(MMCVRandomFlip):
    """Random flip of the image with its boxes and mask.

    A thin subclass of mmcv's ``RandomFlip`` (which already flips
    ``gt_bboxes`` as ``x1' = W - x2``, ``x2' = W - x1`` and ``gt_seg_map``)
    that keeps ``gt_bboxes`` as ``float32`` (N, 4) and defaults to the
    horizontal flip with probability 0.5 used by WSOL training. Sets
    ``flip`` and ``flip_direction``.

    Args:
        prob (float | list[float]): Flip probability (per direction when a
            list). Defaults to 0.5.
        direction (str | list[str]): 'horizontal', 'vertical' or 'diagonal'.
            Defaults to 'horizontal'.
        swap_seg_labels (list, optional): Label pairs swapped in the mask
            after flipping. Defaults to None.
    """

    def __init__(self,
                 prob: Union[float, Sequence[float]] = 0.5,
                 direction: Union[str, Sequence[str]] = 'horizontal',
                 swap_seg_labels: Optional[Sequence] = None) -> None:
        if isinstance(prob, (int, float)):
            prob = float(prob)
        super().__init__(prob=prob,
                         direction=direction,
                         swap_seg_labels=swap_seg_labels)

    def transform(self, results: dict) -> dict:
        """Flip ``img``, ``gt_bboxes`` and ``gt_seg_map`` at random."""
        _check_seg_shape(results)
        ensure_box_array(results)
        results = super().transform(results)
        ensure_box_array(results)
        return results


@TRANSFORMS.register_module()
class WSOLClipBoxes(BaseTransform):
    """Clip ``gt_bboxes`` to the image and optionally truncate them to int.

    The test-time ground-truth rule of the WSOL protocols (wsol-protocol
    spec, section 2): ``crop256`` clips to ``[0, W - 1]`` and truncates
    (``inclusive=True, truncate=True``), ``resize224`` truncates only
    (``inclusive=False, truncate=True``). Boxes stay ``float32`` (N, 4)
    holding whole numbers. Use it at test time after the last geometric
    transform.

    Args:
        inclusive (bool): Clip to ``[0, W - 1]`` x ``[0, H - 1]`` (inclusive
            last pixel) instead of ``[0, W]`` x ``[0, H]``. Defaults to True.
        truncate (bool): Truncate coordinates towards zero after clipping.
            Defaults to True.
    """

    def __init__(self, inclusive: bool = True, truncate: bool = True) -> None:
        self.inclusive = inclusive
        self.truncate = truncate

    def transform(self, results: dict) -> dict:
        """Clip (and truncate) ``gt_bboxes``."""
        ensure_box_array(results)
        boxes = results.get('gt_bboxes', None)
        if boxes is None:
            return results
        img_h, img_w = results['img'].shape[:2]
        offset = 1 if self.inclusive else 0
        boxes = boxes.copy()
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, img_w - offset)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, img_h - offset)
        if self.truncate:
            boxes = np.trunc(boxes)
        results['gt_bboxes'] = boxes.astype(np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(inclusive={self.inclusive}, '
                f'truncate={self.truncate})')
