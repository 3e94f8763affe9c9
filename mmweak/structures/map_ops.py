# Copyright (c) mmweak contributors.
"""Batched operations on localization (score) maps.

The maps handled here are stacks of 2-D score maps whose last two dimensions
are (height, width); any number of leading dimensions is allowed.
"""
from typing import Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

ArrayLike = Union[torch.Tensor, np.ndarray]

_INTERPOLATION_MODES = ('bilinear', 'bicubic', 'nearest')


def _as_float_tensor(maps: ArrayLike, name: str = 'maps') -> torch.Tensor:
    """Convert ``maps`` to a floating point tensor with at least 2 dims."""
    if isinstance(maps, np.ndarray):
        maps = torch.from_numpy(np.ascontiguousarray(maps))
    if not isinstance(maps, torch.Tensor):
        raise TypeError(f'`{name}` must be a torch.Tensor or np.ndarray, '
                        f'got {type(maps).__name__}.')
    if maps.dim() < 2:
        raise ValueError(f'`{name}` must have at least 2 dims (..., H, W), '
                         f'got shape {tuple(maps.shape)}.')
    if not maps.is_floating_point():
        maps = maps.float()
    return maps


def normalize_maps(maps: ArrayLike, eps: float = 1e-5) -> torch.Tensor:
    """Min-max normalise every map to [0, 1] over its last two dims.

    Implements ``s = (m - min) / (max - min + eps)`` as used by the WSOL
    reference evaluators (BAS, SAT); with ``eps > 0`` a constant map becomes
    all zeros. The whole stack is normalised in one batched operation.

    Args:
        maps (Tensor | np.ndarray): Maps of shape (..., H, W).
        eps (float): Added to the value range. Defaults to 1e-5.

    Returns:
        Tensor: Normalised maps with the input's shape (floating point).
    """
    maps = _as_float_tensor(maps)
    flat = maps.flatten(-2)
    low = flat.amin(dim=-1, keepdim=True)
    high = flat.amax(dim=-1, keepdim=True)
    return ((flat - low) / (high - low + eps)).reshape(maps.shape)


def resize_maps(maps: ArrayLike,
                size: Union[int, Sequence[int]],
                mode: str = 'bilinear') -> torch.Tensor:
    """Resize a stack of maps to ``size`` = (H, W).

    ``bilinear`` and ``bicubic`` use half-pixel centres
    (``align_corners=False``), i.e. the semantics of ``cv2.resize`` with
    ``INTER_LINEAR`` / ``INTER_CUBIC`` when upsampling.

    Args:
        maps (Tensor | np.ndarray): Maps of shape (..., h, w).
        size (int | Sequence[int]): Output (H, W); an int gives a square.
        mode (str): ``'bilinear'``, ``'bicubic'`` or ``'nearest'``.
            Defaults to ``'bilinear'``.

    Returns:
        Tensor: Maps of shape (..., H, W).
    """
    if mode not in _INTERPOLATION_MODES:
        raise ValueError(f'`mode` must be one of {_INTERPOLATION_MODES}, '
                         f'got {mode!r}.')
    maps = _as_float_tensor(maps)
    if isinstance(size, int):
        size = (size, size)
    size = tuple(int(s) for s in size)
    if len(size) != 2:
        raise ValueError(f'`size` must be (H, W), got {size}.')
    if tuple(maps.shape[-2:]) == size:
        return maps
    lead = maps.shape[:-2]
    flat = maps.reshape(-1, 1, *maps.shape[-2:])
    align = None if mode == 'nearest' else False
    out = F.interpolate(flat, size=size, mode=mode, align_corners=align)
    return out.reshape(*lead, *size)
