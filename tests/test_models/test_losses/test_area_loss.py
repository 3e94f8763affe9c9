# Copyright (c) mmweak contributors.
import math

import pytest
import torch
from mmpretrain.structures import DataSample

from mmweak.models.losses import AreaLoss
from mmweak.registry import MODELS

# (B=2, C=2, 2x2) raw maps
CAMS = torch.tensor([
    [[[2., 0.], [1., -1.]], [[5., 5.], [5., 5.]]],
    [[[4., 4.], [4., 4.]], [[-1., -1.], [-1., 3.]]],
])
TARGET = torch.tensor([[1., 0.], [1., 1.]])  # image 0: class 0 only


def _sig(v):
    return 1 / (1 + math.exp(-v))


@pytest.mark.parametrize('area_norm, per_map', [
    # tagged maps (0, 0), (1, 0), (1, 1); (0, 1) is not tagged
    ('max', [(1 + 0 + .5 + 0) / 4, 1., .25]),
    ('sigmoid', [(_sig(2) + _sig(0) + _sig(1) + _sig(0)) / 4, _sig(4),
                 (3 * _sig(0) + _sig(3)) / 4]),
    ('none', [3. / 4, 4., 3. / 4]),
])
def test_mean_over_tagged_classes_of_the_mean_normalised_area(
        area_norm, per_map):
    loss = MODELS.build(dict(type='AreaLoss', area_norm=area_norm,
                             loss_weight=0.1, eps=0.))
    expected = 0.1 * sum(per_map) / 3
    assert loss(CAMS, TARGET).item() == pytest.approx(expected, rel=1e-6)


def test_default_weight_and_eps():
    loss = AreaLoss()
    assert loss.loss_weight == 0.1 and loss.area_norm == 'max'
    # eps = 1e-5 in the max normalisation
    expected = 0.1 * ((2 + 1) / (2 + 1e-5) / 4 + 4 / (4 + 1e-5)
                      + 3 / (3 + 1e-5) / 4) / 3
    assert loss(CAMS, TARGET).item() == pytest.approx(expected, rel=1e-6)


def test_max_normalised_area_is_scale_invariant():
    loss = AreaLoss(eps=0.)
    torch.testing.assert_close(loss(5 * CAMS, TARGET), loss(CAMS, TARGET))


def test_untagged_classes_get_no_gradient():
    cams = CAMS.clone().requires_grad_()
    AreaLoss()(cams, TARGET).backward()
    assert not cams.grad[0, 1].any()
    assert cams.grad[1, 1].abs().sum() > 0


def test_no_tags_give_zero_with_a_graph():
    cams = CAMS.clone().requires_grad_()
    out = AreaLoss()(cams, torch.zeros(2, 2))
    assert out.item() == 0
    out.backward()
    assert not cams.grad.any()


def test_shape_mismatch_and_bad_norm_raise():
    with pytest.raises(ValueError, match='do not match'):
        AreaLoss()(CAMS, torch.ones(2, 3))
    with pytest.raises(ValueError, match='area_norm'):
        AreaLoss(area_norm='softmax')


def _head(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(dict(type='MultiLabelCAMHead', num_classes=3,
                             in_channels=4, **kwargs))


def test_cam_head_adds_loss_area_only_when_configured():
    feats = (torch.rand(2, 4, 3, 5), )
    samples = [DataSample().set_gt_label([0, 2]), DataSample().set_gt_label(1)]
    plain = _head()
    assert plain.area_loss is None
    plain_losses = plain.loss(feats, samples)
    assert set(plain_losses) == {'loss_cls'}
    head = _head(area_loss=dict(type='AreaLoss', loss_weight=0.1))
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_cls', 'loss_area'}
    torch.testing.assert_close(losses['loss_cls'], plain_losses['loss_cls'])
    target = torch.tensor([[1., 0., 1.], [0., 1., 0.]])
    torch.testing.assert_close(
        losses['loss_area'], AreaLoss()(head.class_maps(feats), target))
