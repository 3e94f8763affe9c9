# Copyright (c) mmweak contributors.
"""Point query encoder of Point-DETR3D (pure torch, no mmdet3d import)."""
import math
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from mmweak.registry import MODELS


def split_embed_dims(embed_dims: int, parts: int = 3) -> Tuple[int, ...]:
    """Split ``embed_dims`` into ``parts`` even chunks, as equal as possible.

    Each chunk holds interleaved sin/cos pairs, so it must be even; the
    remainder goes to the first chunks, e.g. 256 -> (86, 86, 84).
    """
    if embed_dims % 2 or embed_dims < 2 * parts:
        raise ValueError(f'embed_dims must be even and >= {2 * parts}, '
                         f'got {embed_dims}')
    pairs = embed_dims // 2
    base, extra = divmod(pairs, parts)
    return tuple(2 * (base + (i < extra)) for i in range(parts))


def sine_embed(values: Tensor,
               dims: Sequence[int],
               temperature: float = 10000.,
               scale: float = 2 * math.pi) -> Tensor:
    """Concatenated sine embeddings of the last-axis entries of ``values``.

    Entry ``j`` (a value in about ``[0, 1]``) gets ``dims[j]`` features
    ``sin/cos(scale * v / temperature ** (2i / dims[j]))``, interleaved
    (the DETR sine encoding applied to one scalar).

    Args:
        values (Tensor): ``(..., len(dims))``.
        dims (Sequence[int]): Even feature count per entry.
    """
    outs = []
    for j, d in enumerate(dims):
        idx = torch.arange(d, device=values.device, dtype=values.dtype)
        dim_t = temperature**(2 * torch.div(idx, 2, rounding_mode='floor') /
                              d)
        pos = values[..., j:j + 1] * scale / dim_t
        outs.append(
            torch.stack((pos[..., 0::2].sin(), pos[..., 1::2].cos()),
                        dim=-1).flatten(-2))
    return torch.cat(outs, dim=-1)


@MODELS.register_module()
class PointQueryEncoder3D(BaseModule):
    """Point query encoder of Point-DETR3D (``RotPoint3DEncoder``).

    Gao et al., "Leveraging Imagery Data with Spatial Point Prior for Weakly
    Semi-supervised 3D Object Detection", AAAI 2024 (arXiv 2403.15317),
    Sec. "Explicit positional query initialisation": one query per annotated
    point,

    ``query_pos = SE(x, y, z) + SE(l, w, h)`` and
    ``query = query_pos + E_cls[label]``,

    where ``(x, y, z)`` is the point normalised to the point-cloud range,
    ``(l, w, h)`` the class-mean size (mmdet3d order) divided by
    ``size_norm`` and ``SE`` the per-coordinate sine embedding
    (:func:`sine_embed`, the channels split over the three coordinates by
    :func:`split_embed_dims`). The decoder's reference point is the
    normalised annotated point itself (not a learned projection).

    Samples are padded to ``(B, Nmax)``; ``key_padding_mask`` is True on
    padding.

    Args:
        num_classes (int): Number of classes.
        embed_dims (int): Query channels ``C``.
        point_cloud_range (Sequence[float]): ``[x0, y0, z0, x1, y1, z1]``.
        class_mean_size (Sequence[Sequence[float]]): ``(num_classes, 3)``
            class-mean ``(l, w, h)`` in metres ([default] computed from the
            labelled split and stored in the config).
        num_query (int): Cap on the points of one sample. Defaults to 300.
        size_norm (float): Sizes are divided by this many metres before the
            sine embedding. Defaults to 16.
        temperature (float): Sine temperature. Defaults to 10000.
        compat_h_bug (bool): Embed ``l`` in place of ``h``, as the released
            code does. Defaults to False (the fix).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 num_classes: int,
                 embed_dims: int,
                 point_cloud_range: Sequence[float],
                 class_mean_size: Sequence[Sequence[float]],
                 num_query: int = 300,
                 size_norm: float = 16.,
                 temperature: float = 10000.,
                 compat_h_bug: bool = False,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        mean_size = torch.as_tensor(class_mean_size, dtype=torch.float32)
        if mean_size.shape != (num_classes, 3):
            raise ValueError('class_mean_size must have shape '
                             f'({num_classes}, 3) (l, w, h per class), got '
                             f'{tuple(mean_size.shape)}')
        if len(point_cloud_range) != 6:
            raise ValueError('point_cloud_range must be [x0, y0, z0, x1, y1, '
                             f'z1], got {point_cloud_range}')
        self.num_classes = num_classes
        self.embed_dims = embed_dims
        self.num_query = num_query
        self.size_norm = size_norm
        self.temperature = temperature
        self.compat_h_bug = compat_h_bug
        self.dims = split_embed_dims(embed_dims, 3)
        self.register_buffer('mean_size', mean_size, persistent=False)
        self.register_buffer(
            'pc_range',
            torch.as_tensor(point_cloud_range, dtype=torch.float32),
            persistent=False)
        self.class_embed = nn.Embedding(num_classes, embed_dims)

    def normalize_points(self, points: Tensor) -> Tensor:
        """Metric LiDAR points ``(..., 3)`` -> ``[0, 1]`` of the range."""
        low, high = self.pc_range[:3], self.pc_range[3:]
        return (points - low) / (high - low)

    def denormalize_points(self, points: Tensor) -> Tensor:
        """Inverse of :meth:`normalize_points`."""
        low, high = self.pc_range[:3], self.pc_range[3:]
        return points * (high - low) + low

    def embed(self, ref_points: Tensor, labels: Tensor) -> Tuple[Tensor, ...]:
        """Query, positional query and prior size of normalised points.

        Args:
            ref_points (Tensor): ``(..., 3)`` normalised points.
            labels (Tensor): ``(...)`` class indices in ``[0, K)``.

        Returns:
            tuple: ``query`` and ``query_pos`` ``(..., C)``, class-mean
            ``size`` ``(..., 3)`` in metres.
        """
        size = self.mean_size[labels]
        embed_size = size
        if self.compat_h_bug:
            embed_size = size[..., [0, 1, 0]]
        query_pos = sine_embed(ref_points, self.dims, self.temperature) + \
            sine_embed(embed_size / self.size_norm, self.dims,
                       self.temperature)
        query = query_pos + self.class_embed(labels)
        return query, query_pos, size

    def forward(self, points: List[Tensor],
                labels: List[Tensor]) -> Dict[str, Tensor]:
        """Encode the annotated points of a batch.

        Args:
            points (list[Tensor]): Per sample ``(N_i, 3)`` LiDAR points.
            labels (list[Tensor]): Per sample ``(N_i, )`` class indices.

        Returns:
            dict: ``query``, ``query_pos`` ``(B, Nmax, C)``;
            ``reference_points`` ``(B, Nmax, 3)`` normalised and clamped to
            ``[0, 1]``; ``prior_size`` ``(B, Nmax, 3)``; ``labels``
            ``(B, Nmax)`` (0 on padding); ``key_padding_mask`` ``(B, Nmax)``
            (True on padding); ``num_points`` ``(B, )``.
        """
        if len(points) != len(labels) or not points:
            raise ValueError('points and labels must be non-empty lists of '
                             f'equal length, got {len(points)} and '
                             f'{len(labels)}')
        counts = []
        for i, (p, y) in enumerate(zip(points, labels)):
            if p.dim() != 2 or p.size(-1) != 3 or y.shape != p.shape[:1]:
                raise ValueError(
                    f'sample {i}: points_3d must be (N, 3) and labels_3d '
                    f'(N, ), got {tuple(p.shape)} and {tuple(y.shape)}')
            counts.append(p.size(0))
        if max(counts) > self.num_query:
            raise ValueError(f'a sample has {max(counts)} annotated points, '
                             f'more than num_query={self.num_query}')
        device = self.pc_range.device
        num_points = torch.as_tensor(counts, device=device)
        nmax = max(max(counts), 1)
        pts = pad_sequence([p.to(device, torch.float32) for p in points],
                           batch_first=True)
        lbl = pad_sequence([y.to(device, torch.long) for y in labels],
                           batch_first=True)
        if pts.size(1) < nmax:
            pts = pts.new_zeros(len(points), nmax, 3)
            lbl = lbl.new_zeros(len(points), nmax)
        if lbl.numel() and (lbl.min() < 0 or lbl.max() >= self.num_classes):
            raise ValueError(f'labels_3d must lie in [0, {self.num_classes})'
                             f', got [{int(lbl.min())}, {int(lbl.max())}]')
        mask = torch.arange(nmax, device=device)[None] >= num_points[:, None]
        ref = self.normalize_points(pts).clamp(0., 1.)
        query, query_pos, size = self.embed(ref, lbl)
        return dict(
            query=query,
            query_pos=query_pos,
            reference_points=ref,
            prior_size=size,
            labels=lbl,
            key_padding_mask=mask,
            num_points=num_points)
