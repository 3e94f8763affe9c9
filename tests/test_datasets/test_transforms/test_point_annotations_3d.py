# Copyright (c) mmweak contributors.
import copy

import numpy as np
import pytest

pytest.importorskip('mmdet3d')

import mmengine  # noqa: E402
import torch  # noqa: E402
from scipy.stats import truncnorm  # noqa: E402

# the mmdet3d transforms resolve by bare name (tests/conftest.py)
DEFAULT_SCOPE = 'mmdet3d'

from mmcv.ops import points_in_boxes_cpu  # noqa: E402
from mmdet3d.datasets import NuScenesDataset  # noqa: E402
from mmdet3d.models.layers.fusion_layers import \
    apply_3d_transformation  # noqa: E402
from mmdet3d.structures import LiDARInstance3DBoxes  # noqa: E402
from mmdet3d.structures.bbox_3d.utils import \
    rotation_3d_in_axis  # noqa: E402

from mmweak.datasets.transforms import point_annotations_3d as pa  # noqa
from mmweak.registry import TRANSFORMS  # noqa: E402

PCR = [-20.0, -20.0, -3.0, 20.0, 20.0, 3.0]


@pytest.fixture(autouse=True)
def _mmdet3d_scope():
    """conftest makes ``mmweak`` the default scope; 3D pipelines name
    mmdet3d transforms unprefixed."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        yield


def _box_frame(points, boxes):
    """Offsets of points from the boxes' gravity centres, in the box frame."""
    off = points - boxes.gravity_center.numpy()
    return rotation_3d_in_axis(off[:, None, :].astype(np.float64),
                               -boxes.yaw.numpy().astype(np.float64),
                               axis=2)[:, 0, :]


def _random_boxes(n, seed=0):
    rng = np.random.default_rng(seed)
    b = np.concatenate([
        rng.uniform(-15, 15, (n, 2)),
        rng.uniform(-2, 0, (n, 1)),
        rng.uniform(0.3, 12, (n, 3)),
        rng.uniform(-np.pi, np.pi, (n, 1))
    ], 1)
    return LiDARInstance3DBoxes(torch.tensor(b, dtype=torch.float32))


def test_noise_bounds_in_box_frame():
    boxes = _random_boxes(500)
    t = TRANSFORMS.build(dict(type='mmweak.SimulatePointAnnotations'))
    res = t(dict(gt_bboxes_3d=boxes, gt_labels_3d=np.zeros(500, np.int64)))
    pts = res['gt_points_3d']
    assert pts.dtype == np.float32 and pts.shape == (500, 3)
    local = _box_frame(pts, boxes)
    half = boxes.dims.numpy() / 2
    assert np.all(np.abs(local) <= half / 3 + 1e-4)
    # the offsets use the full third on each axis, not a smaller range
    assert np.all(np.abs(local).max(0) / (half / 3).max(0) > 0.2)
    # inside the box by mmdet3d's own test (checks the yaw convention)
    inside = points_in_boxes_cpu(
        torch.from_numpy(pts)[None], boxes.tensor[None])[0]  # (M, T)
    assert bool(inside[torch.arange(500), torch.arange(500)].all())


def test_code_axes_option():
    # yaw 90 degrees: box axes put the length offset on LiDAR y, the
    # released code's axes keep it on x
    box = LiDARInstance3DBoxes(
        torch.tensor([[0., 0., 0., 9., 1., 1., np.pi / 2]]).repeat(200, 1))
    ours = pa.SimulatePointAnnotations()(dict(gt_bboxes_3d=box))
    code = pa.SimulatePointAnnotations(box_axes=False)(dict(gt_bboxes_3d=box))
    assert np.abs(ours['gt_points_3d'][:, 0]).max() <= 0.5 / 3 + 1e-5
    assert np.abs(ours['gt_points_3d'][:, 1]).max() > 0.5
    assert np.abs(code['gt_points_3d'][:, 0]).max() > 0.5
    assert np.abs(code['gt_points_3d'][:, 1]).max() <= 0.5 / 3 + 1e-5


def test_offset_mean_and_u_distribution():
    box = torch.tensor([[1., 2., 0., 4., 2., 1.5, 0.7]]).repeat(20000, 1)
    boxes = LiDARInstance3DBoxes(box)
    np.random.seed(0)
    pts = pa.SimulatePointAnnotations()(
        dict(gt_bboxes_3d=boxes))['gt_points_3d']
    local = _box_frame(pts, boxes)
    half = np.array([2.0, 1.0, 0.75])
    assert np.all(np.abs(local.mean(0)) < 0.01 * half)
    # u = 1.5 * local / half + 0.5 follows TruncNormal(0.5, 0.3) on [0, 1]
    u = 1.5 * local / half + 0.5
    ref = truncnorm(-0.5 / 0.3, 0.5 / 0.3, loc=0.5, scale=0.3)
    assert np.allclose(u.std(0), ref.std(), atol=0.01)
    assert np.allclose(np.quantile(u[:, 0], [0.1, 0.9]),
                       ref.ppf([0.1, 0.9]),
                       atol=0.015)


def test_deterministic_points():
    boxes = _random_boxes(6)
    t = pa.SimulatePointAnnotations(deterministic=True)
    a = t(dict(token='abc', sample_idx=3, gt_bboxes_3d=boxes))['gt_points_3d']
    b = pa.SimulatePointAnnotations(deterministic=True)(dict(
        token='abc', sample_idx=9, gt_bboxes_3d=boxes))['gt_points_3d']
    c = t(dict(token='abd', gt_bboxes_3d=boxes))['gt_points_3d']
    np.testing.assert_array_equal(a, b)  # seeded by token, not sample_idx
    assert not np.allclose(a, c)
    # instance i depends on (token, i) only: a prefix gives the same rows
    d = t(dict(token='abc', gt_bboxes_3d=boxes[:3]))['gt_points_3d']
    np.testing.assert_array_equal(a[:3], d)
    # sample_idx seeds when there is no token
    e = t(dict(sample_idx=4, gt_bboxes_3d=boxes))['gt_points_3d']
    f = t(dict(token=None, sample_idx=4, gt_bboxes_3d=boxes))['gt_points_3d']
    np.testing.assert_array_equal(e, f)
    with pytest.raises(KeyError, match='token'):
        t(dict(gt_bboxes_3d=boxes))
    # the same values in every process: sha256 + SplitMix64, pinned here
    np.testing.assert_allclose(pa.deterministic_uniforms('abc', 1),
                               [[0.39302187, 0.36176471, 0.56789795]],
                               atol=1e-8)
    # and equal to the split tool's numpy path
    raw = np.concatenate(
        [boxes.gravity_center.numpy(), boxes.tensor[:, 3:7].numpy()], 1)
    np.testing.assert_allclose(pa.simulate_points_np(raw, 'abc', True),
                               a,
                               atol=1e-5)


def test_simulation_gives_no_point_to_objects_outside_the_classes():
    """Label -1 (classes outside the dataset's): box, label and point go
    together; the other boxes keep their deterministic draws (row index)."""
    boxes = _random_boxes(5)
    labels = np.array([3, -1, 0, -1, 7])
    t = pa.SimulatePointAnnotations(deterministic=True)
    out = t(dict(token='abc', gt_bboxes_3d=boxes, gt_labels_3d=labels))
    full = pa.SimulatePointAnnotations(deterministic=True, skip_ignored=False)(
        dict(token='abc', gt_bboxes_3d=boxes,
             gt_labels_3d=labels))['gt_points_3d']
    assert len(full) == 5
    keep = labels >= 0
    assert out['gt_labels_3d'].tolist() == [3, 0, 7]
    np.testing.assert_array_equal(out['gt_bboxes_3d'].tensor.numpy(),
                                  boxes.tensor.numpy()[keep])
    np.testing.assert_array_equal(out['gt_points_3d'], full[keep])
    # and the packer takes them (counts aligned)
    out['points'] = torch.rand(6, 4)
    packed = pa.PackPointDet3DInputs(
        keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])(out)
    gt = packed['data_samples'].gt_instances_3d
    assert gt.labels_3d.tolist() == [3, 0, 7]
    np.testing.assert_allclose(gt.points_3d.numpy(), full[keep])
    # torch labels, and nothing to drop
    out = t(
        dict(token='abc',
             gt_bboxes_3d=boxes,
             gt_labels_3d=torch.tensor(labels)))
    assert out['gt_labels_3d'].tolist() == [3, 0, 7]
    out = t(dict(token='abc', gt_bboxes_3d=boxes[:1], gt_labels_3d=labels[:1]))
    assert len(out['gt_bboxes_3d']) == 1 and 'skip_ignored=True' in repr(t)


def test_load_point_annotations_skips_objects_outside_the_classes():
    instances = [
        dict(bbox_label_3d=2, point_3d=[1., 2., 3.], bbox_3d=[0.] * 7),
        dict(bbox_label_3d=-1, bbox_3d=[0.] * 7),  # no point: fine
        dict(bbox_label_3d=0, point_3d=[4., 5., 6.], bbox_3d=[0.] * 7),
    ]
    t = pa.LoadPointAnnotations3D(from_instances=True)
    out = t(dict(token='t', ann_type='point', instances=instances))
    assert out['gt_labels_3d'].tolist() == [2, 0]
    np.testing.assert_allclose(out['gt_points_3d'], [[1, 2, 3], [4, 5, 6]])
    # parsed annotations (a column per key, -1 rows included)
    parsed = dict(gt_labels_3d=np.array([2, -1, 0]),
                  point_3d=np.array([[1., 2., 3.], [7., 7., 7.], [4., 5.,
                                                                  6.]]))
    out = pa.LoadPointAnnotations3D()(dict(token='t', eval_ann_info=parsed))
    assert out['gt_labels_3d'].tolist() == [2, 0]
    np.testing.assert_allclose(out['gt_points_3d'], [[1, 2, 3], [4, 5, 6]])
    # labels already loaded (LoadAnnotations3D): GT rows are never dropped
    out = pa.LoadPointAnnotations3D()(dict(
        token='t', ann_info=parsed, gt_labels_3d=parsed['gt_labels_3d']))
    assert out['gt_labels_3d'].tolist() == [2, -1, 0]
    assert len(out['gt_points_3d']) == 3
    # skip_ignored=False keeps them (and needs their points)
    keep_all = pa.LoadPointAnnotations3D(skip_ignored=False)
    out = keep_all(dict(token='t', eval_ann_info=parsed))
    assert out['gt_labels_3d'].tolist() == [2, -1, 0]
    with pytest.raises(KeyError,
                       match=r"instance\(s\) \[1\] of 3 have no "
                       "'point_3d'"):
        pa.LoadPointAnnotations3D(from_instances=True, skip_ignored=False)(
            dict(token='t', ann_type='point', instances=instances))


def test_zero_size_boxes_give_exact_points_and_errors():
    pts = np.array([[1., 2., 3.], [-4., 0.5, -1.]], np.float32)
    boxes = LiDARInstance3DBoxes(torch.tensor(np.c_[pts, np.zeros((2, 4))]),
                                 origin=(0.5, 0.5, 0.5))
    out = pa.SimulatePointAnnotations()(dict(gt_bboxes_3d=boxes))
    np.testing.assert_allclose(out['gt_points_3d'], pts, atol=1e-6)
    empty = LiDARInstance3DBoxes(torch.zeros(0, 7))
    out = pa.SimulatePointAnnotations()(dict(gt_bboxes_3d=empty))
    assert out['gt_points_3d'].shape == (0, 3)
    with pytest.raises(KeyError, match="gt_bboxes_3d.*LoadAnnotations3D"):
        pa.SimulatePointAnnotations()(dict(token='t1'))
    with pytest.raises(ValueError, match='2 gt_bboxes_3d but 3'):
        pa.SimulatePointAnnotations()(dict(gt_bboxes_3d=boxes,
                                           gt_labels_3d=np.zeros(3)))
    with pytest.raises(ValueError, match='std'):
        pa.SimulatePointAnnotations(std=0)


def test_pack_outputs_points_and_ann_type():
    boxes = _random_boxes(4)
    pack = TRANSFORMS.build(
        dict(type='mmweak.PackPointDet3DInputs',
             keys=['points', 'gt_bboxes_3d', 'gt_labels_3d', 'gt_points_3d']))
    assert 'ann_type' in pack.meta_keys and 'sample_idx' in pack.meta_keys
    res = dict(points=torch.rand(10, 4),
               gt_bboxes_3d=boxes,
               gt_labels_3d=np.arange(4),
               sample_idx=5)
    res = pa.SimulatePointAnnotations()(res)
    expect = res['gt_points_3d'].copy()
    out = pack(res)
    ds = out['data_samples']
    p3 = ds.gt_instances_3d.points_3d
    assert isinstance(p3, torch.Tensor) and p3.dtype == torch.float32
    assert p3.shape == (4, 3)
    np.testing.assert_array_equal(p3.numpy(), expect)
    assert ds.gt_instances_3d.labels_3d.tolist() == [0, 1, 2, 3]
    assert ds.metainfo['ann_type'] == 'box'
    assert ds.metainfo['sample_idx'] == 5
    assert out['inputs']['points'].shape == (10, 4)

    res = dict(points=torch.rand(3, 4),
               gt_labels_3d=np.array([1, 2]),
               gt_points_3d=np.zeros((2, 3)),
               ann_type='point')
    ds = pack(res)['data_samples']
    assert ds.metainfo['ann_type'] == 'point'
    assert ds.gt_instances_3d.points_3d.shape == (2, 3)

    bad = dict(points=torch.rand(3, 4),
               gt_labels_3d=np.array([1, 2, 3]),
               gt_points_3d=np.zeros((2, 3)),
               token='tk')
    with pytest.raises(ValueError, match="'tk'.*2 gt_points_3d but 3"):
        pack(bad)
    stale = dict(points=torch.rand(3, 4),
                 gt_labels_3d=np.array([1]),
                 gt_points_3d=np.zeros((1, 3)),
                 gt_points_3d_flow=(),
                 transformation_3d_flow=['R', 'S', 'T'])
    with pytest.raises(RuntimeError, match='before augmentations'):
        pack(stale)


# --------------------------------------------------------------------------
# a real mmdet3d pipeline on a tiny nuScenes-like sample
# --------------------------------------------------------------------------
def _write_sample(root, name, n_pts=300, seed=0):
    rng = np.random.default_rng(seed)
    pts = np.c_[rng.uniform(-25, 25, (n_pts, 2)),
                rng.uniform(-2, 2, n_pts),
                rng.uniform(0, 1, n_pts),
                np.zeros(n_pts)].astype(np.float32)
    path = root / 'samples' / 'LIDAR_TOP' / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pts.tofile(str(path))


def _info(idx, boxes, labels, ann_type=None, points=None):
    info = dict(sample_idx=idx,
                token=f'tok{idx}',
                timestamp=10.0 + idx,
                ego2global=np.eye(4).tolist(),
                lidar_points=dict(lidar_path=f'log__LIDAR_TOP__{idx}.bin',
                                  num_pts_feats=5,
                                  lidar2ego=np.eye(4).tolist()),
                instances=[])
    for k, (b, lab) in enumerate(zip(boxes, labels)):
        ins = dict(bbox_3d=list(map(float, b)),
                   bbox_label_3d=int(lab),
                   velocity=[0.0, 0.0],
                   num_lidar_pts=4,
                   num_radar_pts=0,
                   bbox_3d_isvalid=True)
        if points is not None:
            ins['point_3d'] = list(map(float, points[k]))
        info['instances'].append(ins)
    if ann_type:
        info['ann_type'] = ann_type
    return info


def _dataset(root, infos, pipeline, **kwargs):
    mmengine.dump(
        dict(metainfo=dict(dataset='nuscenes', version='v1.0-mini'),
             data_list=infos), str(root / 'infos.pkl'))
    return NuScenesDataset(data_root=str(root),
                           ann_file='infos.pkl',
                           data_prefix=dict(pts='samples/LIDAR_TOP'),
                           pipeline=pipeline,
                           modality=dict(use_lidar=True, use_camera=False),
                           filter_empty_gt=False,
                           test_mode=False,
                           **kwargs)


def _aug_pipeline(simulate_last=True):
    sim = dict(type='mmweak.SimulatePointAnnotations')
    pipe = [
        dict(type='LoadPointsFromFile',
             coord_type='LIDAR',
             load_dim=5,
             use_dim=5),
        dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
        dict(type='GlobalRotScaleTrans',
             rot_range=[-0.8, 0.8],
             scale_ratio_range=[0.9, 1.1],
             translation_std=[0.5, 0.5, 0.2]),
        dict(type='RandomFlip3D',
             flip_ratio_bev_horizontal=0.5,
             flip_ratio_bev_vertical=0.5,
             sync_2d=False),
        dict(type='PointsRangeFilter', point_cloud_range=PCR),
        dict(type='ObjectRangeFilter', point_cloud_range=PCR),
    ]
    if simulate_last:
        pipe.append(sim)
    else:
        pipe.insert(2, sim)
    pipe.append(
        dict(type='mmweak.PackPointDet3DInputs',
             keys=['points', 'gt_bboxes_3d', 'gt_labels_3d']))
    return pipe


def test_real_pipeline_keeps_points_aligned(tmp_path):
    # box sample: 4 boxes, one far outside the range (dropped by
    # ObjectRangeFilter); point-only sample: zero-size placeholder boxes
    boxes = np.array([[3., 4., -1., 4., 2., 1.6, 0.3],
                      [-6., 2., -0.5, 0.6, 0.6, 1.8, -1.2],
                      [80., 0., -1., 4., 2., 1.6, 0.0],
                      [-2., -9., -1., 10., 2.8, 3.5, 2.0]])
    labels = [0, 7, 1, 3]
    stored = boxes[:, :3] + 0.1
    placeholder = np.c_[stored, np.zeros((4, 4))]
    for i in range(2):
        _write_sample(tmp_path, f'log__LIDAR_TOP__{i}.bin', seed=i)
    infos = [
        _info(0, boxes, labels, 'box'),
        _info(1, placeholder, labels, 'point', points=stored)
    ]
    ds = _dataset(tmp_path, infos, _aug_pipeline())
    np.random.seed(1)
    torch.manual_seed(1)
    flips = set()
    for _ in range(6):
        # box sample: points inside their (augmented, filtered) boxes
        out = ds[0]['data_samples']
        gt = out.gt_instances_3d
        assert len(gt.labels_3d) == len(gt.points_3d) == len(gt.bboxes_3d)
        assert gt.labels_3d.tolist() == [0, 7, 3]  # truck at x=80 dropped
        local = _box_frame(gt.points_3d.numpy(), gt.bboxes_3d)
        assert np.all(np.abs(local) <= gt.bboxes_3d.dims.numpy() / 6 + 1e-4)
        flips.add(out.metainfo['pcd_horizontal_flip'])
        # point-only sample: the stored points, moved by the augmentation
        out = ds[1]['data_samples']
        gt = out.gt_instances_3d
        assert out.metainfo['ann_type'] == 'point'
        assert gt.labels_3d.tolist() == [0, 7, 3]
        moved = apply_3d_transformation(
            torch.tensor(stored[[0, 1, 3]], dtype=torch.float32), 'LIDAR',
            out.metainfo)
        np.testing.assert_allclose(gt.points_3d.numpy(),
                                   moved.numpy(),
                                   atol=1e-4)
    assert flips == {True, False}

    # simulating before the augmentations is caught by the packer
    ds_bad = _dataset(tmp_path, infos, _aug_pipeline(simulate_last=False))
    with pytest.raises(RuntimeError, match="tok0.*before augmentations"):
        ds_bad[0]


def test_range_filter_after_simulation_is_caught(tmp_path):
    boxes = np.array([[3., 4., -1., 4., 2., 1.6, 0.3],
                      [80., 0., -1., 4., 2., 1.6, 0.0]])
    _write_sample(tmp_path, 'log__LIDAR_TOP__0.bin')
    pipe = [
        dict(type='LoadPointsFromFile',
             coord_type='LIDAR',
             load_dim=5,
             use_dim=5),
        dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
        dict(type='mmweak.SimulatePointAnnotations'),
        dict(type='ObjectRangeFilter', point_cloud_range=PCR),
        dict(type='mmweak.PackPointDet3DInputs',
             keys=['points', 'gt_bboxes_3d', 'gt_labels_3d']),
    ]
    ds = _dataset(tmp_path, [_info(0, boxes, [0, 1])], pipe)
    with pytest.raises(ValueError, match='ObjectRangeFilter'):
        ds[0]


def test_load_point_annotations_pipeline(tmp_path):
    pts = np.array([[1., 2., -1.], [4., -3., 0.], [6., 6., -0.5]])
    placeholder = np.c_[pts, np.zeros((3, 4))]
    infos = [_info(0, placeholder, [2, 0, 8], 'point', points=pts)]
    infos[0]['instances'][1]['bbox_3d_isvalid'] = False  # valid filter
    _write_sample(tmp_path, 'log__LIDAR_TOP__0.bin')
    pipe = [
        dict(type='LoadPointsFromFile',
             coord_type='LIDAR',
             load_dim=5,
             use_dim=5),
        dict(type='mmweak.LoadPointAnnotations3D'),
        dict(type='mmweak.PackPointDet3DInputs',
             keys=['points', 'gt_labels_3d']),
    ]
    ds = _dataset(tmp_path, copy.deepcopy(infos), pipe, use_valid_flag=True)
    gt = ds[0]['data_samples'].gt_instances_3d
    assert gt.labels_3d.tolist() == [2, 8]
    np.testing.assert_allclose(gt.points_3d.numpy(), pts[[0, 2]], atol=1e-6)

    # after an augmentation it refuses to read original-frame points
    pipe.insert(
        1,
        dict(type='GlobalRotScaleTrans',
             rot_range=[-0.1, 0.1],
             scale_ratio_range=[1., 1.],
             translation_std=[0, 0, 0]))
    pipe.insert(
        1, dict(type='LoadAnnotations3D',
                with_bbox_3d=True,
                with_label_3d=True))
    ds = _dataset(tmp_path, copy.deepcopy(infos), pipe)
    with pytest.raises(RuntimeError, match='original LiDAR frame'):
        ds[0]
