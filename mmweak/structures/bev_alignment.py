# Copyright (c) mmweak contributors.
"""Undo mmdet3d's global BEV augmentation on BEV feature maps.

Point-DETR3D (Gao et al., AAAI 2024, arXiv 2403.15317), student section:
the strong view's BEV feature map is *un-augmented* (inverse flip, rotation,
scale and translation) onto the weak view's grid by affine grid sampling,
so that the two views can be compared cell by cell.

Pure torch (no mmdet3d import). The augmentation is read from the metainfo
that mmdet3d's transforms record and ``Pack3DDetInputs`` packs:

- ``GlobalRotScaleTrans`` (flow entries ``'R', 'S', 'T'``, in this order):
  ``pcd_rotation`` (3x3 ``rot_mat_T``, points become ``p @ rot_mat_T``;
  counter-clockwise about z for a positive angle) or, when absent,
  ``pcd_rotation_angle``; ``pcd_scale_factor`` (``p * s``); ``pcd_trans``
  (``p + t``).
- ``RandomFlip3D`` (``'HF'``, ``'VF'``): ``pcd_horizontal_flip`` negates y,
  ``pcd_vertical_flip`` negates x (``LiDARPoints.flip``).
- ``transformation_3d_flow``: the order in which the pipeline applied them.
  Without it, ``default_flow`` (rotation, scale, translation, then flips:
  mmdet3d's usual nuScenes pipeline order) is used for the keys present.

All maps act on BEV (x, y) in LiDAR metres as homogeneous 3x3 matrices.
A BEV map ``(B, C, H, W)`` has rows along y and columns along x (mmdet3d's
``PointPillarsScatter`` / CenterHead layout) and covers
``point_cloud_range[0:2]`` to ``point_cloud_range[3:5]`` edge to edge
(``align_corners=False``).
"""
from typing import Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

#: Flow entries understood here; anything else in ``transformation_3d_flow``
#: is an error (it would move points in a way we cannot undo).
FLOW_OPS = ('R', 'S', 'T', 'HF', 'VF')
DEFAULT_FLOW = ('R', 'S', 'T', 'HF', 'VF')


def _as_f64(value, key: str) -> torch.Tensor:
    """Metainfo value (float, numpy or tensor) as a float64 CPU tensor."""
    if isinstance(value, torch.Tensor):
        return value.detach().to('cpu', torch.float64)
    try:
        return torch.as_tensor(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError) as err:
        raise TypeError(f'metainfo[{key!r}] = {value!r} is not numeric') \
            from err


def _require(meta: Mapping, key: str, op: str):
    if key not in meta:
        raise KeyError(f'metainfo has {op!r} in its transformation flow but '
                       f'no {key!r} key; keep {key!r} in the meta_keys of '
                       'Pack3DDetInputs')
    return meta[key]


def _op_matrix(meta: Mapping, op: str) -> torch.Tensor:
    """Homogeneous 3x3 BEV matrix of one recorded augmentation step."""
    mat = torch.eye(3, dtype=torch.float64)
    if op == 'R':
        if 'pcd_rotation' in meta:
            rot_t = _as_f64(meta['pcd_rotation'], 'pcd_rotation')
            if rot_t.shape != (3, 3):
                raise ValueError('metainfo["pcd_rotation"] must be a 3x3 '
                                 f'matrix, got shape {tuple(rot_t.shape)}')
            # p' = p @ rot_t (row vectors) -> p' = rot_t^T p (columns)
            mat[:2, :2] = rot_t[:2, :2].T
        else:
            angle = _as_f64(_require(meta, 'pcd_rotation_angle', op),
                            'pcd_rotation_angle').reshape(-1)[0]
            cos, sin = torch.cos(angle), torch.sin(angle)
            mat[:2, :2] = torch.stack(
                [torch.stack([cos, -sin]),
                 torch.stack([sin, cos])])
    elif op == 'S':
        scale = _as_f64(_require(meta, 'pcd_scale_factor', op),
                        'pcd_scale_factor').reshape(-1)[0]
        mat[0, 0] = mat[1, 1] = scale
    elif op == 'T':
        trans = _as_f64(_require(meta, 'pcd_trans', op),
                        'pcd_trans').reshape(-1)
        if trans.numel() < 2:
            raise ValueError('metainfo["pcd_trans"] needs at least (x, y), '
                             f'got {trans.tolist()}')
        mat[:2, 2] = trans[:2]
    elif op == 'HF':
        mat[1, 1] = -1.
    elif op == 'VF':
        mat[0, 0] = -1.
    else:
        raise ValueError(f'unknown transformation_3d_flow entry {op!r}; '
                         f'expected one of {FLOW_OPS}')
    return mat


def _flow_of(meta: Mapping, default_flow: Sequence[str]) -> Sequence[str]:
    """The ordered augmentation steps recorded in ``meta``."""
    if 'transformation_3d_flow' in meta:
        return list(meta['transformation_3d_flow'])
    flow = []
    for op in default_flow:
        if op == 'R' and ('pcd_rotation' in meta
                          or 'pcd_rotation_angle' in meta):
            flow.append(op)
        elif op == 'S' and 'pcd_scale_factor' in meta:
            flow.append(op)
        elif op == 'T' and 'pcd_trans' in meta:
            flow.append(op)
        elif op == 'HF' and bool(meta.get('pcd_horizontal_flip', False)):
            flow.append(op)
        elif op == 'VF' and bool(meta.get('pcd_vertical_flip', False)):
            flow.append(op)
    return flow


def bev_aug_matrix(meta: Mapping,
                   default_flow: Sequence[str] = DEFAULT_FLOW) -> torch.Tensor:
    """Forward BEV augmentation of one sample, original -> augmented.

    Args:
        meta (Mapping): A data sample's metainfo (see module docstring).
        default_flow (Sequence[str]): Order used when the metainfo has no
            ``transformation_3d_flow``. Defaults to ``('R', 'S', 'T', 'HF',
            'VF')``.

    Returns:
        Tensor: float64 ``(3, 3)`` homogeneous matrix ``A`` with
        ``[x', y', 1]^T = A [x, y, 1]^T``; identity without augmentation.
    """
    mat = torch.eye(3, dtype=torch.float64)
    for op in _flow_of(meta, default_flow):
        mat = _op_matrix(meta, op) @ mat
    return mat


def bev_aug_matrices(
        metas: Sequence[Mapping],
        default_flow: Sequence[str] = DEFAULT_FLOW) -> torch.Tensor:
    """:func:`bev_aug_matrix` of every sample, stacked to ``(B, 3, 3)``."""
    return torch.stack([bev_aug_matrix(m, default_flow) for m in metas])


def _grid_frame(point_cloud_range: Sequence[float]) -> torch.Tensor:
    """Matrix mapping grid-normalised (u, v) in [-1, 1] to metric (x, y)."""
    pcr = [float(v) for v in point_cloud_range]
    if len(pcr) != 6 or pcr[3] <= pcr[0] or pcr[4] <= pcr[1]:
        raise ValueError('point_cloud_range must be [x_min, y_min, z_min, '
                         f'x_max, y_max, z_max], got {point_cloud_range}')
    frame = torch.eye(3, dtype=torch.float64)
    frame[0, 0] = (pcr[3] - pcr[0]) / 2
    frame[1, 1] = (pcr[4] - pcr[1]) / 2
    frame[0, 2] = (pcr[3] + pcr[0]) / 2
    frame[1, 2] = (pcr[4] + pcr[1]) / 2
    return frame


def bev_alignment_theta(
        src_metas: Sequence[Mapping],
        point_cloud_range: Sequence[float],
        dst_metas: Optional[Sequence[Mapping]] = None,
        default_flow: Sequence[str] = DEFAULT_FLOW) -> torch.Tensor:
    """``F.affine_grid`` thetas that resample a ``src`` view onto ``dst``.

    For a ``dst`` grid cell at metric ``p_dst`` the source location is
    ``p_src = A_src A_dst^{-1} p_dst`` (undo the ``dst`` augmentation, then
    redo the ``src`` one), expressed in grid-normalised coordinates.

    Args:
        src_metas (Sequence[Mapping]): Metainfo of the view to warp (strong).
        point_cloud_range (Sequence[float]): BEV extent of both maps.
        dst_metas (Sequence[Mapping], optional): Metainfo of the target view
            (weak). None means un-augmented targets.
        default_flow (Sequence[str]): See :func:`bev_aug_matrix`.

    Returns:
        Tensor: float64 ``(B, 2, 3)``.
    """
    src = bev_aug_matrices(src_metas, default_flow)
    if dst_metas is not None:
        if len(dst_metas) != len(src_metas):
            raise ValueError(f'{len(src_metas)} source and {len(dst_metas)} '
                             'target metainfos: need one per sample each')
        src = src @ torch.linalg.inv(bev_aug_matrices(dst_metas, default_flow))
    frame = _grid_frame(point_cloud_range)
    theta = torch.linalg.inv(frame) @ src @ frame
    return theta[:, :2, :]


def align_bev_features(
        feats: torch.Tensor,
        src_metas: Sequence[Mapping],
        point_cloud_range: Sequence[float],
        dst_metas: Optional[Sequence[Mapping]] = None,
        mode: str = 'bilinear',
        padding_mode: str = 'zeros',
        default_flow: Sequence[str] = DEFAULT_FLOW) -> torch.Tensor:
    """Warp BEV maps of an augmented view back onto the target view's grid.

    One ``affine_grid`` + ``grid_sample`` call for the whole batch (one
    theta per sample). Target cells whose source lies outside the source map
    get ``padding_mode`` values (zeros by default).

    Args:
        feats (Tensor): ``(B, C, H, W)`` maps of the augmented (strong) view.
        src_metas (Sequence[Mapping]): Its metainfo, one per sample.
        point_cloud_range (Sequence[float]): BEV extent of the maps.
        dst_metas (Sequence[Mapping], optional): Metainfo of the target
            (weak) view; None means un-augmented.
        mode (str): ``grid_sample`` interpolation. Defaults to 'bilinear'.
        padding_mode (str): ``grid_sample`` padding. Defaults to 'zeros'.
        default_flow (Sequence[str]): See :func:`bev_aug_matrix`.

    Returns:
        Tensor: ``(B, C, H, W)`` maps on the target grid.
    """
    if feats.dim() != 4:
        raise ValueError('feats must be (B, C, H, W) BEV maps, got shape '
                         f'{tuple(feats.shape)}')
    if len(src_metas) != feats.shape[0]:
        raise ValueError(f'{feats.shape[0]} maps but {len(src_metas)} '
                         'metainfos')
    theta = bev_alignment_theta(src_metas, point_cloud_range, dst_metas,
                                default_flow)
    dtype = feats.dtype if feats.is_floating_point() else torch.float32
    theta = theta.to(feats.device, dtype)
    grid = F.affine_grid(theta, list(feats.shape), align_corners=False)
    return F.grid_sample(feats.to(dtype),
                         grid,
                         mode=mode,
                         padding_mode=padding_mode,
                         align_corners=False)
