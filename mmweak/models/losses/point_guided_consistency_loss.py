# Copyright (c) mmweak contributors.
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmweak.registry import MODELS


def heatmap_gaussian_radius(length: torch.Tensor, width: torch.Tensor,
                            min_overlap: float) -> torch.Tensor:
    """CenterNet/CenterPoint heatmap radius, batched over objects.

    The same three-case rule as mmdet3d's ``gaussian_radius`` (which
    CenterHead calls with ``(width, length)`` in feature cells): the
    smallest radius over the three corner-shift cases that keeps
    ``IoU >= min_overlap``. The rule is symmetric in ``length`` and
    ``width``.
    """
    h, w = width, length
    b1 = h + w
    c1 = w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + torch.sqrt(b1**2 - 4 * c1)) / 2
    b2 = 2 * (h + w)
    c2 = (1 - min_overlap) * w * h
    r2 = (b2 + torch.sqrt(b2**2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (h + w)
    c3 = (min_overlap - 1) * w * h
    r3 = (b3 + torch.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return torch.minimum(torch.minimum(r1, r2), r3)


@MODELS.register_module()
class PointGuidedConsistencyLoss(nn.Module):
    """Point-guided two-view BEV consistency loss of the Point-DETR3D student.

    Point-DETR3D (Gao et al., AAAI 2024, arXiv 2403.15317), student
    self-supervision: with ``f_s`` the strong-view BEV map un-augmented onto
    the weak grid and ``f_w`` the weak-view map, both L2-normalised per cell,
    and ``M`` the max over Gaussian masks around the objects' centres,

    ``L = - loss_weight * sum_{b, y, x} M * cos(f_s, f_w) / N_obj``

    where ``N_obj`` counts the objects whose centre falls on the grid
    (objects off the grid or labelled -1 are left out). The
    Gaussian of an object follows CenterPoint's heatmap rule (mmdet3d
    ``CenterHead.get_targets_single``): the **class-mean** length/width of
    the object's class in feature cells gives
    ``r = max(min_radius, int(gaussian_radius((w, l), min_overlap)))``; the
    Gaussian has ``sigma = (2r + 1) / 6``, is cut to the ``(2r+1)^2`` window
    around the (truncated) integer centre cell, and overlapping Gaussians
    are combined with max. The weak view gets no gradient by default.

    Args:
        point_cloud_range (Sequence[float]): ``[x0, y0, z0, x1, y1, z1]``.
        voxel_size (Sequence[float]): Voxel (pillar) size; x and y are used.
        out_size_factor (int): Stride of the BEV map relative to voxels.
        class_mean_sizes (Sequence[Sequence[float]]): ``(l, w, h)`` in
            metres per class index (mmdet3d order, from the labelled split).
        min_overlap (float): ``gaussian_overlap``. Defaults to 0.1
            (CenterPoint's nuScenes value).
        min_radius (int): Smallest radius in cells. Defaults to 2.
        loss_weight (float): Defaults to 0.1.
        detach_weak (bool): Stop-gradient on the weak view. Defaults to True.
        eps (float): Norm floor of the per-cell L2 normalisation.
            Defaults to 1e-6.
    """

    def __init__(self,
                 point_cloud_range: Sequence[float],
                 voxel_size: Sequence[float],
                 out_size_factor: int,
                 class_mean_sizes: Sequence[Sequence[float]],
                 min_overlap: float = 0.1,
                 min_radius: int = 2,
                 loss_weight: float = 0.1,
                 detach_weak: bool = True,
                 eps: float = 1e-6) -> None:
        super().__init__()
        if len(point_cloud_range) != 6:
            raise ValueError('point_cloud_range must have 6 values, got '
                             f'{point_cloud_range}')
        if len(voxel_size) < 2 or min(voxel_size[:2]) <= 0:
            raise ValueError(f'voxel_size must have positive x, y, got '
                             f'{voxel_size}')
        sizes = torch.as_tensor(class_mean_sizes, dtype=torch.float32)
        if sizes.dim() != 2 or sizes.shape[1] < 2 or len(sizes) == 0:
            raise ValueError('class_mean_sizes must be one (l, w, h) row per '
                             f'class, got shape {tuple(sizes.shape)}')
        if not 0 < min_overlap < 1:
            raise ValueError(f'min_overlap={min_overlap} must be in (0, 1)')
        self.point_cloud_range = [float(v) for v in point_cloud_range]
        self.voxel_size = [float(v) for v in voxel_size]
        self.out_size_factor = int(out_size_factor)
        self.min_overlap = float(min_overlap)
        self.min_radius = int(min_radius)
        self.loss_weight = float(loss_weight)
        self.detach_weak = bool(detach_weak)
        self.eps = float(eps)
        self.cell_size = (self.voxel_size[0] * self.out_size_factor,
                          self.voxel_size[1] * self.out_size_factor)
        self.grid_shape = (  # (H, W) = (y cells, x cells)
            int(
                round((self.point_cloud_range[4] - self.point_cloud_range[1]) /
                      self.cell_size[1])),
            int(
                round((self.point_cloud_range[3] - self.point_cloud_range[0]) /
                      self.cell_size[0])))
        # per-class radius in cells, computed once from the class means
        length = sizes[:, 0] / self.cell_size[0]
        width = sizes[:, 1] / self.cell_size[1]
        radius = heatmap_gaussian_radius(length, width, self.min_overlap)
        radius = radius.floor().long().clamp(min=self.min_radius)
        self.register_buffer('class_radius', radius, persistent=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_radius)

    def gaussian_masks(self, centers: torch.Tensor, labels: torch.Tensor,
                       batch_idx: torch.Tensor,
                       batch_size: int) -> Tuple[torch.Tensor, int]:
        """Max-combined Gaussian masks of all objects of a batch at once.

        Args:
            centers (Tensor): ``(N, >=2)`` object centres (x, y, ...) in
                LiDAR metres, all samples concatenated.
            labels (Tensor): ``(N,)`` class indices; negative labels
                (mmdet3d's -1 for classes outside the class list) are
                ignored.
            batch_idx (Tensor): ``(N,)`` sample index of every object.
            batch_size (int): ``B``.

        Returns:
            tuple: ``(B, H, W)`` masks in [0, 1] and the number of objects
            whose centre cell lies on the grid.
        """
        H, W = self.grid_shape
        device = self.class_radius.device
        flat = torch.zeros(batch_size * H * W, device=device)
        if centers.numel() == 0:
            return flat.view(batch_size, H, W), 0
        labels = labels.to(device).long()
        if labels.max() >= self.num_classes:
            raise ValueError(f'labels {labels.unique().tolist()} outside the '
                             f'{self.num_classes} classes of class_mean_sizes')
        centers = centers.to(device, torch.float32)
        batch_idx = batch_idx.to(device).long()
        known = labels >= 0  # mmdet3d marks classes outside the list as -1
        centers, labels, batch_idx = centers[known], labels[known], \
            batch_idx[known]
        # CenterHead: (x - x0) / voxel / out_size_factor, cast to int
        cx = ((centers[:, 0] - self.point_cloud_range[0]) /
              self.cell_size[0]).trunc().long()
        cy = ((centers[:, 1] - self.point_cloud_range[1]) /
              self.cell_size[1]).trunc().long()
        keep = (cx >= 0) & (cx < W) & (cy >= 0) & (cy < H)
        cx, cy, labels, batch_idx = cx[keep], cy[keep], labels[keep], \
            batch_idx[keep]
        num_objects = int(keep.sum())
        if num_objects == 0:
            return flat.view(batch_size, H, W), 0
        radius = self.class_radius[labels]  # (N, )
        r_max = int(radius.max())
        offs = torch.arange(-r_max, r_max + 1, device=device)
        dy, dx = torch.meshgrid(offs, offs, indexing='ij')
        dx, dy = dx.reshape(1, -1), dy.reshape(1, -1)  # (1, K)
        sigma = (2 * radius.float() + 1) / 6
        vals = torch.exp(-(dx**2 + dy**2).float() /
                         (2 * sigma[:, None]**2))  # (N, K)
        # gaussian_2d zeroes values below float64 eps times its max (1)
        inside = (dx.abs() <= radius[:, None]) & \
            (dy.abs() <= radius[:, None]) & \
            (vals >= torch.finfo(torch.float64).eps)
        x = cx[:, None] + dx
        y = cy[:, None] + dy
        inside &= (x >= 0) & (x < W) & (y >= 0) & (y < H)
        index = (batch_idx[:, None] * H + y) * W + x
        flat.scatter_reduce_(0, index[inside], vals[inside], reduce='amax')
        return flat.view(batch_size, H, W), num_objects

    def forward(self,
                strong_feat: torch.Tensor,
                weak_feat: torch.Tensor,
                centers: List[torch.Tensor],
                labels: List[torch.Tensor],
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """
        Args:
            strong_feat (Tensor): ``(B, C, H, W)`` strong-view BEV map,
                already aligned to the weak grid.
            weak_feat (Tensor): ``(B, C, H, W)`` weak-view BEV map.
            centers (list[Tensor]): Per sample ``(N_i, >=2)`` object centres
                in the weak view's LiDAR coordinates.
            labels (list[Tensor]): Per sample ``(N_i,)`` class indices.
            mask (Tensor, optional): Precomputed ``(B, H, W)`` mask; then
                ``N_obj`` is the total number of centres given.

        Returns:
            Tensor: The weighted loss (a scalar; 0 with a graph when there
            are no objects).
        """
        if strong_feat.shape != weak_feat.shape or strong_feat.dim() != 4:
            raise ValueError(f'strong {tuple(strong_feat.shape)} and weak '
                             f'{tuple(weak_feat.shape)} BEV maps must both '
                             'be (B, C, H, W)')
        B, _, H, W = strong_feat.shape
        if (H, W) != self.grid_shape:
            raise ValueError(
                f'BEV map is {H}x{W} but point_cloud_range / voxel_size / '
                f'out_size_factor give {self.grid_shape[0]}x'
                f'{self.grid_shape[1]} (H=y cells, W=x cells)')
        if len(centers) != B or len(labels) != B:
            raise ValueError(f'{B} maps but {len(centers)} centre and '
                             f'{len(labels)} label lists')
        counts = torch.tensor([len(c) for c in centers])
        if any(len(c) != len(lb) for c, lb in zip(centers, labels)):
            raise ValueError('centers and labels must have one row per '
                             'object in every sample')
        if mask is None:
            rows = []
            for c in centers:
                c = torch.as_tensor(c)
                if c.dim() != 2 or (len(c) and c.shape[1] < 2):
                    raise ValueError('every centers entry must be (N, >=2) '
                                     f'(x, y, ...), got {tuple(c.shape)}')
                rows.append(c[:, :2].float() if len(c) else c.new_zeros(
                    (0, 2), dtype=torch.float32))
            all_centers = torch.cat(rows)
            all_labels = torch.cat(
                [torch.as_tensor(lb).reshape(-1).long() for lb in labels])
            batch_idx = torch.repeat_interleave(torch.arange(B), counts)
            mask, num_objects = self.gaussian_masks(all_centers, all_labels,
                                                    batch_idx, B)
        else:
            num_objects = int(counts.sum())
        if weak_feat.requires_grad and self.detach_weak:
            weak_feat = weak_feat.detach()
        strong = F.normalize(strong_feat.float(), dim=1, eps=self.eps)
        weak = F.normalize(weak_feat.float(), dim=1, eps=self.eps)
        cos = (strong * weak).sum(dim=1)  # (B, H, W)
        loss = -(mask.to(cos) * cos).sum() / max(num_objects, 1)
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return (f'grid={self.grid_shape}, min_overlap={self.min_overlap}, '
                f'min_radius={self.min_radius}, '
                f'loss_weight={self.loss_weight}, '
                f'detach_weak={self.detach_weak}')


__all__ = ['PointGuidedConsistencyLoss', 'heatmap_gaussian_radius']
