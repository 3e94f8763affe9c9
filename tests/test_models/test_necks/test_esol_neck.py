# Copyright (c) mmweak contributors.
import pytest
import torch
import torch.nn.functional as F

from mmweak.models.necks import ESOLExpansionNeck, ESOLShrinkageNeck
from mmweak.registry import MODELS


def _neck(type_='ESOLExpansionNeck', **kwargs):
    torch.manual_seed(0)
    return MODELS.build(dict(type=type_, in_channels=4, **kwargs))


def test_expansion_neck_keeps_the_map_and_the_tuple():
    neck = _neck()
    assert isinstance(neck, ESOLExpansionNeck)
    feats = (torch.rand(2, 3, 8, 8), torch.rand(2, 4, 5, 6))
    out = neck(feats)
    assert isinstance(out, tuple) and len(out) == 2
    assert out[0] is feats[0]  # only the last map is changed
    assert out[1].shape == (2, 4, 5, 6)
    assert neck(feats[1]).shape == (2, 4, 5, 6)  # a bare tensor too
    with pytest.raises(TypeError):
        neck({'x': feats[1]})


def test_zero_offset_expansion_is_the_clipped_box_average():
    neck = _neck(clip_ratio=0.5)
    x = torch.rand(2, 4, 5, 6)
    box = F.avg_pool2d(x, 3, 1, 1)
    tau = 0.5 * box.amax(dim=(2, 3), keepdim=True)
    torch.testing.assert_close(neck((x, ))[0], torch.minimum(box, tau))


def test_expansion_sampler_has_the_reversal_and_the_shrinkage_none():
    neck = _neck('ESOLShrinkageNeck', grl_lambda=1.0)
    assert isinstance(neck, ESOLShrinkageNeck)
    assert neck.expansion_sampler.grl_lambda == 1.0
    assert neck.shrinkage_sampler.grl_lambda is None
    with pytest.raises(ValueError, match='reversal'):
        _neck('ESOLShrinkageNeck', shrinkage=dict(grl_lambda=1.0))


def test_shrinkage_neck_loads_a_stage1_neck_by_key():
    stage1 = _neck(max_offset=2.0)
    with torch.no_grad():
        stage1.expansion_sampler.offset_conv.weight.normal_()
    stage2 = _neck('ESOLShrinkageNeck', max_offset=2.0,
                   shrinkage=dict(max_offset=3.0, w_init='identity_center'))
    missing, unexpected = stage2.load_state_dict(
        stage1.state_dict(), strict=False)
    assert not unexpected
    assert all(k.startswith('shrinkage_sampler.') for k in missing)
    torch.testing.assert_close(stage2.expansion_sampler.offset_conv.weight,
                               stage1.expansion_sampler.offset_conv.weight)
    # unset shrinkage keys take the expansion block's, set ones override
    assert stage2.shrinkage_sampler.max_offset == 3.0
    assert stage2.shrinkage_sampler.w_init == 'identity_center'
    assert stage2.shrinkage_sampler.backend == 'torchvision'


def test_shrinkage_neck_freezes_the_expansion_block():
    neck = _neck('ESOLShrinkageNeck')
    with torch.no_grad():
        neck.expansion_sampler.offset_conv.weight.normal_(0, 0.1)
        neck.shrinkage_sampler.offset_conv.weight.normal_(0, 0.1)
    assert not any(p.requires_grad
                   for p in neck.expansion_sampler.parameters())
    x = torch.rand(2, 4, 5, 6, requires_grad=True)
    out = neck((x, ))[0]
    assert isinstance(out, torch.Tensor) and out.shape == x.shape
    out.sum().backward()
    # stop-gradient after the Clip Op: nothing reaches F or offset_conv1
    assert x.grad is None
    assert neck.expansion_sampler.offset_conv.weight.grad is None
    assert neck.shrinkage_sampler.offset_conv.weight.grad.abs().sum() > 0
    # F2 = DCN(F'_clip) with the shrinkage sampler
    with torch.no_grad():
        expected = neck.shrinkage_sampler(neck.expand(x))
    torch.testing.assert_close(out.detach(), expected)
