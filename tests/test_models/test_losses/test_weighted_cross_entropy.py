# Copyright (c) mmweak contributors.
"""WeightedCrossEntropyLoss: MARS Eq. 7 with a per-pixel weight map,
ignore index 255 and the mean over non-ignored pixels."""
import math

import pytest
import torch

from mmweak.models.losses import (WeightedCrossEntropyLoss,
                                  weighted_cross_entropy)
from mmweak.registry import MODELS


def _case():
    """Three pixels of one image, two classes: logits (0, 0) -> p = 1/2,
    (log 3, 0) -> p(0) = 3/4, and an ignored pixel."""
    logits = torch.tensor([[[[0., math.log(3.), 5.]], [[0., 0., -5.]]]])
    target = torch.tensor([[[1, 0, 255]]])
    weight = torch.tensor([[[2., 0.5, 7.]]])
    return logits, target, weight


def test_hand_computed_values():
    logits, target, weight = _case()
    expected_sum = 2 * math.log(2) + 0.5 * math.log(4 / 3)
    # mean over the 2 non-ignored pixels, not the 3 pixels, not sum(W)
    torch.testing.assert_close(
        weighted_cross_entropy(logits, target, weight),
        torch.tensor(expected_sum / 2))
    torch.testing.assert_close(
        weighted_cross_entropy(logits, target, weight, reduction='sum'),
        torch.tensor(expected_sum))
    per_pixel = weighted_cross_entropy(
        logits, target, weight, reduction='none')
    torch.testing.assert_close(
        per_pixel,
        torch.tensor([[[2 * math.log(2), 0.5 * math.log(4 / 3), 0.]]]))
    # no weight: plain CE averaged over the valid pixels
    torch.testing.assert_close(
        weighted_cross_entropy(logits, target),
        torch.tensor((math.log(2) + math.log(4 / 3)) / 2))


def test_equals_torch_cross_entropy_with_unit_weights():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 6, 7)
    target = torch.randint(0, 5, (2, 6, 7))
    target[0, :2] = 255
    ours = weighted_cross_entropy(logits, target, torch.ones(2, 6, 7))
    ref = torch.nn.functional.cross_entropy(logits, target, ignore_index=255)
    torch.testing.assert_close(ours, ref)


def test_ignore_index_and_all_ignored():
    logits, target, weight = _case()
    # another ignore value: the 0-target pixel is left out
    value = weighted_cross_entropy(logits, target.masked_fill(
        target == 255, 0), weight, ignore_index=0)
    torch.testing.assert_close(value, torch.tensor(2 * math.log(2)))
    logits.requires_grad_(True)
    nothing = weighted_cross_entropy(
        logits, torch.full_like(target, 255), weight)
    assert nothing.item() == 0
    nothing.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_weight_is_detached_and_logits_get_gradient():
    logits, target, weight = _case()
    logits.requires_grad_(True)
    weight.requires_grad_(True)
    weighted_cross_entropy(logits, target, weight).backward()
    assert weight.grad is None
    assert logits.grad is not None and logits.grad[..., 2].abs().sum() == 0


def test_module_weight_name_and_registry():
    logits, target, weight = _case()
    loss = MODELS.build(
        dict(type='WeightedCrossEntropyLoss', loss_weight=0.5))
    assert isinstance(loss, WeightedCrossEntropyLoss)
    assert loss.loss_name == 'loss_wce'
    torch.testing.assert_close(
        loss(logits, target, weight=weight, ignore_index=255),
        0.5 * weighted_cross_entropy(logits, target, weight))
    assert WeightedCrossEntropyLoss(loss_name='loss_x').loss_name == 'loss_x'


def test_as_an_mmseg_decode_head_loss():
    """Called by mmseg's BaseDecodeHead.loss_by_feat like its own losses."""
    head = MODELS.build(
        dict(
            type='mmseg.FCNHead', in_channels=4, channels=4, num_convs=1,
            concat_input=False, num_classes=3,
            loss_decode=dict(type='WeightedCrossEntropyLoss')))
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    sample = SegDataSample()
    sample.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 8, 8)))
    losses = head.loss_by_feat(torch.randn(1, 3, 4, 4), [sample])
    assert torch.isfinite(losses['loss_wce'])


def test_errors():
    logits, target, weight = _case()
    with pytest.raises(ValueError, match='reduction'):
        weighted_cross_entropy(logits, target, reduction='avg')
    with pytest.raises(ValueError, match='do not match'):
        weighted_cross_entropy(logits, target[..., :2])
    with pytest.raises(ValueError, match='broadcast'):
        weighted_cross_entropy(logits, target, weight[..., :2])
    with pytest.raises(ValueError, match='loss_weight'):
        WeightedCrossEntropyLoss(loss_weight=-1)
