# Copyright (c) mmweak contributors.
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmseg.models.decode_heads.decode_head import BaseDecodeHead

from mmweak.registry import MODELS


@MODELS.register_module()
class DeepLabV2Head(BaseDecodeHead):
    """DeepLab v2 classifier: ASPP-L summed straight into class logits.

    Chen et al., "DeepLab: Semantic Image Segmentation with Deep
    Convolutional Nets, Atrous Convolution, and Fully Connected CRFs",
    TPAMI 2017 (the ASPP-L variant of Sec. 3.1 / Fig. 7 with ResNet-101):
    four parallel 3x3 convolutions with dilation rates (6, 12, 18, 24) map
    the stage-4 features directly to class logits and their outputs are
    summed, ``y = sum_r conv_r(x)``. There is no image pooling branch, no
    1x1 branch, no BN and no activation, unlike DeepLab v3/v3+'s ASPP.

    The four convolutions *are* the classifier, so the head has no
    ``conv_seg`` of :class:`BaseDecodeHead` (it is removed after the base
    initialiser builds it): every parameter gets a gradient, and DDP needs no
    ``find_unused_parameters``. Loss, resizing and prediction are
    BaseDecodeHead's (``loss_by_feat`` / ``predict_by_feat``).

    Args:
        in_channels (int): Channels of the input feature map (2048 for the
            stage 4 of ResNet-101).
        num_classes (int): Number of classes including background (21 for
            VOC, 81 for COCO).
        dilations (Sequence[int]): Dilation (and padding) of each parallel
            3x3 convolution. Defaults to ``(6, 12, 18, 24)``.
        dropout_ratio (float): Dropout on the input features before the
            convolutions; DeepLab v2 (ResNet) has none. Defaults to 0.
        in_index (int): Which backbone output to read. Defaults to -1 (the
            last stage).
        loss_decode (dict | list[dict]): Loss config(s). Defaults to
            ``dict(type='mmseg.CrossEntropyLoss', use_sigmoid=False,
            loss_weight=1.0)``.
        ignore_index (int): Label value ignored by the loss. Defaults to 255.
        align_corners (bool): ``align_corners`` of the logit resizing.
            Defaults to False.
        norm_cfg (dict, optional): Must be None: DeepLab v2's classifier has
            no normalisation; given only so that a shared ``norm_cfg`` in a
            config fails loudly. Defaults to None.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to ``dict(type='Normal', std=0.01, bias=0,
            override=dict(name='aspp_convs'))`` (the reference
            initialisation of the classifier).
        **kwargs: Further :class:`BaseDecodeHead` arguments (``sampler``,
            ``out_channels``, ``threshold``).
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 dilations: Sequence[int] = (6, 12, 18, 24),
                 dropout_ratio: float = 0.0,
                 in_index: int = -1,
                 loss_decode: Union[dict, List[dict]] = dict(
                     type='mmseg.CrossEntropyLoss',
                     use_sigmoid=False,
                     loss_weight=1.0),
                 ignore_index: int = 255,
                 align_corners: bool = False,
                 norm_cfg: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = dict(
                     type='Normal',
                     std=0.01,
                     bias=0,
                     override=dict(name='aspp_convs')),
                 **kwargs) -> None:
        if norm_cfg is not None:
            raise ValueError(
                f'DeepLabV2Head has no normalisation layer (ASPP-L, Chen et '
                f'al. TPAMI 2017), but norm_cfg={norm_cfg} was given')
        for key in ('channels', 'input_transform', 'act_cfg', 'conv_cfg'):
            if key in kwargs:
                raise TypeError(
                    f'DeepLabV2Head does not take `{key}`: its four dilated '
                    'convolutions map the features straight to the classes')
        if not isinstance(in_index, int):
            raise TypeError(
                f'DeepLabV2Head reads one feature map; in_index must be an '
                f'int, got {in_index!r}')
        if len(dilations) == 0:
            raise ValueError('DeepLabV2Head needs at least one dilation')
        super().__init__(
            in_channels,
            in_channels,  # `channels`: unused, no intermediate layer
            num_classes=num_classes,
            dropout_ratio=dropout_ratio,
            in_index=in_index,
            loss_decode=loss_decode,
            ignore_index=ignore_index,
            align_corners=align_corners,
            init_cfg=init_cfg,
            **kwargs)
        # the summed dilated convolutions replace the 1x1 classifier
        del self.conv_seg
        self.dilations = tuple(int(d) for d in dilations)
        self.aspp_convs = nn.ModuleList(
            nn.Conv2d(
                in_channels,
                self.out_channels,
                kernel_size=3,
                padding=d,
                dilation=d,
                bias=True) for d in self.dilations)

    def cls_seg(self, feat: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, out_channels, h, w)``: the sum of the dilated
        convolutions of ``feat`` (after the optional dropout)."""
        if self.dropout is not None:
            feat = self.dropout(feat)
        out = self.aspp_convs[0](feat)
        for conv in self.aspp_convs[1:]:
            out = out + conv(feat)
        return out

    def forward(self, inputs: Tuple[torch.Tensor]) -> torch.Tensor:
        """Logits from the ``in_index``-th backbone feature map."""
        return self.cls_seg(self._transform_inputs(inputs))
