# Copyright (c) mmweak contributors.
"""CUB-200-2011 for weakly supervised object localization."""
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine import fileio
from mmpretrain.datasets import CUB

from mmweak.registry import DATASETS
from .transforms.builder import build_wsol_pipeline
from .wsol_gt import BoxGTChecker

CUB_LAYOUT = """\
    CUB_200_2011/                      (data_root)
    ├── images/<class folder>/<name>.jpg
    ├── images.txt                     <image_id> <path under images/>
    ├── image_class_labels.txt         <image_id> <class_id>
    ├── train_test_split.txt           <image_id> <1 = train | 0 = test>
    ├── bounding_boxes.txt             <image_id> <x> <y> <w> <h>
    ├── classes.txt                    <class_id> <class folder name>
    └── segmentations/<class folder>/<name>.png   (optional, with_mask=True;
                                       also found beside CUB_200_2011/,
                                       where its archive unpacks)
"""


def _require(backend, path: str, what: str) -> None:
    if not backend.exists(path):
        raise FileNotFoundError(
            f'CUBWSOL: {what} "{path}" does not exist. Expected the official '
            f'CUB-200-2011 layout:\n{CUB_LAYOUT}')


def _read_table(
        backend,
        path: str,
        num_fields: int,
        linenos: Optional[Dict[int, int]] = None) -> Dict[int, List[str]]:
    """Read a space-separated CUB file keyed by its 1-based first column.

    ``linenos``, when given, receives the line number of every id.
    """
    table: Dict[int, List[str]] = {}
    text = backend.get_text(path)
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != num_fields + 1:
            raise ValueError(
                f'{path}, line {lineno}: expected {num_fields + 1} '
                f'space-separated fields (id first), got "{line.strip()}".')
        try:
            key = int(fields[0])
        except ValueError:
            raise ValueError(f'{path}, line {lineno}: the first field must be '
                             f'an integer id, got "{fields[0]}".') from None
        if key in table:
            raise ValueError(f'{path}, line {lineno}: duplicate id {key}.')
        table[key] = fields[1:]
        if linenos is not None:
            linenos[key] = lineno
    if not table:
        raise ValueError(f'{path} is empty.')
    return table


def _parent_dir(path: str) -> str:
    """The folder containing ``path`` (local paths and URLs)."""
    if '://' in path:
        return path.rstrip('/').rsplit('/', 1)[0]
    return osp.normpath(osp.join(path, '..'))


def _fields_to_numbers(table: Dict[int, List[str]], path: str,
                       kind: type) -> Dict[int, list]:
    out = {}
    for key, fields in table.items():
        try:
            out[key] = [kind(f) for f in fields]
        except ValueError:
            raise ValueError(
                f'{path}: id {key} has non-{kind.__name__} value(s) '
                f'{fields}.') from None
    return out


@DATASETS.register_module()
class CUBWSOL(CUB):
    """CUB-200-2011 with bounding boxes (and optional masks) for WSOL.

    Reads the official release as distributed (see the wsol-protocol spec,
    section 1.1)::

        CUB_200_2011/                      (data_root)
        ├── images/<class folder>/<name>.jpg
        ├── images.txt                     <image_id> <path under images/>
        ├── image_class_labels.txt         <image_id> <class_id>
        ├── train_test_split.txt           <image_id> <1 = train | 0 = test>
        ├── bounding_boxes.txt             <image_id> <x> <y> <w> <h>
        ├── classes.txt                    <class_id> <class folder name>
        └── segmentations/<class folder>/<name>.png   (optional)

    The segmentations come from the separately distributed CUB
    segmentation archive and are grey-level; ``LoadWSOLAnnotations``
    thresholds them at 127. That archive unpacks to a ``segmentations/``
    folder of its own, so with ``with_mask=True`` and no ``seg_prefix`` the
    folder is looked for inside ``data_root`` (``data_root/segmentations``)
    and then beside it (``data_root/../segmentations``).

    Ground-truth checks (at load time, every image of the split): a box
    with ``w <= 0`` or ``h <= 0`` is an error naming ``bounding_boxes.txt``
    and its line; the size of every image is read from its file header
    (a missing or unreadable image is an error naming the file), and boxes
    extending outside the image are clipped to it, with one warning per
    load that counts them.

    Each data info holds ``img_path``, ``gt_label`` (``class_id - 1``),
    ``gt_bboxes`` (float32 (1, 4): ``[x, y, x + w, y + h]`` in original
    pixels, e.g. ``60 27 325 304`` -> ``[60, 27, 385, 331]``), ``img_id``
    (the 1-based CUB id) and, with ``with_mask=True``, ``mask_path``.
    Class names come from ``classes.txt`` with the numeric prefix removed
    (``001.Black_footed_Albatross`` -> ``Black_footed_Albatross``, as in
    mmpretrain's ``CUB``), unless ``classes`` or ``metainfo`` give them.

    Missing files and inconsistent annotation files (ids missing from one
    file, duplicate ids, bad values) raise an error naming the file.

    Args:
        data_root (str): The ``CUB_200_2011`` folder.
        split (str): ``'train'`` or ``'test'``. Defaults to 'train'.
        with_mask (bool): Add ``mask_path`` to every sample.
            Defaults to False.
        seg_prefix (str, optional): Folder of the segmentation PNGs,
            relative to ``data_root`` unless absolute. None looks for
            ``data_root/segmentations`` and then
            ``data_root/../segmentations``. Defaults to None.
        pipeline (Sequence[dict | Callable]): Transforms, built with
            mmweak's registry. Defaults to ().
        test_mode (bool): Test mode of mmengine datasets.
            Defaults to False.
        metainfo (dict, optional): Meta information, e.g. ``classes``.
            Defaults to None.
        classes (str | Sequence[str], optional): Class names or a file of
            them. Defaults to None (read ``classes.txt``).
        **kwargs: Other arguments of :class:`mmpretrain.datasets.CUB`
            (``indices``, ``serialize_data``, ``lazy_init`` ...).
    """

    IMAGES_FILE = 'images.txt'
    LABELS_FILE = 'image_class_labels.txt'
    SPLIT_FILE = 'train_test_split.txt'
    BOXES_FILE = 'bounding_boxes.txt'
    CLASSES_FILE = 'classes.txt'

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 with_mask: bool = False,
                 seg_prefix: Optional[str] = None,
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 metainfo: Optional[dict] = None,
                 classes: Union[str, Sequence[str], None] = None,
                 **kwargs) -> None:
        if split not in ('train', 'test'):
            raise ValueError(
                f"CUBWSOL: split must be 'train' or 'test', got '{split}'.")
        data_root = osp.expanduser(str(data_root))
        backend = fileio.get_file_backend(data_root)
        _require(backend, data_root, 'data_root')
        self.with_mask = with_mask
        self.seg_prefix = seg_prefix
        self._classes_from_file = classes is None and not (
            metainfo and 'classes' in metainfo)
        super().__init__(data_root=data_root,
                         split=split,
                         test_mode=test_mode,
                         pipeline=build_wsol_pipeline(pipeline),
                         metainfo=metainfo,
                         classes=classes,
                         **kwargs)

    def _path(self, name: str) -> str:
        return self.backend.join_path(self.data_root, name)

    def load_data_list(self) -> List[dict]:
        """Parse the official CUB files into WSOL data infos."""
        paths = {
            name: self._path(name)
            for name in (self.IMAGES_FILE, self.LABELS_FILE, self.SPLIT_FILE,
                         self.BOXES_FILE, self.CLASSES_FILE)
        }
        for name, path in paths.items():
            _require(self.backend, path, 'annotation file')
        img_dir = self.img_prefix
        _require(self.backend, img_dir, 'image folder')

        images = _read_table(self.backend, paths[self.IMAGES_FILE], 1)
        labels = _fields_to_numbers(
            _read_table(self.backend, paths[self.LABELS_FILE], 1),
            paths[self.LABELS_FILE], int)
        splits = _fields_to_numbers(
            _read_table(self.backend, paths[self.SPLIT_FILE], 1),
            paths[self.SPLIT_FILE], int)
        box_lines: Dict[int, int] = {}
        boxes = _fields_to_numbers(
            _read_table(self.backend, paths[self.BOXES_FILE], 4, box_lines),
            paths[self.BOXES_FILE], float)
        class_table = _read_table(self.backend, paths[self.CLASSES_FILE], 1)

        self._check_same_ids(paths, images, labels, splits, boxes)
        num_classes = len(class_table)
        if sorted(class_table) != list(range(1, num_classes + 1)):
            raise ValueError(
                f'{paths[self.CLASSES_FILE]}: class ids must be 1..'
                f'{num_classes} without gaps, got {sorted(class_table)[:10]}'
                f'{"..." if num_classes > 10 else ""}.')
        if self._classes_from_file:
            self._metainfo['classes'] = tuple(
                re.sub(r'^\d+\.', '', class_table[i][0])
                for i in range(1, num_classes + 1))

        seg_root = self._find_seg_root() if self.with_mask else None

        checker = BoxGTChecker('CUBWSOL', backend=self.backend)
        wanted = 1 if self.split == 'train' else 0
        data_list = []
        for img_id in sorted(images):
            flag = splits[img_id][0]
            if flag not in (0, 1):
                raise ValueError(
                    f'{paths[self.SPLIT_FILE]}: id {img_id} has split flag '
                    f'{flag}; expected 1 (train) or 0 (test).')
            if flag != wanted:
                continue
            label = labels[img_id][0]
            if not 1 <= label <= num_classes:
                raise ValueError(
                    f'{paths[self.LABELS_FILE]}: id {img_id} has class id '
                    f'{label}, outside 1..{num_classes} of '
                    f'{paths[self.CLASSES_FILE]}.')
            x, y, w, h = boxes[img_id]
            where = (f'{paths[self.BOXES_FILE]}, line {box_lines[img_id]} '
                     f'(image id {img_id})')
            if w <= 0 or h <= 0:
                raise ValueError(
                    f'{where}: the box "{x:g} {y:g} {w:g} {h:g}" has an empty '
                    f'or negative width or height (w={w:g}, h={h:g}).')
            rel_path = images[img_id][0]
            img_path = self.backend.join_path(img_dir, rel_path)
            gt_bboxes, shape = checker.check(np.array([[x, y, x + w, y + h]]),
                                             img_path, [where])
            info = dict(img_id=img_id,
                        img_path=img_path,
                        gt_label=label - 1,
                        gt_bboxes=gt_bboxes,
                        ori_shape=shape)
            if seg_root is not None:
                info['mask_path'] = self.backend.join_path(
                    seg_root,
                    osp.splitext(rel_path)[0] + '.png')
            data_list.append(info)
        checker.finish()
        return data_list

    def _find_seg_root(self) -> str:
        """Locate the segmentation folder (see ``seg_prefix``)."""
        if self.seg_prefix is not None:
            seg_root = self.seg_prefix if osp.isabs(self.seg_prefix) \
                else self._path(self.seg_prefix)
            _require(self.backend, seg_root, 'segmentation folder')
            return seg_root
        inside = self._path('segmentations')
        beside = self.backend.join_path(_parent_dir(self.data_root),
                                        'segmentations')
        for candidate in (inside, beside):
            if self.backend.exists(candidate):
                return candidate
        raise FileNotFoundError(
            'CUBWSOL: with_mask=True but no segmentation folder was found: '
            f'neither "{inside}" nor "{beside}" exists. Unpack the CUB '
            'segmentation archive (it holds segmentations/<class folder>/'
            '<name>.png) inside or beside data_root, or give seg_prefix. '
            f'Expected layout:\n{CUB_LAYOUT}')

    def _check_same_ids(self, paths: Dict[str, str], *tables: dict) -> None:
        names = (self.IMAGES_FILE, self.LABELS_FILE, self.SPLIT_FILE,
                 self.BOXES_FILE)
        ref = set(tables[0])
        for name, table in zip(names[1:], tables[1:]):
            ids = set(table)
            if ids == ref:
                continue
            missing = sorted(ref - ids)[:5]
            extra = sorted(ids - ref)[:5]
            raise ValueError(
                f'CUBWSOL: inconsistent annotation files: '
                f'{paths[self.IMAGES_FILE]} lists {len(ref)} image ids but '
                f'{paths[name]} has {len(ids)}; ids missing from '
                f'{name}: {missing}, ids only in {name}: {extra} '
                '(first 5 shown).')

    def extra_repr(self) -> List[str]:
        """Extra repr information of the dataset."""
        return [
            f'Root of dataset: \t{self.data_root}',
            f'Split: \t{self.split}',
            f'With mask: \t{self.with_mask}',
        ]
