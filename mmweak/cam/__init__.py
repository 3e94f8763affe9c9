# Copyright (c) mmweak contributors.
"""Class activation maps that need no training: Eigen-CAM."""
from .activation_recorder import ActivationRecorder, resolve_module
from .eigen_cam import (SIGN_RULES, SOLVERS, eigen_cam, eigen_projection,
                        normalize_cams)
from .eigen_cam_extractor import (EigenCAM, img_shapes, maps_to_ori_shape,
                                  tokens_to_grid, valid_mask)
from .multiscale_cam import (cam_pack_to_numpy, load_cam_pack,
                             multiscale_cams, normalize_by_max, strided_size)

__all__ = [
    'ActivationRecorder', 'resolve_module', 'SIGN_RULES', 'SOLVERS',
    'eigen_cam', 'eigen_projection', 'normalize_cams', 'EigenCAM',
    'img_shapes', 'maps_to_ori_shape', 'tokens_to_grid', 'valid_mask',
    'multiscale_cams', 'cam_pack_to_numpy', 'load_cam_pack',
    'normalize_by_max', 'strided_size'
]
