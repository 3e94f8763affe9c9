# Copyright (c) mmweak contributors.
"""Point-DETR3D teacher detector (imports mmdet3d)."""
from typing import Dict, List, Optional, Sequence, Tuple

from mmdet3d.models.detectors import MVXTwoStageDetector
from torch import Tensor

# imported for registration of the default head
import mmweak.models.heads_3d.point_detr3d_head  # noqa: F401
from mmweak.registry import MODELS


@MODELS.register_module()
class PointDETR3D(MVXTwoStageDetector):
    """Point-to-box teacher of Point-DETR3D (LiDAR + optional cameras).

    Gao et al., "Leveraging Imagery Data with Spatial Point Prior for Weakly
    Semi-supervised 3D Object Detection", AAAI 2024 (arXiv 2403.15317),
    Sec. 4 of the mmweak spec: an mmdet3d ``MVXTwoStageDetector`` whose
    LiDAR branch (``pts_voxel_encoder`` -> ``pts_middle_encoder`` ->
    ``pts_backbone`` -> ``pts_neck``, e.g. PillarFeatureNet +
    PointPillarsScatter + SECOND + SECONDFPN with a voxelising
    ``Det3DDataPreprocessor``) feeds a :class:`PointDETR3DHead`
    (``pts_bbox_head``), which turns each annotated point
    (``gt_instances_3d.points_3d`` + ``labels_3d``) into one box.

    Optional camera branch: with ``img_backbone`` (+ ``img_neck``) the
    multi-view images ``inputs['imgs']`` ``(B, V, 3, H, W)`` give per-level
    features ``(B, V, C, h, w)`` for the D-RoI camera sampling (the head's
    ``cross_attn`` must have ``with_camera=True``); without it the teacher
    is LiDAR-only.

    Args: as :class:`mmdet3d.models.MVXTwoStageDetector` (``img_rpn_head``,
    ``img_roi_head`` and ``pts_fusion_layer`` are not supported).
    """

    def __init__(self, **kwargs) -> None:
        for key in ('img_rpn_head', 'img_roi_head', 'pts_fusion_layer'):
            if kwargs.get(key):
                raise ValueError(f'PointDETR3D does not support {key}')
        if not kwargs.get('pts_bbox_head'):
            raise ValueError('PointDETR3D needs pts_bbox_head '
                             '(type="mmweak.PointDETR3DHead")')
        super().__init__(**kwargs)

    def extract_img_feat(self, img: Optional[Tensor],
                         input_metas: List[dict]) -> Optional[List[Tensor]]:
        """Multi-view image features, one ``(B, V, C, h, w)`` per level."""
        if not self.with_img_backbone or img is None:
            return None
        if img.dim() != 5:
            raise ValueError('inputs["imgs"] must be (B, V, 3, H, W) '
                             f'multi-view images, got {tuple(img.shape)}')
        bs, views = img.shape[:2]
        feats = self.img_backbone(img.flatten(0, 1))
        if self.with_img_neck:
            feats = self.img_neck(feats)
        return [f.view(bs, views, *f.shape[1:]) for f in feats]

    def _feats(self, batch_inputs_dict: dict,
               batch_data_samples: Sequence) -> Tuple:
        if batch_inputs_dict.get('voxels') is None:
            raise KeyError('batch_inputs_dict has no "voxels": configure '
                           'Det3DDataPreprocessor with voxel=True')
        if self.with_img_backbone and batch_inputs_dict.get('imgs') is None:
            raise KeyError('PointDETR3D has an img_backbone but '
                           'batch_inputs_dict has no "imgs"')
        metas = [item.metainfo for item in batch_data_samples]
        img_feats, pts_feats = self.extract_feat(batch_inputs_dict, metas)
        return img_feats, pts_feats

    def loss(self, batch_inputs_dict: Dict[str, Optional[Tensor]],
             batch_data_samples: List, **kwargs) -> Dict[str, Tensor]:
        """Focal + L1 losses; samples need ``points_3d``, ``labels_3d`` and
        ``bboxes_3d`` in ``gt_instances_3d``."""
        img_feats, pts_feats = self._feats(batch_inputs_dict,
                                           batch_data_samples)
        return self.pts_bbox_head.loss(pts_feats, batch_data_samples,
                                       img_feats)

    def predict(self, batch_inputs_dict: Dict[str, Optional[Tensor]],
                batch_data_samples: List, **kwargs) -> List:
        """Fill ``pred_instances_3d``: one box per annotated point, in the
        points' order, labelled with the point's class."""
        img_feats, pts_feats = self._feats(batch_inputs_dict,
                                           batch_data_samples)
        results = self.pts_bbox_head.predict(pts_feats, batch_data_samples,
                                             img_feats)
        return self.add_pred_to_datasample(batch_data_samples, results)

    def _forward(self, batch_inputs_dict: Dict[str, Optional[Tensor]],
                 batch_data_samples: List, **kwargs) -> Dict[str, Tensor]:
        """Raw head outputs (``cls_scores``, ``codes``, ``boxes``, ...)."""
        img_feats, pts_feats = self._feats(batch_inputs_dict,
                                           batch_data_samples)
        head = self.pts_bbox_head
        points, labels = head.points_and_labels(batch_data_samples)
        return head(pts_feats, points, labels,
                    head.camera_inputs(img_feats, batch_data_samples))
