# Copyright (c) mmweak contributors.
import json
import os

import numpy as np
import pytest

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
