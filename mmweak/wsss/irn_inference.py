# Copyright (c) mmweak contributors.
"""IRN semantic pseudo labels: CAMs propagated by a random walk over the
class-boundary affinities of a trained :class:`~mmweak.models.IRNet` (Ahn,
Cho and Kwak, CVPR 2019), semantic labels only.

Background handling. PSA/AffinityNet (Ahn and Kwak, CVPR 2018) walks an
extra background map ``(1 - max_c M_c)^alpha`` with the classes. IRN does
not: only the tagged-class CAMs are propagated, the propagated maps are
upsampled to the image, divided by their common maximum, and a constant
background plane at ``bg_threshold`` (0.25) is put in front of them before
the argmax. This is the procedure of the authors' implementation
(``jiwoon-ahn/irn``, ``step/make_sem_seg_labels.py``), which produced the
paper's 66.5 mIoU on VOC train; mmweak follows it. The displacement-field
branch and instance labels of IRN are out of scope.
"""
from typing import Dict, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .random_walk import propagate
from .seeds import cams_to_label

STRIDE = 4  # the CAM 'cam' maps and the boundary map are at stride 4


def _as_tensor(x: Union[Tensor, np.ndarray], name: str) -> Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, Tensor):
        raise TypeError(f'{name} must be a Tensor or np.ndarray, got '
                        f'{type(x).__name__}')
    return x


def irn_walk_maps(edge: Union[Tensor, np.ndarray],
                  cam_pack: Dict[str, np.ndarray],
                  img_size: Tuple[int, int],
                  beta: float = 10.0,
                  exp_times: int = 8,
                  radius: int = 5) -> Tensor:
    """IRN's propagated class maps of one image, before the background plane.

    The strided CAMs ``cam_pack['cam']`` are propagated by
    :func:`~mmweak.wsss.random_walk.propagate` (boundary pixels suppressed,
    ``T^(2^exp_times)``), upsampled bilinearly by 4, cropped to
    ``img_size`` and divided by their common maximum.

    Args:
        edge (Tensor | np.ndarray): Boundary probabilities ``(h, w)`` in
            [0, 1] at stride 4, i.e. the same grid as ``cam_pack['cam']``
            (``IRNet.predict_edge`` of the image).
        cam_pack (dict): The image's IRN CAM pack: ``keys`` int (K,) 0-based
            foreground indices and ``cam`` float (K, ceil(H/4), ceil(W/4)).
        img_size (tuple[int, int]): Image size ``(H, W)``.
        beta (float): Affinity exponent. Defaults to 10.
        exp_times (int): The walk takes ``2^exp_times`` steps. Defaults to 8.
        radius (int): Pair radius of the walk (stride-4 cells).
            Defaults to 5.

    Returns:
        Tensor: float ``(K, H, W)`` maps in [0, 1], the classes of
        ``cam_pack['keys']`` (on the device of ``cam_pack['cam']``).
    """
    if not isinstance(cam_pack, dict) or 'keys' not in cam_pack or \
            'cam' not in cam_pack:
        raise ValueError("cam_pack must be an IRN CAM pack: a dict with "
                         "'keys' (K,) and the strided 'cam' (K, h, w)")
    keys = _as_tensor(cam_pack['keys'], "cam_pack['keys']").long().reshape(-1)
    cams = _as_tensor(cam_pack['cam'], "cam_pack['cam']").float()
    if cams.dim() != 3 or cams.shape[0] != keys.numel():
        raise ValueError(f"cam_pack['cam'] has shape {tuple(cams.shape)}, "
                         f'expected ({keys.numel()}, h, w) for keys '
                         f'{keys.tolist()}')
    if keys.numel() and (keys.min() < 0 or keys.max() > 253):
        raise ValueError(f"cam_pack['keys'] {keys.tolist()} must be 0-based "
                         'foreground indices (label ids keys + 1 < 254)')
    height, width = (int(s) for s in img_size)
    h, w = cams.shape[-2:]
    if (h, w) != (-(-height // STRIDE), -(-width // STRIDE)):
        raise ValueError(
            f"cam_pack['cam'] is {h}x{w}, expected ceil(H/4) x ceil(W/4) = "
            f'{-(-height // STRIDE)}x{-(-width // STRIDE)} for img_size '
            f'{(height, width)}')
    edge = _as_tensor(edge, 'edge').float().to(cams.device)
    if tuple(edge.shape) != (h, w):
        raise ValueError(f'edge has shape {tuple(edge.shape)}, expected the '
                         f"CAM grid {(h, w)} of cam_pack['cam']")
    if keys.numel() == 0:
        return cams.new_zeros((0, height, width))

    walked = propagate(
        cams, edge, beta=beta, exp_times=exp_times, radius=radius)
    up = F.interpolate(
        walked[None], scale_factor=STRIDE, mode='bilinear',
        align_corners=False)[0, :, :height, :width]
    top = up.max()
    if top > 0:
        up = up / top
    return up


def irn_pseudo_label(edge: Union[Tensor, np.ndarray],
                     cam_pack: Dict[str, np.ndarray],
                     img_size: Tuple[int, int],
                     beta: float = 10.0,
                     exp_times: int = 8,
                     bg_threshold: float = 0.25,
                     radius: int = 5) -> np.ndarray:
    """One IRN semantic pseudo label from a boundary map and a CAM pack:
    :func:`irn_walk_maps` labelled by :func:`~mmweak.wsss.seeds.cams_to_label`
    with a constant background plane at ``bg_threshold`` (background wins
    ties).

    Args:
        edge, cam_pack, img_size, beta, exp_times, radius: As for
            :func:`irn_walk_maps`.
        bg_threshold (float): Background score. Defaults to 0.25.

    Returns:
        np.ndarray: uint8 ``(H, W)`` label ids: 0 background, ``keys + 1``.
    """
    maps = irn_walk_maps(edge, cam_pack, img_size, beta=beta,
                         exp_times=exp_times, radius=radius)
    keys = _as_tensor(cam_pack['keys'], "cam_pack['keys']").long().reshape(-1)
    if keys.numel() == 0:
        return np.zeros(maps.shape[-2:], np.uint8)
    label = cams_to_label(maps, keys.to(maps.device),
                          bg_threshold=bg_threshold)
    return label.cpu().numpy().astype(np.uint8)


__all__ = ['irn_pseudo_label', 'irn_walk_maps']
