# Copyright (c) mmweak contributors.
from typing import Dict, List, Optional, Tuple

import torch
from mmpretrain.structures import DataSample

from mmweak.registry import MODELS
from .conv_cam_head import ConvCAMHead


@MODELS.register_module()
class SATHead(ConvCAMHead):
    """Head of SAT: conv classifier on the patch tokens plus the
    class-agnostic localization map of the spatial-aware token.

    Wu et al., "Spatial-Aware Token for Weakly Supervised Object
    Localization", ICCV 2023 (arXiv 2303.10438). It reads the outputs of
    :class:`SATVisionTransformer`: ``feats[0]`` is the patch feature map
    (classified by a 3x3 conv and global average pooling, as in
    :class:`ConvCAMHead`) and ``feats[1]`` the ``(B, G, h, w)`` maps of the
    gated layers, whose mean is the localization map ``M`` (Sec. 3.2). The
    training loss is ``L = L_cls + L_ba + L_norm`` (Eq. 7) with the batch area
    and normalization losses of :class:`SATLoss`. ``predict`` writes ``M``
    (min-max normalised) as ``loc_map``; it is class-agnostic, so no
    ``gt_loc_map`` is written.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Embedding dims ``D`` of the backbone.
        kernel_size (int): Classifier conv kernel size. Defaults to 3.
        loss (dict): Classification loss config.
            Defaults to ``dict(type='mmpretrain.CrossEntropyLoss')``.
        loc_loss (dict): Config of the map losses, with ``area_target``,
            ``area_weight`` and ``norm_weight``.
            Defaults to ``dict(type='SATLoss', area_target=0.25)``.
        topk (tuple[int]): Training accuracy top-k. Defaults to ``(1, )``.
        cal_acc (bool): Log training accuracy. Defaults to False.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 kernel_size: int = 3,
                 loss: dict = dict(
                     type='mmpretrain.CrossEntropyLoss', loss_weight=1.0),
                 loc_loss: dict = dict(type='SATLoss', area_target=0.25),
                 topk: Tuple[int, ...] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            num_classes=num_classes,
            in_channels=in_channels,
            kernel_size=kernel_size,
            in_index=0,
            loss=loss,
            topk=topk,
            cal_acc=cal_acc,
            init_cfg=init_cfg)
        self.loc_loss = MODELS.build(loc_loss)

    @staticmethod
    def loc_map(feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Localization map ``M`` ``(B, h, w)``: mean of the gated layers'
        maps (values in (0, 1))."""
        if len(feats) < 2 or feats[1].dim() != 4:
            raise ValueError(
                'SATHead expects the outputs of SATVisionTransformer: '
                '(featmap (B, D, h, w), gated maps (B, G, h, w), ...)')
        maps = feats[1]
        if maps.size(1) == 0:
            raise ValueError('SATHead needs at least one gated block '
                             '(backbone num_gated_blocks >= 1)')
        return maps.mean(dim=1)

    def loss(self, feats: Tuple[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """``loss_cls``, ``loss_area`` and ``loss_norm``."""
        losses = self._get_loss(self(feats), data_samples, **kwargs)
        losses.update(self.loc_loss(self.loc_map(feats)))
        return losses

    def predict(
        self,
        feats: Tuple[torch.Tensor],
        data_samples: Optional[List[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        """Scores, labels and the class-agnostic ``loc_map``."""
        samples = self._get_predictions(self(feats), data_samples)
        return self._attach_maps(samples, self.loc_map(feats))
