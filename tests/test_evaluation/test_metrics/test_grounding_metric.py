# Copyright (c) mmweak contributors.
"""GroundingAccuracy against hand-computed IoUs (continuous coordinates):
hits at IoU >= 0.5, per-split accuracies, the expected random accuracy."""
import json

import pytest
import torch

from mmweak.evaluation.metrics import GroundingAccuracy


def _sample(split, preds, cands, gts):
    return dict(split=split, img_id=1,
                expressions=[dict(sent_id=k, gt_bbox=g)
                             for k, g in enumerate(gts)],
                pred_instances=dict(bboxes=torch.tensor(preds,
                                                        dtype=torch.float)),
                gt_instances=dict(bboxes=torch.tensor(cands,
                                                      dtype=torch.float)))


def test_hand_computed(tmp_path):
    gt = [0., 0., 10., 10.]
    # IoU 50/100 + ... : [0,0,10,5] vs gt: inter 50, union 100 -> 0.5 (hit)
    # [5,0,15,10] vs gt: inter 50, union 150 -> 1/3 (miss)
    cands = [[0., 0., 10., 10.], [5., 0., 15., 10.], [20., 20., 30., 30.],
             [0., 0., 10., 5.]]
    metric = GroundingAccuracy(out_file=str(tmp_path / 'p.json'))
    metric.process(None, [
        _sample('val', [[0., 0., 10., 5.], [5., 0., 15., 10.]], cands,
                [gt, gt]),
        _sample('testA', [[20., 20., 30., 30.]], cands, [[20., 20., 30.,
                                                          30.]]),
    ])
    # through mmengine's evaluate (results collected per image: 2 images)
    res = {k.split('/', 1)[1]: v for k, v in metric.evaluate(2).items()}
    assert res['acc'] == pytest.approx(200 / 3)
    assert res['val_acc'] == pytest.approx(50.0)
    assert res['testA_acc'] == pytest.approx(100.0)
    # random: gt hits candidates 0 and 3 (2/4); third target only 2 (1/4)
    assert res['val_random_acc'] == pytest.approx(50.0)
    assert res['random_acc'] == pytest.approx(100 * (0.5 + 0.5 + 0.25) / 3)
    assert res['num_expressions'] == 3
    dumped = json.load(open(tmp_path / 'p.json'))
    assert [d['iou'] for d in dumped] == pytest.approx([0.5, 1 / 3, 1.0])
    assert metric.prefix == 'grounding'


def test_count_mismatch_is_an_error():
    metric = GroundingAccuracy()
    with pytest.raises(ValueError, match='2 predictions for 1'):
        metric.process(None, [_sample('val', [[0, 0, 1, 1], [0, 0, 1, 1]],
                                      [[0, 0, 1, 1]], [[0, 0, 1, 1]])])
