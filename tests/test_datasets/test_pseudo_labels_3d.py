# Copyright (c) mmweak contributors.
"""Point-DETR3D pseudo labels: points in boxes, teacher prediction -> v2
pseudo instances, quality statistics and the merge into the train infos."""
import os.path as osp

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet3d')

from mmdet3d.structures import LiDARInstance3DBoxes  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

from mmweak.datasets import pseudo_labels_3d as pl  # noqa: E402


def _info(idx, ann_type, labels, points=None, boxes=None, valid=None):
    insts = []
    for j, label in enumerate(labels):
        inst = dict(bbox_label_3d=int(label))
        if points is not None:
            inst['point_3d'] = [float(v) for v in points[j]]
        if valid is not None:
            inst.update(bbox_3d_isvalid=valid[j], num_lidar_pts=int(valid[j]))
        if boxes is not None:
            inst.update(bbox_3d=[float(v) for v in boxes[j]],
                        velocity=[0.0, 0.0],
                        num_lidar_pts=5,
                        num_radar_pts=0,
                        bbox_3d_isvalid=True)
        insts.append(inst)
    return dict(sample_idx=idx,
                token=f'tok{idx}',
                ann_type=ann_type,
                lidar_points=dict(lidar_path=f'{idx}.bin', num_pts_feats=5),
                instances=insts)


def _record(idx, labels, points, scores=None):
    num = len(labels)
    boxes = np.zeros((num, 7))
    boxes[:, :3] = points
    boxes[:, 3:6] = [4, 2, 1.5]
    return dict(sample_idx=idx,
                lidar_path=f'/data/{idx}.bin',
                instances=pl.pseudo_instances(
                    boxes, scores if scores is not None else np.full(num, .5),
                    labels, np.arange(num), points),
                gt_bbox_3d=None)


@pytest.fixture
def infos():
    return dict(metainfo=dict(dataset='nuscenes', info_version='1.1'),
                data_list=[
                    _info(0,
                          'box', [0, 7],
                          points=[[1, 2, 0], [5, 5, 0]],
                          boxes=[[1, 2, 0, 4, 2, 1.5, 0],
                                 [5, 5, 0, 1, 1, 2, 0]]),
                    _info(1,
                          'point', [0, 5, 3],
                          points=[[3, 3, 0.5], [9, 9, 0], [-4, 2, 0.2]],
                          valid=[True, False, True]),
                    _info(2, 'point', []),
                ])


def test_points_in_boxes_torch_matches_mmcv_and_rotation():
    gen = torch.Generator().manual_seed(0)
    boxes = torch.cat([
        torch.rand(6, 3, generator=gen) * 8 - 4,
        torch.rand(6, 3, generator=gen) * 3 + 0.5,
        torch.rand(6, 1, generator=gen) * 6 - 3
    ], 1)
    points = torch.rand(2000, 4, generator=gen) * 10 - 5
    ref = pl.points_in_boxes_mask(points, boxes, impl='mmcv')
    got = pl.points_in_boxes_mask(points,
                                  boxes,
                                  impl='torch',
                                  max_elements=3000)  # several chunks
    assert ref.shape == (2000, 6) and ref.any()
    assert torch.equal(ref, got)
    # length lies along the yaw direction, z is measured from the bottom
    box = torch.tensor([[1., 2., 0., 4., 2., 1.5, 0.5]])
    pts = torch.tensor([[1 + 1.9 * np.cos(.5), 2 + 1.9 * np.sin(.5), .5],
                        [1 - 1.9 * np.sin(.5), 2 + 1.9 * np.cos(.5), .5],
                        [1., 2., 1.6], [1., 2., -0.1]])
    for impl in ('mmcv', 'torch', 'auto'):
        assert pl.count_points_in_boxes(pts, box, impl=impl).tolist() == [1]
        assert pl.points_in_boxes_mask(pts, box, impl=impl)[:, 0].tolist() \
            == [True, False, False, False]
    assert pl.count_points_in_boxes(np.zeros((0, 3)), box).tolist() == [0]
    with pytest.raises(ValueError, match='impl'):
        pl.points_in_boxes_mask(pts, box, impl='numba')


def test_pseudo_instances_gravity_centre_and_fields():
    boxes = LiDARInstance3DBoxes(
        torch.tensor([[1., 2., -1., 4., 2., 1.5, 0.3],
                      [0., 0., 0., 1., 1., 2., 0.]]))
    insts = pl.pseudo_instances(boxes, torch.tensor([.9, .2]),
                                torch.tensor([3, 0]), [7, 0],
                                torch.tensor([[1., 2., -.2], [0., 0., 1.]]))
    assert len(insts) == 2
    assert insts[0]['bbox_3d'] == pytest.approx([1, 2, -0.25, 4, 2, 1.5, .3])
    assert insts[1]['bbox_3d'][2] == pytest.approx(1.0)
    assert insts[0] == dict(bbox_3d=insts[0]['bbox_3d'],
                            bbox_label_3d=3,
                            velocity=[0.0, 0.0],
                            num_lidar_pts=7,
                            num_radar_pts=0,
                            bbox_3d_isvalid=True,
                            score=pytest.approx(.9),
                            is_pseudo=True,
                            point_3d=pytest.approx([1, 2, -.2]))
    # a plain bottom-centre array gives the same
    same = pl.pseudo_instances(boxes.tensor.numpy(), [.9, .2], [3, 0], [7, 0])
    assert same[0]['bbox_3d'] == pytest.approx(insts[0]['bbox_3d'])
    assert 'point_3d' not in same[0]
    with pytest.raises(ValueError, match='scores has 1 entries for 2 boxes'):
        pl.pseudo_instances(boxes, [.9], [3, 0], [7, 0])


def _sample(tmp_path, num_boxes=2, num_points=2, gt=None):
    from mmdet3d.structures import Det3DDataSample
    xyz = np.array(
        [[1, 2, 0.5], [1.5, 2.2, 0.3], [1, 2, 5], [9, 9, 0.5], [50, 50, 0]],
        dtype=np.float32)
    path = str(tmp_path / '7.bin')
    np.concatenate([xyz, np.zeros((5, 2), np.float32)], 1).tofile(path)
    sample = Det3DDataSample(
        metainfo=dict(sample_idx=7, lidar_path=path, num_pts_feats=5))
    sample.pred_instances_3d = InstanceData(
        bboxes_3d=LiDARInstance3DBoxes(
            torch.tensor([[1., 2., 0., 4., 2., 1.5, 0.],
                          [9., 9., 0., 1., 1., 1., 0.],
                          [30., 0., 0., 1., 1., 1., 0.]][:num_boxes])),
        scores_3d=torch.tensor([.8, .6, .1][:num_boxes]),
        labels_3d=torch.tensor([0, 8, 1][:num_boxes]))
    sample.gt_instances_3d = InstanceData(points_3d=torch.tensor(
        [[1.2, 2., .6], [9., 9.1, .4], [30., 0., 0.]][:num_points]))
    if gt is not None:
        sample.eval_ann_info = gt
    return sample


def test_prediction_record_counts_real_points(tmp_path):
    sample = _sample(tmp_path)
    rec = pl.prediction_record(sample)
    assert rec['sample_idx'] == 7 and rec['lidar_path'].endswith('7.bin')
    assert [i['num_lidar_pts'] for i in rec['instances']] == [2, 1]
    assert rec['instances'][1]['point_3d'] == pytest.approx([9, 9.1, .4])
    assert rec['gt_bbox_3d'] is None
    # the dict form (what BaseMetric.process receives) gives the same
    assert pl.prediction_record(sample.to_dict()) == rec
    no_count = pl.prediction_record(sample, count_points=False)
    assert [i['num_lidar_pts'] for i in no_count['instances']] == [-1, -1]
    with pytest.raises(ValueError,
                       match='sample 7: the teacher returned 3 '
                       'boxes for 2 annotated points'):
        pl.prediction_record(_sample(tmp_path, num_boxes=3))
    missing = _sample(tmp_path)
    missing.set_metainfo(dict(lidar_path=str(tmp_path / 'gone.bin')))
    with pytest.raises(FileNotFoundError, match='gone.bin'):
        pl.prediction_record(missing)


def test_prediction_record_quality_against_aligned_gt(tmp_path):
    gt_boxes = LiDARInstance3DBoxes(
        torch.tensor([[1., 3., 0., 4., 2., 1.5, np.pi - .1],
                      [9., 9., 0., 1., 1., 1., 0.]]))
    rec = pl.prediction_record(
        _sample(tmp_path,
                gt=dict(gt_bboxes_3d=gt_boxes, gt_labels_3d=np.array([0, 8]))))
    assert rec['gt_bbox_3d'] == pytest.approx(
        gt_boxes.tensor.numpy().astype(float) +
        [[0, 0, .75, 0, 0, 0, 0], [0, 0, .5, 0, 0, 0, 0]])
    summary = pl.summarize_records([rec])
    assert summary['num_samples'] == 1 and summary['num_boxes'] == 2
    assert summary['mean_score'] == pytest.approx(.7)
    assert summary['quality_boxes'] == 2
    assert summary['center_err'] == pytest.approx(.5)
    assert summary['size_err'] == pytest.approx(0, abs=1e-7)
    assert summary['yaw_err'] == pytest.approx((np.pi - .1) / 2)
    assert summary['within_1m'] == 1.0
    # point-only samples: their zero-size placeholder boxes are not GT
    for meta, boxes in ((dict(ann_type='point'), gt_boxes),
                        (dict(ann_type='box'),
                         LiDARInstance3DBoxes(
                             gt_boxes.tensor *
                             torch.tensor([1., 1, 1, 0, 0, 0, 0])))):
        sample = _sample(tmp_path,
                         gt=dict(gt_bboxes_3d=boxes,
                                 gt_labels_3d=np.array([0, 8])))
        sample.set_metainfo(meta)
        assert pl.prediction_record(sample)['gt_bbox_3d'] is None
    # labels that differ from the points' classes: not aligned, no quality
    rec = pl.prediction_record(
        _sample(tmp_path,
                gt=dict(gt_bboxes_3d=gt_boxes, gt_labels_3d=np.array([0, 1]))))
    assert rec['gt_bbox_3d'] is None
    assert 'center_err' not in pl.summarize_records([rec])


def test_box_errors_scale_and_yaw():
    err = pl.box_errors([[0, 0, 0, 2, 2, 2, 3.0]], [[3, 4, 9, 1, 2, 2, -3.0]])
    assert err['center'] == pytest.approx([5])
    assert err['size'] == pytest.approx([0.5])
    assert err['yaw'] == pytest.approx([2 * np.pi - 6])


def test_merge_replaces_point_only_instances_only(infos):
    records = {
        1: _record(1, [0, 3], [[3, 3, .5], [-4, 2, .2]], scores=[.9, .4]),
        2: _record(2, [], np.zeros((0, 3))),
        0: _record(0, [0, 7], [[1, 2, 0], [5, 5, 0]])
    }
    merged, stats = pl.merge_pseudo_labels(infos, records)
    assert stats == dict(point_samples=2,
                         box_samples=1,
                         pseudo_boxes=2,
                         dropped_points=1,
                         outside_classes=0,
                         unused_records=1)
    assert merged['metainfo'] == infos['metainfo']
    assert merged['data_list'][0] == infos['data_list'][0]  # GT kept
    new = merged['data_list'][1]
    assert {k: v for k, v in new.items() if k != 'instances'} == \
        {k: v for k, v in infos['data_list'][1].items() if k != 'instances'}
    assert [i['bbox_label_3d'] for i in new['instances']] == [0, 3]
    assert [i['score'] for i in new['instances']] == [.9, .4]
    assert all(i['is_pseudo'] for i in new['instances'])
    assert new['instances'][1]['point_3d'] == [-4.0, 2.0, 0.2]
    assert merged['data_list'][2]['instances'] == []
    # the input is untouched
    assert len(infos['data_list'][1]['instances']) == 3
    # records are matched by LiDAR file, else by position in the data_list
    by_pos = {
        pos: dict(records[idx], lidar_path=None)
        for pos, idx in ((1, 1), (2, 2))
    }
    infos['data_list'][1]['lidar_points']['lidar_path'] = 'moved/1.bin'
    assert pl.merge_pseudo_labels(infos, records)[0] == merged
    assert pl.merge_pseudo_labels(infos, by_pos)[0]['data_list'][1:] == \
        merged['data_list'][1:]
    # an explicit point-only set (tokens) overrides ann_type
    merged, stats = pl.merge_pseudo_labels(infos, records, {'tok1', 2})
    assert stats['point_samples'] == 2
    # the teacher saw every instance (no valid filter): three boxes needed
    records[1] = _record(1, [0, 5, 3], [[3, 3, .5], [9, 9, 0], [-4, 2, .2]])
    merged, stats = pl.merge_pseudo_labels(infos, records, point_filter='all')
    assert stats['pseudo_boxes'] == 3 and stats['dropped_points'] == 0
    with pytest.raises(ValueError,
                       match='3 pseudo boxes for 2 annotated '
                       "points \\(point_filter='lidar_pts'"):
        pl.merge_pseudo_labels(infos, records, point_filter='lidar_pts')
    with pytest.raises(ValueError, match='point_filter'):
        pl.merge_pseudo_labels(infos, records, point_filter='some')


def test_merge_errors_name_the_sample(infos):
    good = _record(1, [0, 3], [[3, 3, .5], [-4, 2, .2]])
    empty = _record(2, [], np.zeros((0, 3)))
    with pytest.raises(KeyError,
                       match='sample_idx=2, token=tok2: point-only '
                       'sample without pseudo labels'):
        pl.merge_pseudo_labels(infos, {1: good})
    with pytest.raises(ValueError,
                       match=r'sample_idx=1, token=tok1: 1 pseudo '
                       'boxes for 2 annotated points'):
        pl.merge_pseudo_labels(infos, {
            1: _record(1, [0], [[3, 3, .5]]),
            2: empty
        })
    with pytest.raises(ValueError, match='sample_idx=1.*box 1 has label 4'):
        pl.merge_pseudo_labels(infos, {
            1: _record(1, [0, 4], [[3, 3, .5], [-4, 2, .2]]),
            2: empty
        })
    with pytest.raises(ValueError, match='sample_idx=1.*made for point'):
        pl.merge_pseudo_labels(
            infos, {
                1: _record(1, [0, 3], [[3, 3, .5], [-4, 2.5, .2]]),
                2: empty
            })
    wrong_file = dict(good, lidar_path='/data/other.bin')
    with pytest.raises(KeyError,
                       match='sample_idx=1, token=tok1: point-only'
                       ' sample without pseudo labels.*LiDAR file 1.bin'):
        pl.merge_pseudo_labels(infos, {1: wrong_file, 2: empty})
    with pytest.raises(ValueError, match='of one LiDAR file 1.bin'):
        pl.merge_pseudo_labels(infos, {
            1: good,
            2: empty,
            5: dict(good, sample_idx=5)
        })
    infos['data_list'][1]['instances'][0].pop('point_3d')
    with pytest.raises(KeyError,
                       match='sample_idx=1.*instance 0 has no '
                       'point_3d'):
        pl.merge_pseudo_labels(infos, {1: good, 2: empty})
    with pytest.raises(KeyError, match='data_list'):
        pl.merge_pseudo_labels(dict(infos=[]), {})


def test_records_round_trip_dir_and_dump(tmp_path, infos):
    records = {
        1: _record(1, [0, 3], [[3, 3, .5], [-4, 2, .2]]),
        2: _record(2, [], np.zeros((0, 3)))
    }
    rec_dir = tmp_path / 'samples'
    for idx, rec in records.items():
        pl.save_pickle_atomic(str(rec_dir / pl.record_file_name(idx)), rec)
    (rec_dir / '.1.pkl.abc.tmp.pkl').write_bytes(b'half written')
    assert pl.load_records(str(rec_dir)) == records
    pl.dump_records(str(tmp_path / 'dump.pkl'), records, dict(classes=('a', )))
    assert pl.load_records(str(tmp_path / 'dump.pkl')) == records
    pl.save_pickle_atomic(str(tmp_path / 'infos.pkl'), infos)
    with pytest.raises(ValueError, match='not a mmweak-pseudo-labels-3d'):
        pl.load_records(str(tmp_path / 'infos.pkl'))
    with pytest.raises(FileNotFoundError, match='nothing.pkl'):
        pl.load_records(str(tmp_path / 'nothing.pkl'))
    with pytest.raises(ValueError, match='cannot name a file'):
        pl.record_file_name('a/b')
    assert not any(
        osp.basename(p).startswith('.') for p in map(str, tmp_path.iterdir()))


def test_merge_with_point_only_reference_and_several_pkls(infos):
    """The original train pkl (GT everywhere) + the split's point pkl."""
    point_infos = dict(metainfo={}, data_list=infos['data_list'][1:])
    original = dict(
        metainfo=infos['metainfo'],
        data_list=[
            dict(info,
                 ann_type='box' if i == 0 else None,
                 instances=[dict(bbox_3d=[0.] * 7, bbox_label_3d=0)])
            for i, info in enumerate(infos['data_list'])
        ])
    for info in original['data_list'][1:]:
        info.pop('ann_type')
    records = {
        1: _record(1, [0, 3], [[3, 3, .5], [-4, 2, .2]]),
        2: _record(2, [], np.zeros((0, 3)))
    }
    merged, stats = pl.merge_pseudo_labels(original,
                                           records,
                                           point_infos=point_infos)
    assert stats['point_samples'] == 2 and stats['box_samples'] == 1
    assert merged['data_list'][0] == original['data_list'][0]
    assert merged['data_list'][1]['ann_type'] == 'point'
    assert [i['point_3d'] for i in merged['data_list'][1]['instances']] == \
        [[3., 3., .5], [-4., 2., .2]]
    with pytest.raises(ValueError, match='not both'):
        pl.merge_pseudo_labels(original,
                               records,
                               point_only={1},
                               point_infos=point_infos)
    # the split's labelled + point pkls, concatenated
    labelled = dict(metainfo=infos['metainfo'],
                    data_list=infos['data_list'][:1])
    both = pl.concat_infos([labelled, point_infos], ['lab.pkl', 'pt.pkl'])
    assert both == dict(infos)
    with pytest.raises(ValueError,
                       match='token=tok1 is in both pt.pkl and '
                       'again.pkl'):
        pl.concat_infos([labelled, point_infos, point_infos],
                        ['lab.pkl', 'pt.pkl', 'again.pkl'])
    with pytest.raises(KeyError, match='x.pkl: expected v2 infos'):
        pl.concat_infos([[]], ['x.pkl'])
