# Copyright (c) mmweak contributors.
import os.path as osp
import warnings

import mmcv
import numpy as np
import torch
from mmpretrain.structures import DataSample

from mmweak.visualization import WSOLVisualizer, overlay_map


def _sample(h=24, w=32):
    sample = DataSample().set_gt_label(1)
    sample.set_field(torch.tensor([[4., 2., w, h]]), 'gt_bboxes')  # x2 = W
    sample.set_field(torch.tensor([[0., 0., 10., 8.]]), 'pred_bboxes')
    sample.set_pred_label(torch.tensor([3]))
    loc = torch.zeros(6, 8)
    loc[1:4, 2:6] = 1.
    sample.set_field(loc, 'loc_map')
    return sample


def test_overlay_resizes_the_map_and_colours_hot_regions():
    image = np.full((24, 32, 3), 128, np.uint8)
    loc = np.zeros((6, 8), np.float32)
    loc[:3] = 1.
    out = overlay_map(image, loc, alpha=0.5)
    assert out.shape == image.shape and out.dtype == np.uint8
    # JET: hot (1) is red, cold (0) is blue, in RGB
    assert out[2, 16, 0] > out[2, 16, 2]
    assert out[22, 16, 2] > out[22, 16, 0]


def test_draw_keeps_the_plain_image_left_and_accepts_boxes_ending_at_w():
    vis = WSOLVisualizer(name='test_draw_wsol')
    image = np.random.default_rng(0).integers(0, 255, (24, 32, 3), np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no "bbox is out of bounds"
        drawn = vis.draw_wsol(image, _sample())
    assert drawn.shape == (24, 64, 3)
    np.testing.assert_array_equal(drawn[:, :32], image)
    assert (drawn[:, 32:] != image).any()


def test_add_datasample_writes_out_file(tmp_path):
    vis = WSOLVisualizer(name='test_add_datasample')
    image = np.zeros((24, 32, 3), np.uint8)
    out = osp.join(tmp_path, 'a.png')
    vis.add_datasample('a', image, _sample(), out_file=out)
    assert mmcv.imread(out).shape == (24, 64, 3)
