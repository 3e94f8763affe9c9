# Copyright (c) mmweak contributors.
"""A tiny synthetic PASCAL VOC 2012 (+ SBD) tree for WSSS tests.

:func:`make_voc_root` calls the generator of
``tools/dataset_converters/make_synthetic_voc.py`` (found through the
``mmweak/.mim/tools`` link, so it works in source and regular installs) with
tiny sizes; see that script's docstring for the layout and the content.
"""
import os
import os.path as osp
from typing import Tuple, Union

from .tool_scripts import load_tool_script

PathLike = Union[str, 'os.PathLike[str]']
GENERATOR = 'tools/dataset_converters/make_synthetic_voc.py'


def _tools_root() -> str:
    pkg = osp.dirname(osp.dirname(osp.abspath(__file__)))
    mim = osp.join(pkg, '.mim')
    if osp.isfile(osp.join(mim, GENERATOR)):
        return mim
    return osp.dirname(pkg)  # a source checkout without the .mim links


def make_voc_root(root: PathLike,
                  num_train: int = 4,
                  num_aug: int = 2,
                  num_val: int = 2,
                  size: Tuple[int, int] = (48, 40),
                  seed: int = 0,
                  difficult_prob: float = 0.5) -> str:
    """Write a tiny synthetic VOC tree at ``root/VOCdevkit/VOC2012``.

    All images are ``size = (W, H)``; ids are ``2007_000001`` ... assigned
    to ``train`` / ``aug`` / ``val`` by the seed. Every image has one to three
    objects of bird, boat, car, cat, person and train (trains on rails and
    boats on water, both label 0); about ``difficult_prob`` of the images
    get a tiny ``difficult`` object (255 in ``SegmentationClass``). Takes well
    under a second for the defaults.

    Args:
        root: Output folder; created if needed.
        num_train: Ids in ``train.txt`` (with ``SegmentationClass``).
            Defaults to 4.
        num_aug: Ids in ``aug.txt`` (``trainaug`` = train + aug).
            Defaults to 2.
        num_val: Ids in ``val.txt``. Defaults to 2.
        size: Image ``(width, height)``. Defaults to (48, 40).
        seed: Random seed. Defaults to 0.
        difficult_prob: Probability of a tiny difficult object per image.
            Defaults to 0.5 (so small fixtures contain some).

    Returns:
        str: The ``data_root`` (``.../VOCdevkit/VOC2012``).
    """
    tool = load_tool_script(_tools_root(), GENERATOR)
    width, height = size
    return tool.generate(str(root),
                         seed=seed,
                         num_train=num_train,
                         num_aug=num_aug,
                         num_val=num_val,
                         width_range=(width, width),
                         height_range=(height, height),
                         difficult_prob=difficult_prob,
                         verbose=False)
