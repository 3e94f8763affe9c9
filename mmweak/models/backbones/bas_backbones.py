# Copyright (c) mmweak contributors.
"""Backbones split the way BAS needs them: extractor -> 28x28 mid-level
features ``X_mid`` (read by the generator) -> tail -> 14x14 ``X_last`` (read
by the classifier head), for a 224x224 input.

Wu et al., "Background Activation Suppression for Weakly Supervised Object
Localization", CVPR 2022 (arXiv 2112.00580), Sec. 4.1; layout per backbone in
``shared/specs/bas.md`` section 2. Each wrapper subclasses the mmpretrain (or
mmweak) backbone, so parameter names, and therefore checkpoints, are those of
the host class.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmpretrain.models.backbones import VGG, InceptionV3, ResNet
from mmpretrain.models.backbones.inception_v3 import BasicConv2d

from mmweak.registry import MODELS
from .mobilenet_v1 import MobileNetV1


class BASBackboneMixin:
    """The interface of a BAS backbone.

    A subclass implements :meth:`forward_mid` (input -> ``X_mid``) and the
    :attr:`tail` property (``X_mid`` -> ``X_last``) and sets the
    ``mid_channels`` and ``out_channels`` attributes. ``forward`` returns
    ``(X_mid, X_last)``.

    ``tail`` is a non-owning view: an ``nn.Sequential`` built on each access
    from modules the backbone already registers, so the tail's parameters
    keep their backbone names, are not duplicated in the state dict, and the
    erase branch of :class:`BASHead` can call it functionally with frozen
    weights instead of deep-copying it.
    """

    mid_channels: int
    out_channels: int

    def forward_mid(self, x: torch.Tensor) -> torch.Tensor:
        """Input image batch -> ``X_mid``."""
        raise NotImplementedError

    @property
    def tail(self) -> nn.Module:
        """Module mapping ``X_mid`` to ``X_last``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Return ``(X_mid, X_last)``."""
        x_mid = self.forward_mid(x)
        return x_mid, self.tail(x_mid)


@MODELS.register_module()
class BASVGG(BASBackboneMixin, VGG):
    """mmpretrain :class:`VGG` split for BAS.

    ``X_mid`` is the output of the last convolution (+ReLU) of stage 4
    (``conv4_3`` for VGG16, before ``pool4``, 512 channels, stride 8); the
    tail is ``pool4`` followed by the stage-5 convolutions (no ``pool5``, no
    fully connected layers), stride 16, 512 channels.

    Args:
        depth (int): VGG depth, one of 11, 13, 16, 19. Defaults to 16.
        **kwargs: Other arguments of mmpretrain's :class:`VGG`
            (``norm_cfg``, ``frozen_stages``, ``norm_eval``, ``ceil_mode``,
            ``init_cfg``, ...). ``num_classes``, ``num_stages``,
            ``out_indices`` and ``with_last_pool`` are fixed by the split.
    """

    def __init__(self, depth: int = 16, **kwargs) -> None:
        fixed = {'num_classes', 'num_stages', 'out_indices', 'with_last_pool'}
        bad = fixed & set(kwargs)
        if bad:
            raise ValueError(f'BASVGG fixes {sorted(bad)}; remove them from '
                             'the backbone config')
        super().__init__(
            depth=depth,
            num_classes=-1,
            num_stages=5,
            out_indices=(4, ),
            with_last_pool=False,
            **kwargs)
        # index of pool4 in ``features`` (the last module of stage 4)
        self.pool4_index = self.range_sub_modules[3][1] - 1
        self.mid_channels = 512
        self.out_channels = 512

    def forward_mid(self, x: torch.Tensor) -> torch.Tensor:
        return self.features[:self.pool4_index](x)

    @property
    def tail(self) -> nn.Module:
        return self.features[self.pool4_index:]


@MODELS.register_module()
class BASResNet(BASBackboneMixin, ResNet):
    """mmpretrain :class:`ResNet` split for BAS.

    ``X_mid`` is the output of ``layer3`` run at stride 1 (output stride 8;
    1024 channels for ResNet-50); the tail is a 2x2 max-pool followed by
    ``layer4`` at stride 1 (output stride 16; 2048 channels).

    The WSSS variant (IJCV 2023 extension, Sec. 5) uses
    ``strides=(1, 2, 2, 1), tail_pool=False``: ``layer3`` at output stride 16
    and a tail of ``layer4`` alone at stride 1, so ``X_mid`` and ``X_last``
    share one 16x resolution (28x28 for a 448 crop).

    Args:
        depth (int): ResNet depth. Defaults to 50.
        strides (Sequence[int]): Strides of the four stages. Defaults to
            ``(1, 2, 1, 1)``, the BAS layout.
        tail_pool (bool): Start the tail with the 2x2 max-pool (WSOL BAS).
            Defaults to True.
        **kwargs: Other arguments of mmpretrain's :class:`ResNet`
            (``stem_channels``, ``base_channels``, ``norm_cfg``,
            ``init_cfg``, ...). ``num_stages`` must be 4.
    """

    def __init__(self,
                 depth: int = 50,
                 strides: Sequence[int] = (1, 2, 1, 1),
                 tail_pool: bool = True,
                 **kwargs) -> None:
        if kwargs.get('num_stages', 4) != 4:
            raise ValueError('BASResNet needs num_stages=4, got '
                             f'{kwargs["num_stages"]}')
        kwargs.setdefault('out_indices', (3, ))
        super().__init__(depth=depth, strides=tuple(strides), **kwargs)
        # parameter-free either way: state dicts do not depend on it
        self.tail_pool = nn.MaxPool2d(kernel_size=2, stride=2) \
            if tail_pool else nn.Identity()
        self.mid_channels = self.layer3[-1].out_channels
        self.out_channels = self.layer4[-1].out_channels

    def forward_mid(self, x: torch.Tensor) -> torch.Tensor:
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        x = self.maxpool(x)
        return self.layer3(self.layer2(self.layer1(x)))

    @property
    def tail(self) -> nn.Module:
        return nn.Sequential(self.tail_pool, self.layer4)


@MODELS.register_module()
class BASInceptionV3(BASBackboneMixin, InceptionV3):
    """mmpretrain :class:`InceptionV3` modified and split for BAS.

    Modifications (as in BAS): ``Conv2d_1a_3x3`` has padding 1; both stem
    max-pools have padding 1 and ``ceil_mode``; ``Mixed_6a`` reduces at
    stride 1 with padding 1 (so ``Mixed_6e`` is 768x28x28 at 224); ``Mixed_7a``
    reduces at stride 2 with padding 1. The auxiliary branch, global pooling,
    dropout and ``fc`` are removed. ``X_mid`` is ``Mixed_6e``; the tail is
    ``Mixed_7a`` -> ``Mixed_7b`` -> ``Mixed_7c`` (2048x14x14). Parameter
    names are those of torchvision's / mmpretrain's InceptionV3.

    Args:
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to mmpretrain's InceptionV3 default (truncated normal
            convolutions, constant 1 batch norms).
    """

    def __init__(self,
                 init_cfg: Optional[dict] = [
                     dict(type='TruncNormal', layer='Conv2d', std=0.1),
                     dict(type='Constant', layer='BatchNorm2d', val=1)
                 ]) -> None:
        super().__init__(num_classes=1, aux_logits=False, init_cfg=init_cfg)
        del self.AuxLogits, self.avgpool, self.dropout, self.fc
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2,
                                         padding=1)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        # Mixed_6a (InceptionB): stride-1 "reduction" keeps 28x28
        self.Mixed_6a.branch3x3 = BasicConv2d(
            288, 384, kernel_size=3, stride=1, padding=1)
        self.Mixed_6a.branch3x3dbl_3 = BasicConv2d(
            96, 96, kernel_size=3, stride=1, padding=1)
        self.Mixed_6a.branch_pool = nn.MaxPool2d(3, stride=1, padding=1)
        # Mixed_7a (InceptionD): padded stride-2 reduction, 28 -> 14
        self.Mixed_7a.branch3x3_2 = BasicConv2d(
            192, 320, kernel_size=3, stride=2, padding=1)
        self.Mixed_7a.branch7x7x3_4 = BasicConv2d(
            192, 192, kernel_size=3, stride=2, padding=1)
        self.Mixed_7a.branch_pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.mid_channels = 768
        self.out_channels = 2048

    def forward_mid(self, x: torch.Tensor) -> torch.Tensor:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.maxpool1(x)
        x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))
        x = self.Mixed_6a(x)
        return self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))

    @property
    def tail(self) -> nn.Module:
        return nn.Sequential(self.Mixed_7a, self.Mixed_7b, self.Mixed_7c)


@MODELS.register_module()
class BASMobileNetV1(BASBackboneMixin, MobileNetV1):
    """:class:`MobileNetV1` modified and split for BAS.

    The 7th layer (depthwise-separable 256 -> 512) runs at stride 1, so the
    output of all layers but the last two is 512x28x28 at 224 (``X_mid``);
    the tail is the last two layers (512 -> 1024 at stride 2, 1024 -> 1024),
    1024x14x14. BN + ReLU throughout, as in the ReLU MobileNetV1 used by BAS.

    Args:
        widen_factor (float): Width multiplier. Defaults to 1.0.
        strides (Sequence[int], optional): Stride of each of the 14 layers.
            Defaults to None, i.e. the BAS layout
            ``(2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 2, 1)``.
        **kwargs: Other arguments of :class:`MobileNetV1`.
    """

    bas_strides = (2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 2, 1)

    def __init__(self,
                 widen_factor: float = 1.0,
                 strides: Optional[Sequence[int]] = None,
                 **kwargs) -> None:
        super().__init__(
            widen_factor=widen_factor,
            strides=strides or self.bas_strides,
            **kwargs)
        self.mid_channels = self.channels[-3]
        self.out_channels = self.channels[-1]

    def forward_mid(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers[:-2](x)

    @property
    def tail(self) -> nn.Module:
        return self.layers[-2:]
