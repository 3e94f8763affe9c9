# Copyright (c) mmweak contributors.
import math

import pytest
import torch

from mmweak.models.losses.point_guided_consistency_loss import (
    PointGuidedConsistencyLoss, heatmap_gaussian_radius)
from mmweak.registry import MODELS

E2 = math.exp(-2.)  # Gaussian of radius 1: sigma = 3 / 6, exp(-d^2 / 0.5)
E4 = math.exp(-4.)


def _loss(**kwargs):
    """5x5 grid of 1 m cells; class 0 is tiny, so its radius is min_radius.
    """
    cfg = dict(type='mmweak.PointGuidedConsistencyLoss',
               point_cloud_range=[0, 0, -1, 5, 5, 1],
               voxel_size=[1, 1, 2],
               out_size_factor=1,
               class_mean_sizes=[[0.5, 0.5, 1.], [0.4, 0.3, 1.]],
               min_radius=1)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _unit(b=1, c=2, channel=0):
    feats = torch.zeros(b, c, 5, 5)
    feats[:, channel] = 1.
    return feats


def test_single_object_hand_computed():
    loss = _loss()
    assert loss.grid_shape == (5, 5) and loss.class_radius.tolist() == [1, 1]
    strong = _unit()
    weak = _unit()
    # one neighbour (row 2, column 3: x = 3, y = 2) is orthogonal: cos = 0
    weak[0, :, 2, 3] = torch.tensor([0., 1.])
    out = loss(strong, weak, [torch.tensor([[2.5, 2.5, 0.]])],
               [torch.tensor([0])])
    expected = -0.1 * (1 + 3 * E2 + 4 * E4) / 1
    assert out.item() == pytest.approx(expected, rel=1e-6)
    # opposite vectors give cos = -1 and a positive loss
    out = loss(strong, -weak, [torch.tensor([[2.5, 2.5, 0.]])],
               [torch.tensor([0])])
    assert out.item() == pytest.approx(-expected, rel=1e-6)


def test_overlapping_gaussians_take_the_max_and_batch_at_once():
    loss = _loss()
    centers = [
        torch.tensor([[1.5, 1.5], [2.2, 1.9]]),  # cells (1,1), (2,1)
        # (0, 0); off grid; an ignored class (-1)
        torch.tensor([[0.1, 0.9], [-1.0, 2.0], [3.5, 3.5]])
    ]
    labels = [torch.tensor([0, 1]), torch.tensor([1, 0, -1])]
    mask, num = loss.gaussian_masks(torch.cat(centers), torch.cat(labels),
                                    torch.tensor([0, 0, 1, 1, 1]), 2)
    assert num == 3
    # sample 0: columns 0..3 give e^-2, 1, 1, e^-2; rows 0..2 e^-2, 1, e^-2
    col = torch.tensor([E2, 1., 1., E2, 0.])
    row = torch.tensor([E2, 1., E2, 0., 0.])
    torch.testing.assert_close(mask[0], row[:, None] * col[None, :])
    # sample 1: the corner Gaussian is clipped to its in-grid 2x2 part
    corner = torch.zeros(5, 5)
    corner[:2, :2] = torch.tensor([[1., E2], [E2, E4]])
    torch.testing.assert_close(mask[1], corner)
    out = loss(_unit(2), _unit(2), centers, labels)
    expected = -0.1 * ((2 + 2 * E2) * (1 + 2 * E2) + (1 + E2)**2) / 3
    assert out.item() == pytest.approx(expected, rel=1e-6)


def test_radius_and_masks_match_centerpoint_heatmaps():
    pytest.importorskip('mmdet3d')
    from mmdet3d.models.utils import draw_heatmap_gaussian, gaussian_radius
    for length, width, overlap in [(2.9, 1.2, 0.1), (7., 3., 0.1),
                                   (12., 5., 0.3), (0.5, 0.4, 0.7)]:
        ref = gaussian_radius((torch.tensor(width), torch.tensor(length)),
                              min_overlap=overlap)
        ours = heatmap_gaussian_radius(torch.tensor(length),
                                       torch.tensor(width), overlap)
        assert ours.item() == pytest.approx(ref.item(), rel=1e-6)
    # class means in metres -> cells of 0.4 m (voxel 0.2, stride 2)
    means = [[4.63, 1.96, 1.74], [12.0, 2.9, 3.8], [0.73, 0.67, 1.77]]
    loss = PointGuidedConsistencyLoss(
        point_cloud_range=[-6.4, -6.4, -5, 6.4, 6.4, 3],
        voxel_size=[0.2, 0.2, 8],
        out_size_factor=2,
        class_mean_sizes=means,
        min_overlap=0.1,
        min_radius=2)
    gen = torch.Generator().manual_seed(0)
    centers = (torch.rand(12, 2, generator=gen) - 0.5) * 13.5
    labels = torch.randint(0, 3, (12, ), generator=gen)
    batch = torch.randint(0, 2, (12, ), generator=gen)
    mask, _ = loss.gaussian_masks(centers, labels, batch, 2)
    ref = torch.zeros(2, 32, 32)
    for ctr, lab, b in zip(centers, labels, batch):
        ci = ((ctr - torch.tensor([-6.4, -6.4])) / 0.4).to(torch.int32)
        if not ((ci >= 0) & (ci < 32)).all():
            continue
        radius = gaussian_radius((torch.tensor(
            means[lab][1] / 0.4), torch.tensor(means[lab][0] / 0.4)),
                                 min_overlap=0.1)
        draw_heatmap_gaussian(ref[b], ci, max(2, int(radius)))
    torch.testing.assert_close(mask, ref)


def test_stop_gradient_on_the_weak_view_by_default():
    centers, labels = [torch.tensor([[2.5, 2.5]])], [torch.tensor([0])]
    for detach in (True, False):
        strong = torch.randn(1, 3, 5, 5, requires_grad=True)
        weak = torch.randn(1, 3, 5, 5, requires_grad=True)
        _loss(detach_weak=detach)(strong, weak, centers, labels).backward()
        assert strong.grad.abs().sum() > 0
        assert (weak.grad is None) == detach
    assert _loss().detach_weak and _loss().loss_weight == 0.1


def test_per_cell_normalisation_and_empty_batches():
    loss = _loss()
    centers, labels = [torch.tensor([[2.5, 2.5]])], [torch.tensor([0])]
    strong, weak = torch.randn(1, 4, 5, 5), torch.randn(1, 4, 5, 5)
    scale = torch.rand(1, 1, 5, 5) + 0.5
    torch.testing.assert_close(loss(strong * scale, weak, centers, labels),
                               loss(strong, weak, centers, labels))
    strong.requires_grad_()
    empty = loss(strong, weak, [torch.zeros(0, 3)],
                 [torch.zeros(0, dtype=torch.long)])
    assert empty.item() == 0 and empty.requires_grad


def test_clear_errors():
    loss = _loss()
    with pytest.raises(ValueError, match='5x5'):
        loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4),
             [torch.zeros(0, 3)], [torch.zeros(0)])
    with pytest.raises(ValueError, match='outside the 2 classes'):
        loss(_unit(), _unit(), [torch.tensor([[1., 1.]])], [torch.tensor([5])])
    with pytest.raises(ValueError, match='class_mean_sizes'):
        _loss(class_mean_sizes=[1., 2.])
