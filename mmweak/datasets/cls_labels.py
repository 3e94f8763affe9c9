# Copyright (c) mmweak contributors.
"""Image-level tags (``cls_labels``) of WSSS datasets.

Tags are lists of **0-based foreground indices** (VOC: ``k`` <-> label id
``k + 1``, no background entry). They come from the VOC XML annotations
(the IRN/PSA convention) or from the unique values of the ground-truth
masks (COCO, datasets without XML); see the wsss-protocol spec, 2.2.

Two on-disk forms are read and written:

- canonical JSON (``cls_labels.json``)::

      {"source": "xml" | "mask" | "coco", "skip_difficult": false,
       "classes": ["aeroplane", ...], "labels": {"2007_000032": [0, 14]}}

  (a plain ``{image_id: [indices]}`` JSON is read as well);
- IRN's ``cls_labels.npy``: ``np.save`` of a dict
  ``{int(id.replace('_', '')): float32 (C_fg,) multi-hot}``; ids are decoded
  as ``s[:4] + '_' + s[4:]`` (``2007000032`` <-> ``2007_000032``).
"""
import io
import json
import os.path as osp
import re
import xml.etree.ElementTree as ET
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
from mmengine import fileio

from mmweak.structures import (IGNORE_INDEX, UNCERTAIN_INDEX,
                               check_label_values)

VOC_CLASSES = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle',
               'bus', 'car', 'cat', 'chair', 'cow', 'diningtable', 'dog',
               'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa',
               'train', 'tvmonitor')
"""The 21 VOC label names (mmseg's ``PascalVOCDataset.METAINFO``)."""
VOC_FG_CLASSES = VOC_CLASSES[1:]
"""The 20 VOC foreground classes; tag ``k`` is ``VOC_FG_CLASSES[k]``."""
TAG_SOURCES = ('xml', 'mask', 'coco')
_VOC_ID = re.compile(r'^\d{4}_\d+$')


def load_id_list(path: str) -> List[str]:
    """Read an ``ImageSets`` list (one id per line; blank lines skipped).

    Raises ``FileNotFoundError`` / ``ValueError`` naming ``path`` when it
    is missing, empty or repeats an id.
    """
    if not fileio.exists(path):
        raise FileNotFoundError(f'image id list "{path}" does not exist')
    ids = []
    seen = set()
    for lineno, line in enumerate(fileio.get_text(path).splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        img_id = fields[0]
        if img_id in seen:
            raise ValueError(f'{path}, line {lineno}: duplicate id '
                             f'"{img_id}"')
        seen.add(img_id)
        ids.append(img_id)
    if not ids:
        raise ValueError(f'image id list "{path}" is empty')
    return ids


def tags_from_voc_xml(xml_path: str,
                      class_names: Sequence[str],
                      skip_difficult: bool = False) -> List[int]:
    """Tags of one VOC ``Annotations/<id>.xml``: the sorted unique 0-based
    indices in ``class_names`` of its ``<object><name>`` entries.

    Args:
        xml_path: The XML file.
        class_names: Foreground class names (e.g. ``VOC_FG_CLASSES``).
        skip_difficult: Ignore objects with ``<difficult>1</difficult>``
            (RS+EPM) instead of keeping them (IRN, DHR). Defaults to False.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: (naming the file) it does not parse, an object has no
            ``<name>`` or an unknown class name, or ``<difficult>`` is not
            an integer.
    """
    if not fileio.exists(xml_path):
        raise FileNotFoundError(f'VOC annotation "{xml_path}" does not exist')
    try:
        root = ET.fromstring(fileio.get(xml_path))
    except ET.ParseError as err:
        raise ValueError(f'{xml_path}: not a valid XML file ({err})') from None
    index = {name: k for k, name in enumerate(class_names)}
    tags = set()
    for n, obj in enumerate(root.iter('object'), 1):
        name = obj.findtext('name')
        if name is None or not name.strip():
            raise ValueError(f'{xml_path}: <object> #{n} has no <name>')
        name = name.strip()
        if name not in index:
            raise ValueError(
                f'{xml_path}: <object> #{n} has class "{name}", which is '
                f'not one of the {len(class_names)} classes '
                f'{list(class_names)}')
        difficult = (obj.findtext('difficult') or '0').strip()
        try:
            difficult = int(difficult)
        except ValueError:
            raise ValueError(f'{xml_path}: <object> #{n} has <difficult> '
                             f'"{difficult}", expected 0 or 1') from None
        if skip_difficult and difficult:
            continue
        tags.add(index[name])
    return sorted(tags)


def _read_label_png(png_path: str) -> np.ndarray:
    from PIL import Image
    if not fileio.exists(png_path):
        raise FileNotFoundError(f'label map "{png_path}" does not exist')
    try:
        img = Image.open(io.BytesIO(fileio.get(png_path)))
        img.load()
    except Exception as err:  # PIL raises several error types
        raise ValueError(f'{png_path}: cannot read the label map '
                         f'({err})') from None
    if img.mode not in ('P', 'L', 'I', 'I;16'):
        raise ValueError(f'{png_path}: expected a single-channel (palette or '
                         f'grey) label PNG, got mode {img.mode}')
    return np.asarray(img)


def tags_from_mask(png_path: str, num_fg_classes: int) -> List[int]:
    """Tags of one ground-truth label map: its unique values minus 0, 254
    and 255, minus 1 (label id ``k + 1`` -> tag ``k``).

    Args:
        png_path: Single-channel (palette or grey) PNG with values
            ``0..num_fg_classes``, 254, 255.
        num_fg_classes: Number of foreground classes (20 VOC, 80 COCO).

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: (naming the file) it is not a single-channel PNG or has
            values outside ``0..num_fg_classes``, 254, 255.
    """
    label = _read_label_png(png_path)
    check_label_values(label, num_fg_classes + 1, source=png_path)
    values = np.unique(label)
    values = values[(values != 0) & (values != UNCERTAIN_INDEX) &
                    (values != IGNORE_INDEX)]
    return [int(v) - 1 for v in values]


def encode_voc_id(img_id: str) -> int:
    """IRN's integer form of a VOC id: ``'2007_000032'`` -> ``2007000032``.

    Raises ``ValueError`` for ids that would not decode back (anything but
    four digits, ``_``, digits).
    """
    if not _VOC_ID.match(img_id):
        raise ValueError(f'image id "{img_id}" cannot be stored in IRN\'s '
                         '.npy form (expected YYYY_NNNNNN, e.g. 2007_000032)')
    return int(img_id.replace('_', ''))


def decode_voc_id(key) -> str:
    """Inverse of :func:`encode_voc_id`: ``2007000032`` -> ``'2007_000032'``
    (``s[:4] + '_' + s[4:]``)."""
    s = str(int(key))
    if len(s) < 5:
        raise ValueError(f'IRN id {key} is too short to decode (expected '
                         'YYYYNNNNNN, e.g. 2007000032)')
    return s[:4] + '_' + s[4:]


def _check_tags(path: str, img_id: str, tags,
                num_classes: Optional[int]) -> List[int]:
    if not isinstance(tags, (list, tuple)) or not all(
            isinstance(t, int) and not isinstance(t, bool) for t in tags):
        raise ValueError(f'{path}: tags of "{img_id}" must be a list of '
                         f'integer class indices, got {tags!r}')
    bad = [
        t for t in tags
        if t < 0 or (num_classes is not None and t >= num_classes)
    ]
    if bad:
        upper = f'{num_classes - 1}' if num_classes is not None else 'C-1'
        raise ValueError(f'{path}: tags of "{img_id}" hold {bad}, outside the '
                         f'0-based foreground indices 0..{upper}')
    return sorted(set(int(t) for t in tags))


def load_cls_labels(
        path: str,
        classes: Optional[Sequence[str]] = None) -> Dict[str, List[int]]:
    """Read a tag file (canonical/plain JSON or IRN ``.npy``, by extension).

    Args:
        path: ``.json`` or ``.npy`` file.
        classes: Foreground class names the tags must index. When given,
            a JSON ``classes`` header must equal them, ``.npy`` vectors must
            have ``len(classes)`` entries and every index must be smaller.

    Returns:
        dict[str, list[int]]: Sorted 0-based foreground indices per image id.

    Raises:
        FileNotFoundError / ValueError naming ``path`` and what was expected.
    """
    if not fileio.exists(path):
        raise FileNotFoundError(f'tag file "{path}" does not exist')
    num_classes = None if classes is None else len(classes)
    ext = osp.splitext(path)[1].lower()
    if ext == '.json':
        try:
            data = json.loads(fileio.get_text(path))
        except json.JSONDecodeError as err:
            raise ValueError(f'{path}: not valid JSON ({err})') from None
        if isinstance(data, dict) and isinstance(data.get('labels'), dict):
            header = data.get('classes')
            if classes is not None and header is not None and \
                    list(header) != list(classes):
                raise ValueError(
                    f'{path}: its "classes" {list(header)} differ from the '
                    f'expected {list(classes)}')
            if header is not None and num_classes is None:
                num_classes = len(header)
            data = data['labels']
        if not isinstance(data, dict):
            raise ValueError(f'{path}: expected {{"labels": {{id: [indices]}}'
                             f', ...}} or {{id: [indices]}}, got '
                             f'{type(data).__name__}')
        return {
            str(k): _check_tags(path, str(k), v, num_classes)
            for k, v in data.items()
        }
    if ext == '.npy':
        try:
            obj = np.load(
                path if osp.isfile(path) else io.BytesIO(fileio.get(path)),
                allow_pickle=True)
            data = obj.item() if obj.dtype == object and obj.shape == () \
                else None
        except Exception as err:
            raise ValueError(f'{path}: cannot read it as an IRN cls_labels '
                             f'.npy ({err})') from None
        if not isinstance(data, dict):
            raise ValueError(f'{path}: expected np.save of a dict {{int id: '
                             'multi-hot vector}} (IRN cls_labels.npy)')
        out = {}
        for key, vec in data.items():
            try:
                img_id = decode_voc_id(key)
            except (TypeError, ValueError) as err:
                raise ValueError(f'{path}: bad key {key!r}: {err}') from None
            vec = np.asarray(vec)
            if vec.ndim != 1 or (num_classes is not None
                                 and vec.shape[0] != num_classes):
                want = f'({num_classes},)' if num_classes else '(C_fg,)'
                raise ValueError(f'{path}: vector of {img_id} has shape '
                                 f'{vec.shape}, expected {want}')
            out[img_id] = np.flatnonzero(vec > 0.5).tolist()
        return out
    raise ValueError(f'{path}: unknown tag file type "{ext}" (expected '
                     '.json or .npy)')


def save_cls_labels(path: str, labels: Mapping[str, Sequence[int]],
                    classes: Sequence[str], source: str,
                    skip_difficult: bool) -> None:
    """Write tags atomically as canonical JSON or IRN ``.npy`` (by
    extension).

    Args:
        path: ``.json`` or ``.npy`` output.
        labels: 0-based foreground indices per image id.
        classes: Foreground class names (the ``.npy`` vector length).
        source: ``'xml'``, ``'mask'`` or ``'coco'`` (JSON header).
        skip_difficult: Whether difficult objects were skipped (JSON header).
    """
    from mmweak.utils.offline_job import atomic_path, save_npy_atomic
    if source not in TAG_SOURCES:
        raise ValueError(f'{path}: source must be one of {TAG_SOURCES}, got '
                         f'{source!r}')
    clean = {
        str(k): _check_tags(path, str(k), list(v), len(classes))
        for k, v in labels.items()
    }
    ext = osp.splitext(path)[1].lower()
    if ext == '.json':
        doc = dict(source=source,
                   skip_difficult=bool(skip_difficult),
                   classes=list(classes),
                   labels={k: clean[k]
                           for k in sorted(clean)})
        with atomic_path(path) as tmp:
            with open(tmp, 'w') as f:
                json.dump(doc, f)
                f.write('\n')
    elif ext == '.npy':
        out = {}
        for img_id in sorted(clean):
            vec = np.zeros(len(classes), np.float32)
            vec[clean[img_id]] = 1
            try:
                out[encode_voc_id(img_id)] = vec
            except ValueError as err:
                raise ValueError(f'{path}: {err}') from None
        save_npy_atomic(path, out)
    else:
        raise ValueError(f'{path}: unknown tag file type "{ext}" (expected '
                         '.json or .npy)')
