# Copyright (c) mmweak contributors.
from typing import Optional

import torch
from mmpretrain.models.classifiers import ImageClassifier

from mmweak.registry import MODELS


@MODELS.register_module()
class MultiLabelCAMClassifier(ImageClassifier):
    """Multi-label image classifier with class activation maps: the Stage A
    model of image-label WSSS (the CAM network of IRN, Ahn et al.,
    CVPR 2019).

    It wires backbone -> neck -> head and dispatches on ``mode`` exactly like
    mmpretrain's :class:`ImageClassifier` (training with the head's
    multi-label loss, ``predict`` writing ``pred_score``). In addition,
    :meth:`forward_cam` returns the raw class maps of every foreground class:
    the one method that the multi-scale CAM export
    (:func:`mmweak.cam.multiscale_cams`) needs, and that every seed-producing
    WSSS model implements.

    Args:
        backbone (dict): Backbone config, e.g. ``dict(type='mmpretrain.ResNet',
            depth=50, strides=(1, 2, 2, 1))``. It must keep a spatial map.
        head (dict): Head config with a ``class_maps(feats)`` method, e.g.
            ``dict(type='MultiLabelCAMHead', num_classes=20,
            in_channels=2048)``.
        neck (dict, optional): Neck config; it must keep the spatial map (no
            global pooling). Defaults to None.
        pretrained (str, optional): Pretrained checkpoint path.
            Defaults to None.
        train_cfg (dict, optional): Batch augmentation settings.
            Defaults to None.
        data_preprocessor (dict, optional): Defaults to
            ``dict(type='mmpretrain.ClsDataPreprocessor')``.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 neck: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        data_preprocessor = dict(data_preprocessor or {})
        data_preprocessor.setdefault('type', 'mmpretrain.ClsDataPreprocessor')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            train_cfg=train_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if not hasattr(self.head, 'class_maps'):
            raise TypeError(
                f'{type(self.head).__name__} has no class_maps(feats): '
                'MultiLabelCAMClassifier needs a CAM head such as '
                'MultiLabelCAMHead')

    @property
    def num_classes(self) -> int:
        """Number of foreground classes (channels of :meth:`forward_cam`)."""
        return self.head.num_classes

    def forward_cam(self, inputs: torch.Tensor) -> torch.Tensor:
        """Raw class activation maps (no ReLU, no normalisation).

        Args:
            inputs (Tensor): Preprocessed images ``(B, 3, H, W)`` (after the
                data preprocessor: RGB order, normalised).

        Returns:
            Tensor: ``(B, num_classes, h, w)`` maps at the backbone's output
            stride (``h = ceil(H / 16)`` for the IRN ResNet-50).
        """
        return self.head.class_maps(self.extract_feat(inputs))
