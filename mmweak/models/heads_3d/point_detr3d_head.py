# Copyright (c) mmweak contributors.
"""Point-to-box DETR head of the Point-DETR3D teacher (imports mmdet3d)."""
import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmcv.cnn.bricks.transformer import FFN
from mmdet3d.structures import LiDARInstance3DBoxes
from mmengine.model import BaseModule, bias_init_with_prob, constant_init
from mmengine.structures import InstanceData
from scipy.optimize import linear_sum_assignment
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

# imported for registration of the default query encoder / cross attention
import mmweak.models.layers.droi_cross_attention  # noqa: F401
import mmweak.models.layers.point_query_encoder_3d  # noqa: F401
from mmweak.registry import MODELS

CODE_SIZE = 8
ASSIGN_MODES = ('hungarian', 'index')


def inverse_sigmoid(x: Tensor, eps: float = 1e-5) -> Tensor:
    """``log(x / (1 - x))`` with ``x`` clamped to ``[eps, 1 - eps]``."""
    x = x.clamp(eps, 1 - eps)
    return torch.log(x / (1 - x))


def encode_boxes(boxes: Tensor) -> Tensor:
    """``[x, y, z, l, w, h, yaw]`` -> ``[x, y, z, log l, log w, log h,
    sin yaw, cos yaw]`` (the normalised box the L1 loss and cost use)."""
    return torch.cat((boxes[..., :3], boxes[..., 3:6].clamp(min=1e-3).log(),
                      boxes[..., 6:7].sin(), boxes[..., 6:7].cos()),
                     dim=-1)


def decode_boxes(codes: Tensor) -> Tensor:
    """Inverse of :func:`encode_boxes`; yaw is ``atan2(sin, cos)``."""
    return torch.cat((codes[..., :3], codes[..., 3:6].exp(),
                      torch.atan2(codes[..., 6:7], codes[..., 7:8])),
                     dim=-1)


def focal_match_cost(cls_logits: Tensor,
                     gt_labels: Tensor,
                     alpha: float = 0.25,
                     gamma: float = 2.0,
                     eps: float = 1e-12) -> Tensor:
    """Batched focal classification cost ``(B, N, M)`` (Deformable DETR).

    ``cost[b, i, j] = pos(p[b, i, y_j]) - neg(p[b, i, y_j])`` with
    ``pos(p) = -alpha (1-p)^gamma log p`` and
    ``neg(p) = -(1-alpha) p^gamma log(1-p)``.
    """
    prob = cls_logits.sigmoid()
    neg = -(1 - prob + eps).log() * (1 - alpha) * prob.pow(gamma)
    pos = -(prob + eps).log() * alpha * (1 - prob).pow(gamma)
    index = gt_labels[:, None, :].expand(-1, cls_logits.size(1), -1)
    return torch.gather(pos - neg, 2, index)


def hungarian_assign(cost: Tensor, num_queries: Tensor,
                     num_gts: Tensor) -> Tensor:
    """Optimal one-to-one assignment per sample of padded cost matrices.

    Args:
        cost (Tensor): ``(B, N, M)`` batched costs (padding entries ignored).
        num_queries (Tensor): ``(B, )`` valid queries per sample.
        num_gts (Tensor): ``(B, )`` valid targets per sample.

    Returns:
        Tensor: ``(B, N)`` long, the assigned target of each query, -1 for
        unassigned and padding queries.
    """
    assigned = torch.full(cost.shape[:2], -1, dtype=torch.long)
    cost_np = cost.detach().cpu().float().numpy()
    for b, (nq, ng) in enumerate(zip(num_queries.tolist(),
                                     num_gts.tolist())):
        if nq == 0 or ng == 0:
            continue
        rows, cols = linear_sum_assignment(cost_np[b, :nq, :ng])
        assigned[b, torch.from_numpy(rows)] = torch.from_numpy(
            cols.astype(np.int64))
    return assigned.to(cost.device)


def _mlp(in_dims: int, out_dims: int, num_fcs: int) -> nn.Sequential:
    layers = []
    for _ in range(num_fcs):
        layers += [
            nn.Linear(in_dims, in_dims),
            nn.LayerNorm(in_dims),
            nn.ReLU(inplace=True)
        ]
    layers.append(nn.Linear(in_dims, out_dims))
    return nn.Sequential(*layers)


class PointDETR3DDecoderLayer(BaseModule):
    """``cross_attn -> norm -> ffn -> norm`` (no self-attention).

    Point-DETR3D (arXiv 2403.15317): queries are independent points, so the
    decoder layer has D-RoI cross attention and an FFN only.
    """

    def __init__(self, cross_attn: dict, embed_dims: int, ffn_channels: int,
                 ffn_dropout: float) -> None:
        super().__init__()
        self.cross_attn = MODELS.build(cross_attn)
        self.norm1 = nn.LayerNorm(embed_dims)
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=ffn_channels,
            ffn_drop=ffn_dropout)
        self.norm2 = nn.LayerNorm(embed_dims)

    def forward(self, query: Tensor, query_pos: Tensor,
                reference_points: Tensor, prior_boxes: Tensor,
                bev_feats: List[Tensor], key_padding_mask: Tensor,
                **cam_inputs) -> Tensor:
        query = self.cross_attn(query, query_pos, reference_points,
                                prior_boxes, bev_feats, key_padding_mask,
                                **cam_inputs)
        query = self.norm1(query)
        return self.norm2(self.ffn(query))


@MODELS.register_module()
class PointDETR3DHead(BaseModule):
    """Point-to-box DETR head of the Point-DETR3D teacher.

    Gao et al., "Leveraging Imagery Data with Spatial Point Prior for Weakly
    Semi-supervised 3D Object Detection", AAAI 2024 (arXiv 2403.15317),
    Sec. 4 of the mmweak spec:

    * one query per annotated point (:class:`PointQueryEncoder3D`), the
      reference point is the normalised annotated point;
    * ``num_layers`` decoder layers ``D-RoI cross attn -> norm -> ffn ->
      norm``; before layer 0 the prior box is (point, class-mean size, yaw
      of the first regression branch on the initial query, detached); after
      each layer the prior takes the predicted size and yaw (detached), its
      centre stays at the annotated point;
    * per layer a classification branch and a regression branch with box
      refinement. Regression ``r`` (8 values) against the anchor
      ``(ref, s)`` (``ref`` = normalised annotated point for layer 0, the
      previous layer's detached normalised centre afterwards; ``s`` =
      class-mean size):
      ``xy = denorm(sigmoid(r_xy + logit(ref_xy)))``,
      ``z = denorm(ref_z) + r_z``, ``log size = log s + r_lwh``,
      ``(sin, cos) = r_sc`` (no velocity);
    * assignment ``'hungarian'`` (focal-class cost ``cls_cost_weight``
      + L1 cost ``reg_cost_weight`` on :func:`encode_boxes`) or ``'index'``
      (query k <-> point k, a documented deviation);
    * focal loss on all valid queries (unassigned -> background) and L1 on
      :func:`encode_boxes` of assigned queries; earlier layers give
      ``d{i}.loss_*`` (DETR auxiliary losses). GIoU weight 0 (not built).
      Padding queries are masked out of matching, losses and predictions.

    ``predict`` is NMS-free: one box per point, label = the point's class,
    score = sigmoid class score of that label.

    With image features (``loss``/``predict`` ``img_feats``, levels
    ``(B, V, C, H, W)``) and ``cross_attn=dict(..., with_camera=True)``
    the D-RoI layers also sample the cameras (``lidar2img`` from the data
    samples' metainfo, see :meth:`camera_inputs`).

    Args:
        num_classes (int): Classes. Defaults to 10.
        in_channels (int | Sequence[int]): BEV channels per level.
        embed_dims (int): Query channels. Defaults to 256.
        num_layers (int): Decoder layers. Defaults to 1.
        point_cloud_range (Sequence[float]): Range of the BEV maps.
        class_mean_size (Sequence[Sequence[float]]): ``(K, 3)`` (l, w, h).
        query_encoder (dict): Extra config of the query encoder
            (``num_classes``, ``embed_dims``, range and sizes are filled in).
        cross_attn (dict): Config of the D-RoI cross attention
            (``embed_dims``, ``num_levels``, range filled in).
        ffn_channels (int): FFN hidden channels. Defaults to 512.
        ffn_dropout (float): FFN dropout. Defaults to 0.1.
        num_reg_fcs (int): Hidden layers of each branch. Defaults to 2.
        assign (str): ``'hungarian'`` (default) or ``'index'``.
        cls_cost_weight (float): Defaults to 2.0.
        reg_cost_weight (float): Defaults to 0.25.
        focal_alpha (float): Alpha of the class cost. Defaults to 0.25.
        focal_gamma (float): Gamma of the class cost. Defaults to 2.0.
        loss_cls (dict): Defaults to mmdet ``FocalLoss`` (0.25, 2, 2.0).
        loss_bbox (dict): Defaults to mmdet ``L1Loss`` (0.25).
        loss_iou_weight (float): GIoU weight; only 0 is supported.
        train_cfg, test_cfg (dict, optional): Accepted for
            ``MVXTwoStageDetector``; unused.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 class_mean_size: Sequence[Sequence[float]],
                 num_classes: int = 10,
                 in_channels: Union[int, Sequence[int]] = 384,
                 embed_dims: int = 256,
                 num_layers: int = 1,
                 point_cloud_range: Sequence[float] = (-51.2, -51.2, -5.0,
                                                       51.2, 51.2, 3.0),
                 query_encoder: dict = dict(type='mmweak.PointQueryEncoder3D'),
                 cross_attn: dict = dict(type='mmweak.DRoICrossAttention'),
                 ffn_channels: int = 512,
                 ffn_dropout: float = 0.1,
                 num_reg_fcs: int = 2,
                 assign: str = 'hungarian',
                 cls_cost_weight: float = 2.0,
                 reg_cost_weight: float = 0.25,
                 focal_alpha: float = 0.25,
                 focal_gamma: float = 2.0,
                 loss_cls: dict = dict(
                     type='mmdet.FocalLoss',
                     use_sigmoid=True,
                     gamma=2.0,
                     alpha=0.25,
                     loss_weight=2.0),
                 loss_bbox: dict = dict(type='mmdet.L1Loss', loss_weight=0.25),
                 loss_iou_weight: float = 0.0,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if assign not in ASSIGN_MODES:
            raise ValueError(f'assign must be one of {ASSIGN_MODES}, got '
                             f'{assign!r}')
        if loss_iou_weight != 0:
            raise ValueError('PointDETR3DHead implements GIoU weight 0 only '
                             f'(spec), got loss_iou_weight={loss_iou_weight}')
        if isinstance(in_channels, int):
            in_channels = [in_channels]
        self.num_classes = num_classes
        self.embed_dims = embed_dims
        self.num_layers = num_layers
        self.num_levels = len(in_channels)
        self.assign = assign
        self.cls_cost_weight = cls_cost_weight
        self.reg_cost_weight = reg_cost_weight
        self.focal_alpha = focal_alpha
        self.focal_gamma = focal_gamma
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        self.register_buffer(
            'pc_range',
            torch.as_tensor(point_cloud_range, dtype=torch.float32),
            persistent=False)

        enc_cfg = copy.deepcopy(query_encoder)
        enc_cfg.update(
            num_classes=num_classes,
            embed_dims=embed_dims,
            point_cloud_range=list(point_cloud_range),
            class_mean_size=class_mean_size)
        self.query_encoder = MODELS.build(enc_cfg)
        attn_cfg = copy.deepcopy(cross_attn)
        attn_cfg.update(
            embed_dims=embed_dims,
            num_levels=self.num_levels,
            point_cloud_range=list(point_cloud_range))
        self.input_projs = nn.ModuleList(
            nn.Conv2d(c, embed_dims, kernel_size=1) for c in in_channels)
        self.layers = nn.ModuleList(
            PointDETR3DDecoderLayer(attn_cfg, embed_dims, ffn_channels,
                                    ffn_dropout) for _ in range(num_layers))
        self.cls_branches = nn.ModuleList(
            _mlp(embed_dims, num_classes, num_reg_fcs)
            for _ in range(num_layers))
        self.reg_branches = nn.ModuleList(
            _mlp(embed_dims, CODE_SIZE, num_reg_fcs)
            for _ in range(num_layers))
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_bbox = MODELS.build(loss_bbox)

    def init_weights(self) -> None:
        """Focal prior 0.01 on class logits; regression starts at the
        anchor (zero offsets) with yaw 0 (``cos`` bias 1)."""
        super().init_weights()
        for branch in self.cls_branches:
            nn.init.constant_(branch[-1].bias, bias_init_with_prob(0.01))
        for branch in self.reg_branches:
            constant_init(branch[-1], 0.)
            branch[-1].bias.data[7] = 1.

    # ------------------------------------------------------------ box coding
    def _denorm(self, ref: Tensor) -> Tensor:
        low, high = self.pc_range[:3], self.pc_range[3:]
        return ref * (high - low) + low

    def _norm(self, xyz: Tensor) -> Tensor:
        low, high = self.pc_range[:3], self.pc_range[3:]
        return (xyz - low) / (high - low)

    def reg_to_code(self, reg: Tensor, ref: Tensor,
                    anchor_size: Tensor) -> Tensor:
        """Raw regression -> :func:`encode_boxes` layout (see class doc)."""
        xy = (reg[..., :2] + inverse_sigmoid(ref[..., :2])).sigmoid()
        low, high = self.pc_range[:3], self.pc_range[3:]
        xy = xy * (high[:2] - low[:2]) + low[:2]
        z = self._denorm(ref)[..., 2:3] + reg[..., 2:3]
        log_size = anchor_size.log() + reg[..., 3:6]
        return torch.cat((xy, z, log_size, reg[..., 6:8]), dim=-1)

    def code_to_reg(self, code: Tensor, ref: Tensor,
                    anchor_size: Tensor) -> Tensor:
        """Inverse of :meth:`reg_to_code` (regression targets, tests)."""
        xy = inverse_sigmoid(self._norm(code[..., :3])[..., :2]) - \
            inverse_sigmoid(ref[..., :2])
        z = code[..., 2:3] - self._denorm(ref)[..., 2:3]
        log_size = code[..., 3:6] - anchor_size.log()
        return torch.cat((xy, z, log_size, code[..., 6:8]), dim=-1)

    # --------------------------------------------------------------- forward
    @staticmethod
    def points_and_labels(
            batch_data_samples: Sequence) -> Tuple[List[Tensor], ...]:
        points, labels = [], []
        for i, sample in enumerate(batch_data_samples):
            gt = sample.get('gt_instances_3d', None)
            if gt is None or 'points_3d' not in gt or 'labels_3d' not in gt:
                raise KeyError(
                    f'data sample {i}: PointDETR3D needs '
                    'gt_instances_3d.points_3d and gt_instances_3d.labels_3d '
                    '(pack them with mmweak.PackPointDet3DInputs)')
            points.append(gt.points_3d)
            labels.append(gt.labels_3d)
        return points, labels

    @staticmethod
    def camera_inputs(img_feats: Optional[Sequence[Tensor]],
                      batch_data_samples: Sequence) -> Optional[dict]:
        """``img_feats``, ``lidar2img`` and ``img_shape`` for the D-RoI
        camera branch, or None without image features.

        ``lidar2img`` comes from the metainfo key ``lidar2img`` or from
        ``cam2img @ lidar2cam``; ``img_shape`` is the batch input shape.
        Both must refer to the (augmented) input images.
        """
        if img_feats is None:
            return None
        mats = []
        for i, sample in enumerate(batch_data_samples):
            meta = sample.metainfo
            if 'lidar2img' in meta:
                mat = torch.as_tensor(np.asarray(meta['lidar2img']),
                                      dtype=torch.float32)
            elif 'cam2img' in meta and 'lidar2cam' in meta:
                cam2img = torch.as_tensor(
                    np.asarray(meta['cam2img']), dtype=torch.float32)
                full = torch.eye(4).repeat(cam2img.size(0), 1, 1)
                full[:, :cam2img.size(1), :cam2img.size(2)] = cam2img
                mat = full @ torch.as_tensor(
                    np.asarray(meta['lidar2cam']), dtype=torch.float32)
            else:
                raise KeyError(f'data sample {i}: the camera branch needs '
                               'metainfo "lidar2img" or "cam2img" + '
                               '"lidar2cam"')
            mats.append(mat)
        meta = batch_data_samples[0].metainfo
        shape = meta.get('batch_input_shape', meta.get('img_shape'))
        if shape is None:
            raise KeyError('the camera branch needs metainfo '
                           '"batch_input_shape" or "img_shape"')
        if isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return dict(
            img_feats=list(img_feats),
            lidar2img=torch.stack(mats).to(img_feats[0].device),
            img_shape=tuple(int(v) for v in shape[:2]))

    def forward(self,
                pts_feats: Sequence[Tensor],
                points: List[Tensor],
                labels: List[Tensor],
                cam_inputs: Optional[dict] = None) -> Dict[str, Tensor]:
        """Decode one box per annotated point.

        Args:
            pts_feats (Sequence[Tensor]): BEV maps ``(B, C_l, H_l, W_l)``.
            points (list[Tensor]): Per sample ``(N_i, 3)`` LiDAR points.
            labels (list[Tensor]): Per sample ``(N_i, )`` classes.
            cam_inputs (dict, optional): Output of :meth:`camera_inputs`.

        Returns:
            dict: ``cls_scores`` ``(L, B, N, K)`` logits, ``codes``
            ``(L, B, N, 8)`` (:func:`encode_boxes` layout), ``boxes``
            ``(L, B, N, 7)`` gravity-centre boxes, plus the encoder outputs
            (``labels``, ``key_padding_mask``, ``num_points``, ...).
        """
        if len(pts_feats) != self.num_levels:
            raise ValueError(f'expected {self.num_levels} BEV levels, got '
                             f'{len(pts_feats)}')
        enc = self.query_encoder(points, labels)
        feats = [proj(f) for proj, f in zip(self.input_projs, pts_feats)]
        query, query_pos = enc['query'], enc['query_pos']
        ref, size = enc['reference_points'], enc['prior_size']
        mask = enc['key_padding_mask']
        centre = self._denorm(ref)
        with torch.no_grad():
            init = self.reg_branches[0](query)
        yaw = torch.atan2(init[..., 6:7], init[..., 7:8])
        prior = torch.cat((centre, size, yaw), dim=-1).detach()
        anchor_ref = ref
        all_cls, all_codes, all_boxes = [], [], []
        for layer, cls_branch, reg_branch in zip(self.layers,
                                                 self.cls_branches,
                                                 self.reg_branches):
            query = layer(query, query_pos, ref, prior, feats, mask,
                          **(cam_inputs or {}))
            code = self.reg_to_code(reg_branch(query), anchor_ref, size)
            boxes = decode_boxes(code)
            all_cls.append(cls_branch(query))
            all_codes.append(code)
            all_boxes.append(boxes)
            prior = torch.cat((centre, boxes[..., 3:7]), dim=-1).detach()
            anchor_ref = self._norm(boxes[..., :3]).detach().clamp(0., 1.)
        enc.update(
            cls_scores=torch.stack(all_cls),
            codes=torch.stack(all_codes),
            boxes=torch.stack(all_boxes))
        return enc

    # ------------------------------------------------------------------ loss
    def get_assignment(self, cls_logits: Tensor, codes: Tensor,
                       gt_labels: Tensor, gt_codes: Tensor,
                       num_points: Tensor, num_gts: Tensor) -> Tensor:
        """``(B, N)`` assigned target per query (-1: none / padding)."""
        nq = cls_logits.size(1)
        if self.assign == 'index':
            idx = torch.arange(nq, device=codes.device)[None]
            limit = torch.minimum(num_points, num_gts)[:, None]
            return torch.where(idx < limit, idx, idx.new_full((), -1))
        with torch.no_grad():
            cost = self.cls_cost_weight * focal_match_cost(
                cls_logits, gt_labels, self.focal_alpha, self.focal_gamma)
            cost = cost + self.reg_cost_weight * torch.cdist(
                codes, gt_codes, p=1)
        return hungarian_assign(cost, num_points, num_gts)

    def loss_by_feat(self, preds: Dict[str, Tensor], gt_boxes: List[Tensor],
                     gt_labels: List[Tensor]) -> Dict[str, Tensor]:
        """Focal + L1 losses of every decoder layer.

        Args:
            preds (dict): Output of :meth:`forward`.
            gt_boxes (list[Tensor]): Per sample ``(M_i, 7)`` gravity-centre
                boxes ``[x, y, z, l, w, h, yaw]``.
            gt_labels (list[Tensor]): Per sample ``(M_i, )``.
        """
        device = preds['codes'].device
        num_gts = torch.as_tensor([b.size(0) for b in gt_boxes],
                                  device=device)
        nmax = preds['codes'].size(2)
        gt_codes = pad_sequence(
            [encode_boxes(b.to(device).float()) for b in gt_boxes],
            batch_first=True)
        gt_lbl = pad_sequence([y.to(device).long() for y in gt_labels],
                              batch_first=True)
        if gt_codes.size(1) < nmax:  # keep (B, M) >= 1 wide
            gt_codes = torch.cat(
                (gt_codes,
                 gt_codes.new_zeros(gt_codes.size(0),
                                    nmax - gt_codes.size(1), CODE_SIZE)), 1)
            gt_lbl = torch.cat(
                (gt_lbl, gt_lbl.new_zeros(gt_lbl.size(0),
                                          nmax - gt_lbl.size(1))), 1)
        valid = ~preds['key_padding_mask']
        num_total = max(int(num_gts.sum()), 1)
        losses = {}
        last = self.num_layers - 1
        for layer in range(self.num_layers):
            cls_logits = preds['cls_scores'][layer]
            codes = preds['codes'][layer]
            assigned = self.get_assignment(cls_logits, codes, gt_lbl,
                                           gt_codes, preds['num_points'],
                                           num_gts)
            pos = valid & (assigned >= 0)
            safe = assigned.clamp(min=0)
            target_lbl = torch.gather(gt_lbl, 1, safe)
            target_lbl = torch.where(pos, target_lbl,
                                     target_lbl.new_full((), self.num_classes))
            target_codes = torch.gather(
                gt_codes, 1, safe[..., None].expand(-1, -1, CODE_SIZE))
            loss_cls = self.loss_cls(
                cls_logits[valid], target_lbl[valid], avg_factor=num_total)
            loss_bbox = self.loss_bbox(
                codes[pos],
                target_codes[pos],
                avg_factor=max(int(pos.sum()), 1))
            prefix = '' if layer == last else f'd{layer}.'
            losses[f'{prefix}loss_cls'] = loss_cls
            losses[f'{prefix}loss_bbox'] = loss_bbox
        return losses

    def loss(self,
             pts_feats: Sequence[Tensor],
             batch_data_samples: Sequence,
             img_feats: Optional[Sequence[Tensor]] = None,
             **kwargs) -> Dict[str, Tensor]:
        """Losses from BEV features and data samples with points and boxes.

        Reads ``gt_instances_3d.points_3d``, ``.labels_3d`` and
        ``.bboxes_3d`` (boxes aligned one-to-one with the points);
        ``img_feats`` (``(B, V, C, H, W)`` levels) feed the camera branch.
        """
        points, labels = self.points_and_labels(batch_data_samples)
        gt_boxes = []
        for i, sample in enumerate(batch_data_samples):
            gt = sample.gt_instances_3d
            if 'bboxes_3d' not in gt:
                raise KeyError(
                    f'data sample {i}: training PointDETR3D needs '
                    'gt_instances_3d.bboxes_3d (labelled, ann_type="box" '
                    'samples only)')
            boxes = gt.bboxes_3d
            if len(boxes) != len(points[i]):
                raise ValueError(
                    f'data sample {i}: {len(points[i])} points_3d but '
                    f'{len(boxes)} bboxes_3d; they must be aligned')
            gt_boxes.append(
                torch.cat((boxes.gravity_center, boxes.dims,
                           boxes.yaw[:, None]), dim=-1))
        preds = self(pts_feats, points, labels,
                     self.camera_inputs(img_feats, batch_data_samples))
        return self.loss_by_feat(preds, gt_boxes, labels)

    # --------------------------------------------------------------- predict
    def predict(self,
                pts_feats: Sequence[Tensor],
                batch_data_samples: Sequence,
                img_feats: Optional[Sequence[Tensor]] = None,
                **kwargs) -> List[InstanceData]:
        """One box per annotated point (NMS-free), in the points' order.

        Returns:
            list[InstanceData]: ``bboxes_3d`` (``LiDARInstance3DBoxes``,
            bottom-centre origin, box_dim 9: the teacher predicts no
            velocity, the last two columns are zeros so that mmdet3d's
            ``NuScenesMetric`` can format the boxes), ``scores_3d``,
            ``labels_3d``.
        """
        points, labels = self.points_and_labels(batch_data_samples)
        preds = self(pts_feats, points, labels,
                     self.camera_inputs(img_feats, batch_data_samples))
        lbl = preds['labels']
        scores = torch.gather(preds['cls_scores'][-1].sigmoid(), 2,
                              lbl[..., None])[..., 0]
        boxes = preds['boxes'][-1]
        boxes = torch.cat([boxes, boxes.new_zeros(boxes.shape[:-1] + (2, ))],
                          dim=-1)
        results = []
        for b, n in enumerate(preds['num_points'].tolist()):
            res = InstanceData()
            res.bboxes_3d = LiDARInstance3DBoxes(
                boxes[b, :n], box_dim=9, origin=(0.5, 0.5, 0.5))
            res.scores_3d = scores[b, :n]
            res.labels_3d = lbl[b, :n]
            results.append(res)
        return results
