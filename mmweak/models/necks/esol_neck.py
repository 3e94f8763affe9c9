# Copyright (c) mmweak contributors.
from typing import Optional, Tuple, Union

import torch
from mmengine.model import BaseModule

from mmweak.registry import MODELS
from .feature_clip import FeatureClip
from .offset_sampler import OffsetSampler

Feats = Union[torch.Tensor, Tuple[torch.Tensor, ...]]


def _map_last(inputs: Feats, fn) -> Feats:
    """Apply ``fn`` to the last map of a neck input (tuple or tensor)."""
    if isinstance(inputs, torch.Tensor):
        return fn(inputs)
    if isinstance(inputs, (tuple, list)):
        return tuple(inputs[:-1]) + (fn(inputs[-1]), )
    raise TypeError('neck inputs should be a tuple of tensors or a tensor, '
                    f'got {type(inputs).__name__}')


@MODELS.register_module()
class ESOLExpansionNeck(BaseModule):
    """ESOL's expansion block (stage 1) between a backbone and a CAM head.

    Li et al., "Expansion and Shrinkage of Localization for Weakly-Supervised
    Semantic Segmentation", NeurIPS 2022 (figure 2, top). On the last
    backbone map ``F``::

        F' = DCN(F, R(dp1), W1),  dp1 = m * tanh(offset_conv1(sg(F)))
        F'_clip = min(ReLU(F'), tau)

    ``R`` is a gradient-reversal layer (``-grl_lambda``): one descent step
    on the classification loss lowers it for the classifier and *raises* it
    for ``offset_conv1``, so the sampler learns to read less discriminative
    regions (the paper's inverse supervision). The CAM head then reads
    ``F'_clip``. See :class:`OffsetSampler` and :class:`FeatureClip`.

    The spatial map is kept (same shape as ``F``); the neck takes and returns
    a tuple of maps like mmpretrain necks and changes only the last one.

    Args:
        in_channels (int): Channels of ``F``. Defaults to 2048.
        max_offset (float, optional): Offset bound in feature pixels (None:
            unbounded). Defaults to 8.0.
        grl_lambda (float, optional): Gradient-reversal scale
            ``lambda_exp``; None trains the sampler by plain descent.
            Defaults to 1.0.
        w_init (str): ``W1``: ``'uniform'`` or ``'identity_center'``.
            Defaults to ``'uniform'``.
        w_trainable (bool): Whether ``W1`` is learnt. Defaults to False.
        backend (str): DCN operator, ``'torchvision'``, ``'mmcv'`` or
            ``'grid_sample'``. Defaults to ``'torchvision'``.
        zero_init_offset (bool): Zero-initialise ``offset_conv1`` (the DCN
            then starts as a plain convolution with ``W1``).
            Defaults to True.
        clip_mode (str): ``'ratio'``, ``'fixed'`` or ``'none'``.
            Defaults to ``'ratio'``.
        clip_ratio (float): ``kappa`` of the ratio clip. Defaults to 0.5.
        clip_value (float, optional): ``tau`` of the fixed clip.
            Defaults to None.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 in_channels: int = 2048,
                 max_offset: Optional[float] = 8.0,
                 grl_lambda: Optional[float] = 1.0,
                 w_init: str = 'uniform',
                 w_trainable: bool = False,
                 backend: str = 'torchvision',
                 zero_init_offset: bool = True,
                 clip_mode: str = 'ratio',
                 clip_ratio: float = 0.5,
                 clip_value: Optional[float] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.expansion_sampler = OffsetSampler(
            in_channels,
            max_offset=max_offset,
            grl_lambda=grl_lambda,
            w_init=w_init,
            w_trainable=w_trainable,
            backend=backend,
            zero_init_offset=zero_init_offset)
        self.clip = FeatureClip(
            mode=clip_mode, ratio=clip_ratio, value=clip_value)

    def expand(self, x: torch.Tensor) -> torch.Tensor:
        """``F'_clip = Clip(DCN(F, R(dp1), W1))`` of one map."""
        return self.clip(self.expansion_sampler(x))

    def forward(self, inputs: Feats) -> Feats:
        return _map_last(inputs, self.expand)


@MODELS.register_module()
class ESOLShrinkageNeck(ESOLExpansionNeck):
    """ESOL's shrinkage block (stage 2) stacked on the frozen expansion
    block.

    Li et al., NeurIPS 2022 (figure 2, bottom)::

        F'_clip = sg(Clip(DCN(F, dp1, W1)))          # frozen, stage 1
        F2 = DCN(F'_clip, dp2, W2),  dp2 = m * tanh(offset_conv2(F'_clip))

    The CAM head reads ``F2`` and is trained with the classification loss
    plus an area loss (:class:`AreaLoss`), which shrinks the expanded
    region back to the object. Only ``offset_conv2`` (and ``W2`` when
    ``w_trainable``) learn here; the shrinkage sampler has no gradient
    reversal.

    The expansion block keeps the attribute names of
    :class:`ESOLExpansionNeck` (``expansion_sampler``, ``clip``), so a stage-1
    checkpoint loads into it by key (``load_from``). It is always frozen:
    ``requires_grad=False`` and run without autograd.

    Args:
        in_channels (int): Channels of ``F``. Defaults to 2048.
        max_offset, grl_lambda, w_init, w_trainable, backend,
            zero_init_offset, clip_mode, clip_ratio, clip_value: The
            expansion block's settings, as in :class:`ESOLExpansionNeck`
            (they must match stage 1).
        shrinkage (dict, optional): :class:`OffsetSampler` settings of the
            shrinkage sampler (``max_offset``, ``w_init``, ``w_trainable``,
            ``backend``, ``zero_init_offset``, ``kernel_size``); unset keys
            take the expansion block's value. Defaults to None.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 in_channels: int = 2048,
                 max_offset: Optional[float] = 8.0,
                 grl_lambda: Optional[float] = 1.0,
                 w_init: str = 'uniform',
                 w_trainable: bool = False,
                 backend: str = 'torchvision',
                 zero_init_offset: bool = True,
                 clip_mode: str = 'ratio',
                 clip_ratio: float = 0.5,
                 clip_value: Optional[float] = None,
                 shrinkage: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            in_channels=in_channels,
            max_offset=max_offset,
            grl_lambda=grl_lambda,
            w_init=w_init,
            w_trainable=w_trainable,
            backend=backend,
            zero_init_offset=zero_init_offset,
            clip_mode=clip_mode,
            clip_ratio=clip_ratio,
            clip_value=clip_value,
            init_cfg=init_cfg)
        cfg = dict(
            max_offset=max_offset,
            w_init=w_init,
            w_trainable=w_trainable,
            backend=backend,
            zero_init_offset=zero_init_offset)
        cfg.update(shrinkage or {})
        if 'grl_lambda' in cfg:
            raise ValueError('the shrinkage sampler has no gradient reversal')
        self.shrinkage_sampler = OffsetSampler(in_channels, **cfg)
        for module in (self.expansion_sampler, self.clip):
            module.requires_grad_(False)

    def forward(self, inputs: Feats) -> Feats:
        return _map_last(inputs, self.shrink)

    def shrink(self, x: torch.Tensor) -> torch.Tensor:
        """``F2 = DCN(sg(F'_clip), dp2, W2)`` of one map."""
        with torch.no_grad():
            x = self.expand(x)
        return self.shrinkage_sampler(x)
