# Copyright (c) mmweak contributors.
import pytest
import torch
import torch.nn.functional as F

from mmweak.models.necks import OffsetSampler, deform_sample
from mmweak.registry import MODELS


def _has_mmcv_ops() -> bool:
    try:
        from mmcv.ops import deform_conv2d  # noqa: F401
        return True
    except ImportError:
        return False


BACKENDS = ['torchvision', 'grid_sample'] + (['mmcv']
                                             if _has_mmcv_ops() else [])


def _sampler(**kwargs) -> OffsetSampler:
    torch.manual_seed(0)
    return MODELS.build(dict(type='OffsetSampler', in_channels=4, **kwargs))


@pytest.mark.parametrize('backend', BACKENDS)
def test_zero_offsets_give_the_box_average(backend):
    sampler = _sampler(backend=backend)
    x = torch.rand(2, 4, 5, 7)
    # zero-initialised offset conv: a 3x3 box average with zero padding
    assert not sampler.offset_conv.weight.any()
    assert not sampler.offset_conv.bias.any()
    assert not sampler.offsets(x).any()
    torch.testing.assert_close(sampler(x), F.avg_pool2d(x, 3, 1, 1))


def test_identity_center_kernel_with_zero_offsets_is_the_identity():
    sampler = _sampler(w_init='identity_center')
    x = torch.rand(2, 4, 5, 7)
    torch.testing.assert_close(sampler(x), x)


def test_kernel_is_channel_wise_and_frozen_by_default():
    sampler = _sampler()
    # (C, 1, 3, 3): depthwise, no dense C x C x 3 x 3 weight
    assert sampler.weight.shape == (4, 1, 3, 3)
    assert not sampler.weight.requires_grad
    torch.testing.assert_close(sampler.weight, torch.full((4, 1, 3, 3),
                                                          1 / 9))
    assert _sampler(w_trainable=True).weight.requires_grad
    assert sampler.offset_conv.out_channels == 18


@pytest.mark.parametrize('backend', [b for b in BACKENDS
                                     if b != 'torchvision'])
def test_backends_agree_with_torchvision(backend):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 4, 6, generator=g)
    weight = torch.rand(3, 1, 3, 3, generator=g)
    # large offsets: many taps fall (partly) outside the map and read zero
    offset = torch.randn(2, 18, 4, 6, generator=g) * 3
    outs, grads = [], []
    for b in ('torchvision', backend):
        xi = x.clone().requires_grad_()
        oi = offset.clone().requires_grad_()
        wi = weight.clone().requires_grad_()
        y = deform_sample(xi, oi, wi, b)
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        outs.append(y)
        grads.append((xi.grad, oi.grad, wi.grad))
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-5, atol=1e-5)
    for g1, g0 in zip(grads[1], grads[0]):
        torch.testing.assert_close(g1, g0, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('max_offset', [8.0, 1.5])
def test_offsets_stay_within_max_offset(max_offset):
    sampler = _sampler(max_offset=max_offset)
    with torch.no_grad():
        sampler.offset_conv.bias.copy_(torch.linspace(-100, 100, 18))
    off = sampler.offsets(torch.rand(2, 4, 5, 5))
    assert off.abs().max() <= max_offset
    assert off.abs().max() > 0.99 * max_offset  # saturated, not clipped
    unbounded = _sampler(max_offset=None)
    with torch.no_grad():
        unbounded.offset_conv.bias.fill_(100.)
    assert unbounded.offsets(torch.rand(1, 4, 3, 3)).min() == 100.


def _offset_conv_grad(sampler, x):
    sampler.zero_grad()
    (sampler(x) * torch.linspace(-1, 2, x.numel()).view_as(x)).sum().backward()
    return sampler.offset_conv.weight.grad.clone()


def test_gradient_reversal_negates_the_offset_gradient_exactly():
    x = torch.rand(2, 4, 6, 6)
    sampler = _sampler(grl_lambda=1.0)
    with torch.no_grad():  # non-zero offsets so the test is generic
        sampler.offset_conv.weight.normal_(0, 0.1)
    reversed_grad = _offset_conv_grad(sampler, x)
    sampler.grl = None
    plain_grad = _offset_conv_grad(sampler, x)
    assert plain_grad.abs().sum() > 0
    torch.testing.assert_close(reversed_grad, -plain_grad, rtol=0, atol=0)
    sampler.grl = MODELS.build(dict(type='GradientReversal', lambda_=0.5))
    torch.testing.assert_close(
        _offset_conv_grad(sampler, x), -0.5 * plain_grad)


def test_offset_conv_input_is_detached():
    sampler = _sampler()
    with torch.no_grad():
        sampler.offset_conv.weight.normal_(0, 0.1)
    x = torch.rand(1, 4, 5, 5, requires_grad=True)
    sampler(x).sum().backward()
    # the input gradient is that of the DCN alone, offsets held fixed
    x2 = x.detach().clone().requires_grad_()
    deform_sample(x2, sampler.offsets(x2).detach(), sampler.weight).sum(
    ).backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_init_weights_restores_zero_offsets_and_the_kernel():
    sampler = _sampler(w_trainable=True)
    with torch.no_grad():
        sampler.offset_conv.weight.fill_(1.)
        sampler.weight.fill_(3.)
    sampler.init_weights()
    assert not sampler.offset_conv.weight.any()
    torch.testing.assert_close(sampler.weight, torch.full((4, 1, 3, 3),
                                                          1 / 9))


@pytest.mark.parametrize('kwargs, match', [
    (dict(kernel_size=2), 'odd'),
    (dict(max_offset=0.), 'max_offset'),
    (dict(w_init='gauss'), 'w_init'),
    (dict(backend='cuda'), 'backend'),
])
def test_invalid_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _sampler(**kwargs)


def test_zero_init_offset_can_be_switched_off():
    sampler = _sampler(zero_init_offset=False)
    assert sampler.offset_conv.weight.any()
    sampler.init_weights()
    assert sampler.offset_conv.weight.any()
    neck = MODELS.build(dict(type='ESOLShrinkageNeck', in_channels=4,
                             shrinkage=dict(zero_init_offset=False)))
    assert not neck.expansion_sampler.offset_conv.weight.any()
    assert neck.shrinkage_sampler.offset_conv.weight.any()
