# Copyright (c) mmweak contributors.
import math

import pytest
import torch

from mmweak.models.losses import BASLoss
from mmweak.registry import MODELS


def _call(loss, fg, bg, maps=None, frg=None, labels=None):
    fg = torch.as_tensor(fg, dtype=torch.float32)
    bg = torch.as_tensor(bg, dtype=torch.float32)
    n = fg.numel()
    maps = torch.full((n, 2, 2), 0.5) if maps is None else maps
    frg = torch.zeros(n, 3) if frg is None else frg
    labels = torch.zeros(n, dtype=torch.long) if labels is None else labels
    return loss(fg, bg, maps, frg, labels)


def test_background_ratio_is_the_mean_of_sb_over_s():
    loss = MODELS.build(dict(type='BASLoss', alpha=0., beta=0.))
    out = _call(loss, [2., 4.], [1., 1.])
    # (1/2 + 1/4) / 2 = 0.375 (eps = 1e-8 is negligible)
    assert out['loss_bas'].item() == pytest.approx(0.375, abs=1e-6)
    assert out['bas_guard_rate'].item() == 0


@pytest.mark.parametrize('guard_value', [0, 1])
def test_guard_replaces_the_ratio_where_sb_exceeds_s(guard_value):
    loss = BASLoss(guard_value=guard_value)
    bg = torch.tensor([3., 1.], requires_grad=True)
    out = loss(torch.tensor([2., 4.]), bg, torch.full((2, 2, 2), .5),
               torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))
    # sample 0 is guarded (3 > 2): r_0 = guard_value; r_1 = 1/4
    expected = (guard_value + 0.25) / 2
    assert out['loss_bas'].item() == pytest.approx(expected, abs=1e-6)
    assert out['bas_guard_rate'].item() == 0.5
    out['loss_bas'].backward()
    # the guarded sample gets no gradient, the other d r / d S_b = 1/S / B
    assert bg.grad[0].item() == 0
    assert bg.grad[1].item() == pytest.approx(1 / 4 / 2, rel=1e-6)


def test_equal_scores_are_not_guarded():
    out = _call(BASLoss(guard_value=0), [2.], [2.])
    assert out['loss_bas'].item() == pytest.approx(1.0, abs=1e-6)
    assert out['bas_guard_rate'].item() == 0


def test_rectify_applies_relu_to_both_scores():
    rect = BASLoss(rectify=True, guard_value=0)
    # S = relu(-1) = 0, S_b = relu(-2) = 0: 0 / (0 + eps) = 0, not guarded
    assert _call(rect, [-1.], [-2.])['loss_bas'].item() == 0
    # S = 0, S_b = 0.5 > 0: guarded
    out = _call(rect, [-1.], [0.5])
    assert out['loss_bas'].item() == 0 and out['bas_guard_rate'] == 1
    # without rectification the raw ratio is used: -1 / 2
    raw = BASLoss(rectify=False)
    assert _call(raw, [2.], [-1.])['loss_bas'].item() == pytest.approx(-0.5)


def test_s_is_detached():
    fg = torch.tensor([2.], requires_grad=True)
    bg = torch.tensor([1.], requires_grad=True)
    out = BASLoss()(fg, bg, torch.full((1, 2, 2), .5), torch.zeros(1, 3),
                    torch.zeros(1, dtype=torch.long))
    out['loss_bas'].backward()
    assert fg.grad is None and bg.grad.item() == pytest.approx(0.5)


def test_area_term_is_beta_times_mean_activation():
    maps = torch.tensor([[[0., 1.], [1., 1.]], [[0.5, 0.5], [0., 0.]]])
    out = _call(BASLoss(beta=2.0), [1., 1.], [0., 0.], maps=maps)
    # per-image means 0.75 and 0.25 -> 0.5; times beta 2
    assert out['loss_area'].item() == pytest.approx(1.0)


def test_foreground_guidance_is_alpha_times_cross_entropy():
    frg = torch.tensor([[0., math.log(3.)], [0., 0.]])
    labels = torch.tensor([1, 0])
    out = _call(BASLoss(alpha=0.5), [1., 1.], [0., 0.], frg=frg,
                labels=labels)
    # CE: -log(3/4) and -log(1/2), mean, times alpha
    expected = 0.5 * (-math.log(0.75) - math.log(0.5)) / 2
    assert out['loss_frg'].item() == pytest.approx(expected, rel=1e-6)


def test_zero_weights_give_zero_terms():
    out = _call(BASLoss(alpha=0., beta=0.), [1.], [0.5])
    assert out['loss_frg'].item() == 0 and out['loss_area'].item() == 0


@pytest.mark.parametrize('kwargs', [
    dict(guard_value=0.5), dict(alpha=-1.), dict(beta=-1.), dict(eps=0.)])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError, match='BASLoss'):
        BASLoss(**kwargs)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match='shape'):
        BASLoss()(torch.ones(2), torch.ones(3), torch.ones(2, 2, 2),
                  torch.ones(2, 3), torch.zeros(2, dtype=torch.long))
