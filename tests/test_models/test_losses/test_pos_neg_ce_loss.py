# Copyright (c) mmweak contributors.
import math

import pytest
import torch
import torch.nn.functional as F

from mmweak.models.losses import PosNegCrossEntropyLoss, pos_neg_cross_entropy
from mmweak.registry import MODELS


def _loop_reference(logits, target):
    """L_mcls written per image and per positive class (as the spec's
    formula reads): CE over [z_k, z_negatives] with target 0."""
    total = logits.new_zeros(())
    for z, y in zip(logits, target):
        neg = z[y < 0.5]
        for k in torch.nonzero(y > 0.5).flatten():
            row = torch.cat([z[k:k + 1], neg])[None]
            total = total + F.cross_entropy(row, torch.zeros(1).long())
    return total / logits.size(0)


def test_value_matches_a_hand_computation():
    z = torch.tensor([[1.0, 2.0, 0.0, -1.0], [0.5, -0.5, 3.0, 0.0]])
    y = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    neg0 = math.exp(2.0) + math.exp(-1.0)
    img0 = (-math.log(math.exp(1.0) / (math.exp(1.0) + neg0)) -
            math.log(1.0 / (1.0 + neg0)))
    neg1 = math.exp(0.5) + math.exp(-0.5) + 1.0
    img1 = -math.log(math.exp(3.0) / (math.exp(3.0) + neg1))
    expected = (img0 + img1) / 2
    assert float(pos_neg_cross_entropy(z, y)) == pytest.approx(expected,
                                                               rel=1e-6)
    loss = MODELS.build(dict(type='PosNegCrossEntropyLoss', loss_weight=2.0))
    assert float(loss(z, y)) == pytest.approx(2 * expected, rel=1e-6)


def test_matches_the_per_sample_loop_with_its_gradient():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 7, generator=g) * 3
    y = (torch.rand(6, 7, generator=g) < 0.4).float()
    y[:, 0] = 1.0  # at least one positive per image
    z1 = z.clone().requires_grad_()
    z2 = z.clone().requires_grad_()
    fast, slow = pos_neg_cross_entropy(z1, y), _loop_reference(z2, y)
    fast.backward()
    slow.backward()
    torch.testing.assert_close(fast, slow)
    torch.testing.assert_close(z1.grad, z2.grad)


def test_rows_without_negatives_add_zero_with_finite_gradients():
    z = torch.tensor([[1.0, -2.0, 0.5], [0.0, 1.0, 2.0]], requires_grad=True)
    y = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    loss = pos_neg_cross_entropy(z, y)
    expected = -math.log(1.0 / (1.0 + math.exp(1.0) + math.exp(2.0))) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert torch.isfinite(z.grad).all()
    assert not z.grad[0].any()


def test_invariant_to_a_shift_of_all_logits():
    z = torch.randn(3, 5)
    y = torch.tensor([[1, 0, 0, 1, 0], [0, 1, 0, 0, 0], [1, 1, 1, 0, 1.]])
    torch.testing.assert_close(
        pos_neg_cross_entropy(z, y), pos_neg_cross_entropy(z + 7.0, y))


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r'\(B, K\)'):
        pos_neg_cross_entropy(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match='loss_weight'):
        PosNegCrossEntropyLoss(loss_weight=-1)
