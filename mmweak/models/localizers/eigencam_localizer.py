# Copyright (c) mmweak contributors.
from typing import List, Optional, Sequence, Union

import torch
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample
from torch import nn

from mmweak.cam import EigenCAM, img_shapes
from mmweak.registry import MODELS
from mmweak.structures import boxes_from_maps

_OWN_PREFIXES = ('classifier.', 'data_preprocessor.')


@MODELS.register_module()
class EigenCAMLocalizer(BaseModel):
    """Training-free WSOL baseline: a classifier's scores with Eigen-CAM maps.

    Eigen-CAM (Muhammad & Yeasin, IJCNN 2020, arXiv 2008.00299) projects the
    activations of a layer onto their first principal direction (Eq.
    ``L = O v1``). This model wraps any classifier (mmweak's
    ``WSOLClassifier`` or mmpretrain's ``ImageClassifier``) and, in one
    forward pass without backward, fills each data sample with the
    classifier's ``pred_score`` and ``pred_label``, the class-agnostic
    Eigen-CAM ``loc_map`` at the input resolution and ``pred_bboxes``
    (largest component above ``loc_thr``), as ``WSOLMetric`` expects. A
    ``gt_loc_map`` of the wrapped head is dropped: the map does not depend
    on the class, so GT-known localization equals top-1 localization with
    a correct class.

    Checkpoints of the wrapped classifier load directly: keys without the
    ``classifier.`` prefix (``backbone.*``, ``neck.*``, ``head.*``) are
    mapped into it.

    Args:
        classifier (dict | nn.Module): The classifier (config).
        target_layers (str | Sequence[str]): Module paths inside the
            classifier, e.g. ``['backbone.layer4']`` for a ResNet's last
            stage or ``['backbone.ln1']`` for a ViT's final norm. Defaults
            to ``('backbone', )``: the backbone outputs.
        center (bool): Centre channels before the decomposition
            (pytorch-grad-cam). Defaults to False (paper).
        sign (str): Sign rule: ``'channel_mean'`` (default), ``'max_abs'``
            or ``'none'`` (see :func:`mmweak.cam.eigen_cam`).
        solver (str): ``'gram'`` (default), ``'svd'`` or ``'lowrank'``.
        reshape (dict, optional): Token layout for ViT targets, see
            :class:`mmweak.cam.EigenCAM`.
        loc_thr (float): Threshold of the normalised map for
            ``pred_bboxes``. Defaults to 0.2.
        box_method (str): ``'largest_cc'`` (default) or
            ``'largest_contour'``.
        data_preprocessor (dict, optional): Defaults to the classifier's.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self,
                 classifier: Union[dict, nn.Module],
                 target_layers: Union[str, Sequence[str]] = ('backbone', ),
                 center: bool = False,
                 sign: str = 'channel_mean',
                 solver: str = 'gram',
                 reshape: Optional[dict] = None,
                 loc_thr: float = 0.2,
                 box_method: str = 'largest_cc',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if not 0.0 <= loc_thr <= 1.0:
            raise ValueError(f'loc_thr must be in [0, 1], got {loc_thr}')
        if isinstance(classifier, dict):
            classifier = MODELS.build(classifier)
        if not isinstance(classifier, nn.Module):
            raise TypeError('`classifier` must be a config dict or a module, '
                            f'got {type(classifier).__name__}.')
        if data_preprocessor is None:
            data_preprocessor = getattr(classifier, 'data_preprocessor', None)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.classifier = classifier
        self.loc_thr = loc_thr
        self.box_method = box_method
        self.cam = EigenCAM(
            classifier,
            target_layers,
            center=center,
            sign=sign,
            solver=solver,
            reshape=reshape)
        self._register_load_state_dict_pre_hook(self._classifier_keys)

    def _classifier_keys(self, state_dict: dict, prefix: str, *args) -> None:
        """Map a classifier checkpoint (``backbone.*``, ``head.*``) into
        ``classifier.*`` before loading."""
        for key in list(state_dict):
            if not key.startswith(prefix):
                continue
            rest = key[len(prefix):]
            if rest.startswith(_OWN_PREFIXES):
                continue
            new_key = f'{prefix}classifier.{rest}'
            if new_key not in state_dict:
                state_dict[new_key] = state_dict.pop(key)

    def extract_maps(self,
                     inputs: torch.Tensor,
                     data_samples: Optional[List[DataSample]] = None
                     ) -> torch.Tensor:
        """Eigen-CAM maps (B, H, W) in [0, 1] at the input resolution."""
        return self.cam(inputs, data_samples)

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        if mode == 'tensor':
            return self.extract_maps(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'loss':
            raise RuntimeError(
                'EigenCAMLocalizer is training-free: train the wrapped '
                'classifier with its own config and load its checkpoint.')
        raise RuntimeError(f'Invalid mode "{mode}".')

    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None
                ) -> List[DataSample]:
        """Classify and localize in one forward pass (no backward)."""
        with torch.no_grad():
            samples, activations = self.cam.record(self._classify, inputs,
                                                   data_samples)
        shapes = img_shapes(samples)
        maps = self.cam.maps_from_activations(activations, inputs.shape[-2:],
                                              shapes)
        boxes = self._boxes(maps, shapes)
        for sample, cam, box in zip(samples, maps, boxes):
            if 'gt_loc_map' in sample:
                del sample.gt_loc_map
            sample.set_field(cam, 'loc_map', dtype=torch.Tensor)
            sample.set_field(
                box[None].to(cam.device), 'pred_bboxes', dtype=torch.Tensor)
        return samples

    def _classify(self, inputs: torch.Tensor,
                  data_samples: Optional[List[DataSample]]) -> list:
        """Scores and labels of the wrapped classifier (its own boxes, if
        any, are skipped: they would be replaced anyway)."""
        classifier = self.classifier
        if hasattr(classifier, 'extract_feat') and hasattr(
                classifier, 'head'):
            feats = classifier.extract_feat(inputs)
            return classifier.head.predict(feats, data_samples)
        return classifier.predict(inputs, data_samples)

    def _boxes(self, maps: torch.Tensor,
               shapes: Optional[List[tuple]]) -> torch.Tensor:
        """Boxes (B, 4) of the maps inside each image's ``img_shape``."""
        height, width = maps.shape[-2:]
        if shapes is None or all(s == (height, width) for s in shapes):
            return boxes_from_maps(maps, self.loc_thr, method=self.box_method)
        return torch.cat([
            boxes_from_maps(
                cam[:h, :w], self.loc_thr, method=self.box_method)
            for cam, (h, w) in zip(maps, shapes)
        ])
