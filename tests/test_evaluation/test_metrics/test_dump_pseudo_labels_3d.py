# Copyright (c) mmweak contributors.
"""DumpPseudoLabels3D: per-sample pseudo-label records written by the test
loop's evaluator, with counts and (given GT) pseudo-box errors."""
import numpy as np
import pytest
import torch

pytest.importorskip('mmdet3d')

from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes  # noqa
from mmengine.evaluator import Evaluator  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

from mmweak.datasets.pseudo_labels_3d import load_records  # noqa: E402
from mmweak.evaluation.metrics.dump_pseudo_labels_3d import \
    DumpPseudoLabels3D  # noqa: E402
from mmweak.registry import METRICS  # noqa: E402


def _sample(tmp_path, idx, centres, labels, gt_shift=None):
    """A teacher output: one 2x1x1 box (bottom z 0) per annotated point."""
    path = str(tmp_path / f'{idx}.bin')
    xyz = np.array([[0.1, 0, .5], [0, .2, .5], [10, 10, .5], [50, 0, 0]],
                   dtype=np.float32)
    np.concatenate([xyz, np.zeros((4, 2), np.float32)], 1).tofile(path)
    centres = torch.tensor(centres, dtype=torch.float32).reshape(-1, 3)
    boxes = torch.cat([
        centres,
        centres.new_tensor([[2., 1., 1., 0.]]).expand(len(centres), 4)
    ], 1)
    sample = Det3DDataSample(
        metainfo=dict(sample_idx=idx, lidar_path=path, num_pts_feats=5))
    sample.pred_instances_3d = InstanceData(
        bboxes_3d=LiDARInstance3DBoxes(boxes),
        scores_3d=torch.linspace(.2, .8, len(centres)),
        labels_3d=torch.tensor(labels))
    sample.gt_instances_3d = InstanceData(points_3d=centres + .1)
    if gt_shift is not None:
        gt = boxes.clone()
        gt[:, 0] += gt_shift
        sample.eval_ann_info = dict(gt_bboxes_3d=LiDARInstance3DBoxes(gt),
                                    gt_labels_3d=np.array(labels))
    return sample


def test_dump_writes_records_and_counts(tmp_path):
    out = tmp_path / 'dump' / 'pseudo.pkl'
    evaluator = Evaluator(
        dict(type='mmweak.DumpPseudoLabels3D', out_file=str(out)))
    evaluator.dataset_meta = dict(classes=('car', 'truck'))
    batches = [[_sample(tmp_path, 0, [[0, 0, 0], [10, 10, 0]], [0, 1])],
               [
                   _sample(tmp_path, 1, [[30, 0, 0]], [1]),
                   _sample(tmp_path, 0, [[0, 0, 0], [10, 10, 0]], [0, 1])
               ]]
    for batch in batches:  # the second 0 is distributed padding
        evaluator.process(data_samples=batch)
    metrics = evaluator.evaluate(3)
    assert metrics['pseudo/num_samples'] == 2
    assert metrics['pseudo/num_boxes'] == 3
    assert metrics['pseudo/mean_score'] == pytest.approx((.2 + .8 + .2) / 3)
    assert metrics['pseudo/empty_boxes'] == 1
    assert metrics['pseudo/mean_num_lidar_pts'] == pytest.approx(1.0)
    assert 'pseudo/center_err' not in metrics  # no GT boxes
    records = load_records(str(out))
    assert sorted(records) == ['0.bin', '1.bin']  # keyed by LiDAR file
    assert records['1.bin']['sample_idx'] == 1
    insts = records['0.bin']['instances']
    assert [i['num_lidar_pts'] for i in insts] == [2, 1]
    assert insts[0]['bbox_3d'] == pytest.approx([0, 0, .5, 2, 1, 1, 0])
    assert insts[1]['point_3d'] == pytest.approx([10.1, 10.1, .1])
    assert all(i['is_pseudo'] and i['bbox_3d_isvalid'] for i in insts)
    assert not list((tmp_path / 'dump').glob('.*'))  # no temporary left


def test_dump_reports_quality_against_gt(tmp_path):
    metric = METRICS.build(
        dict(type='mmweak.DumpPseudoLabels3D',
             out_file=str(tmp_path / 'p.pkl'),
             count_points=False,
             prefix='teacher'))
    metric.dataset_meta = {}
    metric.process({}, [
        _sample(tmp_path, 0, [[0, 0, 0], [10, 10, 0]], [0, 1],
                gt_shift=.5).to_dict(),
        _sample(tmp_path, 1, [[30, 0, 0]], [1], gt_shift=3.).to_dict()
    ])
    metrics = metric.evaluate(2)
    assert metrics['teacher/quality_boxes'] == 3
    assert metrics['teacher/center_err'] == pytest.approx(4 / 3)
    assert metrics['teacher/size_err'] == pytest.approx(0, abs=1e-6)
    assert metrics['teacher/within_1m'] == pytest.approx(2 / 3)
    assert metrics['teacher/within_2m'] == pytest.approx(2 / 3)
    records = load_records(str(tmp_path / 'p.pkl'))
    assert records['1.bin']['instances'][0]['num_lidar_pts'] == -1


def test_dump_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match='out_file must end in .pkl'):
        DumpPseudoLabels3D(out_file=str(tmp_path / 'p.json'))
    metric = DumpPseudoLabels3D(out_file=str(tmp_path / 'p.pkl'))
    bad = _sample(tmp_path, 4, [[0, 0, 0]], [0])
    bad.gt_instances_3d = InstanceData(points_3d=torch.zeros(2, 3))
    with pytest.raises(ValueError,
                       match='sample 4: the teacher returned 1 '
                       'boxes for 2 annotated points'):
        metric.process({}, [bad.to_dict()])


def test_dump_with_gt_objects_outside_the_classes(tmp_path):
    """A labelled sample's eval_ann_info holds GT rows labelled -1 (no point,
    hence no prediction): they are left out of the quality alignment; a
    prediction labelled -1 is an error naming the sample."""
    metric = DumpPseudoLabels3D(out_file=str(tmp_path / 'p.pkl'),
                                count_points=False)
    metric.dataset_meta = {}
    sample = _sample(tmp_path,
                     0, [[0, 0, 0], [10, 10, 0]], [0, 1],
                     gt_shift=.5)
    gt = sample.eval_ann_info
    extra = LiDARInstance3DBoxes(torch.tensor([[5., 5., 0., 1., 1., 1., 0.]]))
    sample.eval_ann_info = dict(gt_bboxes_3d=LiDARInstance3DBoxes.cat(
        [gt['gt_bboxes_3d'][:1], extra, gt['gt_bboxes_3d'][1:]]),
                                gt_labels_3d=np.array([0, -1, 1]))
    metric.process({}, [sample.to_dict()])
    metrics = metric.evaluate(1)
    assert metrics['pseudo/quality_boxes'] == 2
    assert metrics['pseudo/center_err'] == pytest.approx(.5)
    bad = _sample(tmp_path, 5, [[0, 0, 0], [10, 10, 0]], [0, -1])
    with pytest.raises(ValueError,
                       match=r'sample 5: the teacher predicted labels \[-1\]'):
        metric.process({}, [bad.to_dict()])
