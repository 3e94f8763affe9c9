# Copyright (c) mmweak contributors.
import pytest
import torch
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm

from mmweak.models.backbones import MobileNetV1
from mmweak.registry import MODELS


def test_registered_and_default_output_is_1024x7x7_at_224():
    model = MODELS.build(dict(type='MobileNetV1')).to('meta')
    (out, ) = model(torch.empty(2, 3, 224, 224, device='meta'))
    assert out.shape == (2, 1024, 7, 7)


def test_layers_follow_table1_widths_and_strides():
    model = MobileNetV1(out_indices=tuple(range(14))).to('meta')
    outs = model(torch.empty(1, 3, 224, 224, device='meta'))
    widths = [o.shape[1] for o in outs]
    sizes = [o.shape[-1] for o in outs]
    assert widths == [32, 64, 128, 128, 256, 256] + [512] * 6 + [1024] * 2
    assert sizes == [112, 112, 56, 56, 28, 28] + [14] * 6 + [7, 7]


def test_depthwise_separable_layout_keeps_reference_positions():
    model = MobileNetV1(widen_factor=0.25)
    block = model.layers[1]
    dw, pw = block[0], block[3]
    assert dw.groups == dw.in_channels == 8 and dw.kernel_size == (3, 3)
    assert pw.kernel_size == (1, 1) and pw.out_channels == 16
    assert isinstance(block[2], torch.nn.ReLU)
    keys = list(model.state_dict())
    assert keys[:2] == ['layers.0.0.weight', 'layers.0.1.weight']
    assert 'layers.13.3.weight' in keys and 'layers.13.4.running_mean' in keys


def test_widen_factor_scales_channels():
    model = MobileNetV1(widen_factor=0.5, out_indices=(13, ))
    (out, ) = model(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, 512, 2, 2)


def test_custom_strides_change_the_output_stride():
    strides = [2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 2, 1]
    model = MobileNetV1(strides=strides).to('meta')
    (out, ) = model(torch.empty(1, 3, 224, 224, device='meta'))
    assert out.shape[-2:] == (14, 14)


@pytest.mark.parametrize('kwargs, match', [
    (dict(strides=[2] * 13), 'strides'),
    (dict(strides=[3] * 14), 'strides'),
    (dict(out_indices=(14, )), 'out_indices'),
    (dict(widen_factor=0), 'widen_factor'),
    (dict(frozen_stages=20), 'frozen_stages'),
])
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MobileNetV1(**kwargs)


def test_frozen_stages_and_norm_eval():
    model = MobileNetV1(widen_factor=0.25, frozen_stages=2, norm_eval=True)
    model.train()
    for layer in model.layers[:2]:
        assert all(not p.requires_grad for p in layer.parameters())
    assert all(p.requires_grad for p in model.layers[2].parameters())
    assert all(not m.training for m in model.modules()
               if isinstance(m, _BatchNorm))
