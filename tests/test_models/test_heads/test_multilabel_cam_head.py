# Copyright (c) mmweak contributors.
import pytest
import torch
from mmpretrain.structures import DataSample

from mmweak.models.heads import MultiLabelCAMHead
from mmweak.registry import MODELS


def _samples(tags):
    return [DataSample().set_gt_label(list(t)) for t in tags]


def test_registered_and_bias_free_1x1_classifier():
    head = MODELS.build(
        dict(type='MultiLabelCAMHead', num_classes=5, in_channels=8))
    assert isinstance(head, MultiLabelCAMHead)
    assert head.classifier.kernel_size == (1, 1)
    assert head.classifier.bias is None
    assert head.classifier.weight.shape == (5, 8, 1, 1)


def test_gap_of_class_maps_equals_logits():
    torch.manual_seed(0)
    head = MultiLabelCAMHead(num_classes=4, in_channels=6)
    x = torch.randn(3, 6, 5, 7)
    logits = head((x, ))
    maps = head.class_maps((x, ))
    assert logits.shape == (3, 4)
    assert maps.shape == (3, 4, 5, 7)
    torch.testing.assert_close(maps.mean(dim=(2, 3)), logits)
    # the map of class c at (y, x) is w_c . f(y, x)
    w = head.classifier.weight[2, :, 0, 0]
    torch.testing.assert_close(maps[1, 2], torch.einsum('c,chw->hw', w, x[1]))
    assert head.pre_logits((x, )).shape == (3, 6)


def test_loss_equals_torch_multilabel_soft_margin_loss():
    torch.manual_seed(0)
    head = MultiLabelCAMHead(num_classes=20, in_channels=6)
    x = torch.randn(4, 6, 3, 3) * 3
    tags = [[0, 14], [3], [19, 1, 2], []]
    losses = head.loss((x, ), _samples(tags))
    target = torch.zeros(4, 20)
    for i, t in enumerate(tags):
        target[i, t] = 1
    expected = torch.nn.MultiLabelSoftMarginLoss()(head((x, )), target)
    assert set(losses) == {'loss_cls'}
    torch.testing.assert_close(losses['loss_cls'], expected,
                               rtol=1e-6, atol=1e-7)
    # also with soft/one-hot targets given as gt_score
    scored = [DataSample().set_gt_score(t) for t in target]
    torch.testing.assert_close(
        head.loss((x, ), scored)['loss_cls'], expected, rtol=1e-6, atol=1e-7)


def test_loss_gradient_matches_torch():
    torch.manual_seed(0)
    head = MultiLabelCAMHead(num_classes=3, in_channels=4)
    x = torch.randn(2, 4, 2, 2, requires_grad=True)
    head.loss((x, ), _samples([[0], [1, 2]]))['loss_cls'].backward()
    ours = x.grad.clone()
    x.grad = None
    target = torch.tensor([[1., 0., 0.], [0., 1., 1.]])
    torch.nn.functional.multilabel_soft_margin_loss(head((x, )),
                                                    target).backward()
    torch.testing.assert_close(ours, x.grad)


def test_loss_rejects_out_of_range_tags():
    head = MultiLabelCAMHead(num_classes=3, in_channels=4)
    with pytest.raises(ValueError, match='outside'):
        head.loss((torch.randn(1, 4, 2, 2), ), _samples([[3]]))


def test_predict_writes_sigmoid_scores_and_thresholded_labels():
    torch.manual_seed(0)
    head = MultiLabelCAMHead(num_classes=4, in_channels=6)
    x = torch.randn(2, 6, 4, 4)
    samples = head.predict((x, ), _samples([[0], [1, 3]]))
    scores = torch.sigmoid(head((x, )))
    for s, score in zip(samples, scores):
        torch.testing.assert_close(s.pred_score, score)
        assert s.pred_label.tolist() == torch.where(
            score >= 0.5)[0].tolist()
    assert len(head.predict((x, ))) == 2


def test_rejects_pooled_features_and_bad_args():
    head = MultiLabelCAMHead(num_classes=2, in_channels=4)
    with pytest.raises(ValueError, match='feature map'):
        head.class_maps((torch.randn(2, 4), ))
    with pytest.raises(ValueError):
        MultiLabelCAMHead(num_classes=0, in_channels=4)


def test_classifier_bias_option_keeps_gap_of_maps_equal_to_logits():
    head = MODELS.build(dict(type='MultiLabelCAMHead', num_classes=3,
                             in_channels=4))
    assert head.classifier.bias is None  # IRN: no bias by default
    head = MODELS.build(dict(type='MultiLabelCAMHead', num_classes=3,
                             in_channels=4, bias=True))
    with torch.no_grad():
        head.classifier.bias.copy_(torch.tensor([1., -2., 3.]))
    feats = (torch.rand(2, 4, 3, 5), )
    torch.testing.assert_close(head.class_maps(feats).mean(dim=(2, 3)),
                               head(feats))
