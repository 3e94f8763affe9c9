# Copyright (c) mmweak contributors.
"""mmweak's 3D detectors (Point-DETR3D teacher and two-view student).

These modules import mmdet3d, so ``mmweak.models`` does not import this
package; 3D configs load it with ``custom_imports``.
"""
from mmweak.utils.mmdet3d_compat import patch_numpy_aliases

patch_numpy_aliases()

from .point_detr3d import PointDETR3D  # noqa: E402
from .two_view_centerpoint import (MultiBranch3DDataPreprocessor,  # noqa: E402
                                   TwoViewCenterPoint)

__all__ = ['PointDETR3D', 'TwoViewCenterPoint', 'MultiBranch3DDataPreprocessor']
