# Copyright (c) mmweak contributors.
"""Tiny WSOL datasets written in the official on-disk formats, for tests.

The writers are deterministic and take well under a second. They return
the dataset root as a ``str``, ready for ``CUBWSOL(data_root=...)``,
``ImageNetWSOL(data_root=...)`` or ``WSOLEvalMetadataDataset(data_root=
...)``.
"""
import os
import os.path as osp
from typing import List, Sequence, Tuple, Union

import cv2
import numpy as np

PathLike = Union[str, 'os.PathLike[str]']

# The first official CUB image and its box (wsol-protocol spec, 1.1).
CUB_IMAGE1_PATH = '001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg'
CUB_IMAGE1_SIZE = (500, 335)  # (w, h)
CUB_IMAGE1_XYWH = (60, 27, 325, 304)
CUB_CLASS_NAMES = ('Black_footed_Albatross', 'Laysan_Albatross',
                   'Sooty_Albatross', 'Groove_billed_Ani', 'Crested_Auklet',
                   'Least_Auklet', 'Parakeet_Auklet', 'Rhinoceros_Auklet')

# The first official ILSVRC 2012 val image (wsol-protocol spec, 1.2).
ILSVRC_VAL1_WNID = 'n01751748'
ILSVRC_VAL1_SIZE = (500, 375)  # (w, h)
ILSVRC_VAL1_BOX = (111, 108, 441, 193)
# Boxes of the second (multi-object) val image, of size 64 x 48.
ILSVRC_VAL2_BOXES = ((2, 3, 20, 30), (30, 5, 60, 40))
ILSVRC_WNIDS = ('n01440764', 'n01443537', 'n01751748', 'n02085620',
                'n02099601', 'n02123045', 'n03028079', 'n04254680')


def _draw_image(path: str, size: Tuple[int, int], boxes: Sequence,
                seed: int) -> None:
    """Write a smooth random image with filled boxes as the objects."""
    w, h = size
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = rng.integers(40, 200, 3, dtype=np.uint8)
    for x1, y1, x2, y2 in boxes:
        img[int(y1):int(y2), int(x1):int(x2)] = rng.integers(0,
                                                             256,
                                                             3,
                                                             dtype=np.uint8)
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, img):
        raise IOError(f'could not write {path}')


def _write_lines(path: str, lines: List[str]) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def make_cub_root(tmp_path: PathLike,
                  num_classes: int = 3,
                  images_per_class: int = 4,
                  with_masks: bool = True) -> str:
    """Write a tiny CUB-200-2011 release at ``tmp_path/CUB_200_2011``.

    Layout and formats are those of the official archive: ``images/``,
    ``images.txt``, ``image_class_labels.txt``, ``train_test_split.txt``,
    ``bounding_boxes.txt`` (``x y w h`` as floats such as ``60.0``),
    ``classes.txt`` and, with ``with_masks``, ``segmentations/<same
    path>.png`` (grey-level, as the separate segmentation archive).

    Content:

    - classes ``001.Black_footed_Albatross``, ``002.Laysan_Albatross``, ...
      (at most 8); image ids run class by class from 1.
    - image 1 is ``CUB_IMAGE1_PATH`` (500 x 335) with box ``60 27 325 304``
      (corners ``[60, 27, 385, 331]``); the others are small (width 40..79,
      height 30..59) with integer boxes inside the image.
    - odd image ids are train (``1``), even ids are test (``0``).
    - each image is a flat background with the box filled in another
      colour. The mask is 255 inside the box except a 1-px inner border of
      200, and 100 on a 1-px ring outside it, so thresholding at 127 gives
      exactly the box pixels (columns ``x .. x + w - 1``).

    Args:
        tmp_path (str | PathLike): Parent folder (e.g. pytest's
            ``tmp_path``).
        num_classes (int): Number of classes, 1..8. Defaults to 3.
        images_per_class (int): Images per class. Defaults to 4.
        with_masks (bool): Also write ``segmentations/``. Defaults to True.

    Returns:
        str: The ``CUB_200_2011`` folder.
    """
    if not 1 <= num_classes <= len(CUB_CLASS_NAMES):
        raise ValueError(f'num_classes must be in 1..{len(CUB_CLASS_NAMES)}')
    root = osp.join(str(tmp_path), 'CUB_200_2011')
    rng = np.random.default_rng(2011)
    images, labels, split, boxes, classes = [], [], [], [], []
    img_id = 0
    for c in range(num_classes):
        folder = f'{c + 1:03d}.{CUB_CLASS_NAMES[c]}'
        classes.append(f'{c + 1} {folder}')
        for k in range(images_per_class):
            img_id += 1
            if img_id == 1:
                rel, (w, h) = CUB_IMAGE1_PATH, CUB_IMAGE1_SIZE
                x, y, bw, bh = CUB_IMAGE1_XYWH
            else:
                rel = f'{folder}/{CUB_CLASS_NAMES[c]}_{k + 1:04d}_{img_id}.jpg'
                w, h = int(rng.integers(40, 80)), int(rng.integers(30, 60))
                bw, bh = int(rng.integers(8,
                                          w - 4)), int(rng.integers(8, h - 4))
                x = int(rng.integers(1, w - bw))
                y = int(rng.integers(1, h - bh))
            images.append(f'{img_id} {rel}')
            labels.append(f'{img_id} {c + 1}')
            split.append(f'{img_id} {img_id % 2}')
            boxes.append(f'{img_id} {x:.1f} {y:.1f} {bw:.1f} {bh:.1f}')
            _draw_image(osp.join(root, 'images', rel), (w, h),
                        [(x, y, x + bw, y + bh)],
                        seed=img_id)
            if with_masks:
                mask = np.zeros((h, w), np.uint8)
                mask[max(y - 1, 0):y + bh + 1, max(x - 1, 0):x + bw + 1] = 100
                mask[y:y + bh, x:x + bw] = 200
                mask[y + 1:y + bh - 1, x + 1:x + bw - 1] = 255
                mask_path = osp.join(root, 'segmentations',
                                     osp.splitext(rel)[0] + '.png')
                os.makedirs(osp.dirname(mask_path), exist_ok=True)
                cv2.imwrite(mask_path, mask)
    _write_lines(osp.join(root, 'images.txt'), images)
    _write_lines(osp.join(root, 'image_class_labels.txt'), labels)
    _write_lines(osp.join(root, 'train_test_split.txt'), split)
    _write_lines(osp.join(root, 'bounding_boxes.txt'), boxes)
    _write_lines(osp.join(root, 'classes.txt'), classes)
    return root


def voc_xml(stem: str,
            size: Tuple[int, int],
            wnid: str,
            boxes: Sequence[Sequence[int]],
            folder: str = 'val') -> str:
    """An ILSVRC box annotation (PASCAL-VOC XML) as a string.

    Args:
        stem (str): Image file name without extension.
        size (tuple[int, int]): Image size (w, h).
        wnid (str): Synset of every object.
        boxes (Sequence): ``(xmin, ymin, xmax, ymax)`` of each object.
        folder (str): Content of ``<folder>``. Defaults to 'val'.
    """
    objects = ''.join('\t<object>\n'
                      f'\t\t<name>{wnid}</name>\n'
                      '\t\t<pose>Unspecified</pose>\n'
                      '\t\t<truncated>0</truncated>\n'
                      '\t\t<difficult>0</difficult>\n'
                      '\t\t<bndbox>\n'
                      f'\t\t\t<xmin>{x1}</xmin>\n\t\t\t<ymin>{y1}</ymin>\n'
                      f'\t\t\t<xmax>{x2}</xmax>\n\t\t\t<ymax>{y2}</ymax>\n'
                      '\t\t</bndbox>\n'
                      '\t</object>\n' for x1, y1, x2, y2 in boxes)
    return ('<annotation>\n'
            f'\t<folder>{folder}</folder>\n'
            f'\t<filename>{stem}</filename>\n'
            '\t<source>\n\t\t<database>ILSVRC_2012</database>\n\t</source>\n'
            f'\t<size>\n\t\t<width>{size[0]}</width>\n'
            f'\t\t<height>{size[1]}</height>\n\t\t<depth>3</depth>\n'
            '\t</size>\n'
            '\t<segmented>0</segmented>\n'
            f'{objects}'
            '</annotation>\n')


def make_ilsvrc_root(tmp_path: PathLike,
                     num_classes: int = 3,
                     train_per_class: int = 2,
                     num_val: int = 4,
                     with_meta: bool = True,
                     with_train_boxes: bool = False) -> str:
    """Write a tiny ILSVRC 2012 tree at ``tmp_path/imagenet``.

    Layout (the defaults of ``ImageNetWSOL``)::

        imagenet/
        ├── train/<wnid>/<wnid>_<k>.JPEG
        ├── train_boxes/<wnid>/<wnid>_1.xml     (with_train_boxes)
        ├── val/ILSVRC2012_val_000000NN.JPEG
        ├── val_boxes/ILSVRC2012_val_000000NN.xml  (PASCAL-VOC, as in the
        │                                          ILSVRC val box archive)
        └── meta/train.txt, meta/val.txt          (with_meta; mmpretrain
                                                   format, sorted-wnid
                                                   labels)

    Content:

    - wnids: the first ``num_classes`` of ``ILSVRC_WNIDS`` (sorted; always
      includes ``n01751748``, so ``num_classes`` must be >= 3).
    - val image 1 is 500 x 375 with one ``n01751748`` box
      ``111 108 441 193``; val image 2 (if ``num_val >= 2``) is 64 x 48
      with two ``<object>``s ``ILSVRC_VAL2_BOXES`` of the first wnid; the
      others are 48 x 40 with one box ``4 5 30 33`` and wnid
      ``wnids[(i - 2) % num_classes]`` (so 4 val images cover 3 classes).
    - train images are 40 x 32.

    Args:
        tmp_path (str | PathLike): Parent folder.
        num_classes (int): Number of classes, 3..8. Defaults to 3.
        train_per_class (int): Train images per class. Defaults to 2.
        num_val (int): Number of val images (>= 1). Defaults to 4.
        with_meta (bool): Write ``meta/train.txt`` and ``meta/val.txt``.
            Defaults to True.
        with_train_boxes (bool): Write train box XMLs for the first image
            of each class. Defaults to False.

    Returns:
        str: The ``imagenet`` folder.
    """
    if not 3 <= num_classes <= len(ILSVRC_WNIDS):
        raise ValueError(f'num_classes must be in 3..{len(ILSVRC_WNIDS)}')
    if num_val < 1:
        raise ValueError('num_val must be >= 1')
    root = osp.join(str(tmp_path), 'imagenet')
    wnids = sorted(ILSVRC_WNIDS[:num_classes])
    label_of = {w: i for i, w in enumerate(wnids)}
    train_lines = []
    for wnid in wnids:
        for k in range(1, train_per_class + 1):
            name = f'{wnid}_{k}.JPEG'
            box = (3, 4, 30, 25)
            _draw_image(osp.join(root, 'train', wnid, name), (40, 32), [box],
                        seed=k + 10 * label_of[wnid])
            train_lines.append(f'{wnid}/{name} {label_of[wnid]}')
            if with_train_boxes and k == 1:
                _write_lines(
                    osp.join(root, 'train_boxes', wnid, f'{wnid}_{k}.xml'), [
                        voc_xml(
                            f'{wnid}_{k}',
                            (40, 32), wnid, [box], folder=wnid).rstrip('\n')
                    ])
    val_lines = []
    for i in range(1, num_val + 1):
        stem = f'ILSVRC2012_val_{i:08d}'
        if i == 1:
            size, wnid, boxes = ILSVRC_VAL1_SIZE, ILSVRC_VAL1_WNID, [
                ILSVRC_VAL1_BOX
            ]
        elif i == 2:
            size, wnid, boxes = (64, 48), wnids[0], list(ILSVRC_VAL2_BOXES)
        else:
            size, wnid, boxes = (48, 40), wnids[(i - 2) % num_classes], [
                (4, 5, 30, 33)
            ]
        _draw_image(osp.join(root, 'val', stem + '.JPEG'),
                    size,
                    boxes,
                    seed=100 + i)
        _write_lines(osp.join(root, 'val_boxes', stem + '.xml'),
                     [voc_xml(stem, size, wnid, boxes).rstrip('\n')])
        val_lines.append(f'{stem}.JPEG {label_of[wnid]}')
    if with_meta:
        _write_lines(osp.join(root, 'meta', 'train.txt'), train_lines)
        _write_lines(osp.join(root, 'meta', 'val.txt'), val_lines)
    return root


# Boxes of the first (two-object) test image of ``make_wsoleval_root``,
# which is 64 x 48.
WSOLEVAL_TEST1_BOXES = ((3, 4, 25, 30), (32, 10, 60, 44))
WSOLEVAL_TEST1_SIZE = (64, 48)  # (w, h)


def make_wsoleval_root(tmp_path: PathLike,
                       name: str = 'CUB',
                       num_classes: int = 3,
                       per_class: int = 2,
                       with_masks: bool = False) -> str:
    """Write a tiny wsolevaluation tree at ``tmp_path/wsolevaluation``.

    Layout (the metadata format of Choe et al., CVPR 2020; wsol-protocol
    spec, section 1.3)::

        wsolevaluation/
        ├── dataset/<name>/<image id>          images
        ├── dataset/<name>Mask/<mask path>     masks (with_masks)
        └── metadata/<name>/<train|val|test>/
            ├── image_ids.txt                  <id>
            ├── class_labels.txt               <id>,<label>
            ├── image_sizes.txt                <id>,<width>,<height>
            └── localization.txt               val and test only

    Content:

    - ``per_class`` images per class and split, in class order.
    - image ids: for ``name='CUB'`` ``<NNN>.<class name>/<split>_<k>.jpg``
      (class folders, as CUB ids); otherwise ``<split>/<name>_<NNNNNNNN>
      .JPEG`` (one folder per split, as ILSVRC val ids).
    - images are 40..79 x 30..59 with one box inside; the first test image
      is ``WSOLEVAL_TEST1_SIZE`` with the two boxes
      ``WSOLEVAL_TEST1_BOXES`` (two ``localization.txt`` lines).
    - ``localization.txt`` holds ``id,x0,y0,x1,y1`` boxes, except that with
      ``with_masks`` the test split holds ``id,mask,ignore`` lines: one mask
      per box (0/255 PNG covering the box) under ``dataset/<name>Mask/``;
      the first test image has two masks and an ignore mask (255 on a 2-px
      frame around the image border), the others an empty ignore field.

    Args:
        tmp_path (str | PathLike): Parent folder.
        name (str): ``'CUB'``, ``'ILSVRC'`` or ``'OpenImages'``.
            Defaults to 'CUB'.
        num_classes (int): Number of classes, 1..8. Defaults to 3.
        per_class (int): Images per class and split. Defaults to 2.
        with_masks (bool): Mask-form localization for the test split.
            Defaults to False.

    Returns:
        str: The ``wsolevaluation`` folder (data_root).
    """
    if not 1 <= num_classes <= len(CUB_CLASS_NAMES):
        raise ValueError(f'num_classes must be in 1..{len(CUB_CLASS_NAMES)}')
    root = osp.join(str(tmp_path), 'wsolevaluation')
    img_root = osp.join(root, 'dataset', name)
    mask_root = osp.join(root, 'dataset', name + 'Mask')
    rng = np.random.default_rng(2020)
    counter = 0
    for split in ('train', 'val', 'test'):
        ids, labels, sizes, loc = [], [], [], []
        for c in range(num_classes):
            for k in range(per_class):
                counter += 1
                if name == 'CUB':
                    img_id = (f'{c + 1:03d}.{CUB_CLASS_NAMES[c]}/'
                              f'{split}_{k + 1}.jpg')
                else:
                    img_id = f'{split}/{name}_{counter:08d}.JPEG'
                if split == 'test' and c == 0 and k == 0:
                    (w, h), boxes = (WSOLEVAL_TEST1_SIZE,
                                     list(WSOLEVAL_TEST1_BOXES))
                else:
                    w, h = int(rng.integers(40, 80)), int(rng.integers(30, 60))
                    bw, bh = int(rng.integers(8, w - 4)), int(
                        rng.integers(8, h - 4))
                    x, y = int(rng.integers(1, w - bw)), int(
                        rng.integers(1, h - bh))
                    boxes = [(x, y, x + bw, y + bh)]
                _draw_image(osp.join(img_root, img_id), (w, h),
                            boxes,
                            seed=counter)
                ids.append(img_id)
                labels.append(f'{img_id},{c}')
                sizes.append(f'{img_id},{w},{h}')
                if split == 'train':
                    continue
                if not (with_masks and split == 'test'):
                    loc += [
                        f'{img_id},{x0},{y0},{x1},{y1}'
                        for x0, y0, x1, y1 in boxes
                    ]
                    continue
                stem = osp.splitext(img_id)[0]
                for j, (x0, y0, x1, y1) in enumerate(boxes):
                    mask = np.zeros((h, w), np.uint8)
                    mask[y0:y1, x0:x1] = 255
                    mask_rel = f'{stem}_mask{j + 1}.png'
                    _write_png(osp.join(mask_root, mask_rel), mask)
                    ignore_rel = ''
                    if j == 0 and len(boxes) > 1:
                        ignore = np.full((h, w), 255, np.uint8)
                        ignore[2:-2, 2:-2] = 0
                        ignore_rel = f'{stem}_ignore.png'
                        _write_png(osp.join(mask_root, ignore_rel), ignore)
                    loc.append(f'{img_id},{mask_rel},{ignore_rel}')
        folder = osp.join(root, 'metadata', name, split)
        _write_lines(osp.join(folder, 'image_ids.txt'), ids)
        _write_lines(osp.join(folder, 'class_labels.txt'), labels)
        _write_lines(osp.join(folder, 'image_sizes.txt'), sizes)
        if loc:
            _write_lines(osp.join(folder, 'localization.txt'), loc)
    return root


def _write_png(path: str, array: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, array):
        raise IOError(f'could not write {path}')
