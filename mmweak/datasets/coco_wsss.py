# Copyright (c) mmweak contributors.
"""MS COCO 2014 as an 81-class semantic segmentation set for WSSS.

The label maps are rasterised from the official instance annotations by
``tools/dataset_converters/coco2014_to_wsss.py`` (wsss-protocol spec, 2.3):
0 is background, the 80 COCO "thing" categories take 1..80 in sorted
category-id order, 255 is ignore (crowd regions with ``--crowd-ignore``) and
254 is reserved for uncertain pixels. On-disk layout (``data_root``)::

    coco2014/
    ├── train2014/COCO_train2014_<12 digits>.jpg       (official images)
    ├── val2014/COCO_val2014_<12 digits>.jpg
    ├── annotations/instances_{train2014,val2014}.json  (official)
    ├── SegmentationClass/{train2014,val2014}/<stem>.png  (converter)
    ├── ImageSets/{train2014,val2014}.txt    one image stem per line
    ├── cls_labels_{train2014,val2014}.json  image tags (0-based fg indices)
    └── conversion_{train2014,val2014}.json  converter options and counts
"""
import os.path as osp
from typing import Dict, Iterable, List, Optional, Tuple

import mmengine
import mmengine.fileio as fileio
from mmseg.datasets import BaseSegDataset

from mmweak.registry import DATASETS

#: The 80 COCO thing category ids (1..90 with gaps), sorted.
COCO_THING_CAT_IDS: Tuple[int, ...] = tuple(
    i for i in range(1, 91)
    if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83))

#: Class names of the 81 labels: background, then the 80 things in sorted
#: category-id order (the names of the official 2014 annotation files).
COCO_WSSS_CLASSES: Tuple[str, ...] = (
    'background', 'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus',
    'train', 'truck', 'boat', 'traffic light', 'fire hydrant', 'stop sign',
    'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
    'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag',
    'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite',
    'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
    'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon',
    'bowl', 'banana', 'apple', 'sandwich', 'orange', 'broccoli', 'carrot',
    'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant',
    'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote',
    'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink',
    'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear',
    'hair drier', 'toothbrush')


def _bit_interleaved_palette(num_labels: int) -> List[List[int]]:
    """The PASCAL colour map: the bits of the label id are dealt round-robin
    to R, G and B from the most significant bit down, so label 0 is black
    and the first 21 colours are VOC's."""
    palette = []
    for label in range(num_labels):
        rgb = [0, 0, 0]
        code = label
        for bit in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((code >> channel) & 1) << bit
            code >>= 3
        palette.append(rgb)
    return palette


#: ``[r, g, b]`` per label (81 entries, VOC's colours for labels 0..20).
COCO_WSSS_PALETTE: List[List[int]] = _bit_interleaved_palette(
    len(COCO_WSSS_CLASSES))


def coco_cat_id_to_label(
        cat_ids: Optional[Iterable[int]] = None) -> Dict[int, int]:
    """Map COCO category ids to contiguous label ids 1..N in sorted-id order.

    Args:
        cat_ids: Category ids (e.g. those of an annotation file's
            ``categories``); duplicates are allowed. Defaults to the 80
            official thing ids, giving ``{1: 1, 2: 2, ..., 90: 80}``.

    Returns:
        dict[int, int]: ``{category_id: label}``; 0 stays background.
    """
    if cat_ids is None:
        cat_ids = COCO_THING_CAT_IDS
    ids = set()
    for cat_id in cat_ids:
        if isinstance(cat_id, bool) or not isinstance(cat_id, int):
            raise TypeError(f'COCO category ids must be integers, got '
                            f'{cat_id!r} ({type(cat_id).__name__})')
        ids.add(cat_id)
    if len(ids) > 253:
        raise ValueError(f'{len(ids)} categories do not fit in a uint8 label '
                         'map (1..253; 254 and 255 are reserved)')
    return {cat_id: label for label, cat_id in enumerate(sorted(ids), 1)}


@DATASETS.register_module()
class COCO2014WSSSDataset(BaseSegDataset):
    """MS COCO 2014 with 81-class label maps (background + 80 things).

    Image ids come from a list file, one COCO file stem (e.g.
    ``COCO_train2014_000000000009``) per line, as mmseg's
    ``PascalVOCDataset`` reads ``ImageSets/Segmentation/*.txt``; the files
    are written by ``tools/dataset_converters/coco2014_to_wsss.py``. For
    Stage C on pseudo masks, point ``data_prefix['seg_map_path']`` at the
    pseudo-mask directory. A typical config::

        dict(type='COCO2014WSSSDataset',
             data_root='data/coco2014',
             ann_file='ImageSets/train2014.txt',
             data_prefix=dict(img_path='train2014',
                              seg_map_path='SegmentationClass/train2014'))

    Args:
        ann_file (str): List file of image stems (relative to
            ``data_root``).
        img_suffix (str): Image suffix. Defaults to ``'.jpg'``.
        seg_map_suffix (str): Label-map suffix. Defaults to ``'.png'``.
        reduce_zero_label (bool): Must stay False: label 0 is background.
            Defaults to False.
        check_files (bool): Check at initialisation that every listed image
            (and label map, when ``seg_map_path`` is set) exists, failing
            with the list file, line and missing path. Defaults to True.
        **kwargs: Other arguments of
            :class:`mmseg.datasets.BaseSegDataset` (``data_root``,
            ``data_prefix``, ``pipeline``, ``test_mode``, ...).
    """
    METAINFO = dict(
        classes=COCO_WSSS_CLASSES,
        palette=[list(c) for c in COCO_WSSS_PALETTE])

    def __init__(self,
                 ann_file: str,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False,
                 check_files: bool = True,
                 **kwargs) -> None:
        if not ann_file:
            raise ValueError('COCO2014WSSSDataset needs ann_file, a list of '
                             'image stems such as ImageSets/train2014.txt')
        if reduce_zero_label:
            raise ValueError('COCO2014WSSSDataset: reduce_zero_label must be '
                             'False (label 0 is the background class)')
        self.check_files = check_files
        super().__init__(
            ann_file=ann_file,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label,
            **kwargs)

    def _exists(self, path: str) -> bool:
        return fileio.exists(path, backend_args=self.backend_args)

    def load_data_list(self) -> List[dict]:
        """Read the image stems of ``ann_file`` into data infos."""
        if not self._exists(self.ann_file) or osp.isdir(self.ann_file):
            raise FileNotFoundError(
                f'COCO2014WSSSDataset: list file "{self.ann_file}" does not '
                'exist (expected one image stem per line, written by '
                'tools/dataset_converters/coco2014_to_wsss.py)')
        img_dir = self.data_prefix.get('img_path', '')
        seg_dir = self.data_prefix.get('seg_map_path', None)
        if self.check_files and not self._exists(img_dir):
            raise FileNotFoundError(
                f'COCO2014WSSSDataset: image directory "{img_dir}" does not '
                'exist')
        lines = mmengine.list_from_file(
            self.ann_file, backend_args=self.backend_args)
        data_list, seen = [], {}
        for lineno, line in enumerate(lines, start=1):
            img_id = line.strip()
            if not img_id:
                continue
            if img_id in seen:
                raise ValueError(
                    f'{self.ann_file}, line {lineno}: image id "{img_id}" is '
                    f'already listed on line {seen[img_id]}')
            seen[img_id] = lineno
            info = dict(
                img_id=img_id,
                img_path=osp.join(img_dir, img_id + self.img_suffix),
                label_map=self.label_map,
                reduce_zero_label=self.reduce_zero_label,
                seg_fields=[])
            if seg_dir is not None:
                info['seg_map_path'] = osp.join(seg_dir,
                                                img_id + self.seg_map_suffix)
            if self.check_files:
                for key, what in (('img_path', 'image'),
                                  ('seg_map_path', 'label map')):
                    if key in info and not self._exists(info[key]):
                        raise FileNotFoundError(
                            f'{self.ann_file}, line {lineno}: the {what} of '
                            f'"{img_id}", "{info[key]}", does not exist')
            data_list.append(info)
        return data_list
