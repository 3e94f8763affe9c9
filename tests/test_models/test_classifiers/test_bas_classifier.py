# Copyright (c) mmweak contributors.
import pytest
import torch
from mmpretrain.structures import DataSample

from mmweak.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

NUM_CLASSES = 4

# small versions of the four BAS backbones: (config, input size, batch);
# InceptionV3 has no width option, so it gets the smallest batch and input
BACKBONES = {
    'vgg': (dict(type='BASVGG', depth=11), 32, 4),
    'resnet': (dict(type='BASResNet', depth=50, stem_channels=8,
                    base_channels=8), 32, 4),
    'inception': (dict(type='BASInceptionV3'), 48, 2),
    'mobilenet': (dict(type='BASMobileNetV1', widen_factor=0.25), 32, 4),
}


def _model(name, **head_kwargs):
    backbone = BACKBONES[name][0]
    probe = MODELS.build(backbone)
    head = dict(
        type='BASHead',
        num_classes=NUM_CLASSES,
        in_channels=probe.out_channels,
        mid_channels=probe.mid_channels,
        hidden_channels=16,
        loc_topk=2)
    head.update(head_kwargs)
    return MODELS.build(
        dict(
            type='BASClassifier',
            data_preprocessor=dict(
                num_classes=NUM_CLASSES, mean=[128.] * 3, std=[64.] * 3),
            backbone=backbone,
            head=head,
            loc_thr=0.2))


def _batch(size, n=4):
    inputs = [
        torch.randint(0, 255, (3, size, size), dtype=torch.uint8)
        for _ in range(n)
    ]
    samples = []
    for i in range(n):
        s = DataSample().set_gt_label(i % NUM_CLASSES)
        s.set_metainfo(dict(img_shape=(size, size)))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('name', list(BACKBONES))
def test_two_training_iterations_then_predict(name):
    torch.manual_seed(0)
    model = _model(name)
    model.init_weights()
    optim = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(
            type='BASOptimWrapperConstructor',
            optim_wrapper_cfg=dict(
                optimizer=dict(
                    type='SGD', lr=1e-2, momentum=0.9, weight_decay=5e-4,
                    nesterov=True))))(model)
    _, size, batch = BACKBONES[name]
    data = _batch(size, batch)
    tail = dict(model.backbone.tail.named_parameters())
    tail_before = {n: p.detach().clone() for n, p in tail.items()}
    gen_before = model.head.classifier_loc[0].weight.detach().clone()

    model.train()
    for _ in range(2):
        log_vars = model.train_step(data, optim)
        assert torch.isfinite(log_vars['loss'])
        for key in ('loss_cls', 'loss_frg', 'loss_bas', 'loss_area'):
            assert key in log_vars
    # the tail is trained by the classification path, the generator too
    assert any(not torch.equal(tail_before[n], p) for n, p in tail.items())
    assert not torch.equal(gen_before, model.head.classifier_loc[0].weight)

    model.eval()
    with torch.no_grad():
        out = model.val_step(data)
    for s in out:
        assert s.pred_score.shape == (NUM_CLASSES, )
        assert s.loc_map.ndim == 2 and float(s.loc_map.max()) <= 1
        assert s.pred_bboxes.shape == (1, 4)
        x0, y0, x1, y1 = s.pred_bboxes[0].tolist()
        assert 0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size


def test_tensor_mode_returns_class_scores():
    model = _model('mobilenet')
    model.eval()
    scores = model(torch.rand(2, 3, 32, 32), mode='tensor')
    assert scores.shape == (2, NUM_CLASSES)


def test_rejects_a_backbone_without_tail():
    with pytest.raises(TypeError, match='BAS backbone'):
        MODELS.build(
            dict(
                type='BASClassifier',
                backbone=dict(type='mmpretrain.ResNet', depth=18),
                head=dict(
                    type='BASHead', num_classes=2, in_channels=512,
                    mid_channels=256)))


def test_rejects_head_channels_that_do_not_match_the_backbone():
    with pytest.raises(ValueError, match='mid_channels'):
        _model('mobilenet', mid_channels=64)
