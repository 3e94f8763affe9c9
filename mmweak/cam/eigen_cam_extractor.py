# Copyright (c) mmweak contributors.
"""Eigen-CAM for any mmengine model: classifiers, detectors, segmentors."""
import math
from contextlib import contextmanager
from typing import (Any, Callable, Dict, Iterator, List, Optional, Sequence,
                    Tuple, Union)

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel, is_model_wrapper
from torch import Tensor, nn

from .activation_recorder import (INPUT_SUFFIX, ActivationRecorder,
                                  resolve_module)
from .eigen_cam import SOLVERS, _check_sign, eigen_projection, normalize_cams

FPN_MODES = ('per_level', 'concat')
_RESHAPE_KEYS = ('prefix_tokens', 'suffix_tokens', 'patch_resolution')
_PATCH_EMBED = 'patch_embed'

Level = Tuple[Tensor, Optional[Tensor]]  # projection (B, h, w), valid mask


def tokens_to_grid(tokens: Tensor,
                   patch_resolution: Sequence[int],
                   prefix_tokens: int = 0,
                   suffix_tokens: int = 0) -> Tensor:
    """Turn ViT-style tokens (B, N, C) into a feature map (B, C, h, w).

    Args:
        tokens (Tensor): (B, N, C) tokens.
        patch_resolution (Sequence[int]): Grid (h, w) of the patch tokens.
        prefix_tokens (int): Extra tokens before the patches (1 class token;
            2 for distilled DeiT). Defaults to 0.
        suffix_tokens (int): Extra tokens after the patches (e.g. a
            localization token). Defaults to 0.

    Returns:
        Tensor: (B, C, h, w).
    """
    batch, num, chans = tokens.shape
    height, width = (int(v) for v in patch_resolution)
    patches = num - prefix_tokens - suffix_tokens
    if patches != height * width:
        raise ValueError(
            f'cannot reshape {num} tokens to a {height}x{width} grid with '
            f'{prefix_tokens} leading and {suffix_tokens} trailing extra '
            f'tokens ({patches} patch tokens); set `reshape=dict('
            'prefix_tokens=..., suffix_tokens=..., patch_resolution=...)`.')
    grid = tokens[:, prefix_tokens:num - suffix_tokens]
    return grid.transpose(1, 2).reshape(batch, chans, height, width)


def _is_hw(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, int) for v in value)


class EigenCAM:
    """Eigen-CAM (Muhammad & Yeasin, IJCNN 2020) of any mmengine model.

    The maps are the ReLU'd projections of the target layers' activations
    onto their first principal direction (:func:`mmweak.cam.eigen_cam`),
    min-max normalised, resized bilinearly to the network input, averaged
    over layers / FPN levels and min-max normalised again. No gradient, no
    class score: the map is class-agnostic.

    Usage::

        cam = EigenCAM(model, ['backbone.layer4'])
        maps = cam(inputs)                    # (B, H, W) in [0, 1]
        with EigenCAM(detector, ['neck']) as cam:   # hooks kept in the block
            for batch in batches:
                maps = cam(batch_inputs, data_samples)

    Activations are captured by forward hooks on the named modules. The
    hooks exist only inside ``with cam:`` or, without it, during one call;
    they are removed on exit, also on errors. Module outputs may be:

    - a (B, C, H, W) tensor;
    - ViT-style tokens (B, N, C): the extra tokens are dropped and the
      patch tokens reshaped to the patch grid of this forward pass (taken
      from the ``patch_embed`` of the enclosing backbone, never from
      sqrt(N)); the number of leading extra tokens defaults to the
      backbone's ``num_extra_tokens``;
    - a tuple of the above (backbone stages, FPN levels) or ``(tokens,
      (h, w))`` pairs (Swin stages): with ``fpn_mode='per_level'`` each
      level gives a map and all are averaged like several layers; with
      ``'concat'`` the levels of one layer are made non-negative (abs),
      resized to the coarsest level and concatenated along channels for one
      decomposition.

    With padded batches (detectors, segmentors), the data samples'
    ``img_shape`` marks the valid region: the decomposition and the min-max
    use the valid positions only and the padding gets 0.

    Args:
        model (nn.Module): The model (a model wrapper is unwrapped). Put it
            in eval mode yourself; its state is not changed.
        target_layers (str | Sequence[str]): Dotted module paths, e.g.
            ``'backbone.layer4'``, ``'neck'``, ``'backbone.layers.10'``; a
            ``':input'`` suffix takes the module's input instead, e.g.
            ``'decode_head.conv_seg:input'``.
        center (bool): Centre each channel over positions before the
            decomposition (pytorch-grad-cam's choice). Defaults to False
            (the paper).
        sign (str): Sign rule, ``'channel_mean'`` (default), ``'max_abs'``
            (alias ``'max'``) or ``'none'``; see :mod:`mmweak.cam.eigen_cam`.
        solver (str): ``'gram'`` (default), ``'svd'`` or ``'lowrank'``.
        fpn_mode (str): ``'per_level'`` (default) or ``'concat'``.
        reshape (dict, optional): Token layout, keys ``prefix_tokens``
            (int, default: the backbone's ``num_extra_tokens`` or 0),
            ``suffix_tokens`` (int, default 0) and ``patch_resolution``
            ((h, w), default: from the backbone's patch embedding).
        eps (float): Min-max epsilon. Defaults to 1e-7.

    ``center=True`` reproduces pytorch-grad-cam's ``EigenCAM`` (same layer
    aggregation) up to the per-image sign of its SVD.
    """

    def __init__(self,
                 model: nn.Module,
                 target_layers: Union[str, Sequence[str]],
                 center: bool = False,
                 sign: str = 'channel_mean',
                 solver: str = 'gram',
                 fpn_mode: str = 'per_level',
                 reshape: Optional[dict] = None,
                 eps: float = 1e-7) -> None:
        if is_model_wrapper(model):
            model = model.module
        if isinstance(target_layers, str):
            target_layers = [target_layers]
        target_layers = list(target_layers)
        if not target_layers:
            raise ValueError('`target_layers` must name at least one module.')
        if fpn_mode not in FPN_MODES:
            raise ValueError(
                f'`fpn_mode` must be one of {FPN_MODES}, got {fpn_mode!r}.')
        reshape = dict(reshape or {})
        unknown = set(reshape) - set(_RESHAPE_KEYS)
        if unknown:
            raise ValueError(f'unknown `reshape` keys {sorted(unknown)}; '
                             f'expected some of {_RESHAPE_KEYS}.')
        self.model = model
        self.target_layers = target_layers
        self.center = center
        self.sign = _check_sign(sign)
        if solver not in SOLVERS:
            raise ValueError(
                f'`solver` must be one of {SOLVERS}, got {solver!r}.')
        self.solver = solver
        self.fpn_mode = fpn_mode
        self.reshape = reshape
        self.eps = eps
        # the backbone owning each target (for token layouts) and the
        # patch embeddings whose output size gives the grid of this pass
        self._owners: Dict[str, Optional[str]] = {}
        for name in target_layers:
            path = name[:-len(INPUT_SUFFIX)] \
                if name.endswith(INPUT_SUFFIX) else name
            self._owners[name] = self._find_token_owner(path)
        embeds = sorted({
            f'{o}.{_PATCH_EMBED}' if o else _PATCH_EMBED
            for o in self._owners.values() if o is not None
        })
        self.recorder = ActivationRecorder(model, target_layers + embeds)

    def _find_token_owner(self, path: str) -> Optional[str]:
        """Longest prefix of ``path`` (itself included) that has a
        ``patch_embed`` module, e.g. the ViT backbone of its blocks."""
        parts = path.split('.') if path else []
        for end in range(len(parts), -1, -1):
            prefix = '.'.join(parts[:end])
            module = resolve_module(self.model, prefix)
            if isinstance(getattr(module, _PATCH_EMBED, None), nn.Module):
                return prefix
        return None

    # ------------------------------------------------------------ hooks
    def __enter__(self) -> 'EigenCAM':
        self.recorder.open()
        return self

    def __exit__(self, *exc_info) -> bool:
        self.recorder.close()
        return False

    def close(self) -> None:
        """Remove the hooks (same as leaving the ``with`` block)."""
        self.recorder.close()

    @contextmanager
    def _session(self) -> Iterator[None]:
        """Hooks for one call: reuse the open ones, else open and close."""
        owned = not self.recorder.is_open
        self.recorder.open()
        self.recorder.clear()
        try:
            yield
        finally:
            if owned:
                self.recorder.close()
            else:
                self.recorder.clear()

    def record(self, fn: Callable, *args, **kwargs) -> Tuple[Any, dict]:
        """Call ``fn(*args, **kwargs)`` (e.g. ``model.test_step``) with the
        hooks on; return its result and the recorded activations."""
        with self._session():
            result = fn(*args, **kwargs)
            activations = self.recorder.pop()
        return result, activations

    def __call__(self,
                 inputs: Tensor,
                 data_samples: Optional[list] = None,
                 targets: Any = None) -> Tensor:
        """Run the model on preprocessed ``inputs`` and return the maps.

        Args:
            inputs (Tensor): (B, 3, H, W) network input.
            data_samples (list, optional): Data samples whose metainfo
                ``img_shape`` marks the unpadded region of each image.
            targets: Not supported; Eigen-CAM is class-agnostic.

        Returns:
            Tensor: (B, H, W) maps in [0, 1].
        """
        if targets is not None:
            raise ValueError(
                'Eigen-CAM is class-agnostic and takes no `targets`; use a '
                'gradient-based class-specific method (e.g. EigenGradCAM or '
                'Grad-CAM) for per-class maps.')
        model = self.model

        def forward():
            with torch.no_grad():
                if isinstance(model, BaseModel):
                    return model(inputs, data_samples, mode='tensor')
                return model(inputs)

        _, activations = self.record(forward)
        return self.maps_from_activations(activations, inputs.shape[-2:],
                                          img_shapes(data_samples))

    # ------------------------------------------------------------ maps
    def _patch_resolution(self, name: str, activations: dict) -> Sequence:
        if self.reshape.get('patch_resolution') is not None:
            return self.reshape['patch_resolution']
        owner = self._owners[name]
        if owner is None:
            raise ValueError(
                f'target layer {name!r} gives tokens (B, N, C) but no '
                'enclosing module has a `patch_embed`; set '
                '`reshape=dict(patch_resolution=(h, w))`.')
        embed = activations.get(f'{owner}.{_PATCH_EMBED}'
                                if owner else _PATCH_EMBED)
        if isinstance(embed, (tuple, list)) and len(embed) > 1 and _is_hw(
                tuple(embed[1])):
            return tuple(embed[1])
        resolution = getattr(resolve_module(self.model, owner),
                             'patch_resolution', None)
        if resolution is None:
            raise ValueError(
                f'cannot tell the patch grid of target layer {name!r}; set '
                '`reshape=dict(patch_resolution=(h, w))`.')
        return resolution

    def _prefix_tokens(self, name: str) -> int:
        if self.reshape.get('prefix_tokens') is not None:
            return int(self.reshape['prefix_tokens'])
        owner = self._owners[name]
        if owner is None:
            return 0
        return int(
            getattr(resolve_module(self.model, owner), 'num_extra_tokens', 0))

    def _levels(self, name: str, value: Any, activations: dict) -> List:
        """Feature maps (B, C, h, w) in one recorded module output."""
        suffix = int(self.reshape.get('suffix_tokens', 0))
        if isinstance(value, Tensor):
            if value.dim() == 4:
                return [value]
            if value.dim() == 3:
                return [
                    tokens_to_grid(value,
                                   self._patch_resolution(name, activations),
                                   self._prefix_tokens(name), suffix)
                ]
            raise ValueError(
                f'target layer {name!r} gave a tensor of shape '
                f'{tuple(value.shape)}; expected (B, C, H, W) or tokens '
                '(B, N, C).')
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, (tuple, list)):
            if len(value) == 2 and isinstance(value[0], Tensor) and \
                    value[0].dim() == 3 and _is_hw(tuple(value[1])):
                prefix = int(self.reshape.get('prefix_tokens') or 0)
                return [tokens_to_grid(value[0], value[1], prefix, suffix)]
            levels = []
            for item in value:
                if isinstance(item, (Tensor, tuple, list, dict)):
                    levels.extend(self._levels(name, item, activations))
            if levels:
                return levels
        raise ValueError(f'target layer {name!r} gave {type(value).__name__}'
                         ' without feature maps; choose another module.')

    def feature_maps(self, activations: dict) -> List[Tensor]:
        """All feature levels (B, C, h, w) to decompose, in layer order."""
        maps = []
        for name in self.target_layers:
            levels = self._levels(name, activations[name], activations)
            if self.fpn_mode == 'concat' and len(levels) > 1:
                size = min((lvl.shape[-2:] for lvl in levels),
                           key=lambda s: s[0] * s[1])
                levels = [
                    torch.cat([
                        F.interpolate(
                            lvl.abs().float(),
                            size=tuple(size),
                            mode='bilinear',
                            align_corners=False) for lvl in levels
                    ],
                              dim=1)
                ]
            maps.extend(levels)
        return maps

    def projections(self,
                    activations: dict,
                    input_size: Sequence[int],
                    img_shapes: Optional[Sequence] = None) -> List[Level]:
        """Signed projections (before ReLU) of every level, with the valid
        mask of each (None without padding)."""
        out = []
        for feats in self.feature_maps(activations):
            mask = valid_mask(img_shapes, input_size, feats.shape[-2:],
                              feats.device)
            proj = eigen_projection(
                feats,
                center=self.center,
                sign=self.sign,
                solver=self.solver,
                valid_mask=mask)
            out.append((proj, mask))
        return out

    def maps_from_projections(
            self,
            levels: Sequence[Level],
            input_size: Sequence[int],
            img_shapes: Optional[Sequence] = None) -> Tensor:
        """ReLU + min-max per level, resize to ``input_size``, average over
        levels and min-max over the valid pixels."""
        input_size = tuple(int(s) for s in input_size)
        cams = []
        for proj, mask in levels:
            cam = normalize_cams(F.relu(proj), mask, self.eps)
            cams.append(
                F.interpolate(
                    cam.unsqueeze(1),
                    size=input_size,
                    mode='bilinear',
                    align_corners=False))
        cam = torch.cat(cams, dim=1).mean(dim=1)
        mask = valid_mask(img_shapes, input_size, input_size, cam.device)
        return normalize_cams(cam, mask, self.eps)

    def maps_from_activations(
            self,
            activations: dict,
            input_size: Sequence[int],
            img_shapes: Optional[Sequence] = None) -> Tensor:
        """Maps (B, H, W) in [0, 1] at ``input_size`` from recorded
        activations (see :meth:`record`)."""
        levels = self.projections(activations, input_size, img_shapes)
        return self.maps_from_projections(levels, input_size, img_shapes)


def img_shapes(data_samples: Optional[Sequence]) -> Optional[List[tuple]]:
    """``img_shape`` (h, w) of each data sample, or None if any lacks it."""
    if not data_samples:
        return None
    shapes = []
    for sample in data_samples:
        meta = getattr(sample, 'metainfo', sample)
        shape = meta.get('img_shape') if hasattr(meta, 'get') else None
        if shape is None:
            return None
        shapes.append(tuple(int(s) for s in shape[:2]))
    return shapes


def valid_mask(shapes: Optional[Sequence],
               input_size: Sequence[int],
               size: Sequence[int],
               device: Union[str, torch.device] = 'cpu') -> Optional[Tensor]:
    """(B, h, w) bool mask of the positions of a map of ``size`` that cover
    the unpadded images, or None when no image is padded.

    Args:
        shapes (Sequence, optional): ``img_shape`` (h, w) per image, in
            pixels of the network input.
        input_size (Sequence[int]): (H, W) of the padded network input.
        size (Sequence[int]): (h, w) of the map.
        device: Device of the mask.
    """
    if shapes is None:
        return None
    in_h, in_w = (int(s) for s in input_size)
    height, width = (int(s) for s in size)
    if all(s[0] >= in_h and s[1] >= in_w for s in shapes):
        return None
    rows = torch.tensor([math.ceil(s[0] * height / in_h) for s in shapes],
                        device=device)
    cols = torch.tensor([math.ceil(s[1] * width / in_w) for s in shapes],
                        device=device)
    ys = torch.arange(height, device=device)
    xs = torch.arange(width, device=device)
    return (ys[None, :, None] < rows[:, None, None]) & (
        xs[None, None, :] < cols[:, None, None])


def maps_to_ori_shape(maps: Tensor, data_samples: Sequence) -> List[Tensor]:
    """Crop each map (B, H, W) to its ``img_shape`` and resize it
    (bilinear) to its ``ori_shape``; returns a list of (h, w) maps."""
    out = []
    for cam, sample in zip(maps, data_samples):
        meta = getattr(sample, 'metainfo', sample)
        img_h, img_w = (int(s) for s in meta.get('img_shape',
                                                 cam.shape)[:2])
        ori_h, ori_w = (int(s) for s in meta.get('ori_shape',
                                                 (img_h, img_w))[:2])
        crop = cam[:img_h, :img_w][None, None]
        out.append(
            F.interpolate(
                crop, size=(ori_h, ori_w), mode='bilinear',
                align_corners=False)[0, 0])
    return out
