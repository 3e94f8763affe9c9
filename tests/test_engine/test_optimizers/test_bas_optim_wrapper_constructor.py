# Copyright (c) mmweak contributors.
import pytest
import torch
import torch.nn as nn

from mmweak.engine.optimizers import BASOptimWrapperConstructor
from mmweak.registry import OPTIM_WRAPPER_CONSTRUCTORS


class _Net(nn.Module):
    """A backbone (conv + BN) and a head whose names contain 'classifier'."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.head = nn.Module()
        self.head.classifier_cls = nn.Conv2d(4, 2, 1)
        self.head.classifier_loc = nn.Conv2d(4, 2, 3)


def _build(paramwise_cfg=None, lr=1e-3):
    return OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(
            type='BASOptimWrapperConstructor',
            optim_wrapper_cfg=dict(
                optimizer=dict(
                    type='SGD',
                    lr=lr,
                    momentum=0.9,
                    weight_decay=5e-4,
                    nesterov=True)),
            paramwise_cfg=paramwise_cfg))


def _groups_by_id(optim_wrapper):
    return {
        id(p): (g['lr'], g['weight_decay'])
        for g in optim_wrapper.optimizer.param_groups for p in g['params']
    }


def test_four_groups_with_the_bas_multipliers():
    net = _Net()
    optim = _build()(net)
    groups = _groups_by_id(optim)
    conv, bn = net.backbone
    expect = {
        id(conv.weight): 1e-3,
        id(bn.weight): 1e-3,
        id(conv.bias): 2e-3,
        id(bn.bias): 2e-3,  # batch-norm shifts count as biases
        id(net.head.classifier_cls.weight): 1e-2,
        id(net.head.classifier_loc.weight): 1e-2,
        id(net.head.classifier_cls.bias): 2e-2,
        id(net.head.classifier_loc.bias): 2e-2,
    }
    assert set(groups) == set(expect)
    for pid, lr in expect.items():
        assert groups[pid][0] == pytest.approx(lr)
        assert groups[pid][1] == 5e-4  # the same decay everywhere
    opt = optim.optimizer
    assert isinstance(opt, torch.optim.SGD) and len(opt.param_groups) == 4
    assert opt.defaults['nesterov'] and opt.defaults['momentum'] == 0.9


def test_custom_multipliers_and_keys():
    net = _Net()
    optim = _build(
        dict(head_keys='classifier_cls', head_lr_mult=5.,
             head_bias_lr_mult=7., bias_lr_mult=1.))(net)
    groups = _groups_by_id(optim)
    assert groups[id(net.head.classifier_cls.weight)][0] == pytest.approx(5e-3)
    assert groups[id(net.head.classifier_cls.bias)][0] == pytest.approx(7e-3)
    # classifier_loc no longer matches: backbone rules
    assert groups[id(net.head.classifier_loc.weight)][0] == pytest.approx(1e-3)
    assert groups[id(net.backbone[0].bias)][0] == pytest.approx(1e-3)


def test_frozen_parameters_are_skipped():
    net = _Net()
    net.backbone[0].weight.requires_grad_(False)
    groups = _groups_by_id(_build()(net))
    assert id(net.backbone[0].weight) not in groups


def test_unknown_paramwise_keys_raise():
    with pytest.raises(ValueError, match='custom_keys'):
        BASOptimWrapperConstructor(
            dict(optimizer=dict(type='SGD', lr=0.1)),
            dict(custom_keys={'head': dict(lr_mult=10)}))


def test_no_head_parameters_raise():
    with pytest.raises(ValueError, match='head_keys'):
        _build()(nn.Sequential(nn.Conv2d(3, 4, 3)))
