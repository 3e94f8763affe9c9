# Copyright (c) mmweak contributors.
"""File helpers shared by the WSSS offline tools (``tools/wsss/*``): where
a VOC-layout tree and its lists are, images read with errors that name the
file, and the check that a split's CAM packs exist."""
import os.path as osp
from typing import Sequence

import cv2
import numpy as np


def resolve_data_root(root: str) -> str:
    """``root`` itself, or ``root/VOCdevkit/VOC2012`` when given the parent
    of a VOC tree."""
    if not osp.isdir(root):
        raise FileNotFoundError(f'--data-root "{root}" is not a folder')
    nested = osp.join(root, 'VOCdevkit', 'VOC2012')
    if not osp.isdir(osp.join(root, 'ImageSets')) and osp.isdir(nested):
        return nested
    return root


def split_list_path(root: str, split: str) -> str:
    """The list file of ``split``: a path as given, else
    ``ImageSets/Segmentation/<split>.txt`` (VOC) or ``ImageSets/<split>.txt``
    (COCO layout)."""
    if split.endswith('.txt') or osp.isfile(split):
        return split
    voc = osp.join(root, 'ImageSets', 'Segmentation', f'{split}.txt')
    flat = osp.join(root, 'ImageSets', f'{split}.txt')
    return flat if not osp.isfile(voc) and osp.isfile(flat) else voc


def load_rgb(path: str) -> np.ndarray:
    """uint8 RGB (H, W, 3) image, or an error naming the file."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'image "{path}" does not exist')
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f'image "{path}" could not be decoded')
    return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))


def check_cams_exist(ids: Sequence[str], cam_dir: str,
                     list_path: str) -> None:
    """Raise naming the first listed image whose CAM pack is missing."""
    missing = [i for i in ids if not osp.isfile(osp.join(cam_dir, i + '.npy'))]
    if missing:
        more = f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''
        raise FileNotFoundError(
            f'CAM pack "{osp.join(cam_dir, missing[0] + ".npy")}" of image '
            f'{missing[0]} listed in {list_path} does not exist{more}; run '
            'tools/wsss/make_cams.py on this split first')


def add_cam_job_args(parser) -> None:
    """Add the arguments shared by the tools that turn CAM packs of an image
    list into PNG label maps (``make_pseudo_masks.py``,
    ``make_ir_labels.py``): ``--cam-dir``, ``--data-root``, ``--split``,
    ``--out-dir``, ``--img-dir`` and ``--img-suffix``."""
    parser.add_argument('--cam-dir',
                        required=True,
                        help='folder of <img_id>.npy CAM packs')
    parser.add_argument('--data-root',
                        required=True,
                        help='VOCdevkit/VOC2012 folder (or a folder in the '
                        'same layout)')
    parser.add_argument('--split',
                        default='trainaug',
                        help='ImageSets list name or list path '
                        '(default: trainaug)')
    parser.add_argument('--out-dir',
                        required=True,
                        help='output folder of <img_id>.png')
    parser.add_argument('--img-dir',
                        help='image folder (default: <data-root>/JPEGImages)')
    parser.add_argument('--img-suffix',
                        default='.jpg',
                        help='image file suffix (default: .jpg)')
