# Copyright (c) mmweak contributors.
"""WSOL splits described by wsolevaluation metadata files."""
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine import fileio
from mmpretrain.datasets import BaseDataset

from mmweak.registry import DATASETS
from .transforms.builder import build_wsol_pipeline
from .wsol_gt import BoxGTChecker, check_size_mismatch_mode

METADATA_LAYOUT = """\
    <metadata_root>/<split>/          e.g. metadata/CUB/test
    ├── image_ids.txt       <image id>            (a path under the image
    │                                              prefix), one per line
    ├── class_labels.txt    <image id>,<0-based label>
    ├── image_sizes.txt     <image id>,<width>,<height>
    └── localization.txt    boxes: <image id>,<x0>,<y0>,<x1>,<y1>  (one line
                            per box, the id repeated for several boxes)
                            or masks: <image id>,<mask path>,<ignore path>
                            (one line per mask; only the first line of an
                            image carries its ignore path)
"""

SPLITS = ('train', 'val', 'test')


def _fail(path: str, lineno: int, msg: str) -> ValueError:
    return ValueError(f'{path}, line {lineno}: {msg}')


def _split_lines(text: str) -> List[Tuple[int, str]]:
    """Non-empty lines of ``text`` with their 1-based numbers."""
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)
            if line.strip()]


def _to_numbers(fields: Sequence[str], kind: type, path: str, lineno: int,
                line: str) -> list:
    try:
        return [kind(f) for f in fields]
    except ValueError:
        msg = f'expected {kind.__name__} values, got "{line}".'
        raise _fail(path, lineno, msg) from None


@DATASETS.register_module()
class WSOLEvalMetadataDataset(BaseDataset):
    """A WSOL split described by wsolevaluation metadata files.

    Reads the split format of Choe et al. (CVPR 2020, "Evaluating Weakly
    Supervised Object Localization Methods Right"; wsol-protocol spec,
    section 1.3): a folder ``metadata/<CUB|ILSVRC|OpenImages>/<train|val|
    test>/`` of comma-separated files keyed by the image id, which is the
    image path relative to an image folder::

        <metadata_root>/<split>/          e.g. metadata/CUB/test
        ├── image_ids.txt       <image id> (a path under the image
        │                       folder), one per line
        ├── class_labels.txt    <image id>,<0-based label>
        ├── image_sizes.txt     <image id>,<width>,<height>
        └── localization.txt    boxes: <image id>,<x0>,<y0>,<x1>,<y1>
                                (one line per box, the id repeated for
                                several boxes), or masks: <image id>,
                                <mask path>,<ignore path> (one line per
                                mask; only the first line of an image
                                carries its ignore path)

    Splits: ``train`` is train-weaksup (image labels only; sizes and
    localization are optional), ``val`` is **train-fullsup** (CUBV2,
    ImageNetV2, OpenImages30k val: the only split on which thresholds or
    hyper-parameters may be chosen with full supervision) and ``test`` is
    the test split (CUB test, ILSVRC val, OpenImages30k test).

    Each data info holds ``img_path`` (image folder + id), ``img_id`` (the
    id), ``gt_label``, ``gt_bboxes`` (float32 (N, 4), x0 y0 x1 y1 in the
    pixels of the image file; (0, 4) for mask annotations and splits
    without localization) and ``ori_shape`` (height, width) of the image
    file when the split has sizes; with mask annotations ``mask_path`` (one
    path, or a list when an image has several masks; their union is the
    foreground) and ``ignore_path`` when given. The fields match
    :class:`CUBWSOL` and :class:`ImageNetWSOL`, so the same pipelines and
    ``WSOLMetric`` apply.

    Checks (errors name the file and line):

    - every file: well-formed lines, no duplicate ids (boxes and masks may
      repeat an id), no id missing from ``image_ids.txt``;
    - every id of ``image_ids.txt`` must have a label and, when the split
      has sizes / localization (always for ``val`` and ``test``), a size and
      at least one box or mask line;
    - boxes: inverted or empty boxes are errors; sizes of
      ``image_sizes.txt`` are compared with the image file header: a
      uniformly resized copy gets its boxes rescaled
      (``size_mismatch='rescale'``, one warning per load), any other
      difference (or any difference with ``size_mismatch='error'``) is an
      error; boxes extending outside the image are clipped to it with one
      warning per load counting them;
    - masks: the image size must equal ``image_sizes.txt`` (masks are not
      rescaled).

    Class names come from ``classes`` / ``metainfo`` when given; otherwise
    from the first folder of the ids when it is the same for every image of
    a label and differs between labels (CUB: ``001.Black_footed_Albatross``
    -> ``Black_footed_Albatross``), else they are the label numbers.

    Args:
        data_root (str): Root that relative paths below start from.
            Defaults to ''.
        metadata_root (str): Folder holding one sub-folder per split, e.g.
            ``'metadata/CUB'``. Defaults to 'metadata/CUB'.
        split (str): ``'train'``, ``'val'`` (train-fullsup) or ``'test'``.
            Defaults to 'test'.
        data_prefix (str | dict): Image folder (``img_path``) and, for mask
            annotations, mask folder (``mask_path``; defaults to the image
            folder). Defaults to ''.
        size_mismatch (str): ``'rescale'`` or ``'error'``, see above.
            Defaults to 'rescale'.
        pipeline (Sequence[dict | Callable]): Transforms, built with
            mmweak's registry. Defaults to ().
        test_mode (bool): Test mode of mmengine datasets.
            Defaults to False.
        metainfo (dict, optional): Meta information, e.g. ``classes``.
            Defaults to None.
        classes (str | Sequence[str], optional): Class names or a file of
            them. Defaults to None.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`.
    """

    IMAGE_IDS = 'image_ids.txt'
    CLASS_LABELS = 'class_labels.txt'
    IMAGE_SIZES = 'image_sizes.txt'
    LOCALIZATION = 'localization.txt'

    def __init__(self,
                 data_root: str = '',
                 metadata_root: str = 'metadata/CUB',
                 split: str = 'test',
                 data_prefix: Union[str, dict] = '',
                 size_mismatch: str = 'rescale',
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 metainfo: Optional[dict] = None,
                 classes: Union[str, Sequence[str], None] = None,
                 **kwargs) -> None:
        if split not in SPLITS:
            raise ValueError(f'WSOLEvalMetadataDataset: split must be one of '
                             f'{SPLITS}, got {split!r}.')
        self.split = split
        self.metadata_root = metadata_root
        self.size_mismatch = check_size_mismatch_mode(
            size_mismatch, 'WSOLEvalMetadataDataset')
        if isinstance(data_prefix, str):
            data_prefix = dict(img_path=data_prefix)
        data_prefix = dict(data_prefix)
        data_prefix.setdefault('img_path', '')
        data_prefix.setdefault('mask_path', data_prefix['img_path'])
        self._classes_given = classes is not None or bool(
            metainfo and 'classes' in metainfo)
        data_root = osp.expanduser(str(data_root))
        self.backend = fileio.get_file_backend(data_root or '.')
        super().__init__(ann_file=self.backend.join_path(metadata_root, split)
                         if metadata_root else split,
                         data_root=data_root,
                         data_prefix=data_prefix,
                         pipeline=build_wsol_pipeline(pipeline),
                         test_mode=test_mode,
                         metainfo=metainfo,
                         classes=classes,
                         **kwargs)

    # ------------------------------------------------------------------ #
    def _file(self, name: str) -> str:
        return self.backend.join_path(self.ann_file, name)

    def _text(self, name: str, required: bool) -> Optional[str]:
        path = self._file(name)
        if self.backend.exists(path):
            return self.backend.get_text(path)
        if required:
            raise FileNotFoundError(
                f'WSOLEvalMetadataDataset: the {self.split} split needs '
                f'"{path}", which does not exist. Expected the wsolevaluation '
                f'metadata layout:\n{METADATA_LAYOUT}')
        return None

    def _read_ids(self) -> List[str]:
        path = self._file(self.IMAGE_IDS)
        text = self._text(self.IMAGE_IDS, required=True)
        ids: Dict[str, int] = OrderedDict()
        for lineno, line in _split_lines(text):
            if ',' in line:
                raise _fail(path, lineno,
                            f'expected one image id, got "{line}".')
            if line in ids:
                raise _fail(
                    path, lineno, f'duplicate image id "{line}" '
                    f'(first on line {ids[line]}).')
            ids[line] = lineno
        if not ids:
            raise ValueError(f'{path} lists no image.')
        return list(ids)

    def _read_keyed(self, name: str, num_fields: int, kind: type,
                    known: set) -> Optional[Dict[str, Tuple[list, int]]]:
        """Read ``id,v1,...`` lines into ``{id: (values, lineno)}``."""
        required = name == self.CLASS_LABELS or self.split != 'train'
        text = self._text(name, required)
        if text is None:
            return None
        path = self._file(name)
        table: Dict[str, Tuple[list, int]] = {}
        for lineno, line in _split_lines(text):
            fields = [f.strip() for f in line.split(',')]
            if len(fields) != num_fields + 1:
                raise _fail(
                    path, lineno, f'expected {num_fields + 1} comma-separated '
                    f'fields (image id first), got "{line}".')
            key = fields[0]
            if key not in known:
                raise _fail(
                    path, lineno, f'image id "{key}" is not listed in '
                    f'{self._file(self.IMAGE_IDS)}.')
            if key in table:
                raise _fail(
                    path, lineno, f'duplicate image id "{key}" (first '
                    f'on line {table[key][1]}).')
            table[key] = (_to_numbers(fields[1:], kind, path, lineno,
                                      line), lineno)
        return table

    def _read_localization(self, known: set) -> Optional[Tuple[str, dict]]:
        """Read ``localization.txt`` as ``('boxes' | 'masks', {id: ...})``.

        Boxes map an id to a list of ``(box, lineno)``; masks map it to
        ``dict(masks=[path, ...], ignore=path or None, line=lineno)``.
        """
        text = self._text(self.LOCALIZATION, self.split != 'train')
        if text is None:
            return None
        path = self._file(self.LOCALIZATION)
        lines = _split_lines(text)
        if not lines:
            raise ValueError(f'{path} is empty.')
        first = lines[0][1].split(',')
        if len(first) == 5:
            kind = 'boxes'
        elif len(first) in (2, 3):
            kind = 'masks'
        else:
            raise _fail(
                path, lines[0][0], 'expected "<id>,<x0>,<y0>,<x1>,<y1>" '
                '(boxes) or "<id>,<mask path>,<ignore path>" (masks), got '
                f'"{lines[0][1]}".')
        table: Dict[str, object] = {}
        for lineno, line in lines:
            fields = [f.strip() for f in line.split(',')]
            key = fields[0]
            if kind == 'boxes':
                if len(fields) != 5:
                    raise _fail(
                        path, lineno, 'expected "<id>,<x0>,<y0>,<x1>,<y1>" '
                        f'like the first line (boxes), got "{line}".')
                box = _to_numbers(fields[1:], float, path, lineno, line)
            elif len(fields) not in (2, 3) or not fields[1]:
                raise _fail(
                    path, lineno, 'expected "<id>,<mask path>,<ignore path>" '
                    f'like the first line (masks), got "{line}".')
            if key not in known:
                raise _fail(
                    path, lineno, f'image id "{key}" is not listed in '
                    f'{self._file(self.IMAGE_IDS)}.')
            if kind == 'boxes':
                table.setdefault(key, []).append((box, lineno))
                continue
            entry = table.setdefault(key,
                                     dict(masks=[], ignore=None, line=lineno))
            ignore = fields[2] if len(fields) == 3 else ''
            if ignore:
                if entry['ignore'] is not None and entry['ignore'] != ignore:
                    raise _fail(
                        path, lineno, f'image id "{key}" has a second ignore '
                        f'mask "{ignore}" (an image has at most one).')
                entry['ignore'] = ignore
            entry['masks'].append(fields[1])
        return kind, table

    def _infer_classes(self, ids: List[str], labels: Dict[str, int]) -> tuple:
        num = max(labels.values()) + 1
        folders: Dict[int, set] = {}
        for img_id in ids:
            folder = img_id.split('/')[0] if '/' in img_id else None
            folders.setdefault(labels[img_id], set()).add(folder)
        names = []
        for label in range(num):
            found = folders.get(label, set())
            if len(found) != 1 or None in found:
                break
            names.append(next(iter(found)))
        if len(names) == num and len(set(names)) == num:
            return tuple(re.sub(r'^\d+\.', '', n) for n in names)
        return tuple(str(i) for i in range(num))

    # ------------------------------------------------------------------ #
    def load_data_list(self) -> List[dict]:
        """Parse the metadata files of the split into WSOL data infos."""
        if not self.backend.exists(self.ann_file):
            raise FileNotFoundError(
                f'WSOLEvalMetadataDataset: the metadata folder '
                f'"{self.ann_file}" does not exist. Expected:\n'
                f'{METADATA_LAYOUT}')
        ids = self._read_ids()
        known = set(ids)
        labels_t = self._read_keyed(self.CLASS_LABELS, 1, int, known)
        sizes_t = self._read_keyed(self.IMAGE_SIZES, 2, int, known)
        loc = self._read_localization(known)

        required = [(self.CLASS_LABELS, labels_t)]
        if sizes_t is not None:
            required.append((self.IMAGE_SIZES, sizes_t))
        if loc is not None:
            required.append((self.LOCALIZATION, loc[1]))
        for name, table in required:
            missing = [i for i in ids if i not in table]
            if missing:
                raise ValueError(
                    f'{self._file(name)}: {len(missing)} image id(s) of '
                    f'{self._file(self.IMAGE_IDS)} have no entry, e.g. '
                    f'"{missing[0]}" (every listed image needs one).')
        labels = {}
        for img_id, (values, lineno) in labels_t.items():
            if values[0] < 0:
                raise _fail(self._file(self.CLASS_LABELS), lineno,
                            f'negative label {values[0]}.')
            labels[img_id] = values[0]
        if not self._classes_given:
            self._metainfo['classes'] = self._infer_classes(ids, labels)
        num_classes = len(self._metainfo.get('classes') or ())
        if num_classes and max(labels.values()) >= num_classes:
            raise ValueError(
                f'{self._file(self.CLASS_LABELS)}: label '
                f'{max(labels.values())} is outside the {num_classes} '
                'classes given.')

        img_root = self.data_prefix['img_path']
        mask_root = self.data_prefix['mask_path']
        sizes_file = self._file(self.IMAGE_SIZES)
        loc_file = self._file(self.LOCALIZATION)
        checker = BoxGTChecker('WSOLEvalMetadataDataset', self.size_mismatch,
                               self.backend)
        data_list = []
        for img_id in ids:
            info = dict(img_id=img_id,
                        img_path=self.backend.join_path(img_root, img_id),
                        gt_label=labels[img_id])
            ann_size = None
            if sizes_t is not None:
                (width, height), lineno = sizes_t[img_id]
                if width <= 0 or height <= 0:
                    raise _fail(sizes_file, lineno,
                                f'non-positive size {width}x{height}.')
                ann_size = (width, height)
            boxes = np.zeros((0, 4))
            where: List[str] = []
            kind = loc[0] if loc is not None else None
            if kind == 'boxes':
                entries = loc[1][img_id]
                boxes = np.array([box for box, _ in entries])
                where = [f'{loc_file}, line {n}' for _, n in entries]
            elif kind == 'masks':
                entry = loc[1][img_id]
                masks = [
                    self.backend.join_path(mask_root, m)
                    for m in entry['masks']
                ]
                info['mask_path'] = masks[0] if len(masks) == 1 else masks
                if entry['ignore']:
                    info['ignore_path'] = self.backend.join_path(
                        mask_root, entry['ignore'])
            if kind is not None:
                # only images with localization are opened: a train split
                # with sizes but no boxes is not read image by image
                info['gt_bboxes'], info['ori_shape'] = checker.check(
                    boxes,
                    info['img_path'],
                    where,
                    ann_size=ann_size,
                    ann_file=(f'{sizes_file}, line {sizes_t[img_id][1]}'
                              if sizes_t is not None else ''),
                    rescalable=kind != 'masks')
            else:
                info['gt_bboxes'] = np.zeros((0, 4), dtype=np.float32)
            data_list.append(info)
        checker.finish()
        return data_list

    def extra_repr(self) -> List[str]:
        """Extra repr information of the dataset."""
        return [
            f'Metadata folder: \t{self.ann_file}',
            f'Split: \t{self.split}',
        ]
