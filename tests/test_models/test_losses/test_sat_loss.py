# Copyright (c) mmweak contributors.
import numpy as np
import pytest
import torch

from mmweak.models.losses import SATLoss
from mmweak.models.losses.sat_loss import gaussian_kernel

# values given in the SAT spec (kernlen=3, nsig=6)
CENTRE, EDGE, CORNER = 0.80544, 0.04601, 0.00263


def test_gaussian_kernel_matches_reference_values():
    k = gaussian_kernel(3, 6.)
    assert k.shape == (3, 3)
    torch.testing.assert_close(k.sum().item(), 1.0)
    assert abs(k[1, 1].item() - CENTRE) < 1e-5
    for i, j in ((0, 1), (1, 0), (1, 2), (2, 1)):
        assert abs(k[i, j].item() - EDGE) < 1e-5
    for i, j in ((0, 0), (0, 2), (2, 0), (2, 2)):
        assert abs(k[i, j].item() - CORNER) < 1e-5


def test_kernel_is_a_non_persistent_buffer():
    loss = SATLoss()
    assert 'kernel' in dict(loss.named_buffers())
    assert loss.state_dict() == {}
    assert list(loss.parameters()) == []


def _hand_smooth(m):
    """3x3 smoothing with zero padding written out by hand."""
    k = np.array([[CORNER, EDGE, CORNER], [EDGE, CENTRE, EDGE],
                  [CORNER, EDGE, CORNER]])
    h, w = m.shape
    out = np.zeros_like(m)
    for y in range(h):
        for x in range(w):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    if 0 <= y + dy < h and 0 <= x + dx < w:
                        out[y, x] += k[dy + 1, dx + 1] * m[y + dy, x + dx]
    return out


def test_losses_match_hand_computed_values():
    # image 0: uniform 0.5; image 1: a single confident pixel in the centre
    m0 = np.full((3, 3), 0.5)
    m1 = np.zeros((3, 3))
    m1[1, 1] = 1.0
    maps = torch.tensor(np.stack([m0, m1]), dtype=torch.float32)
    loss = SATLoss(area_target=0.25)(maps)
    # batch area: |(4.5 + 1) / 18 - 0.25|
    assert loss['loss_area'].item() == pytest.approx(5.5 / 18 - 0.25,
                                                     abs=1e-6)
    # the centre of m0 sees the whole kernel: 0.5 * 1 = 0.5 -> 0.25; a
    # corner sees centre + 2 edges + 1 corner of it
    s0, s1 = _hand_smooth(m0), _hand_smooth(m1)
    corner = 0.5 * (CENTRE + 2 * EDGE + CORNER)
    assert s0[0, 0] == pytest.approx(corner)
    assert s1[1, 1] == pytest.approx(CENTRE)
    expected = np.mean([s0 * (1 - s0), s1 * (1 - s1)])
    assert loss['loss_norm'].item() == pytest.approx(expected, abs=1e-4)


def test_area_loss_uses_the_batch_mean_not_per_image():
    # one empty and one full map average exactly to the target 0.5
    maps = torch.stack([torch.zeros(4, 4), torch.ones(4, 4)])
    loss = SATLoss(area_target=0.5)(maps)
    assert loss['loss_area'].item() == 0.0
    # a binary map far from the border has no norm loss where smoothing
    # keeps it binary: all-zero map -> exactly zero
    assert SATLoss()(torch.zeros(2, 5, 5))['loss_norm'].item() == 0.0


def test_weights_scale_each_loss():
    torch.manual_seed(0)
    maps = torch.rand(2, 4, 4)
    base = SATLoss(area_target=0.1)(maps)
    scaled = SATLoss(area_target=0.1, area_weight=2.0, norm_weight=0.5)(maps)
    torch.testing.assert_close(scaled['loss_area'], 2 * base['loss_area'])
    torch.testing.assert_close(scaled['loss_norm'], 0.5 * base['loss_norm'])


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match='area_target'):
        SATLoss(area_target=1.5)
    with pytest.raises(ValueError, match=r'\(B, h, w\)'):
        SATLoss()(torch.rand(2, 1, 4, 4))
