# Copyright (c) mmweak contributors.
import copy

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet3d')

# builds mmdet3d parts by bare name, as mmdet3d configs do (tests/conftest.py)
DEFAULT_SCOPE = 'mmdet3d'

from mmengine.config import ConfigDict  # noqa: E402
from mmengine.dataset import pseudo_collate  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

PCR = [-12.8, -12.8, -5.0, 12.8, 12.8, 3.0]
VOXEL = [0.8, 0.8, 8.0]
CLASS_MEANS = [[4.6, 1.95, 1.7], [6.7, 2.5, 2.7], [0.7, 0.65, 1.75]]
STRONG_AUG = [
    dict(type='GlobalRotScaleTrans',
         rot_range=[-0.39, 0.39],
         scale_ratio_range=[0.85, 1.15],
         translation_std=[0.5, 0.5, 0.5]),
    dict(type='RandomFlip3D',
         flip_ratio_bev_horizontal=0.5,
         flip_ratio_bev_vertical=0.5),
]
PACK = [
    dict(type='Pack3DDetInputs',
         keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])
]


def _model_cfg(consistency=True):
    """Tiny pillar CenterPoint: 32x32 pillars, BEV map 16x16 (stride 2)."""
    return ConfigDict(
        type='mmweak.TwoViewCenterPoint',
        consistency=consistency,
        loss_consistency=dict(point_cloud_range=PCR,
                              voxel_size=VOXEL,
                              out_size_factor=2,
                              class_mean_sizes=CLASS_MEANS,
                              min_overlap=0.1,
                              min_radius=2,
                              loss_weight=0.1),
        data_preprocessor=dict(type='mmweak.MultiBranch3DDataPreprocessor',
                               data_preprocessor=dict(
                                   type='Det3DDataPreprocessor',
                                   voxel=True,
                                   voxel_layer=dict(max_num_points=8,
                                                    voxel_size=VOXEL,
                                                    max_voxels=(1024, 1024),
                                                    point_cloud_range=PCR))),
        pts_voxel_encoder=dict(type='PillarFeatureNet',
                               in_channels=4,
                               feat_channels=[8],
                               with_distance=False,
                               voxel_size=VOXEL,
                               point_cloud_range=PCR,
                               norm_cfg=dict(type='BN1d',
                                             eps=1e-3,
                                             momentum=0.01),
                               legacy=False),
        pts_middle_encoder=dict(type='PointPillarsScatter',
                                in_channels=8,
                                output_shape=(32, 32)),
        pts_backbone=dict(type='SECOND',
                          in_channels=8,
                          out_channels=[8, 16],
                          layer_nums=[1, 1],
                          layer_strides=[2, 2],
                          norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01),
                          conv_cfg=dict(type='Conv2d', bias=False)),
        pts_neck=dict(type='SECONDFPN',
                      in_channels=[8, 16],
                      out_channels=[8, 8],
                      upsample_strides=[1, 2],
                      norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01),
                      upsample_cfg=dict(type='deconv', bias=False),
                      use_conv_for_no_stride=True),
        pts_bbox_head=dict(type='CenterHead',
                           in_channels=16,
                           tasks=[
                               dict(num_class=1, class_names=['car']),
                               dict(num_class=2,
                                    class_names=['truck', 'pedestrian'])
                           ],
                           common_heads=dict(reg=(2, 2),
                                             height=(1, 2),
                                             dim=(3, 2),
                                             rot=(2, 2),
                                             vel=(2, 2)),
                           share_conv_channel=8,
                           bbox_coder=dict(
                               type='CenterPointBBoxCoder',
                               post_center_range=[-20, -20, -10, 20, 20, 10],
                               max_num=50,
                               score_threshold=0.0,
                               out_size_factor=2,
                               voxel_size=VOXEL[:2],
                               code_size=9,
                               pc_range=PCR[:2]),
                           separate_head=dict(type='SeparateHead',
                                              init_bias=-2.19,
                                              final_kernel=3),
                           loss_cls=dict(type='mmdet.GaussianFocalLoss',
                                         reduction='mean'),
                           loss_bbox=dict(type='mmdet.L1Loss',
                                          reduction='mean',
                                          loss_weight=0.25),
                           norm_bbox=True),
        train_cfg=dict(pts=dict(grid_size=[32, 32, 1],
                                voxel_size=VOXEL,
                                out_size_factor=2,
                                dense_reg=1,
                                gaussian_overlap=0.1,
                                max_objs=50,
                                min_radius=2,
                                code_weights=[1.0] * 8 + [0.0, 0.0],
                                point_cloud_range=PCR)),
        # 'rotate' NMS (mmcv nms_rotated) has a CPU kernel and needs no
        # numba compile (circle NMS costs ~12 s of JIT in a test)
        test_cfg=dict(
            pts=dict(post_center_limit_range=[-20, -20, -10, 20, 20, 10],
                     max_per_img=50,
                     max_pool_nms=False,
                     min_radius=[4, 0.85],
                     score_threshold=0.0,
                     pc_range=PCR[:2],
                     out_size_factor=2,
                     voxel_size=VOXEL[:2],
                     nms_type='rotate',
                     pre_max_size=100,
                     post_max_size=20,
                     nms_thr=0.2)))


@pytest.fixture(scope='module')
def registry():
    init_default_scope('mmdet3d')
    import mmdet.datasets.transforms  # noqa: F401  (MultiBranch)
    from mmdet3d.registry import MODELS, TRANSFORMS

    import mmweak.models.detectors_3d.two_view_centerpoint  # noqa: F401
    return MODELS, TRANSFORMS


BOXES = np.array(
    [  # (x, y, z, l, w, h, yaw, vx, vy), velocity 0
        [3.0, 2.0, -1.0, 4.6, 1.9, 1.7, 0.3, 0, 0],
        [-5.0, 4.0, -1.0, 6.5, 2.5, 2.7, -1.0, 0, 0],
        [2.0, -6.0, -1.0, 0.7, 0.7, 1.7, 0.0, 0, 0]
    ],
    np.float32)
LABELS = np.array([0, 1, 2], np.int64)
POINT_OFFSET = np.array([0.9, -0.4, 0.2], np.float32)  # annotated points


def _raw_sample(rng, idx, ann_type='box'):
    """Pipeline results after loading: box-shaped point clusters, GT boxes
    and the info's instances (point-only samples carry ``point_3d``)."""
    from mmdet3d.structures import LiDARInstance3DBoxes
    from mmdet3d.structures.points import LiDARPoints
    pts = []
    for b in BOXES:
        local = (rng.random((60, 3)) - 0.5) * b[3:6]
        c, s = np.cos(b[6]), np.sin(b[6])
        xy = local[:, :2] @ np.array([[c, s], [-s, c]])
        pts.append(np.c_[xy + b[:2], local[:, 2] + b[2], rng.random(60)])
    pts.append(np.c_[(rng.random((80, 2)) - 0.5) * 20, -1.8 * np.ones(80),
                     rng.random(80)])
    points = LiDARPoints(np.concatenate(pts).astype(np.float32), points_dim=4)
    instances = [
        dict(bbox_3d=b[:7].tolist(), bbox_label_3d=int(lab))
        for b, lab in zip(BOXES, LABELS)
    ]
    if ann_type == 'point':
        for ins, b in zip(instances, BOXES):
            ins['point_3d'] = (b[:3] + POINT_OFFSET).tolist()
    return dict(points=points,
                gt_bboxes_3d=LiDARInstance3DBoxes(torch.from_numpy(BOXES),
                                                  box_dim=9,
                                                  origin=(0.5, 0.5, 0.5)),
                gt_labels_3d=LABELS.copy(),
                instances=instances,
                sample_idx=idx,
                ann_type=ann_type,
                box_type_3d=LiDARInstance3DBoxes)


def _batch(transforms, strong_aug, seed=0):
    """Two-view batch of a point-only sample (0) and a labelled one (1):
    shared point loading, then MultiBranch(strong: augment + Pack3D,
    weak: PackPointDet3DInputs)."""
    import mmweak.datasets.transforms.point_annotations_3d  # noqa: F401
    keys = ['points', 'gt_bboxes_3d', 'gt_labels_3d']
    pipe = transforms.build(
        dict(type='Compose',
             transforms=[
                 dict(type='mmweak.LoadPointAnnotations3D'),
                 dict(type='mmdet.MultiBranch',
                      branch_field=['strong', 'weak'],
                      strong=copy.deepcopy(strong_aug) +
                      [dict(type='Pack3DDetInputs', keys=keys)],
                      weak=[
                          dict(type='mmweak.PackPointDet3DInputs', keys=keys)
                      ]),
             ]))
    rng = np.random.default_rng(seed)
    return pseudo_collate(
        [pipe(_raw_sample(rng, i, t)) for i, t in enumerate(['point', 'box'])])


def test_multibranch_pipeline_trains_with_consistency(registry):
    models, transforms = registry
    np.random.seed(3)
    model = models.build(_model_cfg())
    model.train()
    batch = _batch(transforms, STRONG_AUG)
    assert set(batch['inputs']) == {'strong', 'weak'}
    data = model.data_preprocessor(batch, True)
    for branch in ('strong', 'weak'):
        assert 'voxels' in data['inputs'][branch]
        assert len(data['data_samples'][branch]) == 2
    # the strong view really is augmented
    meta = data['data_samples']['strong'][0].metainfo
    assert meta['transformation_3d_flow'][:3] == ['R', 'S', 'T']
    losses = model(**data, mode='loss')
    assert 'loss_consistency' in losses
    assert any(k.startswith('task0.loss_heatmap') for k in losses)
    assert any(k.startswith('task1.loss_bbox') for k in losses)
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(v)
                for v in losses.values())
    assert torch.isfinite(total)
    total.backward()
    grad = model.pts_backbone.blocks[0][0].weight.grad
    assert grad is not None and grad.abs().sum() > 0
    # the neck ends in ReLU, so cos >= 0 and the loss is <= 0
    assert losses['loss_consistency'].item() <= 0
    # the mmengine training step accepts the batch as the dataloader gives it
    from mmengine.optim import OptimWrapper
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-3))
    log_vars = model.train_step(_batch(transforms, STRONG_AUG, seed=1), optim)
    assert 'loss_consistency' in log_vars and torch.isfinite(log_vars['loss'])


def test_identical_views_give_minus_mask_sum_over_objects(registry):
    models, transforms = registry
    model = models.build(_model_cfg())
    model.train()
    batch = _batch(transforms, [])  # no augmentation: both views equal
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    loss_fn = model.loss_consistency
    centers, labels = model.consistency_centers(data['data_samples']['weak'])
    # sample 0 is point-only: its centres are the annotated points
    torch.testing.assert_close(centers[0],
                               torch.from_numpy(BOXES[:, :3] + POINT_OFFSET))
    torch.testing.assert_close(centers[1].float(),
                               torch.from_numpy(BOXES[:, :3]))
    mask, num = loss_fn.gaussian_masks(
        torch.cat(centers), torch.cat(labels),
        torch.repeat_interleave(torch.arange(2), torch.tensor([3, 3])), 2)
    assert num == 6
    feats = model.extract_feat(
        data['inputs']['weak'],
        [s.metainfo for s in data['data_samples']['weak']])[1][0]
    # cos = 1 needs a non-zero feature vector under every mask cell
    assert (feats.norm(dim=1)[mask > 0] > 1e-3).all()
    expected = -0.1 * mask.sum() / num
    torch.testing.assert_close(losses['loss_consistency'],
                               expected,
                               rtol=1e-4,
                               atol=1e-6)


def test_point_only_samples_use_annotated_points(registry):
    models, _ = registry
    from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
    from mmengine.structures import InstanceData
    model = models.build(_model_cfg())
    s = Det3DDataSample(metainfo=dict(ann_type='point', sample_idx=0))
    s.gt_instances_3d = InstanceData(bboxes_3d=LiDARInstance3DBoxes(
        torch.tensor([[5., 5., -1., 4., 2., 1.5, 0.]])),
                                     labels_3d=torch.tensor([0]),
                                     points_3d=torch.tensor([[1., 2., 0.]]))
    b = Det3DDataSample(metainfo=dict(ann_type='box', sample_idx=1))
    b.gt_instances_3d = InstanceData(bboxes_3d=LiDARInstance3DBoxes(
        torch.tensor([[5., 5., -1., 4., 2., 1.5, 0.]])),
                                     labels_3d=torch.tensor([1]))
    centers, labels = model.consistency_centers([s, b])
    torch.testing.assert_close(centers[0], torch.tensor([[1., 2., 0.]]))
    torch.testing.assert_close(centers[1], torch.tensor([[5., 5., -0.25]]))
    assert labels[1].tolist() == [1]
    bad = Det3DDataSample(metainfo=dict(ann_type='point', sample_idx=2))
    bad.gt_instances_3d = InstanceData(labels_3d=torch.tensor([0]))
    with pytest.raises(KeyError, match='points_3d'):
        model.consistency_centers([bad])


def test_baseline_student_and_single_view_predict(registry):
    models, transforms = registry
    model = models.build(_model_cfg(consistency=False))
    assert model.loss_consistency is None
    model.train()
    data = model.data_preprocessor(_batch(transforms, STRONG_AUG), True)
    losses = model(**data, mode='loss')
    assert 'loss_consistency' not in losses
    assert any(k.startswith('task0.loss_heatmap') for k in losses)
    # predict/val: plain single-view CenterPoint
    rng = np.random.default_rng(1)
    pipe = transforms.build(PACK[0])
    batch = pseudo_collate([pipe(_raw_sample(rng, 0))])
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        out = model(**data, mode='predict')
    assert len(out) == 1 and 'bboxes_3d' in out[0].pred_instances_3d


def test_consistency_needs_two_views(registry):
    models, transforms = registry
    model = models.build(_model_cfg())
    rng = np.random.default_rng(1)
    batch = pseudo_collate([transforms.build(PACK[0])(_raw_sample(rng, 0))])
    data = model.data_preprocessor(batch, True)
    with pytest.raises(ValueError, match='two-view'):
        model(**data, mode='loss')
    with pytest.raises(ValueError, match='loss_consistency'):
        cfg = _model_cfg()
        cfg.loss_consistency = None
        models.build(cfg)


def test_init_weights_reaches_the_task_heads(registry):
    """mmdet3d 1.4's CenterHead keeps its SeparateHeads in an nn.ModuleList
    that BaseModule.init_weights skips; the student initialises them (the
    heatmap bias -2.19)."""
    models, _ = registry
    model = models.build(_model_cfg(consistency=False))
    model.init_weights()
    for task_head in model.pts_bbox_head.task_heads:
        bias = task_head.heatmap[-1].bias
        assert torch.allclose(bias, torch.full_like(bias, -2.19))
