# Copyright (c) mmweak contributors.
"""BASWSSSHead: the WSSS variant of BAS on top of BASHead (random positive
class, multi-label loss, detached foreground guidance)."""
import pytest
import torch
import torch.nn as nn
from mmpretrain.structures import DataSample

from mmweak.models.backbones import BASResNet
from mmweak.models.heads import BASHead, BASWSSSHead
from mmweak.models.heads.bas_wsss_head import sample_positive_classes
from mmweak.models.losses import pos_neg_cross_entropy
from mmweak.registry import MODELS

NUM_CLASSES = 5
TAGS = [[0, 3], [4], [1, 2, 3], [2]]


def _samples(tags=TAGS):
    return [DataSample().set_gt_label(t) for t in tags]


def _parts(seed=0, **head_kwargs):
    """Quarter-width ResNet-50 in the WSSS layout and a BASWSSSHead."""
    torch.manual_seed(seed)
    backbone = BASResNet(
        depth=50,
        stem_channels=16,
        base_channels=16,
        strides=(1, 2, 2, 1),
        tail_pool=False)
    cfg = dict(
        type='BASWSSSHead',
        num_classes=NUM_CLASSES,
        in_channels=backbone.out_channels,
        mid_channels=backbone.mid_channels)
    cfg.update(head_kwargs)
    head = MODELS.build(cfg)
    head.init_weights()
    return backbone, head


# ---------------------------------------------------------------- sampling
def test_sampling_draws_only_positives():
    g = torch.Generator().manual_seed(0)
    targets = (torch.rand(64, 20, generator=g) < 0.2).float()
    targets[torch.arange(64), torch.randint(0, 20, (64, ), generator=g)] = 1
    for _ in range(20):
        labels = sample_positive_classes(targets, g)
        assert labels.shape == (64, ) and labels.dtype == torch.long
        assert targets[torch.arange(64), labels].eq(1).all()


def test_sampling_is_roughly_uniform_over_a_multi_positive_row():
    targets = torch.zeros(4000, 6)
    targets[:, [0, 2, 5]] = 1
    labels = sample_positive_classes(targets,
                                     torch.Generator().manual_seed(1))
    counts = torch.bincount(labels, minlength=6).float()
    assert counts[[1, 3, 4]].sum() == 0
    # 4000 / 3 each; binomial std ~30, so +-150 is five sigma
    assert (counts[[0, 2, 5]] - 4000 / 3).abs().max() < 150


def test_sampling_is_deterministic_under_a_seed():
    targets = (torch.rand(32, 10) < 0.5).float()
    targets[:, 7] = 1
    a = sample_positive_classes(targets, torch.Generator().manual_seed(3))
    b = sample_positive_classes(targets, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    torch.manual_seed(5)  # the global generator (mmengine's seed) too
    c = sample_positive_classes(targets)
    torch.manual_seed(5)
    assert torch.equal(c, sample_positive_classes(targets))


def test_sampling_rejects_images_without_tags():
    targets = torch.tensor([[0., 1., 0.], [0., 0., 0.]])
    with pytest.raises(ValueError, match=r'images \[1\]'):
        sample_positive_classes(targets)


# -------------------------------------------------------------- structure
def test_head_is_a_bas_head_with_the_wsss_layout():
    backbone, head = _parts()
    assert isinstance(head, BASWSSSHead) and isinstance(head, BASHead)
    assert isinstance(head.classifier_cls, nn.Conv2d)
    assert head.classifier_cls.kernel_size == (1, 1)
    assert head.classifier_cls.bias is None
    gen = head.classifier_loc[0]
    assert gen.kernel_size == (3, 3) and gen.bias is None
    assert isinstance(head.classifier_loc[1], nn.Sigmoid)
    # quarter-width ResNet-50: layer3 256 and layer4 512 channels, both at
    # output stride 16 (the tail is layer4 alone, no pooling)
    x_mid, x_last = backbone(torch.rand(2, 3, 64, 64))
    assert x_mid.shape == (2, 256, 4, 4) and x_last.shape == (2, 512, 4, 4)
    assert isinstance(backbone.tail[0], nn.Identity)


def test_generator_class_maps_without_bias_equal_indexing():
    _, head = _parts()
    x = torch.randn(3, head.mid_channels, 5, 6)
    labels = torch.tensor([4, 0, 4])
    torch.testing.assert_close(
        head.classifier_loc.class_maps(x, labels),
        head.classifier_loc(x)[torch.arange(3), labels])


def test_class_maps_are_the_generator_maps():
    backbone, head = _parts()
    feats = backbone(torch.rand(2, 3, 64, 48))
    maps = head.class_maps(feats)
    assert maps.shape == (2, NUM_CLASSES, 4, 3)
    assert float(maps.min()) > 0 and float(maps.max()) < 1
    torch.testing.assert_close(maps, head.classifier_loc(feats[0]))


# ------------------------------------------------------------------ losses
def test_loss_terms_and_the_multilabel_term():
    backbone, head = _parts()
    feats = backbone(torch.rand(4, 3, 64, 64))
    losses = head.loss(feats, _samples(), tail=backbone.tail)
    assert {k for k in losses if 'loss' in k} == {
        'loss_cls', 'loss_frg', 'loss_bas', 'loss_area'
    }
    assert all(torch.isfinite(v) for v in losses.values())
    targets = torch.zeros(4, NUM_CLASSES)
    for i, t in enumerate(TAGS):
        targets[i, t] = 1
    torch.testing.assert_close(losses['loss_cls'],
                               pos_neg_cross_entropy(head(feats), targets))


def test_loss_uses_the_sampled_class_and_the_generator_argument():
    """With one tag per image the draw is forced: loss_area is beta times
    the mean generator map of that class."""
    backbone, head = _parts()
    feats = backbone(torch.rand(3, 3, 64, 64))
    labels = torch.tensor([4, 1, 1])
    losses = head.loss(feats, _samples([[4], [1], [1]]), tail=backbone.tail)
    maps = head.classifier_loc(feats[0])[torch.arange(3), labels]
    torch.testing.assert_close(losses['loss_area'],
                               head.bas_loss.beta * maps.mean())
    # a given generator makes the draw reproducible
    tags = TAGS[:3]
    a = head.loss(feats, _samples(tags), tail=backbone.tail,
                  generator=torch.Generator().manual_seed(0))
    b = head.loss(feats, _samples(tags), tail=backbone.tail,
                  generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a['loss_area'], b['loss_area'])


def test_gt_score_tags_are_read_too():
    backbone, head = _parts()
    feats = backbone(torch.rand(2, 3, 64, 64))
    samples = [
        DataSample().set_gt_score(torch.tensor([0., 1., 0., 1., 0.])),
        DataSample().set_gt_score(torch.tensor([1., 0., 0., 0., 0.]))
    ]
    losses = head.loss(feats, samples, tail=backbone.tail)
    assert torch.isfinite(losses['loss_cls'])


def test_foreground_guidance_gradient_does_not_reach_the_features():
    """L_frg = CE(GAP(F.detach() * M_f), c): it trains the generator only,
    never the classifier or the backbone's layer4 (WSSS detaches F)."""
    backbone, head = _parts()
    feats = backbone(torch.rand(4, 3, 64, 64))
    x_mid, x_last = feats
    x_last.retain_grad()
    losses = head.loss(feats, _samples(), tail=backbone.tail)
    losses['loss_frg'].backward()
    assert x_last.grad is None or not x_last.grad.any()
    for name, p in list(head.classifier_cls.named_parameters()) + list(
            backbone.layer4.named_parameters()):
        assert p.grad is None or not p.grad.any(), name
    assert head.classifier_loc[0].weight.grad.abs().sum() > 0


def test_wsol_bas_head_keeps_the_guidance_gradient_on_the_features():
    """The option is off for WSOL BAS (its L_frg also trains F)."""
    torch.manual_seed(0)
    backbone = BASResNet(depth=18, stem_channels=8, base_channels=8)
    head = BASHead(NUM_CLASSES, backbone.out_channels, backbone.mid_channels,
                   hidden_channels=16)
    assert head.detach_frg_feats is False
    feats = backbone(torch.rand(2, 3, 32, 32))
    losses = head.loss(
        feats, [DataSample().set_gt_label(i) for i in (0, 1)],
        tail=backbone.tail)
    losses['loss_frg'].backward()
    assert head.classifier_cls[-1].weight.grad.abs().sum() > 0


def test_background_term_trains_the_generator_only():
    backbone, head = _parts()
    feats = backbone(torch.rand(4, 3, 64, 64))
    losses = head.loss(feats, _samples(), tail=backbone.tail)
    assert losses['bas_guard_rate'] < 1, 'all samples guarded: no signal'
    losses['loss_bas'].backward()
    for name, p in list(backbone.layer4.named_parameters()) + list(
            head.classifier_cls.named_parameters()):
        assert p.grad is None or not p.grad.any(), name
    assert head.classifier_loc[0].weight.grad.abs().sum() > 0


def test_predict_gives_multilabel_scores():
    backbone, head = _parts(thr=0.5)
    feats = backbone(torch.rand(2, 3, 64, 64))
    samples = head.predict(feats)
    scores = torch.sigmoid(head(feats))
    for sample, score in zip(samples, scores):
        torch.testing.assert_close(sample.pred_score, score)
        assert torch.equal(sample.pred_label, torch.where(score >= 0.5)[0])


def test_bad_tags_raise():
    backbone, head = _parts()
    feats = backbone(torch.rand(2, 3, 64, 64))
    with pytest.raises(ValueError, match='outside'):
        head.loss(feats, _samples([[0], [7]]), tail=backbone.tail)
    with pytest.raises(ValueError, match='at least one positive'):
        head.loss(feats, _samples([[0], []]), tail=backbone.tail)
    with pytest.raises(ValueError, match='tail'):
        head.loss(feats, _samples([[0], [1]]))


def test_a_cam_head_checkpoint_loads_its_classifier_into_the_bas_head():
    """A Stage-0 CAM network (MultiLabelCAMHead) initialises BAS-WSSS: its
    bias-free classifier becomes ``classifier_cls``, the generator keeps its
    initialisation, and a BAS checkpoint still loads as it is."""
    backbone, head = _parts()
    cam_head = MODELS.build(
        dict(
            type='MultiLabelCAMHead',
            num_classes=NUM_CLASSES,
            in_channels=backbone.out_channels))
    torch.nn.init.normal_(cam_head.classifier.weight)
    state = {'head.' + k: v for k, v in cam_head.state_dict().items()}
    assert list(state) == ['head.classifier.weight']
    generator = head.classifier_loc.state_dict()
    model = nn.Module()
    model.head = head
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert unexpected == []
    assert all('classifier_loc' in k for k in missing)
    assert torch.equal(head.classifier_cls.weight, cam_head.classifier.weight)
    for key, value in head.classifier_loc.state_dict().items():
        assert torch.equal(value, generator[key])

    bas_state = {k: v + 1 for k, v in model.state_dict().items()}
    model.load_state_dict(bas_state)
    assert torch.equal(head.classifier_cls.weight,
                       bas_state['head.classifier_cls.weight'])
