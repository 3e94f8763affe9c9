# Copyright (c) mmweak contributors.
"""BASWSSSClassifier: one training step, the seed maps behind forward_cam
and the multi-scale CAM export on a quarter-width ResNet-50."""
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmpretrain.structures import DataSample

from mmweak.cam import multiscale_cams
from mmweak.models.classifiers import (BASWSSSClassifier,
                                       MultiLabelCAMClassifier)
from mmweak.registry import MODELS

MODEL = dict(
    type='BASWSSSClassifier',
    data_preprocessor=dict(
        type='mmpretrain.ClsDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='BASResNet',
        depth=50,
        stem_channels=16,
        base_channels=16,
        strides=(1, 2, 2, 1),
        tail_pool=False),
    head=dict(
        type='BASWSSSHead', num_classes=5, in_channels=512,
        mid_channels=256))


def _model(seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(MODEL)
    model.init_weights()
    return model


def _batch(n=4, size=(64, 64)):
    g = torch.Generator().manual_seed(0)
    imgs = [torch.randint(0, 256, (3, ) + size, generator=g,
                          dtype=torch.uint8) for _ in range(n)]
    tags = [[0, 3], [4], [1, 2, 3], [2]][:n]
    return dict(inputs=imgs,
                data_samples=[DataSample().set_gt_label(t) for t in tags])


def _optim(model):
    return build_optim_wrapper(
        model,
        dict(
            constructor='BASOptimWrapperConstructor',
            optimizer=dict(type='SGD', lr=0.005, momentum=0.0,
                           weight_decay=1e-4),
            paramwise_cfg=dict(bias_lr_mult=1.0, head_lr_mult=10.0,
                               head_bias_lr_mult=10.0)))


def test_is_a_multilabel_cam_classifier_with_generator_seed_maps():
    model = _model().eval()
    assert isinstance(model, MultiLabelCAMClassifier)
    assert model.num_classes == 5
    x = torch.randn(2, 3, 64, 80)
    maps = model.forward_cam(x)
    assert maps.shape == (2, 5, 4, 5)  # output stride 16
    assert float(maps.min()) > 0 and float(maps.max()) < 1
    x_mid, _ = model.extract_feat(x)
    torch.testing.assert_close(maps, model.head.classifier_loc(x_mid))


def test_train_step_updates_and_is_deterministic_under_a_seed():
    logs = []
    for _ in range(2):
        model = _model()
        optim = _optim(model)
        before = model.head.classifier_loc[0].weight.detach().clone()
        model.train()
        torch.manual_seed(1)  # the class draw follows the global seed
        log_vars = model.train_step(_batch(), optim)
        assert torch.isfinite(log_vars['loss'])
        assert {'loss_cls', 'loss_frg', 'loss_bas', 'loss_area',
                'bas_guard_rate'} <= set(log_vars)
        assert not torch.equal(before, model.head.classifier_loc[0].weight)
        logs.append({k: float(v) for k, v in log_vars.items()})
    assert logs[0] == logs[1]


def test_predict_and_multiscale_export():
    model = _model().eval()
    batch = _batch(2, size=(40, 56))
    with torch.no_grad():
        outputs = model.test_step(batch)
    assert outputs[0].pred_score.shape == (5, )
    packs = multiscale_cams(model, torch.stack(batch['inputs']),
                            [[0, 3], [4]], scales=(1.0, 0.5))
    assert packs[0]['high_res'].shape == (2, 40, 56)
    assert packs[0]['cam'].shape == (2, 10, 14)
    assert packs[1]['keys'].tolist() == [4]
    assert float(packs[0]['high_res'].max()) <= 1.0


def test_needs_a_bas_backbone_with_matching_channels():
    cfg = dict(MODEL, backbone=dict(
        type='mmpretrain.ResNet', depth=50, stem_channels=16,
        base_channels=16, strides=(1, 2, 2, 1), out_indices=(2, 3)))
    with pytest.raises(TypeError, match='BAS backbone'):
        MODELS.build(cfg)
    cfg = dict(MODEL, head=dict(MODEL['head'], mid_channels=128))
    with pytest.raises(ValueError, match='mid_channels'):
        MODELS.build(cfg)
    assert BASWSSSClassifier is type(_model())
