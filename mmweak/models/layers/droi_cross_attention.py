# Copyright (c) mmweak contributors.
"""D-RoI cross attention of Point-DETR3D (pure torch + mmcv, no mmdet3d)."""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.ops.multi_scale_deform_attn import \
    multi_scale_deformable_attn_pytorch
from mmengine.model import BaseModule, constant_init, xavier_init
from torch import Tensor

from mmweak.registry import MODELS


def box_local_to_bev(local: Tensor, boxes: Tensor,
                     point_cloud_range: Tensor) -> Tensor:
    """Map box-frame points to normalised BEV coordinates.

    Args:
        local (Tensor): ``(B, N, ..., 2)`` coordinates in units of the box
            length/width along the box's own axes (``+-0.5`` = box edge).
        boxes (Tensor): ``(B, N, 7)`` boxes ``[x, y, z, l, w, h, yaw]`` in
            metres (mmdet3d LiDAR convention: ``l`` along the heading, yaw
            about z).
        point_cloud_range (Tensor): ``[x0, y0, z0, x1, y1, z1]``.

    Returns:
        Tensor: ``(B, N, ..., 2)`` ``(x, y)`` normalised to ``[0, 1]`` of
        the range (``grid_sample`` order for a BEV map with W = x, H = y).
    """
    extra = local.dim() - 3
    shape = boxes.shape[:2] + (1, ) * extra
    cx, cy = boxes[..., 0].view(shape), boxes[..., 1].view(shape)
    length, width = boxes[..., 3].view(shape), boxes[..., 4].view(shape)
    cos, sin = boxes[..., 6].cos().view(shape), boxes[..., 6].sin().view(
        shape)
    du, dv = local[..., 0] * length, local[..., 1] * width
    x = cx + du * cos - dv * sin
    y = cy + du * sin + dv * cos
    low, high = point_cloud_range[:2], point_cloud_range[3:5]
    return (torch.stack((x, y), dim=-1) - low) / (high - low)


def box_corners(boxes: Tensor) -> Tensor:
    """``(..., 7)`` gravity-centre boxes -> ``(..., 8, 3)`` corners."""
    signs = boxes.new_tensor([[sx, sy, sz] for sx in (-0.5, 0.5)
                              for sy in (-0.5, 0.5) for sz in (-0.5, 0.5)])
    local = signs * boxes[..., None, 3:6]
    cos, sin = boxes[..., 6:7].cos(), boxes[..., 6:7].sin()
    x = local[..., 0] * cos - local[..., 1] * sin
    y = local[..., 0] * sin + local[..., 1] * cos
    return torch.stack((x, y, local[..., 2]), -1) + boxes[..., None, :3]


def project_to_cameras(points: Tensor, lidar2img: Tensor,
                       img_shape: Sequence[int],
                       eps: float = 1e-5) -> Tuple[Tensor, Tensor]:
    """Project LiDAR points into every camera.

    Args:
        points (Tensor): ``(B, N, ..., 3)`` metric LiDAR points.
        lidar2img (Tensor): ``(B, V, 4, 4)`` ``cam2img @ lidar2cam``.
        img_shape (Sequence[int]): ``(H, W)`` of the (padded) input images.

    Returns:
        tuple[Tensor]: ``(B, V, N, ..., 2)`` pixel positions normalised by
        ``(W, H)`` and ``(B, V, N, ...)`` depths.
    """
    homo = torch.cat((points, torch.ones_like(points[..., :1])), -1)
    cam = torch.einsum('bvij,bn...j->bvn...i', lidar2img.to(points.dtype),
                       homo)
    depth = cam[..., 2]
    uv = cam[..., :2] / depth.clamp(min=eps)[..., None]
    scale = uv.new_tensor([img_shape[1], img_shape[0]])
    return uv / scale, depth


@MODELS.register_module()
class DRoICrossAttention(BaseModule):
    """Deformable RoI (D-RoI) cross attention of Point-DETR3D.

    Gao et al., AAAI 2024 (arXiv 2403.15317), Sec. "Cross-modal deformable
    RoI fusion". Each query carries a box prior (centre = its reference
    point, size = class-mean size, yaw given by the caller; all detached).
    Over the BEV feature maps it samples, per head and level,

    * ``num_points`` free points ``ref + offset / (W, H)`` (multi-scale
      deformable attention, Zhu et al., arXiv 2010.04159), and
    * a ``roi_size x roi_size`` rotated RoI grid over the prior box: cell
      centres ``(u, v)`` in box units, shifted by learned offsets (in cell
      units, zero-initialised), rotated by the prior yaw.

    **Combination** (mmweak choice): both sets form one set of
    ``num_levels * (num_points + roi_size**2)`` sampling points per head
    with one softmax over all their weights, so the query learns how much
    to trust free versus RoI points; the sampling runs through mmcv's
    pure-PyTorch ``multi_scale_deformable_attn_pytorch`` (CPU and GPU).

    **Camera branch** (``with_camera=True``): in every camera ``v`` the
    reference point is projected with ``lidar2img``; around it
    ``num_cam_points`` free points per head and image level, plus a
    ``roi_size x roi_size`` grid over the image rectangle spanned by the
    projected corners of the prior box (corners behind the camera are
    replaced by the projected reference point), shifted by learned offsets
    in cell units, share one softmax (as in the LiDAR branch). The
    per-camera results are mixed by per-camera weights (a linear layer of
    the query, softmax over cameras) in which cameras where the reference
    point is invisible (behind the camera or outside the image) are masked;
    a point visible in no camera gets a zero camera feature. Sampling uses
    ``grid_sample`` through ``multi_scale_deformable_attn_pytorch``.

    **Fusion of modalities** ([default] concat -> linear -> residual): the
    per-modality outputs (LiDAR, then camera) are concatenated, mapped by
    ``fusion_proj`` to ``C`` and added to the input query (dropout before
    the residual).

    Args:
        embed_dims (int): Channels ``C``. Defaults to 256.
        num_heads (int): Attention heads. Defaults to 8.
        num_levels (int): BEV feature levels. Defaults to 1.
        num_points (int): Free sampling points per head and level.
            Defaults to 16.
        roi_size (int): RoI grid side. Defaults to 7.
        point_cloud_range (Sequence[float]): ``[x0, y0, z0, x1, y1, z1]``
            spanned by the BEV maps.
        dropout (float): Dropout before the residual. Defaults to 0.1.
        with_camera (bool): Build the camera branch. Defaults to False.
        num_cams (int): Cameras per sample. Defaults to 6.
        num_cam_levels (int): Image feature levels. Defaults to 4.
        num_cam_points (int): Free points per head and image level.
            Defaults to 16.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 num_heads: int = 8,
                 num_levels: int = 1,
                 num_points: int = 16,
                 roi_size: int = 7,
                 point_cloud_range: Sequence[float] = (-51.2, -51.2, -5.0,
                                                       51.2, 51.2, 3.0),
                 dropout: float = 0.1,
                 with_camera: bool = False,
                 num_cams: int = 6,
                 num_cam_levels: int = 4,
                 num_cam_points: int = 16,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible '
                             f'by num_heads ({num_heads})')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.num_levels = num_levels
        self.num_points = num_points
        self.roi_size = roi_size
        self.num_roi = roi_size * roi_size
        self.register_buffer(
            'pc_range',
            torch.as_tensor(point_cloud_range, dtype=torch.float32),
            persistent=False)
        cells = (torch.arange(roi_size, dtype=torch.float32) + 0.5) / \
            roi_size - 0.5
        grid_u, grid_v = torch.meshgrid(cells, cells, indexing='ij')
        self.register_buffer(
            'roi_base',
            torch.stack((grid_u, grid_v), dim=-1).view(-1, 2),
            persistent=False)
        heads_levels = num_heads * num_levels
        self.sampling_offsets = nn.Linear(embed_dims,
                                          heads_levels * num_points * 2)
        self.roi_offsets = nn.Linear(embed_dims,
                                     heads_levels * self.num_roi * 2)
        self.attention_weights = nn.Linear(
            embed_dims, heads_levels * (num_points + self.num_roi))
        self.value_proj = nn.Linear(embed_dims, embed_dims)
        self.lidar_out_proj = nn.Linear(embed_dims, embed_dims)
        self.with_camera = with_camera
        self.num_cams = num_cams
        self.num_cam_levels = num_cam_levels
        self.num_cam_points = num_cam_points
        if with_camera:
            cam_heads_levels = num_heads * num_cam_levels
            self.cam_sampling_offsets = nn.Linear(
                embed_dims, cam_heads_levels * num_cam_points * 2)
            self.cam_roi_offsets = nn.Linear(
                embed_dims, cam_heads_levels * self.num_roi * 2)
            self.cam_attention_weights = nn.Linear(
                embed_dims, cam_heads_levels * (num_cam_points + self.num_roi))
            self.cam_weights = nn.Linear(embed_dims, num_cams)
            self.cam_value_proj = nn.Linear(embed_dims, embed_dims)
            self.cam_out_proj = nn.Linear(embed_dims, embed_dims)
        self.fusion_proj = nn.Linear(embed_dims * (1 + int(with_camera)),
                                     embed_dims)
        self.dropout = nn.Dropout(dropout)

    def init_weights(self) -> None:
        """Deformable-DETR offset init; RoI offsets and weights zero."""
        super().init_weights()
        constant_init(self.sampling_offsets, 0.)
        theta = torch.arange(self.num_heads, dtype=torch.float32) * (
            2.0 * math.pi / self.num_heads)
        dirs = torch.stack((theta.cos(), theta.sin()), -1)
        dirs = dirs / dirs.abs().max(-1, keepdim=True)[0]
        dirs = dirs.view(self.num_heads, 1, 1, 2).repeat(
            1, self.num_levels, self.num_points, 1)
        radius = (torch.arange(self.num_points, dtype=torch.float32) % 4 +
                  1).view(1, 1, -1, 1)
        self.sampling_offsets.bias.data = (dirs * radius).view(-1)
        if self.with_camera:
            cam_dirs = dirs[:, :1, :1].repeat(1, self.num_cam_levels,
                                              self.num_cam_points, 1)
            cam_radius = (torch.arange(self.num_cam_points,
                                       dtype=torch.float32) % 4 + 1).view(
                                           1, 1, -1, 1)
            constant_init(self.cam_sampling_offsets, 0.)
            self.cam_sampling_offsets.bias.data = (cam_dirs *
                                                   cam_radius).view(-1)
            constant_init(self.cam_roi_offsets, 0.)
            constant_init(self.cam_attention_weights, 0.)
            constant_init(self.cam_weights, 0.)
            xavier_init(self.cam_value_proj, distribution='uniform', bias=0.)
            xavier_init(self.cam_out_proj, distribution='uniform', bias=0.)
        constant_init(self.roi_offsets, 0.)
        constant_init(self.attention_weights, 0.)
        xavier_init(self.value_proj, distribution='uniform', bias=0.)
        xavier_init(self.lidar_out_proj, distribution='uniform', bias=0.)
        xavier_init(self.fusion_proj, distribution='uniform', bias=0.)

    def roi_grid(self, prior_boxes: Tensor,
                 offsets: Optional[Tensor] = None) -> Tensor:
        """Normalised BEV positions of the rotated RoI grid.

        Args:
            prior_boxes (Tensor): ``(B, N, 7)`` metric boxes.
            offsets (Tensor, optional): ``(B, N, ..., R, 2)`` learned shifts
                in grid-cell units; None gives the plain grid.

        Returns:
            Tensor: ``(B, N, ..., R, 2)`` (``(B, N, R, 2)`` without offsets).
        """
        local = self.roi_base
        if offsets is None:
            local = local.expand(prior_boxes.shape[:2] + local.shape)
        else:
            local = local + offsets / self.roi_size
        return box_local_to_bev(local, prior_boxes, self.pc_range)

    def lidar_sampling_locations(
            self, query: Tensor, reference_points: Tensor,
            prior_boxes: Tensor,
            spatial_shapes: Tensor) -> Tuple[Tensor, Tensor]:
        """Free and RoI sampling locations over the BEV maps.

        Args:
            query (Tensor): ``(B, N, C)`` query (with positional part).
            reference_points (Tensor): ``(B, N, 3)`` normalised points.
            prior_boxes (Tensor): ``(B, N, 7)`` metric prior boxes.
            spatial_shapes (Tensor): ``(L, 2)`` ``(H, W)`` per level.

        Returns:
            tuple[Tensor]: ``(B, N, heads, L, num_points, 2)`` and
            ``(B, N, heads, L, roi_size**2, 2)``, normalised ``(x, y)``.
        """
        bs, nq = query.shape[:2]
        heads, levels = self.num_heads, self.num_levels
        offsets = self.sampling_offsets(query).view(bs, nq, heads, levels,
                                                    self.num_points, 2)
        normaliser = spatial_shapes.flip(-1).to(query.dtype)  # (L, 2) W, H
        free = reference_points[:, :, None, None, None, :2] + \
            offsets / normaliser[None, None, None, :, None, :]
        roi_off = self.roi_offsets(query).view(bs, nq, heads, levels,
                                               self.num_roi, 2)
        roi = self.roi_grid(prior_boxes, roi_off)
        return free, roi

    def camera_sampling_locations(
            self, query: Tensor, prior_boxes: Tensor, lidar2img: Tensor,
            img_shape: Sequence[int],
            spatial_shapes: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Free and RoI sampling locations in every camera.

        Args:
            query (Tensor): ``(B, N, C)`` query (with positional part).
            prior_boxes (Tensor): ``(B, N, 7)`` metric prior boxes (centre =
                reference point).
            lidar2img (Tensor): ``(B, V, 4, 4)``.
            img_shape (Sequence[int]): ``(H, W)`` of the input images.
            spatial_shapes (Tensor): ``(L, 2)`` image level ``(H, W)``.

        Returns:
            tuple[Tensor]: free ``(B, V, N, heads, L, num_cam_points, 2)``
            and RoI ``(B, V, N, heads, L, roi_size**2, 2)`` locations
            (normalised by the image size) and the ``(B, V, N)``
            visibility of the reference point.
        """
        bs, nq = query.shape[:2]
        heads, levels = self.num_heads, self.num_cam_levels
        ref_uv, ref_depth = project_to_cameras(prior_boxes[..., :3],
                                               lidar2img, img_shape)
        visible = (ref_depth > 1e-5) & (ref_uv >= 0).all(-1) & (ref_uv <=
                                                                1).all(-1)
        corners_uv, corners_depth = project_to_cameras(
            box_corners(prior_boxes), lidar2img, img_shape)
        corners_uv = torch.where((corners_depth > 1e-5)[..., None],
                                 corners_uv, ref_uv[..., None, :])
        low, high = corners_uv.min(-2).values, corners_uv.max(-2).values
        centre, extent = (low + high) / 2, high - low  # (B, V, N, 2)
        roi_off = self.cam_roi_offsets(query).view(bs, 1, nq, heads, levels,
                                                   self.num_roi, 2)
        local = self.roi_base + roi_off / self.roi_size
        expand = (slice(None), slice(None), slice(None), None, None, None)
        roi = centre[expand] + local * extent[expand]
        offsets = self.cam_sampling_offsets(query).view(
            bs, 1, nq, heads, levels, self.num_cam_points, 2)
        normaliser = spatial_shapes.flip(-1).to(query.dtype)
        free = ref_uv[expand] + offsets / normaliser[:, None, :]
        return free, roi, visible

    def camera_features(self, query: Tensor, prior_boxes: Tensor,
                        img_feats: List[Tensor], lidar2img: Tensor,
                        img_shape: Sequence[int]) -> Tensor:
        """Camera branch output ``(B, N, C)`` (see the class docstring).

        Args:
            img_feats (list[Tensor]): ``num_cam_levels`` maps
                ``(B, V, C, H, W)``.
        """
        if len(img_feats) != self.num_cam_levels:
            raise ValueError(f'expected {self.num_cam_levels} image levels,'
                             f' got {len(img_feats)}')
        bs, nq, _ = query.shape
        num_views = img_feats[0].size(1)
        if num_views != self.num_cams or lidar2img.shape[:2] != (bs,
                                                                 num_views):
            raise ValueError(
                f'expected {self.num_cams} cameras and lidar2img of shape '
                f'({bs}, {self.num_cams}, 4, 4), got {num_views} cameras '
                f'and {tuple(lidar2img.shape)}')
        spatial_shapes = torch.as_tensor([f.shape[-2:] for f in img_feats],
                                         dtype=torch.long,
                                         device=query.device)
        value = torch.cat(
            [f.flatten(0, 1).flatten(2).transpose(1, 2) for f in img_feats],
            dim=1)
        value = self.cam_value_proj(value).view(bs * num_views,
                                                value.size(1),
                                                self.num_heads, -1)
        free, roi, visible = self.camera_sampling_locations(
            query, prior_boxes, lidar2img, img_shape, spatial_shapes)
        locations = torch.cat((free, roi), dim=-2)
        locations = locations.expand(-1, num_views, -1, -1, -1, -1,
                                     -1).flatten(0, 1)
        weights = self.cam_attention_weights(query).view(
            bs, 1, nq, self.num_heads, -1).softmax(-1)
        weights = weights.expand(-1, num_views, -1, -1, -1).reshape(
            bs * num_views, nq, self.num_heads, self.num_cam_levels, -1)
        per_cam = multi_scale_deformable_attn_pytorch(value, spatial_shapes,
                                                      locations, weights)
        per_cam = per_cam.view(bs, num_views, nq, -1)
        logits = self.cam_weights(query)  # (B, N, V)
        vis = visible.permute(0, 2, 1)
        logits = logits.masked_fill(~vis, torch.finfo(logits.dtype).min)
        cam_w = logits.softmax(-1) * vis.to(logits.dtype)
        fused = torch.einsum('bnv,bvnc->bnc', cam_w, per_cam)
        return self.cam_out_proj(fused)

    def forward(self,
                query: Tensor,
                query_pos: Optional[Tensor],
                reference_points: Tensor,
                prior_boxes: Tensor,
                bev_feats: List[Tensor],
                key_padding_mask: Optional[Tensor] = None,
                img_feats: Optional[List[Tensor]] = None,
                lidar2img: Optional[Tensor] = None,
                img_shape: Optional[Sequence[int]] = None) -> Tensor:
        """Sample the BEV maps (and cameras) for every query and fuse.

        Args:
            query (Tensor): ``(B, N, C)``.
            query_pos (Tensor, optional): ``(B, N, C)`` added to the query
                when predicting offsets and weights.
            reference_points (Tensor): ``(B, N, 3)`` normalised points.
            prior_boxes (Tensor): ``(B, N, 7)`` metric boxes (detached here).
            bev_feats (list[Tensor]): ``num_levels`` maps ``(B, C, H, W)``
                (W along x, H along y, spanning ``point_cloud_range``).
            key_padding_mask (Tensor, optional): ``(B, N)`` True on padding
                queries; their output is the unchanged input query.
            img_feats (list[Tensor], optional): ``(B, V, C, H, W)`` image
                levels; required iff ``with_camera``.
            lidar2img (Tensor, optional): ``(B, V, 4, 4)``.
            img_shape (Sequence[int], optional): ``(H, W)`` of the input
                images the projection refers to.

        Returns:
            Tensor: ``(B, N, C)`` updated query.
        """
        if len(bev_feats) != self.num_levels:
            raise ValueError(f'expected {self.num_levels} BEV levels, got '
                             f'{len(bev_feats)}')
        bs, nq, _ = query.shape
        identity = query
        q = query if query_pos is None else query + query_pos
        prior_boxes = prior_boxes.detach()
        spatial_shapes = torch.as_tensor([f.shape[-2:] for f in bev_feats],
                                         dtype=torch.long,
                                         device=query.device)
        value = torch.cat([f.flatten(2).transpose(1, 2) for f in bev_feats],
                          dim=1)
        value = self.value_proj(value).view(bs, value.size(1),
                                            self.num_heads, -1)
        free, roi = self.lidar_sampling_locations(q, reference_points,
                                                  prior_boxes, spatial_shapes)
        locations = torch.cat((free, roi), dim=4)
        weights = self.attention_weights(q).view(bs, nq, self.num_heads, -1)
        weights = weights.softmax(-1).view(bs, nq, self.num_heads,
                                           self.num_levels, -1)
        lidar = multi_scale_deformable_attn_pytorch(value, spatial_shapes,
                                                    locations, weights)
        lidar = self.lidar_out_proj(lidar)
        modalities = [lidar]
        if self.with_camera:
            if img_feats is None or lidar2img is None or img_shape is None:
                raise ValueError('DRoICrossAttention(with_camera=True) needs '
                                 'img_feats, lidar2img and img_shape')
            modalities.append(
                self.camera_features(q, prior_boxes, img_feats, lidar2img,
                                     img_shape))
        elif img_feats is not None:
            raise ValueError('img_feats given but DRoICrossAttention was '
                             'built with with_camera=False')
        fused = self.fusion_proj(torch.cat(modalities, dim=-1))
        out = identity + self.dropout(fused)
        if key_padding_mask is not None:
            out = torch.where(key_padding_mask[..., None], identity, out)
        return out
