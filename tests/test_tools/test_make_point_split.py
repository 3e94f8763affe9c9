# Copyright (c) mmweak contributors.
import copy
import json
import os

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet3d')

import mmengine  # noqa: E402

from mmweak.testing import load_tool_script  # noqa: E402


def _infos(n=10):
    data_list = []
    for i in range(n):
        data_list.append(
            dict(
                sample_idx=i,
                token=f'tok-{i}',
                # stored out of time order: sample i is the (n-1-i)-th
                timestamp=50.0 - 0.5 * i,
                lidar_points=dict(lidar_path=f'log__LIDAR_TOP__{i}.bin',
                                  num_pts_feats=5),
                instances=[
                    dict(bbox_3d=[float(i), 1.0, -1.0, 4.0, 2.0, 1.5, 0.2],
                         bbox_label_3d=i % 10,
                         velocity=[0.0, 0.0],
                         num_lidar_pts=5,
                         num_radar_pts=0,
                         bbox_3d_isvalid=True)
                ]))
    return dict(metainfo=dict(dataset='nuscenes'), data_list=data_list)


@pytest.fixture
def tool(repo_root):
    return load_tool_script(repo_root,
                            'tools/point_detr3d/make_point_split.py')


def test_make_point_split_writes_all_outputs(tool, tmp_path):
    info_pkl = tmp_path / 'nuscenes_infos_train.pkl'
    db_pkl = tmp_path / 'nuscenes_dbinfos_train.pkl'
    mmengine.dump(_infos(), str(info_pkl))
    mmengine.dump(
        dict(car=[dict(image_idx=i, path=f'db/{i}.bin') for i in range(10)],
             bus=[dict(image_idx=9), dict(image_idx=2)]), str(db_pkl))
    out_dir = tmp_path / 'split'
    out = tool.main([
        str(info_pkl), '--ratio', '0.25', '--dbinfos',
        str(db_pkl), '--out-dir',
        str(out_dir)
    ])
    assert sorted(os.listdir(out_dir)) == sorted([
        'nuscenes_infos_train_r25_labelled.pkl',
        'nuscenes_infos_train_r25_point.pkl',
        'nuscenes_dbinfos_train_r25_labelled.pkl',
        'nuscenes_infos_train_r25_split.json'
    ])  # no temporary files left
    lab = mmengine.load(out['labelled'])
    pnt = mmengine.load(out['point'])
    # ceil(0.25 * 10) = 3 earliest samples: stored indices 9, 8, 7
    assert [i['sample_idx'] for i in lab['data_list']] == [9, 8, 7]
    assert len(pnt['data_list']) == 7
    assert {i['ann_type'] for i in lab['data_list']} == {'box'}
    assert {i['ann_type'] for i in pnt['data_list']} == {'point'}
    ins = pnt['data_list'][0]['instances'][0]
    assert ins['bbox_3d'][3:] == [0.0] * 4 and len(ins['point_3d']) == 3
    db = mmengine.load(out['dbinfos'])
    assert [e['image_idx'] for e in db['car']] == [7, 8, 9]
    assert [e['image_idx'] for e in db['bus']] == [9]
    summary = json.load(open(out['summary']))
    assert summary['num_labelled'] == 3 and summary['num_point'] == 7
    assert summary['dbinfos_kept_per_class'] == dict(car=[3, 10], bus=[1, 2])
    assert summary['sample_idx_is_position'] is True
    assert summary['outputs']['point'] == out['point']

    # the same call again writes byte-identical pkls (deterministic)
    first = open(out['point'], 'rb').read()
    tool.main([str(info_pkl), '--ratio', '0.25', '--out-dir', str(out_dir)])
    assert open(out['point'], 'rb').read() == first


def test_make_point_split_errors(tool, tmp_path):
    info_pkl = tmp_path / 'infos.pkl'
    mmengine.dump(_infos(), str(info_pkl))
    with pytest.raises(SystemExit, match='--ratio.*fraction in'):
        tool.main([str(info_pkl), '--ratio', '5', '--out-dir', str(tmp_path)])
    old = tmp_path / 'old.pkl'
    mmengine.dump(dict(infos=[], metadata=dict(version='v1.0')), str(old))
    with pytest.raises(ValueError, match='old.pkl: not an mmdet3d v2'):
        tool.main([str(old), '--ratio', '0.1', '--out-dir', str(tmp_path)])
    with pytest.raises(FileNotFoundError, match='no dbinfos'):
        tool.main([
            str(info_pkl), '--ratio', '0.1', '--dbinfos',
            str(tmp_path / 'nope.pkl'), '--out-dir',
            str(tmp_path)
        ])
    assert not [f for f in os.listdir(tmp_path) if 'r10' in f or 'r500' in f]


def test_make_point_split_scene_rule(tool, tmp_path):
    infos = _infos(12)
    for i, info in enumerate(infos['data_list']):
        info['scene_token'] = f'scene-{i // 4}'
    info_pkl = tmp_path / 'infos.pkl'
    mmengine.dump(infos, str(info_pkl))
    out = tool.main([
        str(info_pkl), '--ratio', '0.1', '--split-by', 'scene', '--seed', '2',
        '--out-dir',
        str(tmp_path / 'o')
    ])
    lab = mmengine.load(out['labelled'])
    scenes = {i['scene_token'] for i in lab['data_list']}
    assert len(scenes) == 1 and len(lab['data_list']) == 4
    summary = json.load(open(out['summary']))
    assert summary['num_scenes'] == 3 and summary['split_by'] == 'scene'
    assert np.isfinite(summary['labelled_time_range']).all()


@pytest.fixture(scope='module')
def nus_outside(tmp_path_factory):
    """The nuScenes-layout fixture whose train pkl also holds objects
    outside the ten classes (``bbox_label_3d == -1``, valid, as mmdet3d's
    converter keeps them): one before and one after the others in every
    sample."""
    import copy

    from mmweak.testing import make_nuscenes_root
    tmp = tmp_path_factory.mktemp('split_outside_classes')
    root = make_nuscenes_root(tmp, gt_database=False)
    infos = mmengine.load(root['train_pkl'])
    for info in infos['data_list']:
        ref = info['instances'][0]
        extra = []
        for dx in (3.0, -3.0):
            ins = copy.deepcopy(ref)
            ins['bbox_3d'][0] += dx
            ins.update(bbox_label_3d=-1, bbox_3d_isvalid=True, num_lidar_pts=5)
            extra.append(ins)
        info['instances'] = extra[:1] + info['instances'] + extra[1:]
    pkl = str(tmp / 'nuscenes_infos_train.pkl')
    mmengine.dump(infos, pkl)
    return dict(root=root, infos=infos, pkl=pkl, tmp=tmp)


CLASSES = ('car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle',
           'motorcycle', 'pedestrian', 'traffic_cone', 'barrier')


def _teacher_records(data_root, ann_file):
    """The pseudo-label pipeline of the teacher configs on ``ann_file``
    and a fake teacher (one box per packed point, with its label) ->
    pseudo-label records, keyed by dataset index."""
    from mmdet3d.datasets import NuScenesDataset
    from mmdet3d.structures import LiDARInstance3DBoxes
    from mmengine.registry import DefaultScope
    from mmengine.structures import InstanceData

    from mmweak.datasets.pseudo_labels_3d import prediction_record
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        ds = NuScenesDataset(data_root=data_root,
                             ann_file=ann_file,
                             metainfo=dict(classes=CLASSES),
                             modality=dict(use_lidar=True, use_camera=False),
                             data_prefix=dict(pts='samples/LIDAR_TOP'),
                             use_valid_flag=True,
                             test_mode=True,
                             box_type_3d='LiDAR',
                             pipeline=[
                                 dict(type='LoadPointsFromFile',
                                      coord_type='LIDAR',
                                      load_dim=5,
                                      use_dim=5),
                                 dict(type='mmweak.LoadPointAnnotations3D',
                                      simulate_missing=False),
                                 dict(type='mmweak.PackPointDet3DInputs',
                                      keys=['points', 'gt_labels_3d'])
                             ])
        records, num_points = {}, 0
        for i in range(len(ds)):
            sample = ds[i]['data_samples']
            pts = sample.gt_instances_3d.points_3d
            labels = sample.gt_instances_3d.labels_3d
            num_points += len(pts)
            boxes = torch.cat(
                [pts,
                 torch.tensor([[4., 2., 1.5, 0.]]).expand(len(pts), 4)], 1)
            sample.pred_instances_3d = InstanceData(
                bboxes_3d=LiDARInstance3DBoxes(boxes, origin=(0.5, 0.5, 0.5)),
                scores_3d=torch.full((len(pts), ), 0.5),
                labels_3d=labels.clone())
            records[i] = prediction_record(sample, count_points=False)
    return records, num_points


def test_outside_classes_split_pipeline_and_merge_stay_aligned(
        tool, nus_outside, capsys):
    """Real nuScenes infos hold -1 instances: the split gives them no point,
    the teacher's pseudo-label pipeline reads the same points as the merge
    expects (no count mismatch), labelled samples keep their GT."""
    from mmweak.datasets.pseudo_labels_3d import (concat_infos,
                                                  merge_pseudo_labels)
    infos, data_root = nus_outside['infos'], nus_outside['root']['data_root']
    out_dir = nus_outside['tmp'] / 'split'
    out = tool.main(
        [nus_outside['pkl'], '--ratio', '0.5', '--out-dir',
         str(out_dir)])
    printed = capsys.readouterr().out
    lab, pnt = mmengine.load(out['labelled']), mmengine.load(out['point'])
    summary = json.load(open(out['summary']))
    n_pnt = len(pnt['data_list'])
    assert n_pnt > 0 and len(lab['data_list']) > 0
    assert summary['num_point_instances_outside_classes'] == 2 * n_pnt
    assert summary['num_labelled_instances_outside_classes'] == \
        2 * len(lab['data_list'])
    assert f"{2 * n_pnt} instance(s) of point-only samples outside the " \
        'classes' in printed
    src = {i['token']: i for i in infos['data_list']}
    for info in pnt['data_list']:
        assert all(i['bbox_label_3d'] >= 0 for i in info['instances'])
        assert len(info['instances']) == len(src[info['token']]['instances'])\
            - 2
    for info in lab['data_list']:  # GT untouched, -1 included
        orig = src[info['token']]['instances']
        assert [i['bbox_label_3d'] for i in info['instances']] == \
            [i['bbox_label_3d'] for i in orig]
        assert info['instances'][0]['bbox_label_3d'] == -1

    # the teacher's pseudo-label pipeline on the point pkl, then the merge
    # into the original train pkl (GT, -1 included) and into the split pkls
    records, num_points = _teacher_records(data_root, out['point'])
    assert num_points == summary['num_point_annotations'] > 0
    for train in (infos, concat_infos([lab, pnt])):
        merged, stats = merge_pseudo_labels(train, records, point_infos=pnt)
        assert stats['point_samples'] == n_pnt
        assert stats['pseudo_boxes'] == num_points
        assert stats['outside_classes'] == 0
        for info in merged['data_list']:
            if info['token'] in {i['token'] for i in pnt['data_list']}:
                assert info['ann_type'] == 'point'
                assert all(i['is_pseudo'] and i['bbox_label_3d'] >= 0
                           for i in info['instances'])
            else:
                assert info == next(i for i in train['data_list']
                                    if i['token'] == info['token'])

    # a point pkl written before this rule (-1 instances with points):
    # the pipeline skips them, the merge expects no box for them
    old = copy.deepcopy(pnt)
    for info in old['data_list']:
        ins = src[info['token']]['instances']
        for pos in (0, len(ins) - 1):
            point = list(ins[pos]['bbox_3d'][:3])
            info['instances'].insert(
                pos,
                dict(bbox_label_3d=-1,
                     point_3d=point,
                     bbox_3d=point + [0.0] * 4,
                     velocity=[float('nan')] * 2,
                     num_lidar_pts=5,
                     num_radar_pts=0,
                     bbox_3d_isvalid=True))
    old_pkl = str(nus_outside['tmp'] / 'old_point.pkl')
    mmengine.dump(old, old_pkl)
    old_records, old_points = _teacher_records(data_root, old_pkl)
    assert old_points == num_points
    merged, stats = merge_pseudo_labels(infos, old_records, point_infos=old)
    assert stats['pseudo_boxes'] == num_points
    assert stats['outside_classes'] == stats['dropped_points'] == 2 * n_pnt
