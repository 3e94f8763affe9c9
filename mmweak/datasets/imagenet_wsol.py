# Copyright (c) mmweak contributors.
"""ILSVRC 2012 for weakly supervised object localization."""
import os.path as osp
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine import fileio
from mmengine.logging import print_log
from mmpretrain.datasets import BaseDataset

from mmweak.registry import DATASETS
from .transforms.builder import build_wsol_pipeline
from .wsol_gt import BoxGTChecker, check_size_mismatch_mode

IMG_EXTENSIONS = ('.jpeg', '.jpg', '.png', '.bmp')

ILSVRC_LAYOUT = """\
    imagenet/                              (data_root)
    ├── train/<wnid>/<name>.JPEG            (train_dir)
    ├── val/ILSVRC2012_val_00000001.JPEG    (val_img_dir)
    ├── val_boxes/ILSVRC2012_val_00000001.xml  (val_xml_dir; one PASCAL-VOC
    │                                        XML per val image, as in the
    │                                        ILSVRC2012 val bbox archive)
    └── meta/val.txt                        (optional ann_file:
                                             "<file name> <label>" lines)
"""


def _require(backend, path: str, what: str) -> None:
    if not backend.exists(path):
        raise FileNotFoundError(
            f'ImageNetWSOL: {what} "{path}" does not exist. Expected the '
            f'ILSVRC 2012 layout:\n{ILSVRC_LAYOUT}')


def parse_voc_xml(xml_text: str,
                  path: str) -> Tuple[List[str], np.ndarray, Tuple[int, int]]:
    """Parse one ILSVRC (PASCAL-VOC style) box annotation.

    Args:
        xml_text (str): The XML document.
        path (str): Its file name, for error messages.

    Returns:
        tuple: the ``<name>`` (wnid) of every ``<object>``, their boxes as a
        float32 (N, 4) array of ``xmin, ymin, xmax, ymax`` as stored (no
        -1 shift), and the image size ``(height, width)`` from ``<size>``
        (``(0, 0)`` when absent).
    """
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as e:
        raise ValueError(f'Cannot parse the box XML "{path}": {e}') from None
    size = (0, 0)
    size_node = root.find('size')
    if size_node is not None:
        try:
            size = (int(size_node.findtext('height')),
                    int(size_node.findtext('width')))
        except (TypeError, ValueError):
            raise ValueError(f'"{path}": <size> must hold integer <width> '
                             'and <height>.') from None
    names, boxes = [], []
    for obj in root.iter('object'):
        name = (obj.findtext('name') or '').strip()
        bndbox = obj.find('bndbox')
        if not name or bndbox is None:
            raise ValueError(f'"{path}": every <object> needs a <name> and a '
                             '<bndbox>.')
        try:
            box = [
                float(bndbox.findtext(k))
                for k in ('xmin', 'ymin', 'xmax', 'ymax')
            ]
        except (TypeError, ValueError):
            raise ValueError(f'"{path}": <bndbox> of object "{name}" must '
                             'hold numeric xmin, ymin, xmax, ymax.') from None
        names.append(name)
        boxes.append(box)
    if not names:
        raise ValueError(f'"{path}" holds no <object>.')
    return names, np.array(boxes, dtype=np.float32).reshape(-1, 4), size


@DATASETS.register_module()
class ImageNetWSOL(BaseDataset):
    """ILSVRC 2012 with bounding boxes for WSOL.

    Layout (wsol-protocol spec, section 1.2; every folder name is an
    argument)::

        imagenet/                              (data_root)
        ├── train/<wnid>/<name>.JPEG            (train_dir)
        ├── val/ILSVRC2012_val_00000001.JPEG    (val_img_dir)
        ├── val_boxes/ILSVRC2012_val_00000001.xml   (val_xml_dir)
        └── meta/val.txt                        (optional ann_file)

    ``val_boxes`` holds the per-image PASCAL-VOC XML files of the ILSVRC
    2012 validation box archive (extract it there; the archive's own folder
    name is ``val`` and would clash with the images).

    - **Classes** are the wnids in sorted order (label = index), taken from
      ``wnids_file`` (first token of each line, e.g. ``LOC_synset_mapping
      .txt``) when given, else from the sub-folders of ``train_dir``, else
      (val only) from the sorted set of wnids found in the XML files.
    - **split='train'**: without ``ann_file``, every image under
      ``train_dir/<wnid>/``; with ``ann_file`` (mmpretrain's
      ``meta/train.txt``: ``<wnid>/<file> <label>``), the listed images.
      ``gt_bboxes`` is empty (0, 4) unless ``train_xml_dir`` holds
      ``<wnid>/<stem>.xml`` for the image.
    - **split='val'** (the WSOL test set): without ``ann_file``, one sample
      per XML in ``val_xml_dir`` (image ``val_img_dir/<stem>.JPEG``), label
      from the XML wnid; with ``ann_file`` (mmpretrain's ``meta/val.txt``:
      ``<file> <label>``), the listed images and labels, each of which must
      have ``val_xml_dir/<stem>.xml``; when the class list is known, the
      XML wnid must agree with the label (this catches label files in
      ILSVRC2012_ID order). Every ``<object>`` is kept, coordinates as
      stored.

    Each data info holds ``img_path``, ``gt_label``, ``gt_bboxes`` (float32
    (N, 4), x1 y1 x2 y2 in the pixels of the image file) and, for every
    image with a box XML, ``ori_shape`` (height, width) of the image file
    (``LoadImageFromFile`` sets it again from the decoded image).

    Ground-truth checks, for every image with a box XML (all val images;
    train images only with ``train_xml_dir``):

    - An inverted (``xmax < xmin`` or ``ymax < ymin``) or empty (zero width
      or height) ``<bndbox>`` is an error naming the XML and the object.
    - The image size is read from the file header (cheap; a missing or
      unreadable image is an error naming the file) and compared with the
      XML ``<size>``. When they differ and the image is a uniformly resized
      copy (e.g. a val set shrunk to a shorter side of 256 px), the boxes
      are rescaled to the image and one warning per load counts those
      images (``size_mismatch='rescale'``); any other difference, or every
      difference with ``size_mismatch='error'``, is an error naming the XML
      and image files and both sizes.
    - Boxes extending outside the image are clipped to ``[0, W] x [0, H]``
      with one warning per load that counts them; a box entirely outside
      the image is an error.

    Args:
        data_root (str): ILSVRC root folder.
        split (str): ``'train'`` or ``'val'``. Defaults to 'val'.
        ann_file (str): Optional list file ``<path> <label>`` relative to
            ``data_root``. Defaults to ''.
        train_dir (str): Train image folder. Defaults to 'train'.
        val_img_dir (str): Val image folder. Defaults to 'val'.
        val_xml_dir (str): Val box XML folder. Defaults to 'val_boxes'.
        train_xml_dir (str, optional): Train box XML folder
            (``<wnid>/<stem>.xml``). Defaults to None.
        wnids_file (str, optional): File whose lines start with the wnids
            in label order, relative to ``data_root``. Defaults to None.
        size_mismatch (str): ``'rescale'`` or ``'error'``: how an XML
            ``<size>`` that differs from the image file is handled (see
            above). Defaults to 'rescale'.
        pipeline (Sequence[dict | Callable]): Transforms, built with
            mmweak's registry. Defaults to ().
        test_mode (bool): Test mode of mmengine datasets.
            Defaults to False.
        metainfo (dict, optional): Meta information; ``classes`` defaults
            to the wnids. Defaults to None.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`.
    """

    def __init__(self,
                 data_root: str,
                 split: str = 'val',
                 ann_file: str = '',
                 train_dir: str = 'train',
                 val_img_dir: str = 'val',
                 val_xml_dir: str = 'val_boxes',
                 train_xml_dir: Optional[str] = None,
                 wnids_file: Optional[str] = None,
                 size_mismatch: str = 'rescale',
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        if split not in ('train', 'val'):
            raise ValueError(
                f"ImageNetWSOL: split must be 'train' or 'val', got '{split}'."
            )
        data_root = osp.expanduser(str(data_root))
        self.backend = fileio.get_file_backend(data_root)
        _require(self.backend, data_root, 'data_root')
        self.split = split
        self.size_mismatch = check_size_mismatch_mode(size_mismatch,
                                                      'ImageNetWSOL')
        self.train_dir = self._join(data_root, train_dir)
        self.val_img_dir = self._join(data_root, val_img_dir)
        self.val_xml_dir = self._join(data_root, val_xml_dir)
        self.train_xml_dir = None if train_xml_dir is None else self._join(
            data_root, train_xml_dir)
        self.wnids_file = None if wnids_file is None else self._join(
            data_root, wnids_file)
        # User-given ``classes`` (e.g. readable names) are kept as they are.
        self._classes_given = bool(metainfo and 'classes' in metainfo)
        super().__init__(ann_file=ann_file,
                         data_root=data_root,
                         data_prefix='',
                         pipeline=build_wsol_pipeline(pipeline),
                         test_mode=test_mode,
                         metainfo=metainfo,
                         **kwargs)

    def _join(self, root: str, path: str) -> str:
        return path if osp.isabs(path) else self.backend.join_path(root, path)

    # ------------------------------------------------------------------ #
    def _list_dir(self, path: str, dirs: bool) -> List[str]:
        return sorted(
            self.backend.list_dir_or_file(path,
                                          list_dir=dirs,
                                          list_file=not dirs))

    def _resolve_wnids(self) -> Optional[List[str]]:
        if self.wnids_file is not None:
            _require(self.backend, self.wnids_file, 'wnids_file')
            wnids = [
                line.split()[0] for line in self.backend.get_text(
                    self.wnids_file).splitlines() if line.strip()
            ]
            if len(set(wnids)) != len(wnids):
                raise ValueError(f'{self.wnids_file} lists a wnid twice.')
            return wnids
        if self.backend.exists(self.train_dir):
            wnids = self._list_dir(self.train_dir, dirs=True)
            if wnids:
                return wnids
        return None

    def _read_xml(self, path: str):
        _require(self.backend, path, 'box XML file')
        return parse_voc_xml(self.backend.get_text(path), path)

    def _read_ann_file(self) -> List[Tuple[str, int]]:
        _require(self.backend, self.ann_file, 'ann_file')
        items = []
        text = self.backend.get_text(self.ann_file)
        for lineno, line in enumerate(text.splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                if len(fields) != 2:
                    raise ValueError
                items.append((fields[0], int(fields[1])))
            except ValueError:
                raise ValueError(
                    f'{self.ann_file}, line {lineno}: expected "<image path> '
                    f'<integer label>", got "{line.strip()}".') from None
        if not items:
            raise ValueError(f'{self.ann_file} is empty.')
        return items

    def _set_classes(self, wnids: Optional[List[str]]) -> None:
        if wnids is not None and not self._classes_given:
            self._metainfo['classes'] = tuple(wnids)

    # ------------------------------------------------------------------ #
    def load_data_list(self) -> List[dict]:
        """Load the samples of the chosen split."""
        wnids = self._resolve_wnids()
        self._checker = BoxGTChecker('ImageNetWSOL', self.size_mismatch,
                                     self.backend)
        if self.split == 'train':
            data_list = self._load_train(wnids)
        else:
            data_list = self._load_val(wnids)
        self._checker.finish()
        return data_list

    def _checked(self, info: dict, xml_path: str, boxes: np.ndarray,
                 size: Tuple[int, int]) -> dict:
        """Check the boxes of ``info`` from ``xml_path`` against its image.

        ``size`` is the XML ``<size>`` as (height, width), (0, 0) if absent.
        """
        where = [f'"{xml_path}", object {k + 1}' for k in range(len(boxes))]
        ann_size = None if size == (0, 0) else (size[1], size[0])
        info['gt_bboxes'], info['ori_shape'] = self._checker.check(
            boxes,
            info['img_path'],
            where,
            ann_size=ann_size,
            ann_file=xml_path)
        return info

    def _load_train(self, wnids: Optional[List[str]]) -> List[dict]:
        _require(self.backend, self.train_dir, 'train folder')
        if wnids is None:
            raise FileNotFoundError(
                f'ImageNetWSOL: no class folders found in "{self.train_dir}" '
                f'and no wnids_file given. Expected:\n{ILSVRC_LAYOUT}')
        self._set_classes(wnids)
        wnid_to_label = {w: i for i, w in enumerate(wnids)}
        if self.ann_file:
            samples = self._read_ann_file()
        else:
            samples = []
            for wnid in wnids:
                folder = self.backend.join_path(self.train_dir, wnid)
                if not self.backend.exists(folder):
                    continue
                for name in self._list_dir(folder, dirs=False):
                    if name.lower().endswith(IMG_EXTENSIONS):
                        samples.append((f'{wnid}/{name}', wnid_to_label[wnid]))
            if not samples:
                raise FileNotFoundError(
                    f'ImageNetWSOL: no images found under "{self.train_dir}"'
                    f'/<wnid>/. Expected:\n{ILSVRC_LAYOUT}')
        data_list = []
        for rel_path, label in samples:
            if not 0 <= label < len(wnids):
                raise ValueError(f'{self.ann_file}: label {label} of '
                                 f'"{rel_path}" is outside 0..{len(wnids)-1}.')
            info = dict(img_path=self.backend.join_path(
                self.train_dir, rel_path),
                        gt_label=label,
                        gt_bboxes=np.zeros((0, 4), dtype=np.float32))
            if self.train_xml_dir is not None:
                xml_path = self.backend.join_path(
                    self.train_xml_dir,
                    osp.splitext(rel_path)[0] + '.xml')
                if self.backend.exists(xml_path):
                    _, boxes, size = self._read_xml(xml_path)
                    info = self._checked(info, xml_path, boxes, size)
            data_list.append(info)
        return data_list

    def _load_val(self, wnids: Optional[List[str]]) -> List[dict]:
        _require(self.backend, self.val_img_dir, 'val image folder')
        _require(self.backend, self.val_xml_dir, 'val box XML folder')
        if self.ann_file:
            samples = self._read_ann_file()
        else:
            xml_names = [
                n for n in self._list_dir(self.val_xml_dir, dirs=False)
                if n.lower().endswith('.xml')
            ]
            if not xml_names:
                raise FileNotFoundError(
                    f'ImageNetWSOL: no .xml files in "{self.val_xml_dir}". '
                    f'Expected:\n{ILSVRC_LAYOUT}')
            samples = [(osp.splitext(n)[0] + '.JPEG', None) for n in xml_names]

        parsed: List[Tuple[str, Optional[int], Dict]] = []
        for rel_path, label in samples:
            stem = osp.splitext(osp.basename(rel_path))[0]
            xml_path = self.backend.join_path(self.val_xml_dir, stem + '.xml')
            names, boxes, size = self._read_xml(xml_path)
            parsed.append((rel_path, label,
                           dict(names=names,
                                boxes=boxes,
                                size=size,
                                xml=xml_path)))

        if wnids is None:
            if self.ann_file:
                raise FileNotFoundError(
                    'ImageNetWSOL: cannot check the XML wnids against '
                    f'{self.ann_file} without a class list: give wnids_file '
                    f'or a train folder "{self.train_dir}".')
            wnids = sorted({n for _, _, ann in parsed for n in ann['names']})
            print_log(
                'ImageNetWSOL: no train folder or wnids_file; classes are '
                f'the {len(wnids)} sorted wnids found in the val XML files.',
                logger='current')
        self._set_classes(wnids)
        wnid_to_label = {w: i for i, w in enumerate(wnids)}

        data_list = []
        for rel_path, label, ann in parsed:
            wnid = ann['names'][0]
            if wnid not in wnid_to_label:
                raise ValueError(
                    f'{ann["xml"]}: wnid "{wnid}" is not one of the '
                    f'{len(wnids)} known classes.')
            xml_label = wnid_to_label[wnid]
            if label is None:
                label = xml_label
            elif label != xml_label:
                raise ValueError(
                    f'{self.ann_file}: "{rel_path}" has label {label} but its '
                    f'box file {ann["xml"]} names {wnid} (label {xml_label} '
                    'among the sorted wnids). Labels must follow the sorted '
                    'wnid order (mmpretrain meta/val.txt), not ILSVRC2012_ID.')
            info = dict(img_path=self.backend.join_path(
                self.val_img_dir, rel_path),
                        gt_label=label)
            data_list.append(
                self._checked(info, ann['xml'], ann['boxes'], ann['size']))
        return data_list

    def extra_repr(self) -> List[str]:
        """Extra repr information of the dataset."""
        return [
            f'Root of dataset: \t{self.data_root}',
            f'Split: \t{self.split}',
        ]
