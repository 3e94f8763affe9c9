# Copyright (c) mmweak contributors.
"""Frozen dense features from a user-supplied backbone and checkpoint.

MARS (Jo et al., ICCV 2023, arXiv 2304.09913) clusters unsupervised dense
features (STEGO / DINO-style ViT in the paper). mmweak never downloads
weights: the user names any mmpretrain backbone (a ViT with
``out_type='featmap'``, a ResNet stage, ...), a local checkpoint and
optionally a 1x1 projection head (the STEGO-style cluster head), and
:class:`DenseFeatureExtractor` returns L2-normalised (B, D, h, w) features.
"""
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmweak.registry import MODELS
from mmweak.utils.checkpoint import load_checkpoint_safely

_REMOTE = ('http://', 'https://', 's3://', 'open-mmlab://', 'torchvision://',
           'mmcls://', 'pavi://', 'modelzoo://')


def _load_state_dict(path: str, what: str) -> Dict[str, Tensor]:
    """A local checkpoint's state dict (``state_dict`` / ``model`` / the
    bare dict), loaded with mmweak's safe loader."""
    if str(path).startswith(_REMOTE):
        raise FileNotFoundError(
            f'{what} {path!r} is not a local file: mmweak never downloads '
            'weights; download it yourself and give the local path')
    full = osp.expanduser(str(path))
    if not osp.isfile(full):
        raise FileNotFoundError(
            f'{what} {path!r} not found: mmweak never downloads weights; '
            'put the checkpoint at that path or point the config to it')
    ckpt = load_checkpoint_safely(full, map_location='cpu')
    for key in ('state_dict', 'model'):
        if isinstance(ckpt, dict) and isinstance(ckpt.get(key), dict):
            ckpt = ckpt[key]
            break
    if not isinstance(ckpt, dict):
        raise TypeError(f'{what} {path!r} holds a {type(ckpt).__name__}, '
                        'not a state dict')
    return {
        (k[len('module.'):] if k.startswith('module.') else k): v
        for k, v in ckpt.items()
    }


def _strip(state: Dict[str, Tensor], prefix: str) -> Dict[str, Tensor]:
    return {
        k[len(prefix):]: v
        for k, v in state.items() if k.startswith(prefix)
    }


@MODELS.register_module()
class DenseFeatureExtractor(nn.Module):
    """Frozen backbone (+ optional 1x1 head) giving unit-norm dense features.

    The module is always in eval mode and runs without autograd. The input
    is a (B, 3, H, W) image batch, already normalised for the backbone
    unless ``mean`` / ``std`` are given (then raw 0-255 RGB is expected).

    Checkpoint layout: a mmengine checkpoint (``state_dict``), a ``model``
    dict or a bare state dict. Backbone keys are taken under
    ``backbone_prefix``; by default ``'backbone.'`` when such keys exist
    (an mmpretrain classifier or mmseg segmentor checkpoint), else all keys
    (a backbone-only file). Head keys are ``{head_prefix}weight`` and
    ``{head_prefix}bias`` of ``head_checkpoint`` (defaults to
    ``checkpoint``). Missing or unexpected backbone keys raise an error
    (``strict=True``); ViT position embeddings of another grid size are
    resized by mmpretrain's own load hook.

    Multi-scale + flip: for each scale the resized image (and its mirror,
    flipped back) goes through the model; each output is L2-normalised,
    bilinearly resized to the grid of scale 1.0 (or of the first scale
    rescaled to 1.0 when 1.0 is absent), averaged and normalised again.

    Args:
        backbone (dict): Backbone config, e.g. ``dict(type=
            'mmpretrain.VisionTransformer', arch='b', patch_size=8,
            out_type='featmap')``.
        checkpoint (str, optional): Local checkpoint. ``None`` only with
            ``allow_random=True`` (tests).
        allow_random (bool): Allow random weights (no checkpoint, or no
            head weights). Defaults to False.
        backbone_prefix (str, optional): Prefix of the backbone keys; see
            above. Defaults to None (auto).
        head_channels (int, optional): Output channels of a 1x1 conv head.
        head_in_channels (int, optional): Its input channels; default from
            the head weights, else the backbone's ``embed_dims``.
        head_prefix (str): Prefix of the head keys. Defaults to ``'head.'``.
        head_checkpoint (str, optional): File with the head weights.
        out_index (int): Which backbone output to use (tuple outputs).
            Defaults to -1.
        scales (Sequence[float]): Input scales. Defaults to ``(1.0, )``.
        flip (bool): Also average the horizontal flip. Defaults to False.
        mean (Sequence[float], optional): Per-channel mean of raw input.
        std (Sequence[float], optional): Per-channel std of raw input.
        strict (bool): Strict backbone loading. Defaults to True.
    """

    def __init__(self,
                 backbone: dict,
                 checkpoint: Optional[str] = None,
                 allow_random: bool = False,
                 backbone_prefix: Optional[str] = None,
                 head_channels: Optional[int] = None,
                 head_in_channels: Optional[int] = None,
                 head_prefix: str = 'head.',
                 head_checkpoint: Optional[str] = None,
                 out_index: int = -1,
                 scales: Sequence[float] = (1.0, ),
                 flip: bool = False,
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 strict: bool = True) -> None:
        super().__init__()
        if checkpoint is None and not allow_random:
            raise ValueError(
                'DenseFeatureExtractor needs `checkpoint` (a local file: '
                'mmweak never downloads weights); random weights are only '
                'allowed with allow_random=True')
        scales = tuple(float(s) for s in scales)
        if not scales or any(s <= 0 for s in scales):
            raise ValueError(f'scales must be positive, got {scales}')
        if (mean is None) != (std is None):
            raise ValueError('give both `mean` and `std` or neither')
        self.backbone_cfg = dict(backbone)
        self.checkpoint = checkpoint
        self.head_checkpoint = head_checkpoint
        self.out_index = int(out_index)
        self.scales = scales
        self.flip = bool(flip)
        self.backbone = MODELS.build(backbone)
        if mean is not None:
            self.register_buffer(
                'mean', torch.tensor(mean, dtype=torch.float32).view(
                    1, -1, 1, 1), False)
            self.register_buffer(
                'std', torch.tensor(std, dtype=torch.float32).view(
                    1, -1, 1, 1), False)
        else:
            self.mean = self.std = None

        state = None
        if checkpoint is not None:
            state = _load_state_dict(checkpoint, 'feature checkpoint')
            prefix = backbone_prefix
            if prefix is None:
                prefix = 'backbone.' if any(
                    k.startswith('backbone.') for k in state) else ''
            sub = _strip(state, prefix) if prefix else dict(state)
            if prefix == '' and head_channels is not None:
                sub = {
                    k: v
                    for k, v in sub.items() if not k.startswith(head_prefix)
                }
            if not sub:
                raise KeyError(f'feature checkpoint {checkpoint!r} has no '
                               f'key with prefix {prefix!r}')
            result = self.backbone.load_state_dict(sub, strict=False)
            if strict and (result.missing_keys or result.unexpected_keys):
                raise KeyError(
                    f'feature checkpoint {checkpoint!r} (prefix {prefix!r}) '
                    f'does not match the backbone: missing '
                    f'{result.missing_keys[:8]}, unexpected '
                    f'{result.unexpected_keys[:8]}')

        self.head: Optional[nn.Conv2d] = None
        if head_channels is not None:
            head_state = None
            source = head_checkpoint or checkpoint
            if source is not None:
                hs = state if source == checkpoint and state is not None \
                    else _load_state_dict(source, 'head checkpoint')
                head_state = _strip(hs, head_prefix)
                if 'weight' not in head_state:
                    if not allow_random:
                        raise KeyError(
                            f'{source!r} has no {head_prefix}weight for the '
                            '1x1 head (set head_prefix / head_checkpoint)')
                    head_state = None
            if head_state is not None:
                weight = head_state['weight']
                if weight.dim() == 2:
                    head_state['weight'] = weight = weight[..., None, None]
                in_ch = weight.shape[1]
                if weight.shape[0] != int(head_channels):
                    raise ValueError(
                        f'head weights have {weight.shape[0]} output '
                        f'channels, head_channels={head_channels}')
            else:
                in_ch = head_in_channels or getattr(self.backbone,
                                                    'embed_dims', None)
                if in_ch is None:
                    raise ValueError('set head_in_channels: it cannot be '
                                     'inferred from this backbone')
            if head_in_channels is not None and int(head_in_channels) != \
                    int(in_ch):
                raise ValueError(f'head_in_channels={head_in_channels} but '
                                 f'the head weights take {in_ch}')
            self.head = nn.Conv2d(int(in_ch), int(head_channels), 1,
                                  bias=head_state is None or
                                  'bias' in head_state)
            if head_state is not None:
                self.head.load_state_dict(head_state, strict=True)
        self.requires_grad_(False)
        self.eval()

    def init_weights(self) -> None:
        """No-op: the weights come from the checkpoint (a runner calling
        ``init_weights`` must not re-initialise them)."""

    def train(self, mode: bool = True) -> 'DenseFeatureExtractor':
        """Always stays in eval mode."""
        return super().train(False)

    @property
    def identity(self) -> Dict[str, Any]:
        """What produced the features (saved next to MARS centroids)."""
        return dict(
            backbone=self.backbone_cfg,
            checkpoint=self.checkpoint,
            head_checkpoint=self.head_checkpoint,
            head=None if self.head is None else
            (self.head.in_channels, self.head.out_channels),
            out_index=self.out_index,
            scales=list(self.scales),
            flip=self.flip)

    def _single(self, x: Tensor) -> Tensor:
        outs = self.backbone(x)
        if isinstance(outs, (tuple, list)):
            outs = outs[self.out_index]
        if not isinstance(outs, Tensor) or outs.dim() != 4:
            raise ValueError(
                'the backbone output must be a (B, D, h, w) feature map, got '
                f'{type(outs).__name__} '
                f'{getattr(outs, "shape", None)}; for a ViT set '
                "out_type='featmap'")
        if self.head is not None:
            outs = self.head(outs)
        return F.normalize(outs.float(), dim=1)

    def _scale(self, x: Tensor, scale: float) -> Tensor:
        if scale == 1.0:
            return x
        size = [max(1, round(s * scale)) for s in x.shape[-2:]]
        return F.interpolate(
            x, size=size, mode='bilinear', align_corners=False)

    @torch.no_grad()
    def forward(self, inputs: Tensor) -> Tensor:
        """(B, 3, H, W) images -> (B, D, h, w) unit-norm features."""
        if inputs.dim() != 4:
            raise ValueError(f'inputs must be (B, C, H, W), got '
                             f'{tuple(inputs.shape)}')
        x = inputs.float()
        if self.mean is not None:
            x = (x - self.mean) / self.std
        if self.scales == (1.0, ) and not self.flip:
            return self._single(x)
        feats: List[Tensor] = []
        for s in self.scales:
            xs = self._scale(x, s)
            f = self._single(xs)
            if self.flip:
                f = f + self._single(xs.flip(-1)).flip(-1)
            feats.append((s, F.normalize(f, dim=1)))
        base = self._base_grid(feats)
        total = 0
        for _, f in feats:
            if tuple(f.shape[-2:]) != base:
                f = F.interpolate(
                    f, size=base, mode='bilinear', align_corners=False)
            total = total + F.normalize(f, dim=1)
        return F.normalize(total, dim=1)

    @staticmethod
    def _base_grid(feats: List[Tuple[float, Tensor]]) -> Tuple[int, int]:
        for s, f in feats:
            if s == 1.0:
                return tuple(f.shape[-2:])
        s, f = feats[0]
        return tuple(max(1, round(n / s)) for n in f.shape[-2:])
