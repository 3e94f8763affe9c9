# Copyright (c) mmweak contributors.
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from mmpretrain.structures import DataSample

from mmweak.registry import MODELS
from .base_wsol_head import BaseWSOLHead


@MODELS.register_module()
class ConvCAMHead(BaseWSOLHead):
    """Convolutional class-map head: ``k x k`` conv to K class maps, then GAP.

    The classifier of SAT (Wu et al., ICCV 2023, arXiv 2303.10438) and of
    TS-CAM-style transformer baselines: the patch tokens, reshaped to a
    ``D x h x w`` map, go through ``Conv2d(D, K, k, padding=k // 2)``; global
    average pooling of the class maps gives the logits. Used alone, the
    class map of the predicted class is the localization map (a CAM in the
    sense of Zhou et al., CVPR 2016), which makes it the "no spatial token"
    baseline of SAT with the same backbone and classifier.

    With ``pool='max'`` the logits are the maximum of the class maps instead
    (multiple-instance pooling: the most confident position decides), which
    mmweak uses to pretrain small transformers from scratch, where average
    pooling dilutes the evidence of a small object part.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Channels ``D`` of the feature map.
        kernel_size (int): Conv kernel size (odd). Defaults to 3.
        in_index (int): Which backbone output is the feature map.
            Defaults to -1.
        pool (str): ``'avg'`` (GAP, default) or ``'max'`` pooling of the
            class maps into logits.
        loss (dict): Classification loss config.
            Defaults to ``dict(type='mmpretrain.CrossEntropyLoss')``.
        topk (tuple[int]): Training accuracy top-k. Defaults to ``(1, )``.
        cal_acc (bool): Log training accuracy. Defaults to False.
        init_cfg (dict, optional): Initialization config. Defaults to None
            (PyTorch's default conv initialisation).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 kernel_size: int = 3,
                 in_index: int = -1,
                 pool: str = 'avg',
                 loss: dict = dict(
                     type='mmpretrain.CrossEntropyLoss', loss_weight=1.0),
                 topk: Tuple[int, ...] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            loss=loss, topk=topk, cal_acc=cal_acc, init_cfg=init_cfg)
        if num_classes <= 0:
            raise ValueError(f'num_classes={num_classes} must be positive')
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        if pool not in ('avg', 'max'):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.in_index = in_index
        self.conv = nn.Conv2d(
            in_channels, num_classes, kernel_size, padding=kernel_size // 2)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The feature map ``(B, D, h, w)`` the classifier reads."""
        x = feats[self.in_index]
        if x.dim() != 4 or x.size(1) != self.in_channels:
            raise ValueError(
                f'{type(self).__name__} expects feats[{self.in_index}] of '
                f'shape (B, {self.in_channels}, h, w), got {tuple(x.shape)}')
        return x

    def class_maps(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Class maps ``(B, K, h, w)`` (conv output, bias included)."""
        return self.conv(self.pre_logits(feats))

    def pool_maps(self, maps: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K)`` from class maps ``(B, K, h, w)``."""
        if self.pool == 'max':
            return maps.flatten(2).amax(dim=2)
        return maps.mean(dim=(2, 3))

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Logits ``(B, K)``: pooled class maps."""
        return self.pool_maps(self.class_maps(feats))

    def predict(
        self,
        feats: Tuple[torch.Tensor],
        data_samples: Optional[List[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        """Scores, labels, the class map of the predicted class as
        ``loc_map`` and of the ground-truth class as ``gt_loc_map``."""
        maps = self.class_maps(feats)
        samples = self._get_predictions(self.pool_maps(maps), data_samples)
        return self._attach_maps(samples, maps, class_specific=True)
