# Copyright (c) mmweak contributors.
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from mmweak.registry import TRANSFORMS


@TRANSFORMS.register_module()
class MapLabelValues(BaseTransform):
    """Replace label values of the loaded segmentation maps.

    mmweak label maps hold ``0..C``, 254 (uncertain, MARS) and 255 (ignore).
    Host losses such as ``mmseg.CrossEntropyLoss`` know one ignore index only
    and fail on 254 ("Target 254 is out of bounds" with 21 classes), so a
    segmenter trained on pseudo masks that may carry 254 maps it to 255 right
    after ``LoadAnnotations``: ``dict(type='MapLabelValues',
    mapping={254: 255})``. Doing it at load time also keeps 254 out of
    ``RandomCrop``'s ``cat_max_ratio`` count. All values are replaced at once
    (``{1: 2, 2: 1}`` swaps), others are kept.

    Required Keys:

    - the label maps named by ``keys`` (default: ``seg_fields``, else
      ``gt_seg_map``)

    Modified Keys:

    - the same label maps (same shape and dtype)

    Args:
        mapping (dict[int, int]): Old label value -> new label value; values
            must fit the label map's dtype (``0..255`` for ``uint8``).
        keys (Sequence[str], optional): Result keys of the label maps to
            remap. Defaults to None: ``results['seg_fields']`` when present,
            otherwise ``['gt_seg_map']``.
    """

    def __init__(self,
                 mapping: Dict[int, int],
                 keys: Optional[Sequence[str]] = None) -> None:
        if not isinstance(mapping, dict) or not mapping:
            raise TypeError(
                f'MapLabelValues: mapping must be a non-empty dict of int '
                f'label values, got {mapping!r}')
        for old, new in mapping.items():
            for value in (old, new):
                if isinstance(value, bool) or not isinstance(
                        value, (int, np.integer)) or value < 0:
                    raise ValueError(
                        f'MapLabelValues: mapping {mapping!r} must hold '
                        f'non-negative int label values, got {value!r}')
        self.mapping = {int(k): int(v) for k, v in mapping.items()}
        self.keys = None if keys is None else list(keys)

    def _map(self, label: np.ndarray, key: str) -> np.ndarray:
        """Return ``label`` with every ``mapping`` key replaced."""
        if label.dtype == np.uint8:
            if max(self.mapping.values()) > 255:
                raise ValueError(
                    f'MapLabelValues: {key} is uint8 but mapping '
                    f'{self.mapping} writes values above 255')
            lut = np.arange(256, dtype=np.uint8)
            for old, new in self.mapping.items():
                if old <= 255:
                    lut[old] = new
            return lut[label]
        if not np.issubdtype(label.dtype, np.integer):
            raise TypeError(f'MapLabelValues: {key} must be an integer label '
                            f'map, got dtype {label.dtype}')
        out = label.copy()
        for old, new in self.mapping.items():
            out[label == old] = new
        return out

    def transform(self, results: dict) -> dict:
        """Remap the label maps of ``results`` in place of the old ones."""
        keys: List[str] = self.keys if self.keys is not None else list(
            results.get('seg_fields') or ['gt_seg_map'])
        found = False
        for key in keys:
            label = results.get(key)
            if label is None:
                continue
            found = True
            results[key] = self._map(np.asarray(label), key)
        if not found:
            where = results.get('seg_map_path', results.get('img_path'))
            raise KeyError(
                f'MapLabelValues: no label map under {keys} for {where}; '
                'place it after LoadAnnotations')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(mapping={self.mapping}, '
                f'keys={self.keys})')
