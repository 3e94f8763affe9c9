# Copyright (c) mmweak contributors.
"""mmweak.testing.tiny_pillar_options: the tiny LiDAR-branch overrides merge
into the Point-DETR3D configs and give the 8-channel, 64 x 64 pillar
models."""
import os.path as osp

import pytest

from mmweak.testing import tiny_pillar_options

CONFIGS = {
    'centerpoint':
    'configs/point_detr3d/centerpoint_pillar02_nus-r05-box.py',
    'point_detr3d':
    'configs/point_detr3d/point-detr3d_pillar02_nus-r05.py',
    'two_view_centerpoint':
    'configs/point_detr3d/centerpoint-twoview_pillar02_nus-r05-pseudo.py',
}


def test_options_are_fresh_and_checked():
    a, b = tiny_pillar_options(), tiny_pillar_options()
    assert a == b and a is not b
    a['model.pts_backbone.out_channels'].append(1)
    assert tiny_pillar_options()['model.pts_backbone.out_channels'] == \
        [8, 8, 8]
    assert set(a) < set(tiny_pillar_options('centerpoint'))
    with pytest.raises(ValueError, match="model='pillar'"):
        tiny_pillar_options('pillar')


@pytest.mark.parametrize('model', sorted(CONFIGS))
def test_options_merge_into_the_configs(model, repo_root):
    pytest.importorskip('mmdet3d')
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(repo_root, CONFIGS[model]))
    cfg.merge_from_dict(tiny_pillar_options(model))
    m = cfg.model
    assert m.pts_voxel_encoder.feat_channels == [8]
    assert list(m.pts_middle_encoder.output_shape) == [64, 64]
    assert m.pts_neck.out_channels == [8, 8, 8]
    pre = m.data_preprocessor
    if model == 'two_view_centerpoint':
        pre = pre.data_preprocessor
        assert m.loss_consistency.voxel_size == [1.6, 1.6, 8]
    assert pre.voxel_layer.voxel_size == [1.6, 1.6, 8]
    # the grid is the point-cloud range over the pillar size
    pcr = pre.voxel_layer.point_cloud_range
    assert round((pcr[3] - pcr[0]) / 1.6) == 64
