# Copyright (c) mmweak contributors.
from typing import Dict, List, Optional

import torch
from mmpretrain.structures import DataSample

from mmweak.registry import MODELS
from .bas_classifier import check_bas_parts
from .multilabel_cam_classifier import MultiLabelCAMClassifier


@MODELS.register_module()
class BASWSSSClassifier(MultiLabelCAMClassifier):
    """Stage A of WSSS with Background Activation Suppression (Zhai et al.,
    IJCV 2023, arXiv 2309.12943, Sec. 5).

    A :class:`MultiLabelCAMClassifier` (so ``predict`` gives multi-label
    scores and :meth:`forward_cam` the seed maps that
    ``tools/wsss/make_cams.py`` exports) whose backbone is a BAS backbone:
    ``BASResNet(strides=(1, 2, 2, 1), tail_pool=False)`` returns ``(X_mid =
    layer3, X_last = layer4)`` at output stride 16 and exposes ``tail``
    (``layer4``), which :meth:`loss` hands to the :class:`BASWSSSHead` for
    its erase branch, as :class:`BASClassifier` does for WSOL.
    ``forward_cam`` returns the generator maps ``M(x)`` of all classes
    (``head.class_maps``), in (0, 1).

    Args:
        backbone (dict): Config of a BAS backbone, e.g. ``dict(
            type='BASResNet', depth=50, strides=(1, 2, 2, 1),
            tail_pool=False)``.
        head (dict): Config of a :class:`BASWSSSHead`.
        pretrained (str, optional): Pretrained checkpoint path.
        train_cfg (dict, optional): Batch augmentation settings.
        data_preprocessor (dict, optional): Defaults to
            ``dict(type='mmpretrain.ClsDataPreprocessor')``.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 pretrained: Optional[str] = None,
                 train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            backbone=backbone,
            head=head,
            neck=None,
            pretrained=pretrained,
            train_cfg=train_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        check_bas_parts(self.backbone, self.head, type(self).__name__)

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """``L_mcls`` and the BAS terms of a batch."""
        feats = self.extract_feat(inputs)
        return self.head.loss(feats, data_samples, tail=self.backbone.tail)
