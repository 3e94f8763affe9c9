# Copyright (c) mmweak contributors.
"""tools/point_detr3d/merge_pseudo_labels.py: the student pkl from a
DumpPseudoLabels3D pkl or a per-sample record directory (same result),
from the split's labelled + point pkls or the original train pkl with the
point pkl as reference, the point filter, errors naming the sample."""
import os.path as osp
import pickle

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet3d')

from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes  # noqa
from mmengine.structures import InstanceData  # noqa: E402

from mmweak.datasets.pseudo_labels_3d import (
    prediction_record,  # noqa
    record_file_name,
    save_pickle_atomic)
from mmweak.evaluation.metrics.dump_pseudo_labels_3d import \
    DumpPseudoLabels3D  # noqa: E402
from mmweak.testing import load_tool_script  # noqa: E402

# (ann_type, [(label, point, valid)])
SAMPLES = [('box', [(0, (5., 5., -1.), True)]),
           ('point', [(1, (10., 0., -1.), True), (2, (0., 10., -1.), False),
                      (7, (-10., 0., -.5), True)]),
           ('point', [(9, (0., -10., -1.), True)])]


@pytest.fixture(scope='module')
def setup(tmp_path_factory, repo_root):
    tmp = tmp_path_factory.mktemp('merge_pseudo_labels')
    data_list, samples = [], []
    for idx, (ann_type, objs) in enumerate(SAMPLES):
        name = f'n015__LIDAR_TOP__{idx}.pcd.bin'
        xyz = np.array([o[1] for o in objs] + [[50., 50., 0.]], np.float32)
        path = str(tmp / name)
        np.concatenate([xyz, np.zeros((len(xyz), 2), np.float32)],
                       1).tofile(path)
        data_list.append(
            dict(sample_idx=idx,
                 token=f'tok{idx}',
                 ann_type=ann_type,
                 lidar_points=dict(lidar_path=name, num_pts_feats=5),
                 instances=[
                     dict(bbox_3d=[*p, 4., 2., 1.5, 0.]
                          if ann_type == 'box' else [*p, 0., 0., 0., 0.],
                          bbox_label_3d=label,
                          bbox_3d_isvalid=valid,
                          num_lidar_pts=1,
                          point_3d=list(p)) for label, p, valid in objs
                 ]))
        seen = [o for o in objs if o[2]]
        pts = torch.tensor([o[1] for o in seen]).reshape(-1, 3)
        sample = Det3DDataSample(
            metainfo=dict(sample_idx=idx, lidar_path=path, num_pts_feats=5))
        sample.gt_instances_3d = InstanceData(points_3d=pts)
        bottom = pts - torch.tensor([0., 0., .75])
        sample.pred_instances_3d = InstanceData(
            bboxes_3d=LiDARInstance3DBoxes(
                torch.cat([
                    bottom,
                    torch.tensor([[4., 2., 1.5, .3]]).expand(len(pts), 4)
                ], 1)),
            scores_3d=torch.full((len(pts), ), .6),
            labels_3d=torch.tensor([o[0] for o in seen]))
        samples.append(sample)
    infos = dict(metainfo=dict(dataset='nuscenes'), data_list=data_list)
    train_pkl = str(tmp / 'train.pkl')
    save_pickle_atomic(train_pkl, infos)
    # the metric's pkl (as tools/test.py writes it) ...
    metric = DumpPseudoLabels3D(out_file=str(tmp / 'dump.pkl'))
    metric.dataset_meta = {}
    metric.process({}, [s.to_dict() for s in samples])
    metric.evaluate(len(samples))
    # ... and the per-sample directory of make_pseudo_labels.py
    for sample in samples:
        save_pickle_atomic(
            str(tmp / 'samples' / record_file_name(sample.sample_idx)),
            prediction_record(sample))
    tool = load_tool_script(repo_root,
                            'tools/point_detr3d/merge_pseudo_labels.py')
    return dict(tmp=tmp, tool=tool, infos=infos, train_pkl=train_pkl)


def _load(path):
    with open(path, 'rb') as f:
        return pickle.load(f)


def test_merge_from_dump_and_from_dir_agree(setup):
    tool, tmp = setup['tool'], setup['tmp']
    out_a, out_b = str(tmp / 'a.pkl'), str(tmp / 'b.pkl')
    stats = tool.main([
        str(tmp / 'dump.pkl'), '--train-pkl', setup['train_pkl'], '--out',
        out_a
    ])
    assert stats == dict(point_samples=2,
                         box_samples=1,
                         pseudo_boxes=3,
                         dropped_points=1,
                         outside_classes=0,
                         unused_records=1)
    tool.main([
        str(tmp / 'samples'), '--train-pkl', setup['train_pkl'], '--out', out_b
    ])
    assert _load(out_a) == _load(out_b)
    merged, infos = _load(out_a), setup['infos']
    assert merged['data_list'][0] == infos['data_list'][0]
    insts = merged['data_list'][1]['instances']
    assert [i['bbox_label_3d'] for i in insts] == [1, 7]
    assert insts[1]['bbox_3d'] == pytest.approx([-10, 0, -.5, 4, 2, 1.5, .3])
    assert insts[1]['point_3d'] == [-10., 0., -.5]
    assert [i['num_lidar_pts'] for i in insts] == [1, 1]
    assert all(i['is_pseudo'] and i['score'] == pytest.approx(.6)
               for i in insts)


def test_split_pkls_point_only_pkl_and_point_filter(setup):
    tool, tmp, infos = setup['tool'], setup['tmp'], setup['infos']
    # the split's labelled and point pkls, merged into one student pkl
    labelled = dict(metainfo=infos['metainfo'],
                    data_list=infos['data_list'][:1])
    point = dict(metainfo=infos['metainfo'], data_list=infos['data_list'][1:])
    save_pickle_atomic(str(tmp / 'lab.pkl'), labelled)
    save_pickle_atomic(str(tmp / 'pt.pkl'), point)
    out = str(tmp / 'split_merged.pkl')
    tool.main([
        str(tmp / 'dump.pkl'), '--train-pkl',
        str(tmp / 'lab.pkl'),
        str(tmp / 'pt.pkl'), '--out', out
    ])
    tool.main([
        str(tmp / 'dump.pkl'), '--train-pkl', setup['train_pkl'], '--out',
        str(tmp / 'one.pkl')
    ])
    assert _load(out) == _load(str(tmp / 'one.pkl'))
    # the original train pkl (GT, no points) + the point pkl as reference
    original = dict(metainfo=infos['metainfo'],
                    data_list=[{
                        k: v
                        for k, v in dict(info, instances=[]).items()
                        if k != 'ann_type'
                    } for info in infos['data_list']])
    save_pickle_atomic(str(tmp / 'orig.pkl'), original)
    stats = tool.main([
        str(tmp / 'dump.pkl'), '--train-pkl',
        str(tmp / 'orig.pkl'), '--out', out, '--point-only-pkl',
        str(tmp / 'pt.pkl')
    ])
    assert stats['point_samples'] == 2 and stats['box_samples'] == 1
    merged = _load(out)
    assert merged['data_list'][0] == original['data_list'][0]
    assert merged['data_list'][1:] == _load(str(tmp /
                                                'one.pkl'))['data_list'][1:]
    with pytest.raises(ValueError,
                       match='sample_idx=1, token=tok1: 2 pseudo '
                       "boxes for 3 annotated points .point_filter='all'"):
        tool.main([
            str(tmp / 'dump.pkl'), '--train-pkl', setup['train_pkl'], '--out',
            out, '--point-filter', 'all'
        ])


def test_errors_name_the_sample(setup):
    tool, tmp = setup['tool'], setup['tmp']
    infos = _load(setup['train_pkl'])
    infos['data_list'].append(
        dict(infos['data_list'][2],
             sample_idx=3,
             token='tok3',
             lidar_points=dict(lidar_path='n015__LIDAR_TOP__3.bin')))
    save_pickle_atomic(str(tmp / 'more.pkl'), infos)
    out = str(tmp / 'never.pkl')
    with pytest.raises(KeyError,
                       match='sample_idx=3, token=tok3: point-only '
                       'sample without pseudo labels'):
        tool.main([
            str(tmp / 'dump.pkl'), '--train-pkl',
            str(tmp / 'more.pkl'), '--out', out
        ])
    assert not osp.exists(out)
    with pytest.raises(FileNotFoundError, match='missing.pkl'):
        tool.main([
            str(tmp / 'missing.pkl'), '--train-pkl', setup['train_pkl'],
            '--out', out
        ])
    with pytest.raises(ValueError, match='not a mmweak-pseudo-labels-3d'):
        tool.main([
            setup['train_pkl'], '--train-pkl', setup['train_pkl'], '--out', out
        ])
