# Copyright (c) mmweak contributors.
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmpretrain.structures import DataSample

from mmweak.models.classifiers import MultiLabelCAMClassifier
from mmweak.registry import MODELS

MODEL = dict(
    type='MultiLabelCAMClassifier',
    data_preprocessor=dict(
        type='mmpretrain.ClsDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='mmpretrain.ResNet',
        depth=18,
        stem_channels=8,
        base_channels=8,
        strides=(1, 2, 2, 1),
        out_indices=(3, )),
    head=dict(type='MultiLabelCAMHead', num_classes=5, in_channels=64))


def _model():
    torch.manual_seed(0)
    return MODELS.build(MODEL)


def _batch(n=2, size=(40, 48)):
    g = torch.Generator().manual_seed(0)
    imgs = [torch.randint(0, 256, (3, ) + size, generator=g,
                          dtype=torch.uint8) for _ in range(n)]
    tags = [[0, 3], [4]][:n]
    return dict(inputs=imgs,
                data_samples=[DataSample().set_gt_label(t) for t in tags])


def test_forward_cam_shape_and_gap_equals_logits():
    model = _model().eval()
    assert isinstance(model, MultiLabelCAMClassifier)
    assert model.num_classes == 5
    x = torch.randn(2, 3, 64, 80)
    maps = model.forward_cam(x)
    # ResNet at output stride 16
    assert maps.shape == (2, 5, 4, 5)
    torch.testing.assert_close(maps.mean(dim=(2, 3)), model(x, mode='tensor'))
    assert maps.min() < 0  # raw maps: no ReLU


def test_train_step_and_predict():
    model = _model()
    optim = build_optim_wrapper(
        model, dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.0)))
    model.train()
    log_vars = model.train_step(_batch(), optim)
    assert torch.isfinite(log_vars['loss'])
    assert 'loss_cls' in log_vars
    model.eval()
    outs = model.test_step(_batch())
    assert len(outs) == 2
    for s in outs:
        assert s.pred_score.shape == (5, )
        assert ((s.pred_score >= 0) & (s.pred_score <= 1)).all()


def test_default_data_preprocessor_and_head_check():
    cfg = dict(MODEL)
    cfg.pop('data_preprocessor')
    model = MODELS.build(cfg)
    assert type(model.data_preprocessor).__name__ == 'ClsDataPreprocessor'
    bad = dict(cfg, head=dict(
        type='mmpretrain.MultiLabelLinearClsHead', num_classes=5,
        in_channels=64,
        loss=dict(type='mmpretrain.CrossEntropyLoss', use_sigmoid=True)))
    with pytest.raises(TypeError, match='class_maps'):
        MODELS.build(bad)
