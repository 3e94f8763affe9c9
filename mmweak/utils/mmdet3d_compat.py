# Copyright (c) mmweak contributors.
"""Compatibility of mmdet3d 1.4.0 with the pinned numpy 1.26.

mmdet3d 1.4.0's GT-paste sampler (``mmdet3d/datasets/transforms/
dbsampler.py``, used by ``ObjectSample``) still uses ``np.long``, an alias
numpy removed in 1.24, and fails with ``AttributeError: module 'numpy' has
no attribute 'long'``. :func:`patch_numpy_aliases` restores the alias (as
``np.int64``, what it meant on 64-bit Linux). mmweak's 3D modules call it on
import, so every config that loads them through ``custom_imports`` gets it.
This module does not import mmdet3d.
"""
import numpy as np


def patch_numpy_aliases() -> None:
    """Restore ``np.long`` if this numpy lacks it (idempotent)."""
    # ``hasattr`` would go through numpy's module ``__getattr__``, which
    # warns about the removed alias
    if 'long' not in vars(np):
        np.long = np.int64
