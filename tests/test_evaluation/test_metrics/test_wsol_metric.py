# Copyright (c) mmweak contributors.
import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmpretrain.structures import DataSample

from mmweak.evaluation import WSOLMetric
from mmweak.registry import METRICS
from mmweak.utils import register_all_modules

register_all_modules()

PAPER_KEYS = {
    'top1_cls', 'top5_cls', 'top1_loc', 'top5_loc', 'gt_known_loc', 'loc_thr',
    'boxacc_iou30', 'boxacc_iou50', 'boxacc_iou70', 'boxacc_mean'
}
CHOE_KEYS = {
    'top1_cls', 'top5_cls', 'top1_loc', 'top5_loc', 'gt_known_loc', 'loc_thr',
    'maxboxacc_v2', 'maxboxacc_v2_iou30', 'maxboxacc_v2_iou50',
    'maxboxacc_v2_iou70', 'best_thr', 'best_thr_iou30', 'best_thr_iou50',
    'best_thr_iou70', 'maxboxacc'
}


def _scores(order, num_classes=10):
    """Scores ranking the classes in ``order`` first."""
    scores = torch.full((num_classes, ), 0.01)
    for rank, cls in enumerate(order):
        scores[cls] = 1. - 0.1 * rank
    return scores / scores.sum()


def _rect_map(size, box, value=1.):
    score = torch.zeros(size)
    x0, y0, x1, y1 = box
    score[y0:y1, x0:x1] = value
    return score


def _sample(label, scores, loc_map, gt_bboxes, img_shape=(20, 20), **extra):
    sample = dict(gt_label=torch.tensor([label]),
                  pred_score=scores,
                  loc_map=loc_map,
                  gt_bboxes=torch.tensor(gt_bboxes, dtype=torch.float32),
                  img_shape=img_shape)
    sample.update(extra)
    return sample


def _evaluate(metric, samples):
    metric.process(None, samples)
    return metric.evaluate(len(samples))


def test_metric_is_registered_and_reports_prefixed_keys():
    metric = METRICS.build(dict(type='WSOLMetric'))
    assert isinstance(metric, WSOLMetric)
    out = _evaluate(metric, [
        _sample(0, _scores([0]), _rect_map((20, 20),
                                           (2, 2, 10, 10)), [[2, 2, 10, 10]])
    ])
    assert {k[len('wsol/'):] for k in out} == PAPER_KEYS
    assert all(k.startswith('wsol/') for k in out)
    assert 'wsol/pxap' not in out and 'wsol/maxboxacc' not in out


def test_maxboxacc_v2_is_reported_only_under_the_choe_preset():
    sample = _sample(0, _scores([0]), _rect_map((20, 20), (2, 2, 10, 10)),
                     [[2, 2, 10, 10]])
    paper = _evaluate(WSOLMetric(preset='paper'), [dict(sample)])
    assert not [k for k in paper if 'maxboxacc' in k or 'best_thr' in k]
    # BAS / SAT's "MaxBoxAccV2": the fixed-tau accuracies and their mean
    assert paper['wsol/boxacc_mean'] == pytest.approx(
        np.mean([paper[f'wsol/boxacc_iou{d}'] for d in (30, 50, 70)]))
    choe = _evaluate(WSOLMetric(preset='choe'), [dict(sample)])
    assert {k[len('wsol/'):] for k in choe} == CHOE_KEYS


def test_topk_classification_and_localization_hand_computed():
    box = [2, 2, 10, 10]
    good_map = _rect_map((20, 20), box)  # paper box [2, 2, 10, 10]
    bad_map = _rect_map((20, 20), (14, 14, 18, 18))
    samples = [
        _sample(0, _scores([0, 1]), good_map, [box]),  # top-1, loc ok
        _sample(1, _scores([0, 1]), good_map, [box]),  # top-5 only, loc ok
        _sample(2, _scores([0, 1, 3, 4, 5, 6]), good_map, [box]),  # miss
        _sample(3, _scores([3]), bad_map, [box]),  # top-1, loc wrong
    ]
    out = _evaluate(WSOLMetric(), samples)
    assert out['wsol/top1_cls'] == pytest.approx(50.)
    assert out['wsol/top5_cls'] == pytest.approx(75.)
    assert out['wsol/gt_known_loc'] == pytest.approx(75.)
    assert out['wsol/top1_loc'] == pytest.approx(25.)
    assert out['wsol/top5_loc'] == pytest.approx(50.)


def test_gt_known_takes_max_over_several_gt_boxes():
    loc_map = _rect_map((20, 20), (12, 12, 18, 18))
    samples = [
        _sample(0, _scores([0]), loc_map, [[0, 0, 5, 5], [12, 12, 18, 18]]),
        _sample(0, _scores([0]), loc_map, [[0, 0, 5, 5]]),
    ]
    out = _evaluate(WSOLMetric(), samples)
    assert out['wsol/gt_known_loc'] == pytest.approx(50.)
    out = _evaluate(WSOLMetric(preset='choe'), samples)
    assert out['wsol/gt_known_loc'] == pytest.approx(50.)
    assert out['wsol/maxboxacc_v2_iou50'] == pytest.approx(50.)


def test_fixed_threshold_boxacc_at_each_iou_hand_computed():
    # paper box [0, 0, 10, 10] (11 x 11 inclusive) vs GT [0, 0, 6, 10]
    # (7 x 11): IoU 77 / 121 = 0.636 -> passes 0.3 and 0.5, fails 0.7
    loc_map = _rect_map((20, 20), (0, 0, 10, 10))
    out = _evaluate(WSOLMetric(loc_thr=0.5),
                    [_sample(0, _scores([0]), loc_map, [[0, 0, 6, 10]])])
    assert out['wsol/boxacc_iou30'] == 100.
    assert out['wsol/boxacc_iou50'] == 100.
    assert out['wsol/boxacc_iou70'] == 0.
    # continuous IoU: 60 / 100
    out = _evaluate(WSOLMetric(loc_thr=0.5, iou_offset=0),
                    [_sample(0, _scores([0]), loc_map, [[0, 0, 6, 10]])])
    assert out['wsol/gt_known_loc'] == 100.
    assert out['wsol/boxacc_iou70'] == 0.


def test_gt_loc_map_replaces_loc_map_for_localization():
    box = [2, 2, 10, 10]
    wrong = _rect_map((20, 20), (14, 14, 18, 18))
    right = _rect_map((20, 20), box)
    sample = _sample(0, _scores([0]), wrong, [box], gt_loc_map=right)
    out = _evaluate(WSOLMetric(), [sample])
    assert out['wsol/gt_known_loc'] == 100.
    assert out['wsol/top1_loc'] == 100.
    out = _evaluate(WSOLMetric(preset='choe'), [sample])
    assert out['wsol/maxboxacc_v2_iou70'] == 100.


def test_low_resolution_map_is_resized_to_img_shape():
    loc_map = _rect_map((5, 5), (1, 1, 3, 3))  # covers 8..24 of 40 pixels
    sample = _sample(0, _scores([0]), loc_map, [[8, 8, 24, 24]], (40, 40))
    out = _evaluate(WSOLMetric(loc_thr=0.5), [sample])
    assert out['wsol/gt_known_loc'] == 100.
    out = _evaluate(WSOLMetric(preset='choe', loc_thr=0.5), [sample])
    assert out['wsol/gt_known_loc'] == 100.
    assert out['wsol/maxboxacc_v2_iou50'] == 100.


def test_maxboxacc_v2_picks_best_threshold():
    # a 0.4 plateau around a 1.0 core: the core is the object
    loc_map = _rect_map((20, 20), (2, 2, 18, 18), 0.4)
    loc_map[6:14, 6:14] = 1.
    sample = _sample(0, _scores([0]), loc_map, [[6, 6, 14, 14]])
    out = _evaluate(WSOLMetric(preset='choe', loc_thr=0.2), [sample])
    assert out['wsol/gt_known_loc'] == 0.  # tau = 0.2 keeps the plateau
    assert out['wsol/maxboxacc_v2'] == 100.
    # q = 255 and 102: thresholds up to int(tau * 255) < 102 keep both
    assert out['wsol/best_thr'] == pytest.approx(0.40)


def test_choe_preset_reports_maxboxacc_not_fixed_boxacc():
    loc_map = _rect_map((20, 20), (2, 2, 10, 10))
    out = _evaluate(WSOLMetric(preset='choe'),
                    [_sample(0, _scores([0]), loc_map, [[2, 2, 9, 9]])])
    assert out['wsol/maxboxacc'] == 100.
    assert out['wsol/gt_known_loc'] == 100.
    assert 'wsol/boxacc_iou50' not in out


def test_pxap_uses_masks_and_ignores_255():
    loc_map = torch.tensor([[.9, .6], [.4, .2]])
    mask = torch.tensor([[1, 0], [1, 0]], dtype=torch.uint8)
    sample = _sample(0,
                     _scores([0]),
                     loc_map, [[0, 0, 1, 1]], (2, 2),
                     gt_mask=mask)
    out = _evaluate(WSOLMetric(), [sample])
    assert out['wsol/pxap'] == pytest.approx(100 * (.5 + 2 / 3 * .5))
    assert out['wsol/piou'] == pytest.approx(100 * 2 / 3)
    # ignoring the 0.6 background pixel makes the ranking perfect
    ignored = mask.clone()
    ignored[0, 1] = 255
    sample = _sample(0,
                     _scores([0]),
                     loc_map, [[0, 0, 1, 1]], (2, 2),
                     gt_mask=ignored)
    out = _evaluate(WSOLMetric(), [sample])
    assert out['wsol/pxap'] == pytest.approx(100.)
    assert out['wsol/piou'] == pytest.approx(100.)


def test_per_class_averages_class_accuracies():
    box = [2, 2, 10, 10]
    loc_map = _rect_map((20, 20), box)
    samples = [_sample(0, _scores([0]), loc_map, [box]) for _ in range(3)]
    samples.append(_sample(1, _scores([0]), loc_map, [box]))
    out = _evaluate(WSOLMetric(per_class=True), samples)
    assert out['wsol/top1_cls'] == pytest.approx(75.)
    assert out['wsol/top1_cls_per_class'] == pytest.approx(50.)
    assert out['wsol/gt_known_loc_per_class'] == pytest.approx(100.)


def test_data_samples_through_mmengine_evaluator():
    box = [2, 2, 10, 10]
    samples = []
    for label in (0, 1):
        data_sample = DataSample(metainfo=dict(img_shape=(20, 20)))
        data_sample.set_gt_label(label).set_pred_score(_scores([0]))
        data_sample.loc_map = _rect_map((10, 10), (1, 1, 5, 5))
        data_sample.gt_bboxes = torch.tensor([box], dtype=torch.float32)
        samples.append(data_sample)
    evaluator = Evaluator(dict(type='WSOLMetric'))
    evaluator.process(samples)
    out = evaluator.evaluate(2)
    assert out['wsol/top1_cls'] == pytest.approx(50.)
    assert out['wsol/gt_known_loc'] == pytest.approx(100.)


def test_bad_inputs_raise_clear_errors():
    metric = WSOLMetric()
    sample = _sample(0, _scores([0]), torch.rand(4, 4), [[0, 0, 1, 1]])
    del sample['gt_bboxes']
    with pytest.raises(KeyError, match='gt_bboxes'):
        metric.process(None, [sample])
    sample = _sample(0, _scores([0]), torch.rand(4, 4) * 5, [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match=r'loc_map.*\[0, 1\]'):
        metric.process(None, [sample])
    sample = _sample(0,
                     _scores([0]),
                     torch.rand(4, 4), [[0, 0, 1, 1]],
                     gt_mask=torch.zeros(3, 3))
    with pytest.raises(ValueError, match='gt_mask'):
        metric.process(None, [sample])
    with pytest.raises(ValueError, match='preset'):
        WSOLMetric(preset='bas')


def test_numpy_inputs_are_accepted():
    sample = _sample(0,
                     _scores([0]).numpy(),
                     _rect_map((20, 20), (2, 2, 10, 10)).numpy(),
                     [[2, 2, 10, 10]])
    sample['gt_bboxes'] = sample['gt_bboxes'].numpy()
    out = _evaluate(WSOLMetric(), [sample])
    assert out['wsol/gt_known_loc'] == 100.
    assert np.isfinite(list(out.values())).all()
