# Copyright (c) mmweak contributors.
"""mmweak.utils.mmdet3d_compat: the numpy alias mmdet3d 1.4's GT paste
needs, restored without numpy's deprecation warning, idempotently."""
import warnings

import numpy as np

from mmweak.utils.mmdet3d_compat import patch_numpy_aliases


def test_patch_restores_np_long_silently_and_idempotently():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        patch_numpy_aliases()
        patch_numpy_aliases()
    assert np.long is np.int64
    # what mmdet3d's DataBaseSampler does with it
    assert np.array([1.7, 2.2]).astype(np.long).tolist() == [1, 2]
