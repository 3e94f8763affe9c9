# Copyright (c) mmweak contributors.
"""Confusion matrices of label maps and of the one-pass threshold sweep."""
import numpy as np
import pytest
import torch

from mmweak.evaluation import (confusion_matrix, inclusive_range, seg_scores,
                               sweep_confusion)
from mmweak.wsss import cams_to_label

THRESHOLDS = inclusive_range(0.05, 0.60, 0.01)


def test_inclusive_range_gives_the_56_default_thresholds():
    assert len(THRESHOLDS) == 56
    assert THRESHOLDS[0] == 0.05 and THRESHOLDS[-1] == 0.6
    assert THRESHOLDS[25] == 0.3


def hand_example():
    gt = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 1]], dtype=torch.uint8)
    pred = torch.tensor([[0, 1, 1, 254], [2, 0, 2, 255]])
    # rows GT 0..2, columns prediction 0..2 + "no prediction"; the GT-255
    # pixel is left out, predicted 254 / 255 are FN of GT class 1
    expect = torch.tensor([[1, 1, 0, 0], [0, 1, 0, 2], [1, 0, 1, 0]])
    return pred, gt, expect


def test_hand_computed_confusion_matrix():
    pred, gt, expect = hand_example()
    conf = confusion_matrix(pred, gt, num_classes=3)
    assert conf.dtype == torch.int64 and torch.equal(conf, expect)
    # numpy in, any integer dtype
    conf = confusion_matrix(pred.numpy().astype(np.int32),
                            gt.numpy(),
                            num_classes=3)
    assert torch.equal(conf, expect)


def test_hand_computed_scores():
    pred, gt, _ = hand_example()
    scores = seg_scores(confusion_matrix(pred, gt, num_classes=3))
    # class 0: TP 1 FP 1 FN 1; class 1: TP 1 FP 1 FN 2; class 2: TP 1 FP 0
    # FN 1
    np.testing.assert_allclose(scores['iou'], [1 / 3, 1 / 4, 1 / 2])
    np.testing.assert_allclose(scores['precision'], [1 / 2, 1 / 2, 1])
    np.testing.assert_allclose(scores['recall'], [1 / 2, 1 / 3, 1 / 2])
    np.testing.assert_allclose(scores['fp_rate'], [1 / 3, 1 / 4, 0])
    np.testing.assert_allclose(scores['fn_rate'], [1 / 3, 2 / 4, 1 / 2])
    assert scores['miou'] == pytest.approx((1 / 3 + 1 / 4 + 1 / 2) / 3)
    assert scores['tp'].tolist() == [1, 1, 1]
    assert scores['fn'].tolist() == [1, 2, 1]


def test_absent_class_is_left_out_of_the_mean():
    pred, gt, _ = hand_example()
    scores = seg_scores(confusion_matrix(pred, gt, num_classes=4))
    assert np.isnan(scores['iou'][3])
    assert scores['miou'] == pytest.approx((1 / 3 + 1 / 4 + 1 / 2) / 3)


def test_iou_fp_fn_add_up_to_one():
    gen = torch.Generator().manual_seed(0)
    pred = torch.randint(0, 6, (40, 30), generator=gen)
    pred[pred == 5] = 254
    gt = torch.randint(0, 5, (40, 30), generator=gen)
    gt[::7] = 255
    scores = seg_scores(confusion_matrix(pred, gt, num_classes=5))
    total = scores['iou'] + scores['fp_rate'] + scores['fn_rate']
    np.testing.assert_allclose(total, np.ones(5))


@pytest.mark.parametrize('pred_value, gt_value, match', [
    (7, 0, r'predicted label values \[7\]'),
    (-1, 0, r'predicted label values \[-1\]'),
    (0, 5, r'GT label values \[5\]'),
    (0, 254, r'GT label values \[254\]'),
])
def test_values_outside_the_classes_raise(pred_value, gt_value, match):
    pred = torch.zeros(2, 3, dtype=torch.long)
    gt = torch.zeros(2, 3, dtype=torch.long)
    pred[1, 2] = pred_value
    gt[0, 1] = gt_value
    with pytest.raises(ValueError, match=match):
        confusion_matrix(pred, gt, num_classes=3)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match='shape'):
        confusion_matrix(torch.zeros(2, 3, dtype=torch.long),
                         torch.zeros(3, 2, dtype=torch.long), 3)


def test_hand_computed_sweep():
    cams = torch.tensor([[[0.2, 0.6]]])
    gt = torch.tensor([[0, 2]])
    conf = sweep_confusion(cams, [1], gt, 3, thresholds=[0.1, 0.2, 0.5, 0.7])
    assert conf.shape == (4, 3, 4)
    # t = 0.1: both pixels class 2; t = 0.2 (tie) and 0.5: the 0.2 pixel is
    # background; t = 0.7: both background
    firsts = [[0, 0, 1, 0], [1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]]
    seconds = [[0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 1, 0], [1, 0, 0, 0]]
    assert conf[:, 0].tolist() == firsts
    assert conf[:, 2].tolist() == seconds
    assert not conf[:, 1].any()


def random_case(seed, num_keys=3, size=(23, 31), batch=None):
    gen = torch.Generator().manual_seed(seed)
    shape = (num_keys, ) + size if batch is None else (batch, num_keys) + size
    cams = (torch.rand(shape, generator=gen) * 40).round() / 40  # ties
    keys = torch.randperm(20, generator=gen)[:num_keys]
    gt_shape = size if batch is None else (batch, ) + size
    gt = torch.randint(0, 21, gt_shape, generator=gen).to(torch.uint8)
    gt[..., 3:6, :] = 255  # a 255 band
    return cams, keys, gt


def reference(cams, keys, gt, **sweep):
    """Rebuild the matrix for every threshold / power."""
    (kind, values), = sweep.items()
    bg = 'bg_threshold' if kind == 'thresholds' else 'bg_power'
    return torch.stack([
        confusion_matrix(cams_to_label(cams, keys, **{bg: v}), gt, 21)
        for v in values
    ])


@pytest.mark.parametrize(
    'sweep',
    [
        dict(thresholds=THRESHOLDS),
        dict(thresholds=[0.5, 0.1, 0.3, 0.3, 0.9, -1., 2.]),  # any order
        dict(powers=inclusive_range(0.5, 32, 0.5)),
        dict(powers=[0., 1., 3., 1.]),
    ])
@pytest.mark.parametrize('num_keys', [0, 1, 3])
def test_sweep_equals_per_threshold_reference(sweep, num_keys):
    for seed in range(2):
        cams, keys, gt = random_case(seed, num_keys)
        conf = sweep_confusion(cams, keys, gt, 21, **sweep)
        assert torch.equal(conf, reference(cams, keys, gt, **sweep))


@pytest.mark.parametrize('dtype', [torch.float64, torch.float16])
def test_sweep_exact_for_other_dtypes(dtype):
    cams, keys, gt = random_case(3)
    cams = cams.to(dtype)
    for sweep in (dict(thresholds=THRESHOLDS),
                  dict(powers=inclusive_range(0.5, 16, 0.5))):
        assert torch.equal(sweep_confusion(cams, keys, gt, 21, **sweep),
                           reference(cams, keys, gt, **sweep))


def test_sweep_of_a_batch_is_the_sum_of_its_images():
    cams, _, gt = random_case(4, num_keys=2, batch=3)
    keys = [torch.tensor([0, 5]), torch.tensor([7, 2]), torch.tensor([19, 1])]
    conf = sweep_confusion(cams, keys, gt, 21, thresholds=THRESHOLDS)
    total = sum(
        sweep_confusion(cams[i], keys[i], gt[i], 21, thresholds=THRESHOLDS)
        for i in range(3))
    assert torch.equal(conf, total)


def test_sweep_bad_input_raises():
    cams, keys, gt = random_case(5)
    with pytest.raises(ValueError, match='exactly one'):
        sweep_confusion(cams, keys, gt, 21)
    with pytest.raises(ValueError, match='GT shape'):
        sweep_confusion(cams, keys, gt[:-1], 21, thresholds=[0.3])
    with pytest.raises(ValueError, match='num_classes - 1'):
        sweep_confusion(cams, keys, gt, 5, thresholds=[0.3])
    bad = gt.clone()
    bad[0, 0] = 30
    with pytest.raises(ValueError, match=r'GT label values \[30\]'):
        sweep_confusion(cams, keys, bad, 21, thresholds=[0.3])


def test_scores_of_a_stack():
    cams, keys, gt = random_case(6)
    conf = sweep_confusion(cams, keys, gt, 21, thresholds=THRESHOLDS)
    scores = seg_scores(conf)
    assert scores['iou'].shape == (56, 21) and scores['miou'].shape == (56, )
    single = seg_scores(conf[10])
    assert scores['miou'][10] == pytest.approx(single['miou'])
