# Copyright (c) mmweak contributors.
"""IRN semantic pseudo labels (mmweak.wsss.irn_inference) on toy boundary
maps and CAM packs in IRN's .npy layout."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmweak.wsss import irn_pseudo_label, propagate


def _pack(keys, cam):
    return dict(
        keys=np.asarray(keys, np.int64), cam=np.asarray(cam, np.float32))


def _split_edge(h, w, col):
    edge = torch.zeros(h, w)
    edge[:, col] = 1.0
    return edge


def test_two_classes_fill_their_side_of_the_boundary():
    height, width = 40, 48  # stride-4 grid 10 x 12
    cam = np.zeros((2, 10, 12), np.float32)
    cam[0, 4:6, 1:3] = 1.0  # class index 4 (label 5): a seed on the left
    cam[1, 4:6, 9:11] = 0.8  # class index 11 (label 12): on the right
    label = irn_pseudo_label(
        _split_edge(10, 12, 6), _pack([4, 11], cam), (height, width))
    assert label.dtype == np.uint8 and label.shape == (height, width)
    assert set(np.unique(label)) <= {0, 5, 12}
    # each seed spreads over its own side (the walk fills the region) and
    # never across the boundary column (x = 24..27 at stride 4)
    assert (label[:, :20] == 5).mean() > 0.9
    assert (label[:, 32:] == 12).mean() > 0.9
    assert not (label[:, :24] == 12).any()
    assert not (label[:, 28:] == 5).any()


def test_matches_reference_steps():
    rng = np.random.default_rng(0)
    height, width = 37, 41  # not multiples of 4: grid 10 x 11
    # three regions split by two boundary columns; seeds left and right
    cam = (rng.random((3, 10, 11)) * 0.05).astype(np.float32)
    cam[:, :, 3:8] = 0
    cam[0, 2:5, 0:2] = 1.0
    cam[1, 6:9, 9:11] = rng.random((3, 2)) * 0.5 + 0.5
    edge = torch.from_numpy(rng.random((10, 11)).astype(np.float32)) * 0.3
    edge[:, 3] = edge[:, 7] = 1.0
    keys = [0, 7, 19]
    label = irn_pseudo_label(
        edge, _pack(keys, cam), (height, width), beta=10, exp_times=8,
        bg_threshold=0.25, radius=5)
    # reference: walk, x4 bilinear, crop, / global max, constant bg first
    walked = propagate(torch.from_numpy(cam), edge, 10, 8, 5)
    up = F.interpolate(
        walked[None], scale_factor=4, mode='bilinear',
        align_corners=False)[0, :, :height, :width]
    up = up / up.max()
    scores = torch.cat([torch.full((1, height, width), 0.25), up])
    lut = np.array([0] + [k + 1 for k in keys], np.uint8)
    expected = lut[scores.argmax(0).numpy()]
    np.testing.assert_array_equal(label, expected)
    assert (label == 0).any() and (label > 0).any()


def test_background_threshold_controls_background():
    cam = np.zeros((1, 8, 8), np.float32)
    cam[0, 2:6, 2:6] = 1.0
    cam[0, 0, 0] = 0.1
    pack = _pack([2], cam)
    edge = torch.zeros(8, 8)
    low = irn_pseudo_label(edge, pack, (32, 32), bg_threshold=0.0)
    high = irn_pseudo_label(edge, pack, (32, 32), bg_threshold=1.0)
    assert (low == 3).all()  # every pixel above a zero background...
    assert (high == 0).all()  # ...and none above 1 (normalised max = 1)


def test_no_tags_give_background():
    pack = _pack(np.zeros(0, np.int64), np.zeros((0, 5, 6), np.float32))
    label = irn_pseudo_label(torch.zeros(5, 6), pack, (20, 24))
    assert label.shape == (20, 24) and not label.any()


def test_bad_inputs_name_the_problem():
    cam = np.zeros((1, 5, 6), np.float32)
    with pytest.raises(ValueError, match='keys'):
        irn_pseudo_label(torch.zeros(5, 6), dict(cam=cam), (20, 24))
    with pytest.raises(ValueError, match=r"cam_pack\['cam'\]"):
        irn_pseudo_label(torch.zeros(5, 6), _pack([1], cam), (40, 24))
    with pytest.raises(ValueError, match=r"cam_pack\['cam'\] has shape"):
        irn_pseudo_label(torch.zeros(5, 6), _pack([1, 2], cam), (20, 24))
    with pytest.raises(ValueError, match='edge'):
        irn_pseudo_label(torch.zeros(6, 5), _pack([1], cam), (20, 24))
