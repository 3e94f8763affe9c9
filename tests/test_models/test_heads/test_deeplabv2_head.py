# Copyright (c) mmweak contributors.
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmweak.models.heads import DeepLabV2Head
from mmweak.registry import MODELS

NUM_CLASSES = 5
IN_CHANNELS = 8


def _head(**kwargs):
    torch.manual_seed(0)
    cfg = dict(
        type='DeepLabV2Head', in_channels=IN_CHANNELS,
        num_classes=NUM_CLASSES)
    cfg.update(kwargs)
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def _feats(batch=2, h=7, w=9):
    torch.manual_seed(1)
    # a stage-3 map first: the head must read the last one (in_index=-1)
    return (torch.randn(batch, 4, h, w), torch.randn(batch, IN_CHANNELS, h,
                                                     w))


def _samples(batch, size=(28, 36)):
    samples = []
    for i in range(batch):
        label = torch.randint(0, NUM_CLASSES, (1, ) + size)
        label[0, :3] = 255  # ignored rows
        sample = SegDataSample(gt_sem_seg=PixelData(data=label))
        sample.set_metainfo(dict(img_shape=size, ori_shape=size))
        samples.append(sample)
    return samples


def test_logits_keep_the_feature_size():
    head = _head()
    out = head(_feats())
    assert out.shape == (2, NUM_CLASSES, 7, 9)


def test_logits_are_the_sum_of_four_dilated_convolutions():
    head = _head()
    assert head.dilations == (6, 12, 18, 24)
    assert [c.dilation for c in head.aspp_convs] == [(6, 6), (12, 12),
                                                     (18, 18), (24, 24)]
    feats = _feats(h=30, w=31)
    x = feats[-1]
    expected = sum(
        F.conv2d(x, conv.weight, conv.bias, padding=d, dilation=d)
        for conv, d in zip(head.aspp_convs, (6, 12, 18, 24)))
    torch.testing.assert_close(head(feats), expected)
    # each branch contributes: dropping one changes the logits
    partial = expected - F.conv2d(
        x, head.aspp_convs[3].weight, head.aspp_convs[3].bias, padding=24,
        dilation=24)
    assert not torch.allclose(head(feats), partial)


def test_no_bn_no_pooling_no_conv_seg():
    head = _head()
    assert not hasattr(head, 'conv_seg')
    assert head.dropout is None
    kinds = {type(m) for m in head.modules()} - {DeepLabV2Head}
    kinds -= {type(head.loss_decode)}
    assert kinds == {nn.ModuleList, nn.Conv2d}
    assert all(c.kernel_size == (3, 3) and c.out_channels == NUM_CLASSES
               for c in head.aspp_convs)
    with pytest.raises(ValueError, match='norm_cfg'):
        _head(norm_cfg=dict(type='BN'))
    with pytest.raises(TypeError, match='channels'):
        _head(channels=16)


def test_reference_initialisation():
    head = _head(in_channels=256)
    for conv in head.aspp_convs:
        assert float(conv.bias.abs().max()) == 0
        assert abs(float(conv.weight.std()) - 0.01) < 0.002


def test_custom_dilations():
    head = _head(dilations=(1, 2))
    assert len(head.aspp_convs) == 2
    assert head(_feats()).shape == (2, NUM_CLASSES, 7, 9)


def test_loss_runs_and_every_parameter_gets_a_gradient():
    head = _head()
    feats = _feats()
    losses = head.loss(feats, _samples(2), train_cfg=dict())
    assert set(losses) == {'loss_ce', 'acc_seg'}
    assert torch.isfinite(losses['loss_ce'])
    losses['loss_ce'].backward()
    # no unused parameter: DDP needs no find_unused_parameters
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_predict_resizes_to_the_input():
    head = _head().eval()
    metas = [dict(img_shape=(28, 36), ori_shape=(28, 36))] * 2
    with torch.no_grad():
        logits = head.predict(_feats(), metas, test_cfg=dict())
    assert logits.shape == (2, NUM_CLASSES, 28, 36)
