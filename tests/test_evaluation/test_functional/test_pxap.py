# Copyright (c) mmweak contributors.
import numpy as np
import pytest

from mmweak.evaluation.functional import (pxap_from_histograms,
                                          score_histograms, score_levels)


def test_pxap_and_piou_hand_computed():
    scores = np.array([[.9, .6], [.4, .2]])
    mask = np.array([[1, 0], [1, 0]])
    hist = score_histograms(scores, mask, num_bins=10)
    # tau = .9: P 1, R .5 | .6: P .5, R .5 | .4: P 2/3, R 1 | .2: P .5, R 1
    pxap, piou = pxap_from_histograms(*hist)
    assert pxap == pytest.approx(100 * (1 * .5 + 2 / 3 * .5))
    # best TP / (TP + FP + FN) is 2 / 3 at tau = .4
    assert piou == pytest.approx(100 * 2 / 3)


def test_pxap_matches_sklearn_average_precision():
    metrics = pytest.importorskip('sklearn.metrics')
    rng = np.random.default_rng(0)
    scores = np.round(rng.random((30, 40)), 3)  # on the threshold grid
    mask = rng.random((30, 40)) < np.clip(scores + .2, 0, 1) * .6
    pxap, _ = pxap_from_histograms(*score_histograms(scores, mask))
    expected = metrics.average_precision_score(mask.ravel(), scores.ravel())
    assert pxap == pytest.approx(100 * expected)


def test_histograms_pool_across_images_and_bins_are_exact():
    rng = np.random.default_rng(1)
    maps = rng.random((3, 8, 8)).astype(np.float32)
    masks = rng.random((3, 8, 8)) > .5
    pooled = sum(score_histograms(m, k) for m, k in zip(maps, masks))
    joint = score_histograms(maps.reshape(-1, 8), masks.reshape(-1, 8))
    np.testing.assert_array_equal(pooled, joint)
    levels = score_levels(1000)
    exact = np.concatenate([levels, np.nextafter(levels, -1)[1:]])
    hist = score_histograms(exact[None], np.ones((1, exact.size)))
    expected = np.searchsorted(levels, exact, side='right') - 1
    np.testing.assert_array_equal(hist[0], np.bincount(expected,
                                                       minlength=1001))


def test_ignored_pixels_leave_background_only():
    scores = np.array([[.9, .8, .7]])
    mask = np.array([[1, 0, 0]])
    ignore = np.array([[1, 1, 0]])  # foreground is never ignored
    hist = score_histograms(scores, mask, num_bins=10, ignore_mask=ignore)
    assert hist[0].sum() == 1 and hist[1].sum() == 1
    assert hist[1, 7] == 1  # only the 0.7 pixel remains


def test_no_foreground_gives_zero():
    hist = score_histograms(np.ones((2, 2)), np.zeros((2, 2)))
    assert pxap_from_histograms(*hist) == (0., 0.)
    with pytest.raises(ValueError, match='shape'):
        score_histograms(np.ones((2, 2)), np.zeros((3, 2)))
