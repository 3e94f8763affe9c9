# Copyright (c) mmweak contributors.
"""Multi-scale + flip class activation maps of the tagged classes, in IRN's
CAM ``.npy`` format (wsss-protocol spec, section 4).

For every scale ``s`` in ``(1.0, 0.5, 1.5, 2.0)`` the image is resized, run
together with its horizontal flip (one batched forward), the raw class maps
are ReLU'd, the flipped ones flipped back, and the maps are upsampled
bilinearly to the "strided" size ``(ceil(H / 4), ceil(W / 4))`` and to the
image size ``(H, W)``; the sums over scales and flips of the tagged classes
are then divided by their own maximum (+ 1e-5). This is the CAM inference of
IRN (Ahn et al., CVPR 2019) used by every seed-producing WSSS method.
"""
import math
from typing import Dict, List, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

CamPack = Dict[str, Tensor]
DEFAULT_SCALES = (1.0, 0.5, 1.5, 2.0)


def strided_size(size: Tuple[int, int], stride: int = 4) -> Tuple[int, int]:
    """``(ceil(H / stride), ceil(W / stride))``: the size of IRN's strided
    CAM of an ``H x W`` image."""
    return (math.ceil(size[0] / stride), math.ceil(size[1] / stride))


def scaled_size(size: Tuple[int, int], scale: float) -> Tuple[int, int]:
    """Size of the image at ``scale``: each side rounded, at least 1."""
    return (max(1, int(round(size[0] * scale))),
            max(1, int(round(size[1] * scale))))


def _as_keys(keys, name: str) -> Tensor:
    if isinstance(keys, Tensor):
        keys = keys.detach().cpu()
    keys = torch.as_tensor(
        np.asarray(keys, dtype=np.int64).reshape(-1), dtype=torch.long)
    if keys.numel() and int(keys.min()) < 0:
        raise ValueError(f'{name}: class indices must be >= 0 (0-based '
                         f'foreground indices), got {keys.tolist()}')
    return torch.unique(keys)  # sorted, as IRN's nonzero(label)


def preprocess_images(model: nn.Module, imgs: Tensor) -> Tensor:
    """Run the model's data preprocessor on raw images.

    Args:
        model (nn.Module): Model with a ``data_preprocessor`` (e.g.
            mmpretrain's ``ClsDataPreprocessor``: channel order, mean/std
            and padding come from the config).
        imgs (Tensor): ``(B, 3, H, W)`` raw images as packed by the pipeline
            (uint8 or float, the loader's channel order).

    Returns:
        Tensor: ``(B, 3, H, W)`` float inputs on the model's device (any
        padding to a size divisor is cropped off again).
    """
    height, width = imgs.shape[-2:]
    data = model.data_preprocessor(
        dict(inputs=list(imgs), data_samples=None), False)
    inputs = data['inputs']
    if inputs.shape[-2] < height or inputs.shape[-1] < width:
        raise ValueError(
            f'data preprocessor returned {tuple(inputs.shape)} for images of '
            f'size {(height, width)}: it must not shrink the images')
    return inputs[..., :height, :width].float()


def _resize(x: Tensor, size: Tuple[int, int], mode: str) -> Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if mode in ('bilinear', 'bicubic'):
        return F.interpolate(
            x, size=size, mode=mode, align_corners=False, antialias=True)
    return F.interpolate(x, size=size, mode=mode)


@torch.no_grad()
def multiscale_cams(
    model: nn.Module,
    img: Tensor,
    keys: Union[Sequence[int], Sequence[Sequence[int]], Tensor],
    scales: Sequence[float] = DEFAULT_SCALES,
    flip: bool = True,
    stride: int = 4,
    preprocess: bool = True,
    img_resize_mode: str = 'bicubic',
) -> Union[CamPack, List[CamPack]]:
    """Multi-scale + flip CAMs of the tagged classes (IRN format).

    Args:
        model (nn.Module): A model with ``forward_cam(inputs) -> (B, C, h,
            w)`` raw class maps (e.g. :class:`MultiLabelCAMClassifier`) and,
            when ``preprocess``, a ``data_preprocessor``. It should be in
            eval mode.
        img (Tensor): ``(3, H, W)`` or ``(B, 3, H, W)`` images of one size.
            Raw images as the pipeline packs them (``PackInputs``: loader
            channel order, not normalised) when ``preprocess`` is True; model
            inputs (already normalised) otherwise.
        keys: Tagged classes (0-based foreground indices) of the image, or
            one sequence per image for a batch. Images without tags get an
            empty pack.
        scales (Sequence[float]): Image scales. Defaults to
            ``(1.0, 0.5, 1.5, 2.0)``.
        flip (bool): Add the horizontal flip of every scale (its map is
            flipped back). Defaults to True.
        stride (int): Stride of the ``cam`` output. Defaults to 4.
        preprocess (bool): Run ``model.data_preprocessor`` on ``img`` first,
            so the config's normalisation is used. Defaults to True.
        img_resize_mode (str): Interpolation of the image per scale
            (antialiased for bilinear/bicubic; IRN rescales with PIL
            bicubic). Defaults to ``'bicubic'``.

    Returns:
        dict | list[dict]: Per image ``dict(keys=LongTensor (K,),
        cam=Tensor (K, ceil(H/stride), ceil(W/stride)), high_res=Tensor (K,
        H, W))`` (float32, on the model's device, each map divided by its
        max + 1e-5); a list for a batched ``img``.
    """
    if not hasattr(model, 'forward_cam'):
        raise TypeError(f'{type(model).__name__} has no forward_cam(inputs): '
                        'multi-scale CAMs need a CAM model')
    if not scales:
        raise ValueError('scales must not be empty')
    if any(s <= 0 for s in scales):
        raise ValueError(f'scales must be positive, got {tuple(scales)}')
    if stride <= 0:
        raise ValueError(f'stride must be positive, got {stride}')
    single = img.dim() == 3
    if single:
        img, keys = img[None], [keys]
    if img.dim() != 4 or img.size(1) != 3:
        raise ValueError('img must be (3, H, W) or (B, 3, H, W), got '
                         f'{tuple(img.shape)}')
    if len(keys) != img.size(0):
        raise ValueError(f'got {len(keys)} key lists for {img.size(0)} '
                         'images')
    keys = [_as_keys(k, f'keys of image {i}') for i, k in enumerate(keys)]
    num = img.size(0)
    size = tuple(img.shape[-2:])
    small = strided_size(size, stride)

    if preprocess:
        inputs = preprocess_images(model, img)
    else:
        param = next(model.parameters(), None)
        device = param.device if param is not None else img.device
        inputs = img.to(device).float()

    union = torch.unique(torch.cat(keys))
    cam = inputs.new_zeros((num, union.numel()) + small)
    high_res = inputs.new_zeros((num, union.numel()) + size)
    if union.numel():
        for scale in scales:
            x = _resize(inputs, scaled_size(size, scale), img_resize_mode)
            if flip:  # the flips share the forward of their scale
                x = torch.cat([x, x.flip(-1)])
            maps = model.forward_cam(x)
            if int(union.max()) >= maps.size(1):
                raise ValueError(
                    f'tagged class {int(union.max())} is outside the '
                    f'model\'s {maps.size(1)} classes')
            maps = F.relu(maps[:, union.to(maps.device)].float())
            if flip:
                maps = maps[:num] + maps[num:].flip(-1)
            cam += F.interpolate(
                maps, size=small, mode='bilinear', align_corners=False)
            high_res += F.interpolate(
                maps, size=size, mode='bilinear', align_corners=False)

    packs = []
    for i, k in enumerate(keys):
        cols = torch.searchsorted(union, k).to(cam.device)
        packs.append(
            dict(
                keys=k.to(cam.device),
                cam=normalize_by_max(cam[i, cols]),
                high_res=normalize_by_max(high_res[i, cols])))
    return packs[0] if single else packs


def normalize_by_max(maps: Tensor, eps: float = 1e-5) -> Tensor:
    """Divide each ``(..., h, w)`` map by its own maximum + ``eps`` (IRN)."""
    if maps.numel() == 0:
        return maps
    return maps / (maps.amax(dim=(-2, -1), keepdim=True) + eps)


def cam_pack_to_numpy(pack: CamPack) -> Dict[str, np.ndarray]:
    """The IRN ``.npy`` dict: ``keys`` int64, ``cam``/``high_res`` float32."""
    return dict(
        keys=pack['keys'].detach().cpu().numpy().astype(np.int64),
        cam=pack['cam'].detach().cpu().numpy().astype(np.float32),
        high_res=pack['high_res'].detach().cpu().numpy().astype(np.float32))


def load_cam_pack(path: str) -> Dict[str, np.ndarray]:
    """Read an IRN CAM ``.npy`` and check its keys and shapes.

    Raises:
        ValueError: If the file is not a dict with ``keys`` (K,), ``cam``
            (K, h, w) and ``high_res`` (K, H, W).
    """
    obj = np.load(path, allow_pickle=True)
    pack = obj.item() if obj.dtype == object and obj.ndim == 0 else None
    if not isinstance(pack, dict) or 'keys' not in pack or \
            'high_res' not in pack:
        raise ValueError(f'{path}: expected an IRN CAM pack (np.save of a '
                         "dict with 'keys', 'cam', 'high_res')")
    k = np.asarray(pack['keys']).reshape(-1)
    for name in ('cam', 'high_res'):
        if name in pack:
            arr = np.asarray(pack[name])
            if arr.ndim != 3 or arr.shape[0] != k.size:
                raise ValueError(
                    f'{path}: {name!r} has shape {arr.shape}, expected '
                    f'({k.size}, h, w) for keys {k.tolist()}')
    return pack
