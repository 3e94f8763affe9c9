# Copyright (c) mmweak contributors.
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmpretrain.models.heads import MultiLabelClsHead
from mmpretrain.structures import DataSample, label_to_onehot

from mmweak.registry import MODELS


@MODELS.register_module()
class MultiLabelCAMHead(MultiLabelClsHead):
    """Multi-label classification head whose weights give class activation
    maps: the Stage A classifier of image-label WSSS.

    The CAM network of IRN (Ahn et al., "Weakly Supervised Learning of
    Instance Segmentation with Inter-pixel Relations", CVPR 2019): the last
    feature map is globally average pooled and a bias-free 1x1 convolution
    gives one logit per foreground class, ``s_c = w_c . GAP(f)``. Applying
    the same convolution at every position gives the class maps
    ``M_c(x, y) = w_c . f(x, y)`` (Zhou et al., CVPR 2016, Eq. 2), so
    ``GAP(M_c) == s_c`` exactly (no bias to tell them apart).

    The loss is the multi-label soft-margin loss,
    ``-1/C sum_c [y_c log sigma(s_c) + (1 - y_c) log sigma(-s_c)]``, averaged
    over the batch (``torch.nn.MultiLabelSoftMarginLoss``). mmpretrain's
    ``CrossEntropyLoss(use_sigmoid=True)`` computes the same per-element
    terms; this head averages them over batch *and* classes (``avg_factor =
    B * C``) where :class:`MultiLabelClsHead` divides by ``B`` only.

    With ``area_loss`` set (e.g. ``dict(type='AreaLoss')``, ESOL's
    shrinkage stage, Li et al., NeurIPS 2022), :meth:`loss` also returns
    ``loss_area`` computed on the class maps of the tagged classes; the
    logits are then read as ``GAP(M_c)`` (equal to ``w_c . GAP(f)``) so the
    maps are computed once.

    Args:
        num_classes (int): Number of foreground classes (20 for VOC, 80 for
            COCO; logit ``k`` is label id ``k + 1``).
        in_channels (int): Channels of the last feature map.
        loss (dict): Config of the element-wise loss. Defaults to
            ``dict(type='mmpretrain.CrossEntropyLoss', use_sigmoid=True)``.
        thr (float, optional): Score threshold of ``pred_label`` (see
            :class:`MultiLabelClsHead`). Defaults to None (0.5 when ``topk``
            is None too).
        topk (int, optional): Predict the top-k classes instead of
            thresholding. Defaults to None.
        bias (bool): Whether the 1x1 classifier has a bias (added to every
            position of the maps, so ``GAP(M_c) == s_c`` still holds).
            Defaults to False (IRN).
        area_loss (dict, optional): Config of a loss on the class maps,
            called as ``area_loss(maps, target)`` with maps ``(B, C, h, w)``
            and multi-hot tags ``(B, C)``. Defaults to None (no such loss).
        init_cfg (dict, optional): Initialization config of the classifier.
            Defaults to None (PyTorch's default convolution init, as IRN).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 loss: dict = dict(
                     type='mmpretrain.CrossEntropyLoss', use_sigmoid=True),
                 thr: Optional[float] = None,
                 topk: Optional[int] = None,
                 bias: bool = False,
                 area_loss: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(loss=loss, thr=thr, topk=topk, init_cfg=init_cfg)
        if num_classes <= 0:
            raise ValueError(f'num_classes={num_classes} must be positive')
        if in_channels <= 0:
            raise ValueError(f'in_channels={in_channels} must be positive')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.classifier = nn.Conv2d(
            in_channels, num_classes, kernel_size=1, bias=bias)
        self.area_loss = None if area_loss is None else MODELS.build(
            area_loss)

    def _last_map(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        x = feats[-1]
        if x.dim() != 4:
            raise ValueError(
                'MultiLabelCAMHead needs a (B, C, h, w) feature map, got '
                f'shape {tuple(x.shape)} (remove a pooling neck)')
        return x

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Globally average pooled features ``(B, in_channels)``."""
        return self._last_map(feats).mean(dim=(2, 3))

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Logits ``(B, num_classes)``: the classifier on ``GAP(f)``."""
        pooled = self.pre_logits(feats)
        return torch.flatten(self.classifier(pooled[:, :, None, None]), 1)

    def class_maps(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Raw class activation maps ``(B, num_classes, h, w)`` (no ReLU):
        the classifier applied at every position of the last feature map."""
        return self.classifier(self._last_map(feats))

    def loss(self, feats: Tuple[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """``loss_cls`` (and ``loss_area`` when ``area_loss`` is set)."""
        if self.area_loss is None:
            return super().loss(feats, data_samples, **kwargs)
        maps = self.class_maps(feats)
        cls_score = maps.mean(dim=(2, 3))  # == classifier(GAP(f))
        losses = self._get_loss(cls_score, data_samples, **kwargs)
        target = self._targets(data_samples, self.num_classes, maps.device)
        losses['loss_area'] = self.area_loss(maps, target)
        return losses

    @staticmethod
    def _targets(data_samples: List[DataSample], num_classes: int,
                 device: torch.device) -> torch.Tensor:
        """Multi-hot tags ``(B, num_classes)`` (``gt_score`` if present)."""
        if 'gt_score' in data_samples[0]:
            target = torch.stack([s.gt_score.float() for s in data_samples])
        else:
            for s in data_samples:
                label = s.gt_label
                if label.numel() and (int(label.min()) < 0
                                      or int(label.max()) >= num_classes):
                    raise ValueError(
                        f'gt_label {label.tolist()} of '
                        f'{s.get("img_path", "a sample")} is outside '
                        f'[0, {num_classes}): tags must be 0-based '
                        'foreground indices')
            target = torch.stack([
                label_to_onehot(s.gt_label, num_classes)
                for s in data_samples
            ]).float()
        return target.to(device)

    def _get_loss(self, cls_score: torch.Tensor,
                  data_samples: List[DataSample],
                  **kwargs) -> Dict[str, torch.Tensor]:
        """Multi-label soft-margin loss under the key ``loss_cls``."""
        target = self._targets(data_samples, cls_score.size(-1),
                               cls_score.device)
        loss = self.loss_module(
            cls_score, target, avg_factor=cls_score.numel(), **kwargs)
        return dict(loss_cls=loss)
