# Copyright (c) mmweak contributors.
import copy

import pytest
import torch
from mmpretrain.structures import DataSample

from mmweak.models.backbones import BASResNet
from mmweak.models.heads import BASGenerator, BASHead
from mmweak.registry import MODELS

NUM_CLASSES = 5


def _samples(labels):
    return [DataSample().set_gt_label(int(y)) for y in labels]


def _parts(seed=0, **head_kwargs):
    """A tiny BAS backbone (BN in the tail) and a BAS head."""
    torch.manual_seed(seed)
    backbone = BASResNet(depth=18, stem_channels=8, base_channels=8)
    cfg = dict(
        type='BASHead',
        num_classes=NUM_CLASSES,
        in_channels=backbone.out_channels,
        mid_channels=backbone.mid_channels,
        hidden_channels=16)
    cfg.update(head_kwargs)
    head = MODELS.build(cfg)
    head.init_weights()
    return backbone, head


def _tail_bn_stats(backbone):
    return {
        n: b.clone()
        for n, b in backbone.named_buffers() if n.startswith('layer4')
    }


def test_generator_class_maps_equal_indexing_the_full_maps():
    torch.manual_seed(0)
    gen = BASGenerator(6, NUM_CLASSES)
    x = torch.randn(3, 6, 7, 7)
    labels = torch.tensor([4, 0, 4])
    full = gen(x)
    assert full.shape == (3, NUM_CLASSES, 7, 7)
    assert float(full.min()) > 0 and float(full.max()) < 1
    torch.testing.assert_close(
        gen.class_maps(x, labels), full[torch.arange(3), labels])


def test_loss_has_the_four_terms():
    backbone, head = _parts()
    feats = backbone(torch.rand(4, 3, 32, 32))
    losses = head.loss(feats, _samples([0, 1, 2, 3]), tail=backbone.tail)
    for key in ('loss_cls', 'loss_frg', 'loss_bas', 'loss_area'):
        assert key in losses and torch.isfinite(losses[key])
    assert 'bas_guard_rate' in losses  # logged, not summed
    assert sum(1 for k in losses if 'loss' in k) == 4


def test_background_term_sends_no_gradient_to_tail_or_classifier():
    backbone, head = _parts()
    feats = backbone(torch.rand(4, 3, 32, 32))
    losses = head.loss(feats, _samples([0, 1, 2, 3]), tail=backbone.tail)
    assert losses['bas_guard_rate'] < 1, 'all samples guarded: no signal'
    losses['loss_bas'].backward()
    tail_params = list(backbone.tail.named_parameters())
    for name, p in tail_params + list(head.classifier_cls.named_parameters()):
        assert p.grad is None or not p.grad.any(), name
    # the generator does learn from it
    assert head.classifier_loc[0].weight.grad.abs().sum() > 0


def test_background_term_reaches_features_only_through_the_generator():
    """X_b uses X_mid.detach(): with the generator input cut, S_b does not
    depend on X_mid."""
    backbone, head = _parts()
    x_mid, _ = backbone(torch.rand(4, 3, 32, 32))
    x_mid = x_mid.detach().requires_grad_()
    labels = torch.tensor([0, 1, 2, 3])
    fg_maps = head.classifier_loc.class_maps(x_mid.detach(), labels)
    x_erased = x_mid.detach() * (1 - fg_maps[:, None])
    bg = head.erase_branch(x_erased, backbone.tail)
    assert bg.requires_grad  # through the generator parameters
    (grad, ) = torch.autograd.grad(bg.sum(), x_mid, allow_unused=True)
    assert grad is None


def test_erase_branch_matches_a_deep_copy_reference():
    """Same S_b, same generator gradients, real BN statistics untouched."""
    backbone, head = _parts()
    backbone.train()
    head.train()
    x_mid, _ = backbone(torch.rand(4, 3, 32, 32))
    x_mid = x_mid.detach()
    labels = torch.tensor([0, 1, 2, 3])
    stats_before = _tail_bn_stats(backbone)

    # mmweak: functional call with frozen weights
    maps = head.classifier_loc.class_maps(x_mid, labels)
    s_b = head.erase_branch(x_mid * (1 - maps[:, None]), backbone.tail)
    s_b.sum().backward()
    ours_grad = head.classifier_loc[0].weight.grad.clone()
    head.zero_grad()

    # reference: deep copies of tail and classifier (what BAS does)
    tail_copy = copy.deepcopy(backbone.tail)
    cls_copy = copy.deepcopy(head.classifier_cls)
    maps = head.classifier_loc.class_maps(x_mid, labels)
    s_b_ref = cls_copy(tail_copy(x_mid * (1 - maps[:, None]))).mean((2, 3))
    s_b_ref.sum().backward()

    torch.testing.assert_close(s_b, s_b_ref)
    torch.testing.assert_close(ours_grad, head.classifier_loc[0].weight.grad)
    for name, before in stats_before.items():
        torch.testing.assert_close(dict(backbone.named_buffers())[name],
                                   before)
    # the copy's statistics did move (BN ran in train mode on the batch)
    copy_stats = dict(tail_copy.named_buffers())
    assert not torch.equal(copy_stats['1.0.bn1.running_mean'],
                           stats_before['layer4.0.bn1.running_mean'])


def test_eval_norm_mode_uses_running_statistics_and_restores_modes():
    backbone, head = _parts(erase_norm_mode='eval')
    backbone.train()
    head.train()
    x_mid, _ = backbone(torch.rand(4, 3, 32, 32))
    x_mid = x_mid.detach()
    stats_before = _tail_bn_stats(backbone)
    s_b = head.erase_branch(x_mid, backbone.tail)
    # reference: the frozen network in eval mode
    tail_copy = copy.deepcopy(backbone.tail).eval()
    cls_copy = copy.deepcopy(head.classifier_cls).eval()
    torch.testing.assert_close(s_b, cls_copy(tail_copy(x_mid)).mean((2, 3)))
    assert all(m.training for m in backbone.tail.modules())
    assert all(m.training for m in head.modules())
    for name, before in stats_before.items():
        torch.testing.assert_close(dict(backbone.named_buffers())[name],
                                   before)


def test_loss_needs_the_tail_and_labels():
    backbone, head = _parts()
    feats = backbone(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match='tail'):
        head.loss(feats, _samples([0, 1]))
    with pytest.raises(ValueError, match='gt_label'):
        head.loss(feats, [DataSample(), DataSample()], tail=backbone.tail)


def test_wrong_feature_channels_raise():
    backbone, head = _parts()
    x_mid, x_last = backbone(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match='mid_channels'):
        head((x_mid[:, :3], x_last))
    with pytest.raises(ValueError, match='X_mid, X_last'):
        head((x_last, ))


def _expected_topk_map(head, feats, k):
    x_mid, x_last = feats
    scores = head(feats)
    maps = head.classifier_loc(x_mid)
    out = []
    for i in range(scores.size(0)):  # plain loop as the reference formula
        idx = scores[i].argsort(descending=True)[:k]
        m = maps[i, idx].mean(0)
        out.append((m - m.min()) / (m.max() - m.min() + 1e-5))
    return torch.stack(out)


@pytest.mark.parametrize('k', [1, 2, 3])
def test_loc_map_is_the_mean_of_the_topk_class_maps(k):
    backbone, head = _parts(loc_topk=k)
    backbone.eval()
    with torch.no_grad():
        feats = backbone(torch.rand(3, 3, 32, 32))
        samples = head.predict(feats, _samples([0, 1, 2]))
        expected = _expected_topk_map(head, feats, k)
    got = torch.stack([s.loc_map for s in samples])
    torch.testing.assert_close(got, expected)
    assert 'gt_loc_map' not in samples[0]


def test_topk_of_all_classes_is_class_agnostic():
    backbone, head = _parts(loc_topk=1000)
    backbone.eval()
    with torch.no_grad():
        feats = backbone(torch.rand(2, 3, 32, 32))
        samples = head.predict(feats)
        m = head.classifier_loc(feats[0]).mean(1)
    m = (m - m.amin((1, 2), keepdim=True)) / (
        m.amax((1, 2), keepdim=True) - m.amin((1, 2), keepdim=True) + 1e-5)
    # same values up to the summation order of the mean
    torch.testing.assert_close(
        torch.stack([s.loc_map for s in samples]), m, atol=1e-4, rtol=1e-4)


def test_map_source_gt_adds_the_gt_class_map():
    backbone, head = _parts(map_source='gt')
    backbone.eval()
    with torch.no_grad():
        feats = backbone(torch.rand(2, 3, 32, 32))
        samples = head.predict(feats, _samples([3, 1]))
        maps = head.classifier_loc(feats[0])
    for i, (s, y) in enumerate(zip(samples, [3, 1])):
        g = maps[i, y]
        torch.testing.assert_close(
            s.gt_loc_map, (g - g.min()) / (g.max() - g.min() + 1e-5))
        assert s.pred_score.shape == (NUM_CLASSES, )
        assert s.loc_map.shape == g.shape


def test_final_relu_variant_has_nonnegative_cams():
    backbone, head = _parts(final_relu=True,
                            bas_loss=dict(type='BASLoss', rectify=False,
                                          guard_value=0))
    feats = backbone(torch.rand(2, 3, 32, 32))
    assert isinstance(head.classifier_cls[-1], torch.nn.ReLU)
    assert float(head(feats).min()) >= 0


@pytest.mark.parametrize('kwargs, match', [
    (dict(map_source='top'), 'map_source'),
    (dict(loc_topk=0), 'loc_topk'),
    (dict(erase_norm_mode='frozen'), 'erase_norm_mode'),
    (dict(bas_loss=dict(type='BASLoss', rectify=False)), 'rectify'),
])
def test_bad_head_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BASHead(num_classes=3, in_channels=4, mid_channels=4, **kwargs)


def test_new_layers_are_xavier_uniform_with_zero_bias():
    _, head = _parts()
    conv = head.classifier_cls[0]
    bound = (6 / (conv.in_channels * 9 + conv.out_channels * 9))**0.5
    assert float(conv.weight.abs().max()) <= bound
    assert not conv.bias.any() and not head.classifier_loc[0].bias.any()
