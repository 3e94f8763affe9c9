# Copyright (c) mmweak contributors.
import copy
import math

import numpy as np
import pytest

pytest.importorskip('mmdet3d')

import mmengine  # noqa: E402
from mmdet3d.datasets import NuScenesDataset  # noqa: E402

from mmweak.datasets import point_split_3d as ps  # noqa: E402
from mmweak.datasets.transforms.point_annotations_3d import \
    simulate_points_np  # noqa: E402


@pytest.fixture(autouse=True)
def _mmdet3d_scope():
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        yield


def tiny_infos(n=12, scenes=3, seed=0, scene_token=False, shuffle=True):
    """A v2 info dict: ``n`` samples in ``scenes`` scenes of one log each
    (0.5 s apart inside a scene), 1-3 hand-made instances per sample, the
    data_list stored out of time order."""
    rng = np.random.default_rng(seed)
    data_list = []
    per = int(math.ceil(n / scenes))
    for i in range(n):
        s = i // per
        t0 = 1000.0 + 100.0 * s
        k = i % per
        instances = []
        for j in range(1 + i % 3):
            box = [float(v) for v in rng.uniform(-20, 20, 3)] + \
                [4.0 - j, 2.0, 1.5, float(rng.uniform(-3, 3))]
            instances.append(
                dict(bbox_3d=box,
                     bbox_label_3d=int((i + j) % 10),
                     velocity=[0.5, float('nan')],
                     num_lidar_pts=3 + j,
                     num_radar_pts=1,
                     bbox_3d_isvalid=bool(j != 1)))
        info = dict(sample_idx=i,
                    token=f'sample-{i:03d}',
                    timestamp=t0 + 0.5 * k,
                    ego2global=np.eye(4).tolist(),
                    lidar_points=dict(
                        lidar_path=f'n00{s}-log__LIDAR_TOP__{i}.pcd.bin',
                        num_pts_feats=5,
                        lidar2ego=np.eye(4).tolist()),
                    lidar_sweeps=[] if k == 0 else [
                        dict(timestamp=t0 + 0.5 * k - 0.05,
                             lidar_points=dict(
                                 lidar_path=f'sweeps/LIDAR_TOP/{i}_1.bin'))
                    ],
                    cam_instances=dict(CAM_FRONT=[dict(bbox=[0, 0, 1, 1])]),
                    instances=instances)
        if scene_token:
            info['scene_token'] = f'scene-{s}'
        data_list.append(info)
    if shuffle:
        order = rng.permutation(n)
        data_list = [data_list[k] for k in order]
        for pos, info in enumerate(data_list):
            info['sample_idx'] = pos  # as mmdet3d's converters write
    return dict(metainfo=dict(dataset='nuscenes',
                              version='v1.0-mini',
                              info_version='1.1'),
                data_list=data_list)


def tokens(infos):
    return [i['token'] for i in infos['data_list']]


@pytest.mark.parametrize('ratio,n,expect', [(0.05, 100, 5), (0.07, 100, 7),
                                            (0.1, 28130, 2813),
                                            (0.02, 28130, 563), (1.0, 7, 7),
                                            (0.01, 7, 1)])
def test_num_labelled_is_ceil(ratio, n, expect):
    assert ps.num_labelled(ratio, n) == expect


def test_ratio_tag_and_bad_ratio():
    assert [ps.ratio_tag(r) for r in (0.02, 0.05, 0.1, 0.5, 1.0, 0.025)] == \
        ['r02', 'r05', 'r10', 'r50', 'r100', 'r2p5']
    for bad in (0, -0.1, 1.5, 5, float('nan'), 'x'):
        with pytest.raises(ValueError, match='ratio'):
            ps.check_ratio(bad)


@pytest.mark.parametrize('ratio', [0.1, 0.25, 0.5, 0.9, 1.0])
def test_sample_rule_is_first_by_time_disjoint_complete(ratio):
    infos = tiny_infos()
    lab, pnt, summary, pos = ps.make_point_split(infos, ratio)
    n = len(infos['data_list'])
    assert len(lab['data_list']) == math.ceil(ratio * n - 1e-9)
    assert summary['num_labelled'] + summary['num_point'] == n
    lt, pt = set(tokens(lab)), set(tokens(pnt))
    assert not lt & pt and lt | pt == set(tokens(infos))
    if pt:
        assert max(i['timestamp'] for i in lab['data_list']) <= \
            min(i['timestamp'] for i in pnt['data_list'])
    by_tok = {i['token']: k for k, i in enumerate(infos['data_list'])}
    assert pos == sorted(by_tok[t] for t in lt)
    assert lab['metainfo']['point_split']['part'] == 'labelled'
    assert pnt['metainfo']['point_split']['ratio'] == ratio
    assert lab['metainfo']['version'] == 'v1.0-mini'


def test_instances_of_both_parts():
    infos = tiny_infos()
    orig = copy.deepcopy(infos)
    lab, pnt, _, _ = ps.make_point_split(infos, 0.5)
    # the input is untouched
    assert tokens(infos) == tokens(orig)
    assert all('point_3d' not in ins and 'ann_type' not in info
               for info in infos['data_list'] for ins in info['instances'])
    src = {i['token']: i for i in orig['data_list']}
    for info in lab['data_list']:
        assert info['ann_type'] == 'box'
        ref = src[info['token']]
        pts = simulate_points_np(
            np.array([x['bbox_3d'] for x in ref['instances']]), info['token'],
            True)
        for ins, ref_ins, p in zip(info['instances'], ref['instances'], pts):
            assert ins['bbox_3d'] == ref_ins['bbox_3d']
            np.testing.assert_allclose(ins['point_3d'], p, atol=1e-6)
        assert 'cam_instances' in info
    for info in pnt['data_list']:
        assert info['ann_type'] == 'point'
        assert 'cam_instances' not in info  # 2D/3D camera boxes leak GT
        ref = src[info['token']]
        assert len(info['instances']) == len(ref['instances'])
        for ins, ref_ins in zip(info['instances'], ref['instances']):
            assert set(ins) == {
                'bbox_label_3d', 'point_3d', 'bbox_3d', 'velocity',
                'num_lidar_pts', 'num_radar_pts', 'bbox_3d_isvalid'
            }
            assert ins['bbox_label_3d'] == ref_ins['bbox_label_3d']
            assert ins['bbox_3d'] == ins['point_3d'] + [0.0] * 4
            assert np.isnan(ins['velocity']).all()
            assert ins['bbox_3d_isvalid'] == ref_ins['bbox_3d_isvalid']
            local = np.array(ins['point_3d']) - np.array(
                ref_ins['bbox_3d'][:3])
            yaw = ref_ins['bbox_3d'][6]
            c, s = np.cos(-yaw), np.sin(-yaw)
            local = [
                c * local[0] - s * local[1], s * local[0] + c * local[1],
                local[2]
            ]
            assert np.all(
                np.abs(local) <= np.array(ref_ins['bbox_3d'][3:6]) / 6 + 1e-5)


def test_determinism_and_seed():
    a = ps.make_point_split(tiny_infos(), 0.3)
    b = ps.make_point_split(tiny_infos(), 0.3, seed=7)  # seed unused here
    assert tokens(a[0]) == tokens(b[0])
    assert [i['instances'][0]['point_3d'] for i in a[1]['data_list']] == \
        [i['instances'][0]['point_3d'] for i in b[1]['data_list']]
    s1 = ps.make_point_split(tiny_infos(n=24, scenes=8), 0.3, 'scene', 1)
    s2 = ps.make_point_split(tiny_infos(n=24, scenes=8), 0.3, 'scene', 1)
    assert tokens(s1[0]) == tokens(s2[0])
    seen = {
        tuple(
            sorted(
                tokens(
                    ps.make_point_split(tiny_infos(n=24, scenes=8), 0.3,
                                        'scene', seed)[0])))
        for seed in range(6)
    }
    assert len(seen) > 1


@pytest.mark.parametrize('scene_token', [True, False])
def test_scene_rule_takes_whole_scenes(scene_token):
    infos = tiny_infos(n=24, scenes=6, scene_token=scene_token)
    lab, pnt, summary, _ = ps.make_point_split(infos, 0.3, 'scene', seed=3)
    assert summary['num_scenes'] == 6
    assert summary['scene_source'] == ('scene_token'
                                       if scene_token else 'derived')
    scene_of = {
        i['token']: i['lidar_points']['lidar_path'][:4]
        for i in infos['data_list']
    }
    lab_scenes = {scene_of[t] for t in tokens(lab)}
    pnt_scenes = {scene_of[t] for t in tokens(pnt)}
    assert not lab_scenes & pnt_scenes
    assert len(lab['data_list']) >= ps.num_labelled(0.3, 24)
    assert len(lab['data_list']) == 4 * len(lab_scenes)


def test_derived_scenes_split_on_gaps_and_sweeps():
    dl = [
        dict(sample_idx=k,
             timestamp=t,
             lidar_sweeps=sw,
             lidar_points=dict(lidar_path=f'{log}__LIDAR_TOP__{k}.bin'))
        for k, (log, t, sw) in enumerate([
            ('a', 0.0, []),
            ('a', 0.5, [1]),
            ('a', 1.0, [1]),
            ('a', 1.5, []),  # no sweeps: a scene's first sample
            ('a', 9.0, [1]),  # gap > 1 s
            ('b', 9.5, [1]),  # other log
        ])
    ]
    ids = ps.scene_ids(dl)
    assert ids[0] == ids[1] == ids[2]
    assert len({ids[2], ids[3], ids[4], ids[5]}) == 4


def test_not_v2_and_bad_input_errors():
    with pytest.raises(ValueError,
                       match='not an mmdet3d v2 info pkl.*'
                       'update_infos_to_v2'):
        ps.make_point_split(dict(infos=[], metadata={}), 0.1, path='old.pkl')
    with pytest.raises(ValueError, match='ratio'):
        ps.make_point_split(tiny_infos(), 0.0)
    bad = tiny_infos()
    del bad['data_list'][2]['timestamp']
    with pytest.raises(ValueError, match=r"data_list\[2\] has no 'timestamp'"):
        ps.make_point_split(bad, 0.1)
    bad = tiny_infos()
    del bad['data_list'][1]['instances'][0]['bbox_3d']
    with pytest.raises(ValueError, match='fully labelled'):
        ps.make_point_split(bad, 0.1)
    with pytest.raises(ValueError, match='split_by'):
        ps.make_point_split(tiny_infos(), 0.1, split_by='log')


def test_filter_dbinfos():
    db = dict(car=[dict(image_idx=0, name='car'),
                   dict(image_idx=3)],
              pedestrian=[dict(image_idx=5)])
    out, counts = ps.filter_dbinfos(db, [0, 5])
    assert out == dict(car=[dict(image_idx=0, name='car')],
                       pedestrian=[dict(image_idx=5)])
    assert counts == dict(car=[1, 2], pedestrian=[1, 1])
    with pytest.raises(ValueError, match="has no 'image_idx'"):
        ps.filter_dbinfos(dict(car=[dict(idx=1)]), [1], 'db.pkl')


def _load(tmp_path, infos, pipeline, **kwargs):
    mmengine.dump(infos, str(tmp_path / 'part.pkl'))
    return NuScenesDataset(data_root=str(tmp_path),
                           ann_file='part.pkl',
                           data_prefix=dict(pts='samples/LIDAR_TOP',
                                            sweeps='sweeps/LIDAR_TOP'),
                           pipeline=pipeline,
                           modality=dict(use_lidar=True, use_camera=False),
                           use_valid_flag=True,
                           **kwargs)


def test_point_pkl_loads_through_nuscenes_dataset(tmp_path):
    _, pnt, _, _ = ps.make_point_split(tiny_infos(), 0.25)
    load = [dict(type='mmweak.LoadPointAnnotations3D')]
    ds = _load(tmp_path, pnt, load, test_mode=False, filter_empty_gt=False)
    assert len(ds) == len(pnt['data_list'])
    for k, info in enumerate(pnt['data_list']):
        res = ds[k]
        valid = [i for i in info['instances'] if i['bbox_3d_isvalid']]
        assert res['ann_type'] == 'point'
        assert res['gt_labels_3d'].tolist() == [
            i['bbox_label_3d'] for i in valid
        ]
        np.testing.assert_allclose(res['gt_points_3d'],
                                   [i['point_3d'] for i in valid],
                                   atol=1e-6)
        # the placeholder boxes sit on the points, zero-size
        boxes = res['ann_info']['gt_bboxes_3d']
        np.testing.assert_allclose(boxes.gravity_center.numpy(),
                                   res['gt_points_3d'],
                                   atol=1e-5)
        if len(valid):
            assert float(boxes.dims.abs().max()) == 0.0
    # a sample where the valid filter drops an instance
    k = next(k for k, info in enumerate(pnt['data_list'])
             if not all(i['bbox_3d_isvalid'] for i in info['instances']))
    raw = pnt['data_list'][k]['instances']
    # test mode reads eval_ann_info (valid filter applied)
    ds = _load(tmp_path, pnt, load, test_mode=True)
    res = ds[k]
    assert len(res['gt_points_3d']) == len(res['gt_labels_3d']) == sum(
        i['bbox_3d_isvalid'] for i in raw) < len(raw)
    # without parsed annotations: the raw instances, all of them
    ds = _load(tmp_path, pnt, load, test_mode=True, load_eval_anns=False)
    assert len(ds[k]['gt_points_3d']) == len(raw)
    # from_instances: every stored point in pkl order, even with ann_info
    ds = _load(
        tmp_path,
        pnt, [dict(type='mmweak.LoadPointAnnotations3D', from_instances=True)],
        test_mode=False,
        filter_empty_gt=False)
    res = ds[k]
    assert len(res['ann_info']['gt_labels_3d']) < len(raw)
    assert res['gt_labels_3d'].tolist() == [i['bbox_label_3d'] for i in raw]
    np.testing.assert_allclose(res['gt_points_3d'],
                               [i['point_3d'] for i in raw],
                               atol=1e-6)


def test_load_point_annotations_errors_and_box_fallback(tmp_path):
    lab, pnt, _, _ = ps.make_point_split(tiny_infos(), 0.5)
    load = [dict(type='mmweak.LoadPointAnnotations3D')]
    broken = copy.deepcopy(pnt)
    for ins in broken['data_list'][0]['instances']:
        del ins['point_3d']
    ds = _load(tmp_path, broken, load, test_mode=False, filter_empty_gt=False)
    tok = broken['data_list'][0]['token']
    with pytest.raises(KeyError, match=f"{tok}.*'point'.*no 'point_3d'"):
        ds[0]
    # box samples without stored points: deterministic simulation
    plain = copy.deepcopy(lab)
    for info in plain['data_list']:
        for ins in info['instances']:
            del ins['point_3d']
            ins['bbox_3d_isvalid'] = True
    ds = _load(tmp_path, plain, load, test_mode=False, filter_empty_gt=False)
    for k, info in enumerate(lab['data_list']):
        np.testing.assert_allclose(ds[k]['gt_points_3d'],
                                   [i['point_3d'] for i in info['instances']],
                                   atol=1e-5)
    strict = [
        dict(type='mmweak.LoadPointAnnotations3D', simulate_missing=False)
    ]
    ds = _load(tmp_path, plain, strict, test_mode=False, filter_empty_gt=False)
    with pytest.raises(KeyError, match="ann_type='box'.*no 'point_3d'"):
        ds[0]


def test_summary_records_the_labelled_class_mean_size():
    from mmweak.datasets.point_split_3d import class_mean_size
    meta = dict(categories=dict(car=0, pedestrian=1, barrier=2))
    infos = [
        dict(instances=[
            dict(bbox_3d=[0, 0, 0, 4.0, 2.0, 1.5, 0], bbox_label_3d=0),
            dict(bbox_3d=[5, 0, 0, 0.8, 0.6, 1.7, 0], bbox_label_3d=1),
            dict(bbox_3d=[9, 0, 0, 9.9, 9.9, 9.9, 0], bbox_label_3d=-1),
        ]),
        dict(instances=[
            dict(bbox_3d=[1, 1, 0, 5.0, 2.2, 1.7, 0], bbox_label_3d=0),
        ]),
    ]
    table = class_mean_size(infos, meta)
    assert list(table) == ['car', 'pedestrian', 'barrier']
    assert table['car'] == [4.5, 2.1, 1.6]
    assert table['pedestrian'] == [0.8, 0.6, 1.7]
    assert table['barrier'] is None


def _with_outside_classes(infos):
    """``infos`` with every instance at index 1 relabelled -1 (an object
    whose category is not a detection class, as mmdet3d's converter writes
    it) and valid, so the dataset's filter keeps it."""
    out = copy.deepcopy(infos)
    for info in out['data_list']:
        if len(info['instances']) > 1:
            info['instances'][1].update(bbox_label_3d=-1, bbox_3d_isvalid=True)
    return out


def test_instances_outside_classes_get_no_point(tmp_path):
    base = tiny_infos()
    infos = _with_outside_classes(base)
    lab, pnt, summary, _ = ps.make_point_split(infos, 0.25)
    lab0, pnt0, summary0, _ = ps.make_point_split(base, 0.25)
    assert tokens(pnt) == tokens(pnt0) and tokens(lab) == tokens(lab0)
    src = {i['token']: i for i in infos['data_list']}
    n_out = {'lab': 0, 'pnt': 0}
    for info, info0 in zip(pnt['data_list'], pnt0['data_list']):
        orig = src[info['token']]['instances']
        kept = [j for j, ins in enumerate(orig) if ins['bbox_label_3d'] >= 0]
        n_out['pnt'] += len(orig) - len(kept)
        # no instance for the -1 objects; the others keep their points
        # (seeded by the original instance index) and order
        assert [i['bbox_label_3d'] for i in info['instances']] == \
            [orig[j]['bbox_label_3d'] for j in kept]
        assert [i['point_3d'] for i in info['instances']] == \
            [info0['instances'][j]['point_3d'] for j in kept]
    for info, info0 in zip(lab['data_list'], lab0['data_list']):
        # labelled samples: GT untouched, -1 included, every instance with
        # a point_3d (mmdet3d stacks instance keys into columns)
        orig = src[info['token']]['instances']
        n_out['lab'] += sum(i['bbox_label_3d'] < 0 for i in orig)
        assert [{
            k: v
            for k, v in i.items() if k != 'point_3d'
        } for i in info['instances']] == orig
        assert [i['point_3d'] for i in info['instances']] == \
            [i['point_3d'] for i in info0['instances']]
    assert n_out['pnt'] > 0 and n_out['lab'] > 0
    assert summary['num_point_instances_outside_classes'] == n_out['pnt']
    assert summary['num_labelled_instances_outside_classes'] == n_out['lab']
    assert summary['num_point_annotations'] == \
        summary['num_point_instances'] - n_out['pnt'] == \
        sum(len(i['instances']) for i in pnt['data_list'])
    assert summary0['num_point_instances_outside_classes'] == 0
    assert '-1' not in summary['class_mean_size']

    # the labelled pkl through the teacher's point reader: no point, no
    # label for -1; after LoadAnnotations3D the points follow the GT rows
    read = [dict(type='mmweak.LoadPointAnnotations3D')]
    ds = _load(tmp_path, lab, read, test_mode=True)
    with_gt = [
        dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True)
    ] + read
    ds_gt = _load(tmp_path,
                  lab,
                  with_gt,
                  test_mode=False,
                  filter_empty_gt=False)
    seen_outside = 0
    for k, info in enumerate(lab['data_list']):
        valid = [i for i in info['instances'] if i['bbox_3d_isvalid']]
        known = [i for i in valid if i['bbox_label_3d'] >= 0]
        seen_outside += len(valid) - len(known)
        res = ds[k]
        assert res['gt_labels_3d'].tolist() == \
            [i['bbox_label_3d'] for i in known]
        np.testing.assert_allclose(res['gt_points_3d'].reshape(-1, 3),
                                   np.reshape([i['point_3d'] for i in known],
                                              (-1, 3)),
                                   atol=1e-6)
        res = ds_gt[k]
        assert res['gt_labels_3d'].tolist() == \
            [i['bbox_label_3d'] for i in valid]
        assert len(res['gt_points_3d']) == len(res['gt_bboxes_3d']) == \
            len(valid)
    assert seen_outside > 0
    # the raw instances (no parsed annotations) follow the same rule
    ds = _load(tmp_path, lab, read, test_mode=True, load_eval_anns=False)
    for k, info in enumerate(lab['data_list']):
        assert ds[k]['gt_labels_3d'].tolist() == [
            i['bbox_label_3d'] for i in info['instances']
            if i['bbox_label_3d'] >= 0
        ]
