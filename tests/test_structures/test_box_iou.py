# Copyright (c) mmweak contributors.
import numpy as np
import pytest
import torch
from torchvision.ops import box_iou as tv_box_iou

from mmweak.structures import bbox_overlaps, box_iou, box_iou_inclusive


def test_inclusive_iou_counts_end_pixels():
    pred = torch.tensor([[0., 0., 9., 9.]])
    gt = torch.tensor([[0., 0., 4., 9.], [20., 20., 30., 30.]])
    # inclusive: 5 x 10 = 50 inside 10 x 10 = 100 -> 0.5
    torch.testing.assert_close(box_iou_inclusive(pred, gt),
                               torch.tensor([[0.5, 0.]]))
    # continuous: 4 x 9 = 36 inside 9 x 9 = 81
    torch.testing.assert_close(bbox_overlaps(pred, gt, offset=0),
                               torch.tensor([[36 / 81, 0.]]))


def test_iou_is_pairwise_and_matches_torchvision_without_offset():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, (7, 2))
    pred = np.concatenate([xy, xy + rng.uniform(1, 40, (7, 2))], axis=1)
    xy = rng.uniform(0, 50, (5, 2))
    gt = np.concatenate([xy, xy + rng.uniform(1, 40, (5, 2))], axis=1)
    out = bbox_overlaps(pred, gt, offset=0)
    assert isinstance(out, np.ndarray) and out.shape == (7, 5)
    expected = tv_box_iou(torch.from_numpy(pred), torch.from_numpy(gt))
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-10)
    # numpy and torch paths agree
    np.testing.assert_allclose(box_iou(torch.from_numpy(pred),
                                       torch.from_numpy(gt)).numpy(),
                               bbox_overlaps(pred, gt),
                               rtol=1e-5)


def test_zero_union_gives_zero_not_nan():
    boxes = np.zeros((1, 4))
    assert bbox_overlaps(boxes, boxes, offset=0)[0, 0] == 0
    assert bbox_overlaps(torch.zeros(1, 4), torch.zeros(1, 4),
                         offset=0)[0, 0] == 0
    # with offset 1 a [0, 0, 0, 0] box is one pixel
    assert bbox_overlaps(boxes, np.array([[0., 0., 1., 1.]]))[0, 0] == 0.25


def test_iou_rejects_bad_shapes_and_offsets():
    with pytest.raises(ValueError, match=r'\(N, 4\)'):
        bbox_overlaps(np.zeros((2, 3)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match='offset'):
        bbox_overlaps(np.zeros((1, 4)), np.zeros((1, 4)), offset=2)
