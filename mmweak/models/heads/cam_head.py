# Copyright (c) mmweak contributors.
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from mmpretrain.structures import DataSample

from mmweak.registry import MODELS
from .base_wsol_head import BaseWSOLHead


@MODELS.register_module()
class CAMHead(BaseWSOLHead):
    """Class Activation Mapping head.

    Zhou et al., "Learning Deep Features for Discriminative Localization",
    CVPR 2016. Class scores are a linear classifier on globally average
    pooled features, ``s_c = sum_k w_k^c GAP(f_k) + b_c``, and the map of
    class ``c`` is the class-weighted feature sum (their Eq. 2)
    ``M_c(x, y) = sum_k w_k^c f_k(x, y)``. Both come from one 1x1
    convolution, so ``GAP(M_c) + b_c`` equals the logits exactly.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Channels of the last feature map.
        loss (dict): Classification loss config.
            Defaults to ``dict(type='mmpretrain.CrossEntropyLoss')``.
        topk (tuple[int]): Training accuracy top-k. Defaults to ``(1, )``.
        cal_acc (bool): Log training accuracy. Defaults to False.
        init_cfg (dict, optional): Initialization config. Defaults to
            ``dict(type='Normal', layer='Linear', std=0.01)``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 loss: dict = dict(
                     type='mmpretrain.CrossEntropyLoss', loss_weight=1.0),
                 topk: Tuple[int, ...] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.01)) -> None:
        super().__init__(
            loss=loss, topk=topk, cal_acc=cal_acc, init_cfg=init_cfg)
        if num_classes <= 0:
            raise ValueError(f'num_classes={num_classes} must be positive')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.fc = nn.Linear(in_channels, num_classes)

    def class_maps(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Class activation maps ``(B, K, h, w)`` (without the bias)."""
        x = feats[-1]
        return torch.einsum('kc,bchw->bkhw', self.fc.weight, x)

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Class scores ``(B, K)``: ``fc(GAP(x))``."""
        return self.fc(feats[-1].mean(dim=(2, 3)))

    def predict(
        self,
        feats: Tuple[torch.Tensor],
        data_samples: Optional[List[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        """Predict scores, labels and the CAM of the predicted class (plus the
        GT class map when labels are known)."""
        maps = self.class_maps(feats)
        cls_score = maps.mean(dim=(2, 3)) + self.fc.bias
        samples = self._get_predictions(cls_score, data_samples)
        return self._attach_maps(samples, maps, class_specific=True)
