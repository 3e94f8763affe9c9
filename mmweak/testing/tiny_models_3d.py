# Copyright (c) mmweak contributors.
"""Tiny LiDAR-branch overrides of the Point-DETR3D configs (pillar 0.2),
for smoke tests and quick benchmarks.

:func:`tiny_pillar_options` returns ``--cfg-options`` style dicts (dotted
keys, for ``Config.merge_from_dict`` or a pipeline config's ``options``)
that shrink the configs' LiDAR branch to 8 channels on a 64 x 64 pillar
grid (1.6 m pillars over the 102.4 m range) and, per model, the head and
the voxel layer to match. Used by
``tests/test_tools/test_run_point_detr3d_pipeline.py`` and
``tools/benchmarks/bench_point_detr3d.py --tiny``. Importing this module
imports nothing of mmdet3d.
"""
import copy
from typing import Any, Dict, Optional

#: pillar size of the tiny grid: 64 x 64 pillars over [-51.2, 51.2] m
TINY_VOXEL_SIZE = [1.6, 1.6, 8]
#: models :func:`tiny_pillar_options` knows besides the bare LiDAR branch
TINY_MODELS = ('centerpoint', 'two_view_centerpoint', 'point_detr3d')


def _lidar_branch(voxel: list) -> Dict[str, Any]:
    return {
        'model.pts_voxel_encoder.voxel_size': voxel,
        'model.pts_voxel_encoder.feat_channels': [8],
        'model.pts_middle_encoder.in_channels': 8,
        'model.pts_middle_encoder.output_shape': [64, 64],
        'model.pts_backbone.in_channels': 8,
        'model.pts_backbone.out_channels': [8, 8, 8],
        'model.pts_backbone.layer_nums': [1, 1, 1],
        'model.pts_neck.in_channels': [8, 8, 8],
        'model.pts_neck.out_channels': [8, 8, 8],
        # stride 4 of the 64 x 64 grid, whatever the base config's neck
        'model.pts_neck.upsample_strides': [0.5, 1, 2],
    }


def _centerpoint_head(voxel: list) -> Dict[str, Any]:
    # CenterPoint's head on the 16 x 16 map (out_size_factor 4)
    return {
        'model.pts_bbox_head.in_channels': 24,
        'model.pts_bbox_head.share_conv_channel': 8,
        'model.pts_bbox_head.bbox_coder.voxel_size': voxel[:2],
        'model.pts_bbox_head.bbox_coder.max_num': 50,
        'model.pts_bbox_head.bbox_coder.out_size_factor': 4,
        'model.train_cfg.pts.grid_size': [64, 64, 1],
        'model.train_cfg.pts.voxel_size': voxel,
        'model.train_cfg.pts.out_size_factor': 4,
        'model.test_cfg.pts.voxel_size': voxel[:2],
        'model.test_cfg.pts.out_size_factor': 4,
        'model.test_cfg.pts.max_per_img': 50,
    }


def _point_detr3d_head() -> Dict[str, Any]:
    return {
        'model.pts_bbox_head.in_channels': 24,
        'model.pts_bbox_head.embed_dims': 16,
        'model.pts_bbox_head.ffn_channels': 32,
        'model.pts_bbox_head.cross_attn.num_heads': 4,
    }


def tiny_pillar_options(model: Optional[str] = None) -> Dict[str, Any]:
    """Config overrides of the tiny pillar model (a fresh dict each call).

    Args:
        model (str, optional): ``None``: the LiDAR branch only (voxel
            encoder, scatter, backbone, neck). ``'centerpoint'`` (the LiDAR
            pre-training and the fully supervised configs): plus
            CenterPoint's head, its train/test cfg and
            ``Det3DDataPreprocessor``'s voxel layer.
            ``'two_view_centerpoint'`` (the student): the same head, the
            voxel layer of the wrapped preprocessor
            (``MultiBranch3DDataPreprocessor``) and the consistency loss's
            voxel size. ``'point_detr3d'`` (the teacher): its head (16-dim
            queries, 4 heads) and the voxel layer.

    Returns:
        dict: dotted config keys -> values.
    """
    if model is not None and model not in TINY_MODELS:
        raise ValueError(f'model={model!r}: expected None or one of '
                         f'{TINY_MODELS}')
    voxel = list(TINY_VOXEL_SIZE)
    opts = _lidar_branch(voxel)
    if model == 'centerpoint':
        opts.update(_centerpoint_head(voxel))
        opts['model.data_preprocessor.voxel_layer.voxel_size'] = voxel
    elif model == 'two_view_centerpoint':
        opts.update(_centerpoint_head(voxel))
        opts['model.data_preprocessor.data_preprocessor.voxel_layer.'
             'voxel_size'] = voxel
        opts['model.loss_consistency.voxel_size'] = voxel
        opts['model.loss_consistency.out_size_factor'] = 4
    elif model == 'point_detr3d':
        opts['model.data_preprocessor.voxel_layer.voxel_size'] = voxel
        opts.update(_point_detr3d_head())
    return copy.deepcopy(opts)


__all__ = ['TINY_VOXEL_SIZE', 'TINY_MODELS', 'tiny_pillar_options']
