# Copyright (c) mmweak contributors.
"""Point-DETR3D student: CenterPoint trained on two views of every sample.

Point-DETR3D (Gao et al., AAAI 2024, arXiv 2403.15317), student stage: the
detection loss is computed on a strongly augmented view; the strong view's
BEV feature map, un-augmented onto the weak (un-augmented) view's grid, is
pulled towards the weak view's map around the object centres by the
point-guided consistency loss (``mmweak.PointGuidedConsistencyLoss``).

Data path. mmdet's ``MultiBranch`` transform builds the two views (branch
pipelines ending in ``Pack3DDetInputs``), but mmdet's
``MultiBranchDataPreprocessor`` does not work with mmdet3d inputs: its
"drop None" step runs ``list(filter(...))`` over each branch's inputs,
which for mmdet3d are a dict (``{'points': [...]}``), so the inner
``Det3DDataPreprocessor`` receives ``['points']`` and fails with
``TypeError: list indices must be integers or slices, not str``.
:class:`MultiBranch3DDataPreprocessor` is the small replacement: it runs
the inner preprocessor (voxelisation included) once per branch.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmdet3d.models.detectors import CenterPoint
from mmdet3d.registry import MODELS as MMDET3D_MODELS
from mmdet3d.structures import Det3DDataSample
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from mmweak.models.losses.point_guided_consistency_loss import \
    PointGuidedConsistencyLoss
from mmweak.registry import MODELS
from mmweak.structures.bev_alignment import DEFAULT_FLOW, align_bev_features

CENTER_SOURCES = ('auto', 'points', 'boxes')


@MODELS.register_module()
class MultiBranch3DDataPreprocessor(BaseDataPreprocessor):
    """Per-branch mmdet3d preprocessing of ``mmdet.MultiBranch`` batches.

    Used by the Point-DETR3D student (arXiv 2403.15317) for its strong and
    weak views. A training batch from ``mmdet.MultiBranch`` is
    ``{'inputs': {branch: {'points': [...]}}, 'data_samples': {branch:
    [...]}}``; every branch goes through the inner preprocessor (normally
    ``Det3DDataPreprocessor`` with voxelisation) and the result keeps the
    same branch layout. Single-view batches (validation, test) are passed
    to the inner preprocessor unchanged.

    Args:
        data_preprocessor (dict): Inner preprocessor config, e.g.
            ``dict(type='Det3DDataPreprocessor', voxel=True, ...)``.
    """

    def __init__(self, data_preprocessor: dict) -> None:
        super().__init__()
        self.data_preprocessor = MMDET3D_MODELS.build(data_preprocessor)

    def forward(self, data: dict, training: bool = False) -> dict:
        samples = data.get('data_samples')
        if not isinstance(samples, dict):
            return self.data_preprocessor(data, training)
        inputs = data.get('inputs')
        if not isinstance(inputs, dict) or set(inputs) != set(samples):
            raise ValueError(
                'multi-branch batch needs the same branches in inputs and '
                f'data_samples, got {sorted(inputs or {})} and '
                f'{sorted(samples)}')
        out_inputs, out_samples = {}, {}
        for branch in samples:
            res = self.data_preprocessor(
                dict(inputs=inputs[branch], data_samples=samples[branch]),
                training)
            out_inputs[branch] = res['inputs']
            out_samples[branch] = res['data_samples']
        return dict(inputs=out_inputs, data_samples=out_samples)


@MODELS.register_module()
class TwoViewCenterPoint(CenterPoint):
    """CenterPoint with Point-DETR3D's point-guided two-view consistency.

    Point-DETR3D (Gao et al., AAAI 2024, arXiv 2403.15317), student:
    ``L = L_det(strong) + loss_consistency``, where ``loss_consistency``
    compares ``align(F_strong)`` with ``F_weak`` (the neck outputs that
    feed the head; ``align`` undoes the strong view's recorded flip,
    rotation, scale and translation by affine grid sampling) under Gaussian
    masks around the object centres of the weak view.

    Training input is the ``MultiBranch`` layout (see
    :class:`MultiBranch3DDataPreprocessor`), with branches
    ``strong_branch`` and ``weak_branch``. Prediction and validation are
    the plain CenterPoint path on single-view inputs. ``consistency=False``
    gives the baseline student; it then also accepts single-view batches.

    Args:
        loss_consistency (dict, optional): ``PointGuidedConsistencyLoss``
            config (``type`` may be omitted). Required when
            ``consistency=True``; its ``point_cloud_range`` is also the
            extent used for the alignment.
        consistency (bool): Add the consistency loss. Defaults to True.
        strong_branch (str): Branch with the augmented view (detection
            loss). Defaults to 'strong'.
        weak_branch (str): Branch with the un-augmented view.
            Defaults to 'weak'.
        centers_from (str): ``'auto'`` (spec default: annotated points
            ``gt_instances_3d.points_3d`` on samples whose metainfo has
            ``ann_type == 'point'``, GT gravity centres otherwise),
            ``'points'`` or ``'boxes'``.
        feat_index (int): Which neck output feeds the loss. Defaults to 0.
        default_flow (Sequence[str]): Augmentation order assumed when the
            metainfo lacks ``transformation_3d_flow``.
        **kwargs: ``CenterPoint`` arguments.
    """

    def __init__(self,
                 *args,
                 loss_consistency: Optional[dict] = None,
                 consistency: bool = True,
                 strong_branch: str = 'strong',
                 weak_branch: str = 'weak',
                 centers_from: str = 'auto',
                 feat_index: int = 0,
                 default_flow: Sequence[str] = DEFAULT_FLOW,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if centers_from not in CENTER_SOURCES:
            raise ValueError(f'centers_from={centers_from!r} is not one of '
                             f'{CENTER_SOURCES}')
        if strong_branch == weak_branch:
            raise ValueError('strong_branch and weak_branch must differ')
        self.consistency = bool(consistency)
        self.strong_branch = strong_branch
        self.weak_branch = weak_branch
        self.centers_from = centers_from
        self.feat_index = int(feat_index)
        self.default_flow = tuple(default_flow)
        self.loss_consistency = None
        if self.consistency:
            if loss_consistency is None:
                raise ValueError('consistency=True needs a loss_consistency '
                                 'config (PointGuidedConsistencyLoss)')
            cfg = dict(loss_consistency)
            cfg.setdefault('type', 'mmweak.PointGuidedConsistencyLoss')
            self.loss_consistency = MMDET3D_MODELS.build(cfg)
            if not isinstance(self.loss_consistency,
                              PointGuidedConsistencyLoss):
                raise TypeError('loss_consistency must build a '
                                'PointGuidedConsistencyLoss, got '
                                f'{type(self.loss_consistency).__name__}')

    # ------------------------------------------------------------------ data
    def _split_views(
        self, batch_inputs_dict: dict,
        batch_data_samples: Union[dict, List[Det3DDataSample]]
    ) -> Tuple[dict, List[Det3DDataSample], Optional[dict],
               Optional[List[Det3DDataSample]]]:
        """(strong inputs, strong samples, weak inputs, weak samples)."""
        if not isinstance(batch_data_samples, dict):
            return batch_inputs_dict, batch_data_samples, None, None
        for branch in (self.strong_branch, self.weak_branch):
            if branch not in batch_data_samples or \
                    branch not in batch_inputs_dict:
                raise KeyError(
                    f'two-view batch has no {branch!r} branch (branches: '
                    f'{sorted(batch_data_samples)}); name the MultiBranch '
                    f'branches {self.strong_branch!r} and '
                    f'{self.weak_branch!r}')
        strong = batch_data_samples[self.strong_branch]
        weak = batch_data_samples[self.weak_branch]
        if len(strong) != len(weak):
            raise ValueError(f'{len(strong)} strong but {len(weak)} weak '
                             'samples: views must be paired')
        for s, w in zip(strong, weak):
            if s.metainfo.get('sample_idx') != w.metainfo.get('sample_idx'):
                raise ValueError(
                    'strong and weak views are not paired: sample_idx '
                    f'{s.metainfo.get("sample_idx")} vs '
                    f'{w.metainfo.get("sample_idx")}')
        return (batch_inputs_dict[self.strong_branch], strong,
                batch_inputs_dict[self.weak_branch], weak)

    def consistency_centers(
        self, data_samples: List[Det3DDataSample]
    ) -> Tuple[List[Tensor], List[Tensor]]:
        """Object centres and labels of every (weak-view) sample.

        Annotated points on point-only samples and GT gravity centres on
        labelled samples (``centers_from='auto'``), in the sample's own
        coordinates.
        """
        centers, labels = [], []
        for sample in data_samples:
            gt = sample.gt_instances_3d
            ann_type = sample.metainfo.get('ann_type', 'box')
            use_points = self.centers_from == 'points' or (
                self.centers_from == 'auto' and ann_type == 'point')
            if use_points:
                if 'points_3d' not in gt:
                    raise KeyError(
                        f'sample {sample.metainfo.get("sample_idx")} '
                        f'(ann_type={ann_type!r}) has no '
                        'gt_instances_3d.points_3d; pack gt_points_3d with '
                        'mmweak.PackPointDet3DInputs')
                ctr = torch.as_tensor(gt.points_3d)[:, :3]
            else:
                if 'bboxes_3d' not in gt:
                    raise KeyError(
                        f'sample {sample.metainfo.get("sample_idx")} has no '
                        'gt_instances_3d.bboxes_3d for the box centres')
                ctr = gt.bboxes_3d.gravity_center
            lab = torch.as_tensor(gt.labels_3d).reshape(-1)
            if len(ctr) != len(lab):
                raise ValueError(
                    f'sample {sample.metainfo.get("sample_idx")}: '
                    f'{len(ctr)} centres but {len(lab)} labels_3d')
            centers.append(ctr)
            labels.append(lab)
        return centers, labels

    # ------------------------------------------------------------------ loss
    def init_weights(self) -> None:
        """Initialise, then set the heatmap bias of every task head.

        mmdet3d 1.4's ``CenterHead`` keeps its task heads in a plain
        ``nn.ModuleList``, which mmengine's recursive ``init_weights`` does
        not enter (open-mmlab/mmdetection3d#1554), so the heatmap bias
        ``init_bias`` (-2.19: an initial heatmap of about 0.1, CenterNet's
        prior) is never set and the focal heatmap loss starts about 100
        times too high. Only that bias is set here: running the skipped
        ``SeparateHead.init_weights`` would also Kaiming-initialise (fan-out)
        the one-channel output convs, whose outputs then saturate the
        sigmoid (measured: a higher starting loss than with the bug).
        """
        super().init_weights()
        head = getattr(self, 'pts_bbox_head', None)
        for task_head in getattr(head, 'task_heads', []):
            heatmap = getattr(task_head, 'heatmap', None)
            init_bias = getattr(task_head, 'init_bias', None)
            if heatmap is not None and init_bias is not None:
                heatmap[-1].bias.data.fill_(init_bias)

    def loss(self, batch_inputs_dict: dict,
             batch_data_samples: Union[dict, List[Det3DDataSample]],
             **kwargs) -> Dict[str, Tensor]:
        """Detection losses on the strong view plus ``loss_consistency``."""
        strong_inputs, strong_samples, weak_inputs, weak_samples = \
            self._split_views(batch_inputs_dict, batch_data_samples)
        if not self.consistency:
            return super().loss(strong_inputs, strong_samples, **kwargs)
        if weak_samples is None:
            raise ValueError(
                'consistency=True needs two-view batches ({branch: ...} '
                'inputs and data_samples from mmdet.MultiBranch + '
                'mmweak.MultiBranch3DDataPreprocessor)')
        strong_metas = [s.metainfo for s in strong_samples]
        weak_metas = [s.metainfo for s in weak_samples]
        img_feats, pts_feats = self.extract_feat(strong_inputs, strong_metas)
        losses = dict()
        losses.update(
            self.pts_bbox_head.loss(pts_feats, strong_samples, **kwargs))
        if img_feats:
            losses.update(self.loss_imgs(img_feats, strong_samples))

        with torch.set_grad_enabled(torch.is_grad_enabled()
                                    and not self.loss_consistency.detach_weak):
            _, weak_feats = self.extract_feat(weak_inputs, weak_metas)
        strong_bev = align_bev_features(
            pts_feats[self.feat_index],
            strong_metas,
            self.loss_consistency.point_cloud_range,
            dst_metas=weak_metas,
            default_flow=self.default_flow)
        centers, labels = self.consistency_centers(weak_samples)
        losses['loss_consistency'] = self.loss_consistency(
            strong_bev, weak_feats[self.feat_index], centers, labels)
        return losses
