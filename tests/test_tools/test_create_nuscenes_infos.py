# Copyright (c) mmweak contributors.
"""create_nuscenes_infos.py (mmdet3d's own converter) on the synthetic
nuScenes: v2 pkls whose boxes, labels and point counts are those planted,
NuScenesDataset loads them with the points inside the boxes, and
NuScenesMetric scores the GT boxes fed back as predictions at mAP ~ 1."""
import json
import os.path as osp

import numpy as np
import pytest

pytest.importorskip('mmdet3d')

# builds mmdet3d parts by bare name, as mmdet3d configs do (tests/conftest.py)
DEFAULT_SCOPE = 'mmdet3d'
pytest.importorskip('nuscenes')

from mmweak.testing.nuscenes_fixtures import make_nuscenes_root  # noqa: E402

CLASSES = ('car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle',
           'motorcycle', 'pedestrian', 'traffic_cone', 'barrier')


@pytest.fixture(scope='module')
def nus(tmp_path_factory):
    return make_nuscenes_root(tmp_path_factory.mktemp('nus'), with_camera=True)


def _yaw(q):
    return 2 * np.arctan2(q[3], q[0])  # yaw-only quaternions [w, x, y, z]


def _rot(yaw):
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _planted(data_root):
    """Per sample token: LiDAR-frame boxes [x, y, z, l, w, h, yaw], class
    names and num_lidar_pts, computed from the json tables."""
    tab = {}
    for name in ('sample_data', 'ego_pose', 'calibrated_sensor',
                 'sample_annotation', 'instance', 'category', 'sensor'):
        with open(osp.join(data_root, 'v1.0-mini', f'{name}.json')) as f:
            tab[name] = {r['token']: r for r in json.load(f)}
    lidar = next(t for t, s in tab['sensor'].items()
                 if s['channel'] == 'LIDAR_TOP')
    out = {}
    for sd in tab['sample_data'].values():
        cs = tab['calibrated_sensor'][sd['calibrated_sensor_token']]
        if cs['sensor_token'] != lidar:
            continue
        pose = tab['ego_pose'][sd['ego_pose_token']]
        e_yaw, s_yaw = _yaw(pose['rotation']), _yaw(cs['rotation'])
        boxes, names, npts = [], [], []
        for ann in tab['sample_annotation'].values():
            if ann['sample_token'] != sd['sample_token']:
                continue
            c = (np.array(ann['translation']) - pose['translation']) @ \
                _rot(e_yaw)
            c = (c - cs['translation']) @ _rot(s_yaw)
            w, l, h = ann['size']
            yaw = _yaw(ann['rotation']) - e_yaw - s_yaw
            yaw = (yaw + np.pi) % (2 * np.pi) - np.pi
            boxes.append([*c, l, w, h, yaw])
            inst = tab['instance'][ann['instance_token']]
            names.append(tab['category'][inst['category_token']]['name'])
            npts.append(ann['num_lidar_pts'])
        out[sd['sample_token']] = (np.array(boxes), names, npts,
                                   sd['filename'])
    return out


def test_v2_infos_match_planted(nus):
    import mmengine
    from nuscenes.eval.detection.utils import category_to_detection_name
    planted = _planted(nus['data_root'])
    seen = set()
    for key in ('train_pkl', 'val_pkl'):
        pkl = mmengine.load(nus[key])
        assert pkl['metainfo']['version'] == 'v1.0-mini'
        assert pkl['metainfo']['categories'] == {
            c: i
            for i, c in enumerate(CLASSES)
        }
        assert pkl['data_list'], key
        for info in pkl['data_list']:
            boxes, names, npts, fname = planted[info['token']]
            seen.add(info['token'])
            assert info['lidar_points']['lidar_path'] == osp.basename(fname)
            assert info['lidar_points']['num_pts_feats'] == 5
            assert len(info['images']) == 6
            inst = info['instances']
            assert len(inst) == len(boxes)
            got = np.array([i['bbox_3d'] for i in inst])
            np.testing.assert_allclose(got[:, :6], boxes[:, :6], atol=1e-4)
            dyaw = (got[:, 6] - boxes[:, 6] + np.pi) % (2 * np.pi) - np.pi
            np.testing.assert_allclose(dyaw, 0, atol=1e-5)
            assert [CLASSES[i['bbox_label_3d']] for i in inst
                    ] == [category_to_detection_name(n) for n in names]
            assert [i['num_lidar_pts'] for i in inst] == npts
            assert [i['bbox_3d_isvalid']
                    for i in inst] == [n > 0 for n in npts]
            # the planted counts are the real counts of the .bin points
            pts = np.fromfile(osp.join(nus['data_root'], fname),
                              np.float32).reshape(-1, 5)
            for box, n in zip(boxes, npts):
                local = (pts[:, :3] - box[:3]) @ _rot(box[6])
                inside = (np.abs(local) <= np.array(box[3:6]) / 2).all(1)
                assert inside.sum() == n
            # cam_instances are clipped to the 320x180 images (work-around 2)
            for cam, objs in info['cam_instances'].items():
                for obj in objs:
                    x1, y1, x2, y2 = obj['bbox']
                    assert 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 180, cam
            # moving objects have a velocity in the LiDAR frame
            assert np.isfinite([i['velocity'] for i in inst]).all()
    assert seen == set(planted)
    assert sum(1 for _ in pkl['data_list']) == 2  # val: 1 scene x 2
    # GT database: each object's points once (work-around 5), labels kept
    train = mmengine.load(nus['train_pkl'])['data_list']
    dbinfos = mmengine.load(nus['dbinfos'])
    assert set(dbinfos) <= set(CLASSES) and dbinfos
    n_db = 0
    for name, entries in dbinfos.items():
        for e in entries:
            valid = [
                i for i in train[e['image_idx']]['instances']
                if i['bbox_3d_isvalid']
            ]
            inst = valid[e['gt_idx']]
            assert CLASSES[inst['bbox_label_3d']] == name
            assert e['num_points_in_gt'] == inst['num_lidar_pts']
            pts = np.fromfile(osp.join(nus['data_root'], e['path']),
                              np.float32)
            assert pts.size == 5 * inst['num_lidar_pts']
            n_db += 1
    assert n_db == sum(i['bbox_3d_isvalid'] for info in train
                       for i in info['instances'])


def _dataset(nus, ann_file, test_mode=False):
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    from mmdet3d.datasets import NuScenesDataset
    return NuScenesDataset(
        data_root=nus['data_root'],
        ann_file=ann_file,
        data_prefix=dict(pts='samples/LIDAR_TOP',
                         img='',
                         sweeps='sweeps/LIDAR_TOP'),
        pipeline=[
            dict(type='LoadPointsFromFile',
                 coord_type='LIDAR',
                 load_dim=5,
                 use_dim=5),
            dict(type='LoadAnnotations3D',
                 with_bbox_3d=True,
                 with_label_3d=True)
        ],
        # NuScenesDataset.METAINFO says v1.0-trainval and wins over the
        # pkl's metainfo: mini data must say so (NuScenesMetric reads it)
        metainfo=dict(version='v1.0-mini'),
        use_valid_flag=True,
        filter_empty_gt=False,
        with_velocity=False,
        test_mode=test_mode)


def test_dataset_points_inside_planted_boxes(nus):
    ds = _dataset(nus, osp.basename(nus['train_pkl']))
    assert len(ds) == 2
    out = ds[0]
    points = out['points']
    assert points.tensor.shape[1] == 5
    boxes = out['gt_bboxes_3d']
    assert len(boxes) > 0 and len(boxes) == len(out['gt_labels_3d'])
    from mmcv.ops import points_in_boxes_cpu  # (the all/part ops are CUDA)
    inside = points_in_boxes_cpu(points.tensor[None, :, :3],
                                 boxes.tensor[None, :, :7])[0].numpy()
    counts = inside.sum(0)
    info = ds.get_data_info(0)
    valid = [
        i['num_lidar_pts'] for i in info['instances'] if i['bbox_3d_isvalid']
    ]
    assert counts.tolist() == valid
    assert (counts > 0).all()


def _round_trip(nus, tmp_path, shift=0.0):
    import torch
    from mmdet3d.evaluation import NuScenesMetric
    from mmdet3d.structures import LiDARInstance3DBoxes
    ds = _dataset(nus, osp.basename(nus['val_pkl']))
    metric = NuScenesMetric(data_root=nus['data_root'],
                            ann_file=nus['val_pkl'],
                            metric='bbox',
                            jsonfile_prefix=str(tmp_path / f'results_{shift}'))
    metric.dataset_meta = ds.metainfo
    samples = []
    for idx in range(len(ds)):
        info = ds.get_data_info(idx)
        inst = [i for i in info['instances'] if i['bbox_3d_isvalid']]
        box = np.array([i['bbox_3d'] + i['velocity'] for i in inst],
                       np.float32).reshape(-1, 9)
        box[:, 0] += shift
        samples.append(
            dict(pred_instances_3d=dict(
                bboxes_3d=LiDARInstance3DBoxes(torch.from_numpy(box),
                                               box_dim=9,
                                               origin=(0.5, 0.5, 0.5)),
                scores_3d=torch.ones(len(box)),
                labels_3d=torch.tensor([i['bbox_label_3d'] for i in inst])),
                 pred_instances=dict(),
                 sample_idx=info['sample_idx']))
    metric.process({}, samples)
    res = metric.compute_metrics(metric.results)
    pre = 'pred_instances_3d_NuScenes'
    present = {
        CLASSES[i['bbox_label_3d']]
        for idx in range(len(ds))
        for i in ds.get_data_info(idx)['instances'] if i['bbox_3d_isvalid']
    }
    aps = {
        c:
        np.mean([
            res[f'{pre}/{c}_AP_dist_{d}'] for d in ('0.5', '1.0', '2.0', '4.0')
        ])
        for c in present
    }
    return res[f'{pre}/mAP'], res[f'{pre}/NDS'], aps


def test_metric_gt_round_trip(nus, tmp_path):
    m_ap, nds, aps = _round_trip(nus, tmp_path)
    assert len(aps) >= 8
    assert min(aps.values()) > 0.95, aps
    assert m_ap == pytest.approx(sum(aps.values()) / 10, abs=1e-3)
    # zero translation/scale/orientation/velocity/attribute errors
    assert nds == pytest.approx((5 * m_ap + 5) / 10, abs=1e-3)
    shifted_map, _, _ = _round_trip(nus, tmp_path, shift=5.0)
    assert shifted_map < 0.2 * m_ap


def test_camera_views_show_planted_boxes(nus):
    """lidar2img (cam2img @ lidar2cam of the infos) projects the box
    centres onto the boxes rendered in the JPEGs."""
    from mmdet3d.datasets import NuScenesDataset
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    cams = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK',
            'CAM_BACK_LEFT', 'CAM_BACK_RIGHT')
    ds = NuScenesDataset(data_root=nus['data_root'],
                         ann_file=osp.basename(nus['val_pkl']),
                         metainfo=dict(version='v1.0-mini'),
                         data_prefix=dict(pts='samples/LIDAR_TOP',
                                          **{c: f'samples/{c}'
                                             for c in cams}),
                         modality=dict(use_lidar=True, use_camera=True),
                         pipeline=[
                             dict(type='LoadMultiViewImageFromFiles',
                                  num_views=6),
                             dict(type='LoadAnnotations3D',
                                  with_bbox_3d=True,
                                  with_label_3d=True)
                         ],
                         with_velocity=False,
                         filter_empty_gt=False)
    out = ds[0]
    centres = out['gt_bboxes_3d'].gravity_center.numpy()
    seen = 0
    for img, cam in zip(out['img'], out['images'].values()):
        assert img.shape == (180, 320, 3)
        cam2img = np.eye(4)
        cam2img[:3, :3] = cam['cam2img']
        p = np.c_[centres, np.ones(len(centres))] @ (
            cam2img @ np.array(cam['lidar2cam'])).T
        p = p[p[:, 2] > 1]
        uv = (p[:, :2] / p[:, 2:3]).astype(int)
        uv = uv[(uv[:, 0] >= 0) & (uv[:, 0] < 320) & (uv[:, 1] >= 0) &
                (uv[:, 1] < 180)]
        for u, v in uv:  # not sky (BGR 230, 190, 150) nor road (95, 90, 90)
            px = img[v, u].astype(int)
            assert np.abs(px - [230, 190, 150]).sum() > 30
            assert np.abs(px - [95, 90, 90]).sum() > 30
            seen += 1
    assert seen >= 3
