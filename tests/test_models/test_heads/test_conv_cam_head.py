# Copyright (c) mmweak contributors.
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmweak.models.heads import ConvCAMHead


def _samples(labels):
    return [DataSample().set_gt_label(int(y)) for y in labels]


def _feats(b=2, d=8, h=4, w=5):
    torch.manual_seed(0)
    return (torch.randn(b, d, h, w), )


def test_conv_cam_logits_are_gap_of_3x3_class_maps():
    head = ConvCAMHead(num_classes=3, in_channels=8)
    feats = _feats()
    maps = head.class_maps(feats)
    assert maps.shape == (2, 3, 4, 5)
    torch.testing.assert_close(
        maps, F.conv2d(feats[-1], head.conv.weight, head.conv.bias, padding=1))
    torch.testing.assert_close(head(feats), maps.mean(dim=(2, 3)))
    assert head.conv.kernel_size == (3, 3)


def test_conv_cam_predict_gives_pred_and_gt_class_maps():
    head = ConvCAMHead(num_classes=3, in_channels=8)
    feats = _feats()
    samples = head.predict(feats, _samples([1, 2]))
    maps = head.class_maps(feats)
    for i, s in enumerate(samples):
        pred = int(s.pred_label)
        assert s.loc_map.shape == (4, 5)
        assert s.loc_map.min() == 0 and s.loc_map.max() <= 1
        # min-max normalised class map of the predicted / GT class
        ref = maps[i, pred]
        ref = (ref - ref.min()) / (ref.max() - ref.min() + 1e-5)
        torch.testing.assert_close(s.loc_map, ref)
        gt = maps[i, [1, 2][i]]
        gt = (gt - gt.min()) / (gt.max() - gt.min() + 1e-5)
        torch.testing.assert_close(s.gt_loc_map, gt)


def test_conv_cam_rejects_wrong_feature_shape():
    head = ConvCAMHead(num_classes=3, in_channels=8)
    with pytest.raises(ValueError, match='feats'):
        head((torch.randn(2, 4, 3, 3), ))


def test_conv_cam_max_pooling_takes_the_most_confident_position():
    head = ConvCAMHead(num_classes=3, in_channels=8, kernel_size=1,
                       pool='max')
    feats = _feats()
    maps = head.class_maps(feats)
    torch.testing.assert_close(head(feats), maps.flatten(2).amax(2))
    with pytest.raises(ValueError, match='pool'):
        ConvCAMHead(num_classes=3, in_channels=8, pool='median')
