# Copyright (c) mmweak contributors.
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from mmpretrain.structures import DataSample

from mmweak.registry import MODELS
from .wsol_classifier import WSOLClassifier


def check_bas_parts(backbone: nn.Module, head: nn.Module,
                    owner: str) -> None:
    """Check that ``backbone`` is a BAS backbone (``forward_mid`` and
    ``tail``) whose channels match the head's ``mid_channels`` and
    ``in_channels``; ``owner`` names the model in the errors."""
    if not (hasattr(type(backbone), 'tail')
            and hasattr(backbone, 'forward_mid')):
        raise TypeError(
            f'{owner} needs a BAS backbone exposing `forward_mid` and `tail` '
            '(BASVGG, BASResNet, BASInceptionV3, BASMobileNetV1), got '
            f'{type(backbone).__name__}')
    for head_attr, backbone_attr in (('mid_channels', 'mid_channels'),
                                     ('in_channels', 'out_channels')):
        want = getattr(head, head_attr, None)
        have = getattr(backbone, backbone_attr, None)
        if want is not None and have is not None and want != have:
            raise ValueError(
                f'{owner}: head.{head_attr}={want} does not match the '
                f'backbone: {type(backbone).__name__}.{backbone_attr}={have}')


@MODELS.register_module()
class BASClassifier(WSOLClassifier):
    """WSOL classifier for Background Activation Suppression (BAS).

    Wu, Zhai, Cao, "Background Activation Suppression for Weakly Supervised
    Object Localization", CVPR 2022 (arXiv 2112.00580). Same wiring as
    :class:`WSOLClassifier`; the backbone is a BAS backbone
    (``BASVGG``, ``BASResNet``, ``BASInceptionV3``, ``BASMobileNetV1``)
    returning ``(X_mid, X_last)``, and :meth:`loss` also hands the
    backbone's ``tail`` to the :class:`BASHead`, whose erase branch runs the
    background-masked features through it with frozen weights.

    Args:
        backbone (dict): Config of a BAS backbone, e.g.
            ``dict(type='BASResNet', depth=50)``.
        head (dict): Config of a :class:`BASHead`.
        loc_thr (float): Threshold on the normalised map for
            ``pred_bboxes``. Defaults to 0.2.
        box_method (str): ``'largest_cc'`` or ``'largest_contour'``.
            Defaults to ``'largest_cc'``.
        pretrained (str, optional): Pretrained checkpoint path.
        train_cfg (dict, optional): Batch augmentation settings.
        data_preprocessor (dict, optional): Defaults to
            ``dict(type='mmpretrain.ClsDataPreprocessor')``.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 loc_thr: float = 0.2,
                 box_method: str = 'largest_cc',
                 pretrained: Optional[str] = None,
                 train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            backbone=backbone,
            head=head,
            neck=None,
            loc_thr=loc_thr,
            box_method=box_method,
            pretrained=pretrained,
            train_cfg=train_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        check_bas_parts(self.backbone, self.head, type(self).__name__)

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Classification and BAS losses of a batch."""
        feats = self.extract_feat(inputs)
        return self.head.loss(feats, data_samples, tail=self.backbone.tail)
