# Copyright (c) mmweak contributors.
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmweak.models.heads import SATHead
from mmweak.models.losses import SATLoss


def _samples(labels):
    return [DataSample().set_gt_label(int(y)) for y in labels]


def _feats(b=2, d=8, h=4, w=5, g=3):
    torch.manual_seed(0)
    return (torch.randn(b, d, h, w), torch.rand(b, g, h, w))


def test_sat_head_classifies_patch_featmap_only():
    head = SATHead(num_classes=3, in_channels=8)
    feats = _feats()
    logits = head(feats)
    ref = F.conv2d(feats[0], head.conv.weight, head.conv.bias,
                   padding=1).mean(dim=(2, 3))
    torch.testing.assert_close(logits, ref)
    # the maps do not feed the classifier
    torch.testing.assert_close(head((feats[0], feats[1] * 0.5)), logits)


def test_sat_head_loss_has_cls_area_and_norm_terms():
    head = SATHead(
        num_classes=3,
        in_channels=8,
        loc_loss=dict(
            type='SATLoss', area_target=0.3, area_weight=2.0,
            norm_weight=0.5))
    feats = _feats()
    losses = head.loss(feats, _samples([0, 2]))
    assert set(losses) == {'loss_cls', 'loss_area', 'loss_norm'}
    torch.testing.assert_close(
        losses['loss_cls'],
        F.cross_entropy(head(feats), torch.tensor([0, 2])))
    ref = SATLoss(area_target=0.3, area_weight=2.0,
                  norm_weight=0.5)(feats[1].mean(1))
    torch.testing.assert_close(losses['loss_area'], ref['loss_area'])
    torch.testing.assert_close(losses['loss_norm'], ref['loss_norm'])


def test_sat_head_predicts_mean_of_gated_maps_as_class_agnostic_map():
    head = SATHead(num_classes=3, in_channels=8)
    feats = _feats()
    samples = head.predict(feats, _samples([0, 1]))
    mean = feats[1].mean(1)
    for i, s in enumerate(samples):
        ref = (mean[i] - mean[i].min()) / (
            mean[i].max() - mean[i].min() + 1e-5)
        torch.testing.assert_close(s.loc_map, ref)
        assert 'gt_loc_map' not in s
        assert s.pred_score.shape == (3, )


def test_sat_head_needs_sat_backbone_outputs():
    head = SATHead(num_classes=3, in_channels=8)
    with pytest.raises(ValueError, match='SATVisionTransformer'):
        head.loss((torch.randn(2, 8, 4, 4), ), _samples([0, 1]))
