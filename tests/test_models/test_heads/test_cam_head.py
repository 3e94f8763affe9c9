# Copyright (c) mmweak contributors.
import torch
from mmpretrain.structures import DataSample

from mmweak.models.heads import CAMHead


def _samples(labels):
    return [DataSample().set_gt_label(int(y)) for y in labels]


def test_logits_equal_gap_of_class_maps_plus_bias():
    torch.manual_seed(0)
    head = CAMHead(num_classes=3, in_channels=4)
    x = torch.randn(2, 4, 5, 5)
    logits = head((x, ))
    maps = head.class_maps((x, ))
    assert maps.shape == (2, 3, 5, 5)
    torch.testing.assert_close(logits, maps.mean(dim=(2, 3)) + head.fc.bias)
    # Eq. 2 of Zhou et al.: M_c(x, y) = sum_k w_k^c f_k(x, y)
    manual = (head.fc.weight[1][:, None, None] * x[0]).sum(0)
    torch.testing.assert_close(maps[0, 1], manual)


def test_loss_is_cross_entropy_under_loss_cls():
    torch.manual_seed(0)
    head = CAMHead(num_classes=3, in_channels=4)
    x = torch.randn(2, 4, 3, 3)
    losses = head.loss((x, ), _samples([0, 2]))
    expected = torch.nn.functional.cross_entropy(head((x, )),
                                                 torch.tensor([0, 2]))
    torch.testing.assert_close(losses['loss_cls'], expected)
    assert 'loss' not in losses


def test_predict_attaches_pred_and_gt_class_maps():
    torch.manual_seed(0)
    head = CAMHead(num_classes=3, in_channels=4)
    x = torch.randn(2, 4, 6, 6)
    samples = head.predict((x, ), _samples([1, 2]))
    maps = head.class_maps((x, ))
    for i, s in enumerate(samples):
        assert s.loc_map.shape == (6, 6)
        assert float(s.loc_map.min()) >= 0 and float(s.loc_map.max()) <= 1
        pred = int(s.pred_label)
        assert pred == int(s.pred_score.argmax())
        # the loc map is the normalised map of the predicted class
        m = maps[i, pred]
        expected = (m - m.min()) / (m.max() - m.min() + 1e-5)
        torch.testing.assert_close(s.loc_map, expected)
        g = maps[i, int(s.gt_label)]
        torch.testing.assert_close(s.gt_loc_map,
                                   (g - g.min()) / (g.max() - g.min() + 1e-5))


def test_predict_without_samples_gives_only_pred_map():
    head = CAMHead(num_classes=3, in_channels=4)
    samples = head.predict((torch.randn(2, 4, 3, 3), ))
    assert len(samples) == 2
    assert 'loc_map' in samples[0] and 'gt_loc_map' not in samples[0]
