# Copyright (c) mmweak contributors.
"""Packing of WSOL samples into mmpretrain ``DataSample``."""
from typing import Optional, Sequence

import numpy as np
import torch
from mmpretrain.datasets.transforms import PackInputs

from mmweak.registry import TRANSFORMS
from .loading import MASK_IGNORE_VALUE, as_box_array


@TRANSFORMS.register_module()
class PackWSOLInputs(PackInputs):
    """Pack a WSOL sample into ``inputs`` and a ``DataSample``.

    Extends mmpretrain's ``PackInputs`` (image to a (C, H, W) tensor,
    ``gt_label``, meta keys) with the localization ground truth:

    - ``gt_bboxes`` -> ``data_sample.gt_bboxes``: float32 tensor (N, 4),
      x1 y1 x2 y2 in pixels of the packed image (``img_shape``). Samples
      without boxes get no field.
    - ``gt_seg_map`` -> ``data_sample.gt_mask``: uint8 tensor (H, W) of 0/1
      in the same frame; its shape must equal ``img_shape``. Every non-zero
      value is foreground unless ``ignore_index`` is set: pixels with that
      value are then stored as 255, the value ``WSOLMetric`` leaves out of
      PxAP (e.g. mmcv's ``Pad`` fills masks with ``seg_pad_val=255``).
      Without ``ignore_index``, a ``seg_ignore_index`` set by
      ``LoadWSOLAnnotations`` (ignore masks) is used instead.

    Args:
        input_key (str): Key of the model input in the results.
            Defaults to 'img'.
        algorithm_keys (Sequence[str]): Extra keys set as data fields of the
            data sample. Defaults to ().
        meta_keys (Sequence[str]): Keys stored as metainfo. Defaults to
            ``('sample_idx', 'img_path', 'ori_shape', 'img_shape',
            'scale_factor', 'flip', 'flip_direction', 'crop_bbox')``.
        ignore_index (int, optional): Mask value that marks ignored pixels.
            Defaults to None (no ignored pixels: a 0/255 binary mask is
            foreground wherever it is 255).
    """

    DEFAULT_META_KEYS = ('sample_idx', 'img_path', 'ori_shape', 'img_shape',
                         'scale_factor', 'flip', 'flip_direction', 'crop_bbox')

    def __init__(self,
                 input_key: str = 'img',
                 algorithm_keys: Sequence[str] = (),
                 meta_keys: Sequence[str] = DEFAULT_META_KEYS,
                 ignore_index: Optional[int] = None) -> None:
        super().__init__(input_key=input_key,
                         algorithm_keys=algorithm_keys,
                         meta_keys=meta_keys)
        if ignore_index == 0:
            raise ValueError('ignore_index=0 would ignore the background; '
                             'use the value that marks ignored pixels')
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        """Pack the image, label, boxes, mask and meta information."""
        packed = super().transform(results)
        data_sample = packed['data_samples']
        where = results.get('img_path', '')
        if results.get('gt_bboxes', None) is not None:
            boxes = as_box_array(results['gt_bboxes'], where)
            data_sample.gt_bboxes = torch.from_numpy(boxes.copy())
        if results.get('gt_seg_map', None) is not None:
            mask = np.asarray(results['gt_seg_map'])
            if mask.ndim == 3 and mask.shape[2] == 1:
                mask = mask[..., 0]
            img = results.get(self.input_key, None)
            if mask.ndim != 2 or (isinstance(img, np.ndarray)
                                  and mask.shape != img.shape[:2]):
                img_shape = None if img is None else img.shape[:2]
                raise ValueError(
                    f'`gt_seg_map` of "{where}" must be (H, W) and aligned '
                    f'with the image {img_shape}, got shape {mask.shape}.')
            packed_mask = (mask > 0).astype(np.uint8)
            ignore_index = self.ignore_index
            if ignore_index is None:
                ignore_index = results.get('seg_ignore_index', None)
            if ignore_index is not None:
                packed_mask[mask == ignore_index] = MASK_IGNORE_VALUE
            data_sample.gt_mask = torch.from_numpy(
                np.ascontiguousarray(packed_mask))
        return packed

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(input_key='{self.input_key}', "
                f'algorithm_keys={self.algorithm_keys}, '
                f'meta_keys={self.meta_keys}, '
                f'ignore_index={self.ignore_index})')
