# Copyright (c) mmweak contributors.
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import (build_activation_layer, build_conv_layer,
                      build_norm_layer)
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.models.utils import make_divisible

from mmweak.registry import MODELS


@MODELS.register_module()
class MobileNetV1(BaseBackbone):
    """MobileNetV1 backbone.

    Howard et al., "MobileNets: Efficient Convolutional Neural Networks for
    Mobile Vision Applications", arXiv 1704.04861 (Table 1): a stride-2
    3x3 convolution followed by 13 depthwise-separable blocks
    (depthwise 3x3 conv, norm, activation, pointwise 1x1 conv, norm,
    activation). mmpretrain 1.2 has no MobileNetV1.

    All layers live in one ``nn.Sequential`` called ``layers``: layer 0 is
    ``(conv, norm, act)``, layers 1-13 are
    ``(dw_conv, norm, act, pw_conv, norm, act)``. This is the positional
    layout of the widely used PyTorch MobileNetV1 ports (e.g. the
    ReLU-MobileNetV1 ImageNet weights used by BAS, whose modules are called
    ``model.<i>.<j>``), so such a checkpoint loads after renaming its prefix
    to ``layers.``.

    Args:
        widen_factor (float): Width multiplier of every layer (rounded to a
            multiple of 8). Defaults to 1.0.
        strides (Sequence[int], optional): Stride of each of the 14 layers.
            Defaults to None, i.e. the paper's
            ``(2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)`` (output stride 32).
        out_indices (Sequence[int]): Indices (0-13) of the layers whose
            outputs are returned. Defaults to ``(13, )``.
        frozen_stages (int): Number of leading layers to freeze (parameters
            fixed, norm layers in eval mode); -1 freezes nothing.
            Defaults to -1.
        conv_cfg (dict, optional): Convolution config. Defaults to None
            (``nn.Conv2d``).
        norm_cfg (dict): Normalization config. Defaults to
            ``dict(type='BN')``.
        act_cfg (dict): Activation config. Defaults to
            ``dict(type='ReLU')``.
        norm_eval (bool): Keep norm layers in eval mode during training.
            Defaults to False.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to Kaiming for convolutions and constant 1 for norms.
    """

    # (output channels, stride) of the 14 layers of MobileNetV1 (Table 1).
    arch_settings = ((32, 2), (64, 1), (128, 2), (128, 1), (256, 2),
                     (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
                     (512, 1), (512, 1), (1024, 2), (1024, 1))

    def __init__(self,
                 widen_factor: float = 1.0,
                 strides: Optional[Sequence[int]] = None,
                 out_indices: Sequence[int] = (13, ),
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 norm_eval: bool = False,
                 init_cfg: Optional[List[dict]] = [
                     dict(type='Kaiming', layer=['Conv2d']),
                     dict(type='Constant', val=1, layer=['_BatchNorm'])
                 ]) -> None:
        super().__init__(init_cfg=init_cfg)
        num_layers = len(self.arch_settings)
        if widen_factor <= 0:
            raise ValueError(
                f'widen_factor must be positive, got {widen_factor}')
        if strides is None:
            strides = [s for _, s in self.arch_settings]
        strides = list(strides)
        if len(strides) != num_layers or any(s not in (1, 2)
                                             for s in strides):
            raise ValueError(f'strides must list {num_layers} values in '
                             f'{{1, 2}}, got {strides}')
        out_indices = tuple(out_indices)
        if not out_indices or any(not 0 <= i < num_layers
                                  for i in out_indices):
            raise ValueError(f'out_indices must be in [0, {num_layers - 1}], '
                             f'got {out_indices}')
        if not -1 <= frozen_stages <= num_layers:
            raise ValueError(f'frozen_stages must be in [-1, {num_layers}], '
                             f'got {frozen_stages}')
        self.widen_factor = widen_factor
        self.strides = strides
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        channels = [
            make_divisible(c * widen_factor, 8) for c, _ in self.arch_settings
        ]
        layers = [
            self._conv_bn(3, channels[0], strides[0], conv_cfg, norm_cfg,
                          act_cfg)
        ]
        for i in range(1, num_layers):
            layers.append(
                self._conv_dw(channels[i - 1], channels[i], strides[i],
                              conv_cfg, norm_cfg, act_cfg))
        self.layers = nn.Sequential(*layers)
        self.channels = channels
        self._freeze_stages()

    @staticmethod
    def _conv_bn(in_channels: int, out_channels: int, stride: int,
                 conv_cfg: Optional[dict], norm_cfg: dict,
                 act_cfg: dict) -> nn.Sequential:
        """Full 3x3 convolution, norm, activation."""
        return nn.Sequential(
            build_conv_layer(
                conv_cfg,
                in_channels,
                out_channels,
                3,
                stride=stride,
                padding=1,
                bias=False),
            build_norm_layer(norm_cfg, out_channels)[1],
            build_activation_layer(act_cfg))

    @staticmethod
    def _conv_dw(in_channels: int, out_channels: int, stride: int,
                 conv_cfg: Optional[dict], norm_cfg: dict,
                 act_cfg: dict) -> nn.Sequential:
        """Depthwise-separable block: dw 3x3 conv, norm, act, pw 1x1 conv,
        norm, act."""
        return nn.Sequential(
            build_conv_layer(
                conv_cfg,
                in_channels,
                in_channels,
                3,
                stride=stride,
                padding=1,
                groups=in_channels,
                bias=False),
            build_norm_layer(norm_cfg, in_channels)[1],
            build_activation_layer(act_cfg),
            build_conv_layer(
                conv_cfg, in_channels, out_channels, 1, bias=False),
            build_norm_layer(norm_cfg, out_channels)[1],
            build_activation_layer(act_cfg))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Return the outputs of the layers in ``out_indices``."""
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        for layer in self.layers[:max(self.frozen_stages, 0)]:
            layer.eval()
            for param in layer.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'MobileNetV1':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
