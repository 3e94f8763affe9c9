# Copyright (c) mmweak contributors.
"""Image-level tags of a segmentation sample (``gt_tags``), for segmenters
that need the image's class set during training (MARS, Jo et al., ICCV
2023: the teacher label of Eq. 6 and the certainty ``W`` of Eq. 7 use the
tags ``C_I``)."""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from mmweak.registry import TRANSFORMS
from mmweak.structures import (IGNORE_INDEX, UNCERTAIN_INDEX,
                               check_label_values)
from ..cls_labels import load_cls_labels

SEG_META_KEYS_WITH_TAGS = ('img_path', 'seg_map_path', 'ori_shape',
                           'img_shape', 'pad_shape', 'scale_factor', 'flip',
                           'flip_direction', 'reduce_zero_label', 'gt_tags')
"""``meta_keys`` of ``mmseg.PackSegInputs`` (its defaults) plus
``gt_tags``, so that the tags reach ``data_sample.metainfo['gt_tags']``."""


@TRANSFORMS.register_module()
class LoadImageLevelLabels(BaseTransform):
    """Add the image-level tags of a sample as ``gt_tags``.

    MARS (Jo et al., "MARS: Model-agnostic Biased Object Removal without
    Additional Supervision for WSSS", ICCV 2023) restricts the teacher label
    to {background} and the image's tags ``C_I`` (Eq. 6) and takes the
    certainty ``W`` of Eq. 7 over them. The tag set is that of the **whole
    image**: it must be taken before ``RandomResize`` / ``RandomCrop``,
    never recomputed from a crop. Put this transform right after
    ``mmseg.LoadAnnotations`` and add ``'gt_tags'`` to the ``meta_keys`` of
    ``mmseg.PackSegInputs`` (:data:`SEG_META_KEYS_WITH_TAGS`), so the model
    reads ``data_sample.metainfo['gt_tags']``.

    **Format.** ``gt_tags`` is a sorted ``int64`` array of foreground
    **label ids** in the segmentation label space, ``1..C`` (background 0
    excluded): the values the class has in ``gt_seg_map``. Tag files and
    ``tags_key`` hold mmweak's 0-based foreground indices (``k`` <-> label
    id ``k + 1``, :mod:`mmweak.datasets.cls_labels`); they are shifted by
    one here. An image without foreground classes gets an empty array.

    **Sources**, in this order:

    1. ``tag_file``: a ``cls_labels.json`` (canonical or plain
       ``{id: [indices]}``) or IRN ``cls_labels.npy``, read once with
       :func:`~mmweak.datasets.cls_labels.load_cls_labels`; the sample is
       looked up by ``results['img_id']``, else by the stem of
       ``results['img_path']`` (``.../2007_000032.jpg`` ->
       ``2007_000032``).
    2. ``tags_key``: a key of ``results`` holding 0-based foreground
       indices (e.g. a dataset that already carries the tags).
    3. the full-resolution ``gt_seg_map``: its values ``1..C``, ignoring 0,
       254 (uncertain) and 255 (ignore). The map must not be resized or
       cropped yet (checked against ``ori_shape`` / ``img_shape``). On a
       debiased MARS label ``Y^db`` a class whose whole region became 254
       is lost; the tag file is the source the spec prefers.

    With ``fallback_to_seg_map=True``, a sample missing from the tag file or
    without ``tags_key`` takes source 3 instead of raising.

    Required keys: ``img_path`` (or ``img_id``) for the tag file; the
    ``tags_key``; ``gt_seg_map`` (full resolution) for source 3.
    Added keys: ``gt_tags``.

    Args:
        tag_file (str, optional): Tag file path (``.json`` / ``.npy``),
            absolute or relative to the working directory. Defaults to None.
        tags_key (str, optional): Key of ``results`` with 0-based
            foreground indices. Defaults to None.
        classes (Sequence[str], optional): Foreground class names the tag
            file must match (JSON header, ``.npy`` vector length).
            Defaults to None (not checked).
        num_classes (int, optional): Number of classes **including
            background** (21 for VOC); tags must be smaller and ``gt_seg_map``
            values must lie in ``0..num_classes-1``, 254, 255. Defaults to
            None (not checked).
        fallback_to_seg_map (bool): Derive the tags from ``gt_seg_map``
            when the tag file / ``tags_key`` has none for the sample.
            Defaults to False.

    Raises:
        FileNotFoundError / ValueError: (naming the file) the tag file is
            missing or malformed.
        KeyError: (naming the file or key and the image) the sample has no
            tags and no fallback applies, or ``gt_seg_map`` is not loaded.
        ValueError: ``gt_seg_map`` was already resized or cropped, tags lie
            outside ``1..num_classes-1``, or ``reduce_zero_label`` is set
            (MARS needs background = 0).
    """

    def __init__(self,
                 tag_file: Optional[str] = None,
                 tags_key: Optional[str] = None,
                 classes: Optional[Sequence[str]] = None,
                 num_classes: Optional[int] = None,
                 fallback_to_seg_map: bool = False) -> None:
        if num_classes is not None and int(num_classes) < 2:
            raise ValueError('LoadImageLevelLabels: num_classes counts the '
                             f'background and must be >= 2, got '
                             f'{num_classes}')
        if classes is not None and num_classes is not None and \
                len(classes) != int(num_classes) - 1:
            raise ValueError(
                f'LoadImageLevelLabels: {len(classes)} foreground classes '
                f'do not match num_classes={num_classes} (background '
                'included)')
        self.tag_file = tag_file
        self.tags_key = tags_key
        self.classes = None if classes is None else list(classes)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.fallback_to_seg_map = fallback_to_seg_map
        self._table: Optional[Dict[str, List[int]]] = None

    # ------------------------------------------------------------ sources
    def _tag_table(self) -> Dict[str, List[int]]:
        """The tag file, read on first use (then cached)."""
        if self._table is None:
            self._table = load_cls_labels(self.tag_file, self.classes)
        return self._table

    @staticmethod
    def _image_id(results: dict) -> str:
        if results.get('img_id') is not None:
            return str(results['img_id'])
        path = results.get('img_path')
        if not path:
            raise KeyError('LoadImageLevelLabels: the sample has neither '
                           '"img_id" nor "img_path" to look its tags up')
        return osp.splitext(osp.basename(path))[0]

    def _from_index_list(self, indices, where: str) -> np.ndarray:
        """0-based foreground indices -> label ids ``1..C``."""
        arr = np.asarray(indices).reshape(-1)
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f'LoadImageLevelLabels: tags of {where} must be '
                             f'integer class indices, got {indices!r}')
        return arr.astype(np.int64) + 1

    def _from_seg_map(self, results: dict) -> np.ndarray:
        where = results.get('seg_map_path', results.get('img_path'))
        label = results.get('gt_seg_map')
        if label is None:
            raise KeyError(
                f'LoadImageLevelLabels: no "gt_seg_map" for {where} to derive '
                'the tags from; place it after mmseg.LoadAnnotations (or '
                'give a tag_file)')
        label = np.asarray(label)
        shape = tuple(label.shape[:2])
        for key in ('ori_shape', 'img_shape'):
            if results.get(key) is not None and \
                    tuple(results[key][:2]) != shape:
                raise ValueError(
                    f'LoadImageLevelLabels: gt_seg_map of {where} has shape '
                    f'{shape} but {key} is {tuple(results[key][:2])}: the '
                    'tags must come from the full-resolution label, so place '
                    'LoadImageLevelLabels before RandomResize / RandomCrop')
        if self.num_classes is not None:
            check_label_values(label, self.num_classes, source=str(where))
        values = np.unique(label)
        keep = (values != 0) & (values != UNCERTAIN_INDEX) & \
            (values != IGNORE_INDEX)
        return values[keep].astype(np.int64)

    # ---------------------------------------------------------- transform
    def transform(self, results: dict) -> dict:
        """Add ``results['gt_tags']`` (sorted label ids ``1..C``)."""
        if results.get('reduce_zero_label', False):
            raise ValueError(
                'LoadImageLevelLabels: reduce_zero_label=True shifts the '
                'label ids; image-level tags need background 0 and classes '
                f'1..C ({results.get("img_path")})')
        tags = None
        if self.tag_file is not None:
            img_id = self._image_id(results)
            table = self._tag_table()
            if img_id in table:
                tags = self._from_index_list(
                    table[img_id], f'"{img_id}" in {self.tag_file}')
            elif not self.fallback_to_seg_map:
                raise KeyError(
                    f'LoadImageLevelLabels: image "{img_id}" '
                    f'({results.get("img_path")}) is not in the tag file '
                    f'{self.tag_file} (set fallback_to_seg_map=True to derive '
                    'missing tags from the label map)')
        elif self.tags_key is not None:
            if results.get(self.tags_key) is not None:
                tags = self._from_index_list(
                    results[self.tags_key],
                    f'"{self.tags_key}" of {results.get("img_path")}')
            elif not self.fallback_to_seg_map:
                raise KeyError(
                    f'LoadImageLevelLabels: the sample '
                    f'{results.get("img_path")} has no "{self.tags_key}" '
                    '(set fallback_to_seg_map=True to derive missing tags '
                    'from the label map)')
        if tags is None:
            tags = self._from_seg_map(results)
        tags = np.unique(tags)
        upper = self.num_classes - 1 if self.num_classes is not None else None
        if tags.size and (tags.min() < 1 or
                          (upper is not None and tags.max() > upper)):
            raise ValueError(
                f'LoadImageLevelLabels: tags {tags.tolist()} of '
                f'{results.get("img_path")} lie outside the foreground label '
                f'ids 1..{upper if upper is not None else "C"}')
        results['gt_tags'] = tags
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(tag_file={self.tag_file!r}, '
                f'tags_key={self.tags_key!r}, '
                f'num_classes={self.num_classes}, '
                f'fallback_to_seg_map={self.fallback_to_seg_map})')
