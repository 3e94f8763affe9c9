# Copyright (c) mmweak contributors.
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from torch import Tensor

from mmweak.registry import MODELS
from mmweak.structures import UNCERTAIN_INDEX
from mmweak.wsss.random_walk import pair_targets, pairwise_affinity

_STEM_ATTRS = ('deep_stem', 'maxpool', 'res_layers')


@MODELS.register_module()
class IRNet(BaseModel):
    """Inter-pixel Relation Network, class-boundary branch (Ahn, Cho and
    Kwak, "Weakly Supervised Learning of Instance Segmentation with
    Inter-pixel Relations", CVPR 2019): the model of IRN's Stage B.

    A frozen CAM backbone (the Stage A classifier's, loaded through the
    backbone's ``init_cfg`` with ``prefix='backbone'``) feeds a boundary
    branch: per level a 1x1 conv + GroupNorm, bilinear upsampling to the
    stride-4 grid, ReLU; the levels are concatenated and a 1x1 conv gives one
    class-boundary logit per stride-4 cell. Only this branch is trained, from
    the inter-pixel relations of IR label maps (confident CAM labels: 0
    background, class ids, 255 unknown; 254 is treated as unknown too).

    For every pixel pair ``(i, j)`` with ``|i - j| < radius`` on the stride-4
    grid the affinity is ``a_ij = 1 - max_{k in path(i, j)} B_k``
    (see :mod:`mmweak.wsss.random_walk` for the path) and the loss is
    IRN's class-balanced affinity loss of the boundary branch::

        L_B = - sum_{P+fg} log(a) / 2|P+fg| - sum_{P+bg} log(a) / 2|P+bg|
              - sum_{P-} log(1 - a) / |P-|

    over the pairs of two confident pixels of the same foreground class
    (``P+fg``), both background (``P+bg``) or of different labels (``P-``),
    computed over the whole batch with ``eps = 1e-5`` inside the logs. It is
    returned as ``loss_pos_fg``, ``loss_pos_bg`` and ``loss_neg`` (each
    multiplied by ``loss_weight``). IRN's code optimises
    ``(L_B + L_D) / 2`` with the displacement loss ``L_D``; with
    ``loss_weight=0.5`` the gradient scale of its boundary part is
    reproduced.

    The displacement-field branch (instance centroids) of IRN is out of
    scope: mmweak uses IRN for semantic pseudo masks only
    (:func:`mmweak.wsss.irn_inference.irn_pseudo_label`).

    Data. Batches come from mmseg's pipeline (``PackSegInputs``) with the IR
    label map as ``gt_sem_seg``; the data preprocessor is mmseg's
    ``SegDataPreProcessor`` because it pads the label maps with 255 together
    with the images (mmpretrain's ``ClsDataPreprocessor`` knows no label
    maps). Use the Stage A classifier's mean, std and RGB order. The label
    map is sampled at the centres of the stride-4 cells (nearest).

    Args:
        backbone (dict): Backbone config, an mmpretrain ResNet such as
            ``dict(type='mmpretrain.ResNet', depth=50, strides=(1, 2, 2, 1),
            out_indices=(0, 1, 2, 3), init_cfg=dict(type='Pretrained',
            checkpoint=CAM_CKPT, prefix='backbone'))``. It is frozen: no
            gradients, always in eval mode (BatchNorm statistics kept).
        in_channels (Sequence[int]): Channels of every level fed to the
            boundary branch, shallowest first. With ``stem_level=True``:
            the stem's then the four stages' (ResNet-50: ``(64, 256, 512,
            1024, 2048)``). Defaults to the ResNet-50 values.
        stem_level (bool): Use the stem output (after max-pooling, stride 4)
            as the first level, as IRN does (five levels). The stem and all
            four stages are then run here, so the backbone must have the
            mmpretrain ResNet layout (``deep_stem``, ``maxpool``,
            ``res_layers``). If False, the backbone's own outputs are the
            levels. Defaults to True.
        edge_channels (int): Channels of every level after its 1x1 conv.
            Defaults to 32.
        num_groups (int): GroupNorm groups. Defaults to 4.
        radius (int): Pair radius on the stride-4 grid for the loss (pairs
            with ``0 < |d| < radius``). IRN trains with 10 (and walks with
            5). Defaults to 10.
        loss_weight (float): Multiplies the three loss terms.
            Defaults to 1.0.
        data_preprocessor (dict, optional): Defaults to
            ``dict(type='mmseg.SegDataPreProcessor')``.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 in_channels: Sequence[int] = (64, 256, 512, 1024, 2048),
                 stem_level: bool = True,
                 edge_channels: int = 32,
                 num_groups: int = 4,
                 radius: int = 10,
                 loss_weight: float = 1.0,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        data_preprocessor = dict(data_preprocessor or {})
        data_preprocessor.setdefault('type', 'mmseg.SegDataPreProcessor')
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if edge_channels % num_groups:
            raise ValueError(f'edge_channels={edge_channels} must be a '
                             f'multiple of num_groups={num_groups}')
        if int(radius) != radius or radius < 2:
            raise ValueError(f'radius must be an integer >= 2, got {radius}')
        self.backbone = MODELS.build(backbone)
        if stem_level and not all(
                hasattr(self.backbone, a) for a in _STEM_ATTRS):
            raise TypeError(
                f'stem_level=True needs a ResNet-layout backbone (attributes '
                f'{_STEM_ATTRS}); {type(self.backbone).__name__} has not: '
                'set stem_level=False')
        self.backbone.requires_grad_(False)
        self.backbone.eval()
        self.in_channels = tuple(int(c) for c in in_channels)
        self.stem_level = stem_level
        self.radius = int(radius)
        self.loss_weight = float(loss_weight)
        self.eps = 1e-5
        self.edge_levels = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(c, edge_channels, 1, bias=False),
                nn.GroupNorm(num_groups, edge_channels))
            for c in self.in_channels)
        self.edge_fuse = nn.Conv2d(edge_channels * len(self.in_channels), 1,
                                   1)

    def train(self, mode: bool = True) -> 'IRNet':
        """Set the mode of the new branch; the backbone stays in eval."""
        super().train(mode)
        self.backbone.eval()
        return self

    @torch.no_grad()
    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        """Frozen backbone levels, shallowest first (no autograd graph)."""
        bb = self.backbone
        if not self.stem_level:
            feats = list(bb(inputs))
        else:
            if bb.deep_stem:
                x = bb.stem(inputs)
            else:
                x = bb.relu(bb.norm1(bb.conv1(inputs)))
            x = bb.maxpool(x)
            feats = [x]
            for name in bb.res_layers:
                x = getattr(bb, name)(x)
                feats.append(x)
        got = tuple(f.size(1) for f in feats)
        if got != self.in_channels:
            raise ValueError(
                f'IRNet: the backbone gives levels with channels {got}, but '
                f'in_channels={self.in_channels} (set in_channels, or '
                'out_indices=(0, 1, 2, 3) on the backbone)')
        return feats

    def edge_logits(self, inputs: Tensor) -> Tensor:
        """Class-boundary logits ``(B, 1, h, w)`` on the grid of the first
        (stride-4) level."""
        feats = self.extract_feat(inputs)
        size = feats[0].shape[-2:]
        levels = []
        for feat, layer in zip(feats, self.edge_levels):
            y = layer(feat)
            if y.shape[-2:] != size:
                # integer upsampling then a crop keeps the cells aligned
                # with the stride-4 grid (deeper maps are ceil-sized)
                scale = max(1, round(size[0] / y.size(-2)))
                y = F.interpolate(
                    y, scale_factor=scale, mode='bilinear',
                    align_corners=False)
                if y.size(-2) < size[0] or y.size(-1) < size[1]:
                    y = F.interpolate(
                        y, size=size, mode='bilinear', align_corners=False)
                y = y[..., :size[0], :size[1]]
            levels.append(F.relu(y))
        return self.edge_fuse(torch.cat(levels, dim=1))

    def predict_edge(self, inputs: Tensor, flip: bool = True) -> Tensor:
        """Class-boundary probabilities ``(B, 1, h, w)`` at stride 4
        (``h = ceil(H / 4)`` for a ResNet).

        Args:
            inputs (Tensor): Preprocessed images ``(B, 3, H, W)``
                (normalised as by the data preprocessor).
            flip (bool): Average the logits with those of the horizontally
                flipped images (flipped back) before the sigmoid, as IRN's
                inference does. Defaults to True.
        """
        logits = self.edge_logits(inputs)
        if flip:
            flipped = self.edge_logits(inputs.flip(-1)).flip(-1)
            logits = (logits + flipped) / 2
        return logits.sigmoid()

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[list] = None,
                mode: str = 'tensor') -> Union[Tensor, Dict[str, Tensor],
                                               list]:
        """``'tensor'``: boundary logits; ``'loss'``: the affinity losses
        (needs ``gt_sem_seg`` IR label maps); ``'predict'``: data samples
        with ``pred_edge`` (boundary probabilities at stride 4)."""
        if mode == 'tensor':
            return self.edge_logits(inputs)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}". Only supports loss, '
                           'predict and tensor mode')

    def loss(self, inputs: Tensor, data_samples: list) -> Dict[str, Tensor]:
        """Affinity losses of a batch (IRN ``L_B``) from its IR label maps."""
        logits = self.edge_logits(inputs)
        labels = self.stride_labels(data_samples, logits.shape[-2:])
        return self.affinity_loss(logits.sigmoid()[:, 0], labels)

    def predict(self, inputs: Tensor,
                data_samples: Optional[list] = None) -> list:
        """Attach ``pred_edge`` (``PixelData`` (1, h, w)) to each sample."""
        edges = self.predict_edge(inputs)
        if data_samples is None:
            data_samples = [SegDataSample() for _ in range(edges.size(0))]
        for sample, edge in zip(data_samples, edges):
            sample.set_field(PixelData(data=edge), 'pred_edge')
        return data_samples

    @staticmethod
    def stride_labels(data_samples: list, size: Sequence[int]) -> Tensor:
        """IR label maps of the batch ``(B, h, w)`` (int64) sampled at the
        centres of the ``size`` grid (nearest, half-pixel centres)."""
        if not data_samples or any('gt_sem_seg' not in s
                                   for s in data_samples):
            raise ValueError(
                'IRNet.loss needs the IR label map as gt_sem_seg in every '
                'data sample (mmseg.LoadAnnotations + mmseg.PackSegInputs '
                'with data_prefix.seg_map_path=<ir label dir>)')
        maps = torch.stack([s.gt_sem_seg.data for s in data_samples])
        if maps.dim() != 4 or maps.size(1) != 1:
            raise ValueError(f'gt_sem_seg must be (1, H, W) per sample, got '
                             f'{tuple(maps.shape[1:])}')
        maps = F.interpolate(
            maps.float(), size=tuple(size), mode='nearest-exact')
        return maps[:, 0].long()

    def affinity_loss(self, edge: Tensor,
                      labels: Tensor) -> Dict[str, Tensor]:
        """Class-balanced affinity loss ``L_B`` of IRN (see the class doc).

        Args:
            edge (Tensor): Boundary probabilities ``(B, h, w)`` in [0, 1].
            labels (Tensor): Stride-4 IR labels ``(B, h, w)``: 0 background,
                class ids, 254/255 unknown.

        Returns:
            dict[str, Tensor]: ``loss_pos_fg``, ``loss_pos_bg``, ``loss_neg``.
        """
        if edge.shape != labels.shape:
            raise ValueError(f'edge {tuple(edge.shape)} and labels '
                             f'{tuple(labels.shape)} must have equal shapes')
        aff = pairwise_affinity(edge, self.radius)  # (B, D, h, w)
        dst = pair_targets(labels, self.radius)  # outside -> 255
        src = labels.long().unsqueeze(1).expand_as(dst)
        known = (src < UNCERTAIN_INDEX) & (dst < UNCERTAIN_INDEX)
        same = src == dst
        pos_fg = known & same & (src > 0)
        pos_bg = known & same & (src == 0)
        neg = known & ~same
        pos_loss = -torch.log(aff + self.eps)
        neg_loss = -torch.log(1.0 + self.eps - aff)

        def mean_over(loss: Tensor, mask: Tensor) -> Tensor:
            return (loss * mask).sum() / mask.sum().clamp(min=1)

        w = self.loss_weight
        return dict(
            loss_pos_fg=w * 0.5 * mean_over(pos_loss, pos_fg),
            loss_pos_bg=w * 0.5 * mean_over(pos_loss, pos_bg),
            loss_neg=w * mean_over(neg_loss, neg))
