# Copyright (c) mmweak contributors.
import copy

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet3d')

from mmdet3d.structures import (Det3DDataSample,  # noqa: E402
                                LiDARInstance3DBoxes)
from mmengine.registry import DefaultScope, init_default_scope  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

import mmweak.models.detectors_3d.point_detr3d  # noqa: E402,F401
from mmweak.registry import MODELS  # noqa: E402

PCR = [-12.8, -12.8, -5.0, 12.8, 12.8, 3.0]
VOXEL = [0.8, 0.8, 8]
MEAN = [[4.6, 1.9, 1.7], [0.7, 0.7, 1.7], [0.5, 2.5, 1.0]]
BN1D = dict(type='BN1d', eps=1e-3, momentum=0.01)
BN = dict(type='BN', eps=1e-3, momentum=0.01)
# the centerpoint_pillar02 LiDAR branch, shrunk to a 32 x 32 pillar grid
MODEL = dict(
    type='mmweak.PointDETR3D',
    data_preprocessor=dict(
        type='Det3DDataPreprocessor',
        voxel=True,
        voxel_layer=dict(
            max_num_points=10,
            point_cloud_range=PCR,
            voxel_size=VOXEL,
            max_voxels=(2000, 2000))),
    pts_voxel_encoder=dict(
        type='PillarFeatureNet',
        in_channels=4,
        feat_channels=[16],
        with_distance=False,
        voxel_size=VOXEL,
        point_cloud_range=PCR,
        norm_cfg=BN1D,
        legacy=False),
    pts_middle_encoder=dict(
        type='PointPillarsScatter', in_channels=16, output_shape=(32, 32)),
    pts_backbone=dict(
        type='SECOND',
        in_channels=16,
        out_channels=[16, 32],
        layer_nums=[1, 1],
        layer_strides=[1, 2],
        norm_cfg=BN,
        conv_cfg=dict(type='Conv2d', bias=False)),
    pts_neck=dict(
        type='SECONDFPN',
        in_channels=[16, 32],
        out_channels=[16, 16],
        upsample_strides=[1, 2],
        norm_cfg=BN,
        upsample_cfg=dict(type='deconv', bias=False),
        use_conv_for_no_stride=True),
    pts_bbox_head=dict(
        type='mmweak.PointDETR3DHead',
        num_classes=3,
        in_channels=32,
        embed_dims=32,
        point_cloud_range=PCR,
        class_mean_size=MEAN,
        ffn_channels=64,
        ffn_dropout=0.,
        cross_attn=dict(
            type='mmweak.DRoICrossAttention',
            num_heads=4,
            num_points=16,
            roi_size=7,
            dropout=0.)))
BOXES = torch.tensor([[2.0, 3.0, -0.5, 4.5, 2.0, 1.6, 0.3],
                      [-5.0, 1.0, -0.8, 0.7, 0.6, 1.8, -1.0],
                      [6.0, -7.0, -1.0, 0.5, 2.4, 1.0, 1.2]])
LABELS = torch.tensor([0, 1, 2])


@pytest.fixture
def mmdet3d_scope():
    previous = DefaultScope.get_current_instance()
    init_default_scope('mmdet3d')
    yield
    if previous is not None:
        init_default_scope(previous.scope_name)


def _build(**overrides):
    cfg = copy.deepcopy(MODEL)
    cfg.update(overrides)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _scene(seed, num=3):
    """Uniform clutter plus points on the boxes' surfaces, and the sample."""
    gen = torch.Generator().manual_seed(seed)
    clutter = torch.rand(300, 4, generator=gen) * torch.tensor(
        [25., 25., 4., 1.]) + torch.tensor([-12.5, -12.5, -3., 0.])
    boxes = BOXES[:num]
    on_box = (torch.rand(num, 40, 3, generator=gen) - 0.5) * boxes[:, None,
                                                                  3:6]
    on_box = on_box + boxes[:, None, :3]
    on_box = torch.cat((on_box, torch.ones(num, 40, 1)), -1).view(-1, 4)
    gt = InstanceData()
    gt.bboxes_3d = LiDARInstance3DBoxes(boxes, origin=(0.5, 0.5, 0.5))
    gt.labels_3d = LABELS[:num]
    gt.points_3d = boxes[:, :3] + torch.tensor([0.3, -0.2, 0.1])
    sample = Det3DDataSample()
    sample.gt_instances_3d = gt
    return torch.cat((clutter, on_box)), sample


def _batch(model, scenes, training):
    data = dict(
        inputs=dict(points=[s[0] for s in scenes]),
        data_samples=[s[1] for s in scenes])
    return model.data_preprocessor(data, training)


def test_config_build_loss_backward_and_predict(mmdet3d_scope):
    model = _build()
    assert type(model).__name__ == 'PointDETR3D'
    model.train()
    data = _batch(model, [_scene(0), _scene(1, num=2)], True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_bbox'}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    for name in ('pts_voxel_encoder', 'pts_backbone', 'pts_neck'):
        grads = [
            p.grad for p in getattr(model, name).parameters()
            if p.grad is not None
        ]
        assert grads and sum(g.abs().sum() for g in grads) > 0, name

    model.eval()
    data = _batch(model, [_scene(0), _scene(1, num=2)], False)
    with torch.no_grad():
        outs = model(**data, mode='predict')
    for out, num in zip(outs, (3, 2)):
        pred = out.pred_instances_3d
        assert isinstance(pred.bboxes_3d, LiDARInstance3DBoxes)
        assert pred.bboxes_3d.tensor.shape == (num, 9)
        assert torch.equal(pred.labels_3d, LABELS[:num])
        assert pred.scores_3d.shape == (num, )
        assert ((pred.scores_3d > 0) & (pred.scores_3d < 1)).all()

    with torch.no_grad():
        raw = model(**data, mode='tensor')
    assert raw['boxes'].shape == (1, 2, 3, 7)


def test_few_steps_reduce_loss(mmdet3d_scope):
    torch.manual_seed(0)
    model = _build()
    model.train()
    data = _batch(model, [_scene(3)], True)
    optim = torch.optim.AdamW(model.parameters(), lr=2e-3)
    history = []
    for _ in range(15):
        losses = model(**data, mode='loss')
        total = sum(losses.values())
        optim.zero_grad()
        total.backward()
        optim.step()
        history.append(float(total))
    assert history[-1] < 0.7 * history[0], history


IMG_H, IMG_W, FOCAL = 48, 64, 40.0
CAM2IMG = np.array([[FOCAL, 0., IMG_W / 2], [0., FOCAL, IMG_H / 2],
                    [0., 0., 1.]])
# camera 0 looks along +x (LiDAR forward), camera 1 along -x
LIDAR2CAM = np.array([[[0., -1., 0., 0.], [0., 0., -1., 0.],
                       [1., 0., 0., 0.], [0., 0., 0., 1.]],
                      [[0., 1., 0., 0.], [0., 0., -1., 0.],
                       [-1., 0., 0., 0.], [0., 0., 0., 1.]]])


def _lidar2img():
    intrinsic = np.eye(4)
    intrinsic[:3, :3] = CAM2IMG
    return intrinsic @ LIDAR2CAM


def _camera_model():
    head = copy.deepcopy(MODEL['pts_bbox_head'])
    head['cross_attn'].update(
        with_camera=True, num_cams=2, num_cam_levels=2, num_cam_points=4)
    return _build(
        img_backbone=dict(
            type='mmdet.ResNet',
            depth=18,
            stem_channels=8,
            base_channels=8,
            out_indices=(2, 3),
            norm_cfg=dict(type='BN', requires_grad=True)),
        img_neck=dict(
            type='mmdet.FPN',
            in_channels=[32, 64],
            out_channels=32,
            num_outs=2),
        pts_bbox_head=head)


def test_camera_branch_loss_and_predict(mmdet3d_scope):
    model = _camera_model()
    model.train()
    scenes = [_scene(0), _scene(1, num=2)]
    for _, sample in scenes:
        sample.set_metainfo(dict(lidar2img=_lidar2img()))
    gen = torch.Generator().manual_seed(0)
    data = dict(
        inputs=dict(
            points=[s[0] for s in scenes],
            img=[torch.rand(2, 3, IMG_H, IMG_W, generator=gen) * 255
                 for _ in scenes]),
        data_samples=[s[1] for s in scenes])
    data = model.data_preprocessor(data, True)
    assert data['inputs']['imgs'].shape == (2, 2, 3, IMG_H, IMG_W)
    losses = model(**data, mode='loss')
    sum(losses.values()).backward()
    grads = [p.grad for p in model.img_backbone.parameters()
             if p.grad is not None]
    assert grads and sum(g.abs().sum() for g in grads) > 0
    model.eval()
    with torch.no_grad():
        outs = model(**data, mode='predict')
    for out, num in zip(outs, (3, 2)):
        assert out.pred_instances_3d.bboxes_3d.tensor.shape == (num, 9)
        assert torch.equal(out.pred_instances_3d.labels_3d, LABELS[:num])
    # lidar2img may also come from cam2img and lidar2cam
    head = model.pts_bbox_head
    sample = Det3DDataSample(
        metainfo=dict(
            cam2img=[CAM2IMG, CAM2IMG],
            lidar2cam=list(LIDAR2CAM),
            batch_input_shape=(IMG_H, IMG_W)))
    cam = head.camera_inputs([torch.zeros(1, 2, 4, 6, 8)], [sample])
    torch.testing.assert_close(cam['lidar2img'][0],
                               torch.as_tensor(_lidar2img()).float())
    assert cam['img_shape'] == (IMG_H, IMG_W)


def test_bad_configs_and_inputs(mmdet3d_scope):
    with pytest.raises(ValueError, match='pts_fusion_layer'):
        _build(pts_fusion_layer=dict(type='PointFusion'))
    with pytest.raises(ValueError, match='pts_bbox_head'):
        _build(pts_bbox_head=None)
    model = _build().eval()
    _, sample = _scene(0)
    with pytest.raises(KeyError, match='voxels'):
        model.predict(dict(points=[torch.zeros(5, 4)]), [sample])
