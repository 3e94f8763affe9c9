# Copyright (c) mmweak contributors.
import pytest
import torch
from mmpretrain.models.backbones import VGG, InceptionV3, ResNet

from mmweak.models.backbones import (BASInceptionV3, BASMobileNetV1,
                                     BASResNet, BASVGG)
from mmweak.registry import MODELS


@pytest.mark.parametrize('cfg, mid, last', [
    (dict(type='BASVGG', depth=16), 512, 512),
    (dict(type='BASResNet', depth=50), 1024, 2048),
    (dict(type='BASInceptionV3'), 768, 2048),
    (dict(type='BASMobileNetV1'), 512, 1024),
])
def test_mid_is_28x28_and_last_is_14x14_at_224(cfg, mid, last):
    # full-size networks on the meta device: shapes only, no compute
    model = MODELS.build(cfg).to('meta')
    x_mid, x_last = model(torch.empty(2, 3, 224, 224, device='meta'))
    assert x_mid.shape == (2, mid, 28, 28)
    assert x_last.shape == (2, last, 14, 14)
    assert (model.mid_channels, model.out_channels) == (mid, last)


def test_inception_mixed_6e_is_768x28x28():
    model = BASInceptionV3().to('meta')
    x = model.forward_mid(torch.empty(1, 3, 224, 224, device='meta'))
    assert x.shape == (1, 768, 28, 28)  # not 14x14
    assert tuple(model.tail[0].branch_pool.padding for _ in [0]) == (1, )


def _tiny(name):
    return {
        'vgg': lambda: BASVGG(depth=11),
        'resnet': lambda: BASResNet(depth=50, stem_channels=8,
                                    base_channels=8),
        'mobilenet': lambda: BASMobileNetV1(widen_factor=0.25),
    }[name]()


@pytest.mark.parametrize('name', ['vgg', 'resnet', 'mobilenet'])
def test_forward_is_mid_then_tail(name):
    torch.manual_seed(0)
    model = _tiny(name)
    model.eval()
    x = torch.rand(2, 3, 32, 32)
    x_mid, x_last = model(x)
    torch.testing.assert_close(x_mid, model.forward_mid(x))
    torch.testing.assert_close(x_last, model.tail(x_mid))
    assert x_last.shape[-1] * 2 == x_mid.shape[-1]


@pytest.mark.parametrize('name', ['vgg', 'resnet', 'mobilenet'])
def test_tail_is_a_view_sharing_the_backbone_parameters(name):
    model = _tiny(name)
    own = {id(p) for p in model.parameters()}
    tail_params = list(model.tail.parameters())
    assert tail_params and all(id(p) in own for p in tail_params)
    # building the view twice does not register anything new
    n_keys = len(model.state_dict())
    _ = model.tail, model.tail
    assert len(model.state_dict()) == n_keys


def test_state_dict_keys_are_those_of_the_host_classes():
    """Checkpoints of mmpretrain's backbones load without renaming."""
    bas = BASResNet(depth=18, base_channels=8, stem_channels=8)
    host = ResNet(depth=18, base_channels=8, stem_channels=8,
                  strides=(1, 2, 1, 1))
    assert list(bas.state_dict()) == list(host.state_dict())
    host.load_state_dict(bas.state_dict())

    bas_vgg = BASVGG(depth=11)
    host_vgg = VGG(depth=11, with_last_pool=False)
    assert list(bas_vgg.state_dict()) == list(host_vgg.state_dict())

    with torch.device('meta'):
        bas_inc = BASInceptionV3()
        host_inc = InceptionV3(aux_logits=False)
    host_keys = [k for k in host_inc.state_dict() if not k.startswith('fc.')]
    assert list(bas_inc.state_dict()) == host_keys


def test_vgg_rejects_arguments_fixed_by_the_split():
    with pytest.raises(ValueError, match='with_last_pool'):
        BASVGG(depth=11, with_last_pool=True)


def test_resnet_rejects_fewer_stages():
    with pytest.raises(ValueError, match='num_stages'):
        BASResNet(depth=18, num_stages=3, strides=(1, 2, 1),
                  dilations=(1, 1, 1), out_indices=(2, ))
