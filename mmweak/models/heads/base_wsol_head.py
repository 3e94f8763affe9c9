# Copyright (c) mmweak contributors.
from typing import Dict, List, Optional, Tuple

import torch
from mmpretrain.models.heads import ClsHead
from mmpretrain.structures import DataSample

from mmweak.registry import MODELS
from mmweak.structures import normalize_maps


@MODELS.register_module()
class BaseWSOLHead(ClsHead):
    """Base class of WSOL heads: a classification head that also predicts a
    localization map.

    It extends mmpretrain's :class:`ClsHead` (loss, accuracy and
    ``pred_score``/``pred_label``) with the map outputs every WSOL method
    shares. A subclass implements :meth:`forward` (class scores) and
    :meth:`predict`, and calls :meth:`_attach_maps` to write ``loc_map`` (and
    ``gt_loc_map`` for class-specific maps) into the data samples.

    Args:
        loss (dict): Config of the classification loss.
            Defaults to ``dict(type='mmpretrain.CrossEntropyLoss')``.
        topk (int | tuple[int]): Top-k accuracy logged during training.
            Defaults to ``(1, )``.
        cal_acc (bool): Whether to log the training accuracy.
            Defaults to False.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 loss: dict = dict(
                     type='mmpretrain.CrossEntropyLoss', loss_weight=1.0),
                 topk: Tuple[int, ...] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            loss=loss, topk=topk, cal_acc=cal_acc, init_cfg=init_cfg)

    def _get_loss(self, cls_score: torch.Tensor,
                  data_samples: List[DataSample],
                  **kwargs) -> Dict[str, torch.Tensor]:
        """Classification loss under the key ``loss_cls``."""
        losses = super()._get_loss(cls_score, data_samples, **kwargs)
        losses['loss_cls'] = losses.pop('loss')
        return losses

    @staticmethod
    def _attach_maps(data_samples: List[DataSample],
                     maps: torch.Tensor,
                     class_specific: bool = False) -> List[DataSample]:
        """Write localization maps into ``data_samples`` (batched).

        Args:
            data_samples (list[DataSample]): Samples that already hold
                ``pred_label`` (see ``_get_predictions``).
            maps (Tensor): ``(B, K, h, w)`` class maps when
                ``class_specific`` else ``(B, h, w)`` class-agnostic maps.
            class_specific (bool): If True, ``loc_map`` is the map of the
                predicted class and ``gt_loc_map`` the map of the
                ground-truth class (when the sample has ``gt_label``).

        Returns:
            list[DataSample]: The same samples.
        """
        maps = maps.detach().float()
        batch = torch.arange(maps.size(0), device=maps.device)
        if class_specific:
            pred = torch.cat([s.pred_label for s in data_samples]).to(
                maps.device)
            loc_maps = normalize_maps(maps[batch, pred])
            has_gt = all('gt_label' in s for s in data_samples)
            if has_gt:
                gt = torch.cat([s.gt_label[:1] for s in data_samples]).to(
                    maps.device)
                gt_maps = normalize_maps(maps[batch, gt])
        else:
            loc_maps = normalize_maps(maps)
            has_gt = False
        for i, sample in enumerate(data_samples):
            sample.set_field(loc_maps[i], 'loc_map', dtype=torch.Tensor)
            if has_gt:
                sample.set_field(gt_maps[i], 'gt_loc_map', dtype=torch.Tensor)
        return data_samples
