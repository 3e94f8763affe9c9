# Copyright (c) mmweak contributors.
"""IRN's confident labels from hand-made CAMs: confident foreground,
confident background and unsure regions."""
import importlib.util

import numpy as np
import pytest

from mmweak.wsss import DenseCRF, combine_confident, confident_seed, ir_label

HAS_CRF = importlib.util.find_spec('pydensecrf') is not None
needs_crf = pytest.mark.skipif(
    not HAS_CRF, reason='pydensecrf (pip pydensecrf2) is not installed')

H, W = 24, 32
KEYS = np.array([3, 7])  # label ids 4 and 8


def regions():
    """Four vertical bands of 8 columns: A, B, C, D."""
    band = np.arange(W) // 8
    return np.broadcast_to(band, (H, W))


def hand_cams() -> dict:
    """A: class 3 strong (0.9); B: class 7 medium (0.5, class 3 at 0.2);
    C: both weak (0.1, between the thresholds 0.05 and 0.30): unsure;
    D: both ~0 (0.01): background."""
    band = regions()
    cam = np.zeros((2, H, W), np.float32)
    cam[0] = np.choose(band, [0.9, 0.2, 0.1, 0.01])
    cam[1] = np.choose(band, [0.1, 0.5, 0.08, 0.0])
    return dict(keys=KEYS, cam=cam[:, ::4, ::4].copy(), high_res=cam)


def band_image() -> np.ndarray:
    colours = np.array(
        [[220, 30, 30], [30, 200, 40], [40, 40, 220], [200, 200, 200]],
        np.uint8)
    return np.ascontiguousarray(colours[regions()])


EXPECTED = np.choose(regions(), [4, 8, 255, 0]).astype(np.uint8)


def test_regions_without_crf():
    out = ir_label(None,
                   hand_cams(),
                   fg_threshold=0.30,
                   bg_threshold=0.05,
                   crf=None)
    assert out.dtype == np.uint8 and out.shape == (H, W)
    np.testing.assert_array_equal(out, EXPECTED)


def test_ties_go_to_background():
    pack = hand_cams()
    pack['high_res'][:, :, :8] = 0.30  # region A exactly at fg_threshold
    out = ir_label(None, pack, crf=None)
    # not confident foreground; above bg_threshold -> unsure
    assert (out[:, :8] == 255).all()


@needs_crf
def test_regions_with_irn_label_crf():
    out = ir_label(band_image(), hand_cams())
    np.testing.assert_array_equal(out, EXPECTED)
    # an instance and a preset name give the same result
    np.testing.assert_array_equal(
        ir_label(band_image(), hand_cams(), crf=DenseCRF('irn_label')), out)


@needs_crf
def test_crf_follows_the_image():
    # the class-3 CAM spills 3 columns into band B; the colours stop it
    pack = hand_cams()
    pack['high_res'][0, :, 8:11] = 0.9
    raw = ir_label(None, pack, crf=None)
    assert (raw[:, 8:11] == 4).all()
    out = ir_label(band_image(), pack)
    np.testing.assert_array_equal(out, EXPECTED)


def test_combine_confident():
    fg = np.array([[4, 0, 0], [8, 0, 4]], np.uint8)
    bg = np.array([[4, 0, 8], [0, 4, 4]], np.uint8)
    np.testing.assert_array_equal(combine_confident(fg, bg),
                                  [[4, 0, 255], [8, 255, 4]])
    with pytest.raises(ValueError, match='differ in shape'):
        combine_confident(fg, bg[:1])


def test_confident_seed_plane_indices():
    cams = hand_cams()['high_res']
    idx = confident_seed(cams, 0.3)
    np.testing.assert_array_equal(idx, np.choose(regions(), [1, 2, 0, 0]))


def test_no_tags_is_all_background():
    pack = dict(keys=np.zeros(0, np.int64),
                cam=np.zeros((0, 6, 8), np.float32),
                high_res=np.zeros((0, H, W), np.float32))
    out = ir_label(band_image(), pack, crf=None)
    assert out.shape == (H, W) and not out.any()
    if HAS_CRF:
        assert not ir_label(band_image(), pack).any()


def test_bad_inputs():
    with pytest.raises(ValueError, match='must not exceed'):
        ir_label(None,
                 hand_cams(),
                 fg_threshold=0.05,
                 bg_threshold=0.3,
                 crf=None)
    pack = hand_cams()
    pack['high_res'] = pack['high_res'][:1]
    with pytest.raises(ValueError, match=r"'high_res'.*keys"):
        ir_label(None, pack, crf=None)
    with pytest.raises(ValueError, match="'keys'"):
        ir_label(None, dict(cam=hand_cams()['cam']), crf=None)
    if HAS_CRF:
        with pytest.raises(ValueError, match='differs from the CAM size'):
            ir_label(band_image()[:-1], hand_cams())
        with pytest.raises(ValueError, match='needs the image'):
            ir_label(None, hand_cams())
