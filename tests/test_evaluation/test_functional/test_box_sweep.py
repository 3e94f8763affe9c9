# Copyright (c) mmweak contributors.
import cv2
import numpy as np
import pytest

from mmweak.evaluation.functional import (max_box_acc, sweep_box_ious,
                                          sweep_max_ious, sweep_thresholds)
from mmweak.structures import bbox_overlaps, boxes_from_maps


def _per_threshold_reference(score_map, gt_bboxes, thresholds):
    """Straightforward per-threshold loop following Choe et al.'s recipe."""
    quantized = (score_map * 255).astype(np.uint8)
    height, width = quantized.shape
    all_ious, largest_ious = [], []
    for thr in thresholds:
        _, binary = cv2.threshold(quantized, int(thr * quantized.max()), 255,
                                  cv2.THRESH_BINARY)
        contours = cv2.findContours(binary, cv2.RETR_TREE,
                                    cv2.CHAIN_APPROX_SIMPLE)[0]
        if len(contours) == 0:
            all_ious.append(bbox_overlaps(np.zeros((1, 4)), gt_bboxes).max())
            largest_ious.append(all_ious[-1])
            continue
        boxes = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            boxes.append([x, y, min(x + w, width - 1), min(y + h, height - 1)])
        boxes = np.array(boxes, dtype=np.float64)
        ious = bbox_overlaps(boxes, gt_bboxes).max(axis=1)
        all_ious.append(ious.max())
        areas = [cv2.contourArea(c) for c in contours]
        largest_ious.append(ious[int(np.argmax(areas))])
    return np.array(all_ious), np.array(largest_ious)


def _random_map(rng, size=48):
    yy, xx = np.mgrid[:size, :size]
    score = np.zeros((size, size), dtype=np.float32)
    for _ in range(rng.integers(1, 4)):
        cx, cy = rng.uniform(0, size, 2)
        sigma = rng.uniform(3, 12)
        score += np.exp(-((xx - cx)**2 + (yy - cy)**2) / (2 * sigma**2))
    score += rng.normal(0, rng.choice([0.02, 0.3]), score.shape)
    score = score.astype(np.float32)
    return (score - score.min()) / (score.max() - score.min())


def test_sweep_matches_per_threshold_reference_on_random_maps():
    rng = np.random.default_rng(0)
    thresholds = sweep_thresholds(0.05)
    for _ in range(12):
        score = _random_map(rng)
        corners = rng.integers(0, 48, (2, 2, 2))
        gt = np.concatenate([corners.min(0), corners.max(0)],
                            axis=1).astype(np.float64)
        expected_all, expected_largest = _per_threshold_reference(
            score, gt, thresholds)
        got_all, got_largest = sweep_max_ious(score,
                                              gt,
                                              thresholds,
                                              return_largest=True)
        np.testing.assert_allclose(got_all, expected_all)
        np.testing.assert_allclose(got_largest, expected_largest)


def test_sweep_hand_computed_two_blobs_max_over_contours():
    score = np.zeros((10, 10), dtype=np.float32)
    score[1:3, 1:3] = 1.  # blob A, q = 255
    score[5:9, 5:9] = .5  # blob B, q = 127 (bigger)
    gt = np.array([[5., 5., 9., 9.]])  # B's reference box
    thresholds = np.array([0., .4, .6])  # levels 0, 102, 153
    all_ious, largest = sweep_max_ious(score,
                                       gt,
                                       thresholds,
                                       return_largest=True)
    # A's box [1, 1, 3, 3] misses the GT; B's box is exact until tau = 0.6
    np.testing.assert_allclose(all_ious, [1., 1., 0.])
    np.testing.assert_allclose(largest, [1., 1., 0.])
    # several GT boxes: the best one counts
    two_gts = np.array([[5., 5., 9., 9.], [1., 1., 3., 3.]])
    np.testing.assert_allclose(sweep_max_ious(score, two_gts, thresholds),
                               [1., 1., 1.])


def test_sweep_empty_map_scores_the_zero_box():
    gt = np.array([[0., 0., 1., 1.]])
    out = sweep_max_ious(np.zeros((8, 8), np.float32), gt, np.array([0, .5]))
    # [0, 0, 0, 0] is one pixel, the GT four pixels (inclusive IoU)
    np.testing.assert_allclose(out, [.25, .25])
    assert sweep_max_ious(np.ones((4, 4)), np.zeros((0, 4)),
                          np.array([.5])).tolist() == [0.]


def test_sweep_inclusive_convention_and_offset_zero():
    score = np.zeros((10, 10), dtype=np.float32)
    score[2:5, 3:6] = 1.
    gt = np.array([[3., 2., 5., 4.]])
    ref = sweep_max_ious(score, gt, np.array([.5]))
    inc = sweep_max_ious(score, gt, np.array([.5]), box_convention='inclusive')
    # reference box [3, 2, 6, 5] is one pixel too large: 9 / 16
    np.testing.assert_allclose(ref, [9 / 16])
    np.testing.assert_allclose(inc, [1.])
    cont = sweep_max_ious(score, gt, np.array([.5]), iou_offset=0)
    np.testing.assert_allclose(cont, [4 / 9])


def test_max_box_acc_takes_best_threshold_per_delta():
    ious = np.array([[.2, .6, .75], [.55, .8, .1]])
    thresholds = np.array([.1, .2, .3])
    out = max_box_acc(ious, thresholds, (.3, .5, .7))
    assert out[.5] == (100., .2)
    assert out[.3] == (100., .2)  # ties keep the lowest tau
    assert out[.7] == (50., .2)


def test_sweep_thresholds_follow_numpy_arange():
    np.testing.assert_array_equal(sweep_thresholds(.01), np.arange(0, 1, .01))
    assert len(sweep_thresholds(.001)) == 1000
    with pytest.raises(ValueError, match='cam_curve_interval'):
        sweep_thresholds(0)


@pytest.mark.parametrize('method', ['largest_cc', 'largest_contour'])
@pytest.mark.parametrize('convention', ['reference', 'inclusive'])
def test_fixed_box_sweep_equals_boxes_from_maps_at_every_threshold(
        method, convention):
    rng = np.random.default_rng(1)
    thresholds = sweep_thresholds(0.05)
    for _ in range(6):
        score = _random_map(rng, size=32)
        # thresholds that hit map values exactly (float32 comparison)
        score[0, :3] = np.float32([0.1, 0.25, 0.5])
        corners = rng.integers(0, 32, (2, 2, 2))
        gt = np.concatenate([corners.min(0), corners.max(0)],
                            axis=1).astype(np.float64)
        expected = [
            bbox_overlaps(
                boxes_from_maps(score,
                                float(thr),
                                method=method,
                                box_convention=convention).numpy(), gt).max()
            for thr in thresholds
        ]
        got = sweep_box_ious(score,
                             gt,
                             thresholds,
                             method=method,
                             box_convention=convention)
        np.testing.assert_allclose(got, expected)
    assert sweep_box_ious(score, np.zeros((0, 4)), thresholds).tolist() == \
        [0.] * len(thresholds)
