# Copyright (c) mmweak contributors.
from typing import List, Optional

import torch
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.structures import DataSample

from mmweak.registry import MODELS
from mmweak.structures import wsol_map_boxes


@MODELS.register_module()
class WSOLClassifier(ImageClassifier):
    """Image classifier that also localizes: the model of every WSOL method.

    It wires backbone -> neck -> head exactly like mmpretrain's
    :class:`ImageClassifier` and dispatches on ``mode``; the head (a
    :class:`BaseWSOLHead`) predicts class scores and a localization map.
    ``predict`` additionally turns each ``loc_map`` into ``pred_bboxes`` in
    the pixels of the network input: the map is upsampled bilinearly to the
    input size, min-max normalised, thresholded at ``loc_thr`` and the box of
    the largest 8-connected component is taken (the ``paper`` protocol,
    through the shared :func:`~mmweak.structures.wsol_map_boxes`). The
    metric and the overlays use ``WSOLMetric``'s own box rule and threshold,
    not these boxes.

    Args:
        backbone (dict): Backbone config, e.g. ``dict(type='mmpretrain.ResNet',
            depth=50)``.
        head (dict): Config of a WSOL head, e.g. ``dict(type='CAMHead')``.
        neck (dict, optional): Neck config. Defaults to None.
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
                 neck: Optional[dict] = None,
                 loc_thr: float = 0.2,
                 box_method: str = 'largest_cc',
                 pretrained: Optional[str] = None,
                 train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if not 0.0 <= loc_thr <= 1.0:
            raise ValueError(f'loc_thr must be in [0, 1], got {loc_thr}')
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
        self.loc_thr = loc_thr
        self.box_method = box_method

    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                **kwargs) -> List[DataSample]:
        """Predict scores, labels, localization maps and boxes."""
        samples = super().predict(inputs, data_samples, **kwargs)
        return self.add_pred_bboxes(samples, inputs.shape[-2:])

    def add_pred_bboxes(self, samples: List[DataSample],
                        input_size: torch.Size) -> List[DataSample]:
        """Attach ``pred_bboxes`` (1, 4) computed from each ``loc_map``."""
        if not samples or 'loc_map' not in samples[0]:
            return samples
        maps = torch.stack([s.loc_map for s in samples]).float()
        # the shared box rule of WSOLMetric's ``paper`` preset (bilinear
        # resizing, values clipped to [0, 1]) at the model's own threshold
        _, boxes = wsol_map_boxes(
            maps,
            self.loc_thr,
            img_shape=tuple(input_size),
            interpolation='bilinear',
            normalization='clip',
            method=self.box_method)
        boxes = torch.from_numpy(boxes).to(maps.device)
        for sample, box in zip(samples, boxes):
            sample.set_field(box[None].float(), 'pred_bboxes',
                             dtype=torch.Tensor)
        return samples
