# Copyright (c) mmweak contributors.
import pytest
import torch

from mmweak.models.necks import FeatureClip


def test_ratio_mode_caps_at_kappa_times_the_channel_max():
    x = torch.tensor([[[[-1., 2.], [4., 8.]], [[1., 1.], [0.5, 0.]]]],
                     requires_grad=True)  # (1, 2, 2, 2)
    clip = FeatureClip('ratio', ratio=0.5)
    y = clip(x)
    # channel 0: tau = 4 -> [0, 2, 4, 4]; channel 1: tau = 0.5
    expected = torch.tensor([[[[0., 2.], [4., 4.]], [[.5, .5], [.5, 0.]]]])
    torch.testing.assert_close(y, expected)
    y.sum().backward()
    # the threshold is detached: gradient 1 only where 0 < x < tau
    expected_grad = torch.tensor([[[[0., 1.], [0., 0.]],
                                   [[0., 0.], [0., 0.]]]])
    # x == tau exactly (4 and 0.5) shares the gradient of torch.minimum
    mask = torch.tensor([[[[1., 1.], [0., 1.]], [[1., 1.], [0., 1.]]]],
                        dtype=torch.bool)
    torch.testing.assert_close(x.grad[mask], expected_grad[mask])


def test_threshold_is_per_image_and_channel():
    x = torch.rand(3, 4, 5, 5)
    tau = FeatureClip('ratio', ratio=0.5).threshold(x)
    assert tau.shape == (3, 4, 1, 1)
    torch.testing.assert_close(tau, 0.5 * x.amax(dim=(2, 3), keepdim=True))
    assert not tau.requires_grad


def test_fixed_and_none_modes():
    x = torch.tensor([-2., 0.5, 3.]).view(1, 1, 1, 3)
    torch.testing.assert_close(
        FeatureClip('fixed', value=1.0)(x),
        torch.tensor([0., 0.5, 1.]).view(1, 1, 1, 3))
    assert torch.equal(FeatureClip('none')(x), x)


@pytest.mark.parametrize('kwargs', [
    dict(mode='soft'), dict(mode='ratio', ratio=0.), dict(mode='fixed')])
def test_invalid_settings_raise(kwargs):
    with pytest.raises(ValueError):
        FeatureClip(**kwargs)
