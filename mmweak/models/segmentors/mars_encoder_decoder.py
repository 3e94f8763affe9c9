# Copyright (c) mmweak contributors.
"""MARS Step 4: segmentation training with teacher complementation (Jo et
al., "MARS: Model-agnostic Biased Object Removal without Additional
Supervision for Weakly-Supervised Semantic Segmentation", ICCV 2023,
Eqs. 6-7)."""
import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.structures import PixelData
from mmseg.models.losses import accuracy
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.models.utils import resize
from mmseg.structures import SegDataSample
from torch import Tensor

from mmweak.registry import MODELS
from mmweak.structures import IGNORE_INDEX, UNCERTAIN_INDEX

BRANCHES = ('student', 'teacher')


def complement_labels(labels: Tensor,
                      teacher_labels: Tensor,
                      probs: Tensor,
                      fg_tags: Tensor,
                      uncertain_index: int = UNCERTAIN_INDEX
                      ) -> Tuple[Tensor, Tensor]:
    """Complemented label ``Y^co`` and certainty ``W`` of MARS (Jo et al.,
    ICCV 2023, Eqs. 6-7).

    ``Y^co = Y^db`` except where ``Y^db = 254`` (MARS's -1, a removed biased
    region), which takes the teacher label ``Y^te``.
    ``W = max_{c in C_I} P^(c)`` on those pixels, the teacher's highest
    probability over the image's **foreground** tags (0 for an image without
    foreground tags), and 1 elsewhere.

    Args:
        labels (Tensor): ``Y^db`` ``(B, H, W)`` with ``0..C-1``, 254, 255.
        teacher_labels (Tensor): ``Y^te`` ``(B, H, W)``.
        probs (Tensor): Teacher softmax ``P^`` ``(B, C, H, W)``.
        fg_tags (Tensor): ``(B, C)`` bool, True at the image's foreground
            tags (background False).
        uncertain_index (int): The removed-pixel value. Defaults to 254.

    Returns:
        tuple[Tensor, Tensor]: ``Y^co`` (long ``(B, H, W)``) and ``W``
        (float ``(B, H, W)``, no gradient).
    """
    uncertain = labels == uncertain_index
    complemented = torch.where(uncertain, teacher_labels.to(labels.dtype),
                               labels)
    fg_probs = probs.detach().float().masked_fill(
        ~fg_tags[:, :, None, None], 0.)
    certainty = fg_probs.amax(dim=1)
    weight = torch.where(uncertain, certainty, torch.ones_like(certainty))
    return complemented.long(), weight


@MODELS.register_module()
class MARSEncoderDecoder(BaseSegmentor):
    """Student-teacher segmenter of MARS Step 4 (Jo et al., ICCV 2023,
    Eqs. 6-7).

    ``student`` and ``teacher`` are two copies of one ordinary mmseg
    segmentor (``segmentor``, e.g. an ``mmseg.EncoderDecoder`` DeepLabV3+).
    The teacher starts as a copy of the student, never gets gradients
    (``requires_grad=False``; torch optimizers skip parameters without
    gradients, so it is never stepped even though mmengine's default
    constructor lists it), always runs in eval mode, and is updated only by
    :class:`~mmweak.engine.MeanTeacherHook` (EMA, momentum 0.001).

    **Training** (:meth:`loss`) on a batch of debiased labels ``Y^db``
    (0..C-1, 254 = removed biased region, 255 = ignore) with image tags:

    1. ``P^ = softmax(teacher(x))`` at the crop (label) resolution, no grad.
    2. ``Y^te = argmax(R(P^))`` over {background} and the image's tags
       ``C_I`` (``restrict_to_tags``); ``R`` is the identity or, with
       ``teacher_crf``, mmweak's dense CRF (``deeplab`` preset) on the
       renormalised probabilities of those classes, on the CPU, one image at
       a time, with the un-normalised image recovered from the data
       preprocessor's mean/std.
    3. ``Y^co`` = ``Y^db`` with 254 pixels replaced by ``Y^te``;
       ``W = max_{c in C_I} P^(c)`` on them, 1 elsewhere
       (:func:`complement_labels`).
    4. ``L_WCE`` (Eq. 7, ``loss_wce``, by default
       :class:`~mmweak.models.WeightedCrossEntropyLoss`, normalised by the
       non-ignored pixels) on the student decode head's logits resized
       bilinearly to the label size, as mmseg's ``loss_by_feat`` does. The
       decode head's own ``loss_decode`` (and OHEM ``sampler``) is not used
       for it; auxiliary heads keep their own losses and train on ``Y^co``
       (without ``W``) through mmseg's ``_auxiliary_head_forward_train``.

    Tags are read from ``data_sample.metainfo['gt_tags']`` (or a
    ``gt_tags`` field): foreground label ids ``1..C-1`` as written by
    :class:`~mmweak.datasets.transforms.LoadImageLevelLabels` (add
    ``'gt_tags'`` to ``PackSegInputs``' ``meta_keys``).

    The loss dict holds ``decode.loss_wce``, ``decode.acc_seg``, the
    auxiliary losses, and three logged-only values (no ``'loss'`` in their
    keys, so mmengine's ``parse_losses`` leaves them out of the total):
    ``mars.share_254`` (share of 254 among the non-ignored label pixels),
    ``mars.mean_w`` (mean ``W`` over the non-ignored pixels of ``Y^co``)
    and ``mars.mean_w_254`` (mean ``W`` over the 254 pixels; 1 when a batch
    has none).

    **Inference** (``predict``, ``_forward``, ``encode_decode``,
    ``extract_feat``) uses the teacher (``predict_on='teacher'``) or the
    student.

    **Checkpoints.** Loading a plain segmentor state dict (keys without
    ``student.`` / ``teacher.``, e.g. ``load_from`` an mmseg DeepLabV3+
    checkpoint) fills both branches; a state dict with only one branch
    fills the other from it.

    Args:
        segmentor (dict): Config of the segmentor of both branches (an
            mmseg ``EncoderDecoder``); its ``data_preprocessor``, if any,
            is used when ``data_preprocessor`` is None.
        loss_wce (dict): Config of the loss of Eq. 7. Defaults to
            ``dict(type='mmweak.WeightedCrossEntropyLoss')``.
        restrict_to_tags (bool): Restrict ``Y^te`` to background and the
            image's tags. Defaults to True.
        teacher_crf (bool | dict, optional): Refine the teacher's
            probabilities with :class:`~mmweak.wsss.crf.DenseCRF` before the
            argmax: True for the ``deeplab`` preset, or a dict of
            ``DenseCRF`` arguments (``preset`` and overrides). Needs
            ``pydensecrf``. Defaults to False.
        predict_on (str): ``'teacher'`` or ``'student'``. Defaults to
            'teacher'.
        uncertain_index (int): Label value of removed pixels. Defaults to
            254.
        ignore_index (int): Ignored label value. Defaults to 255.
        data_preprocessor (dict, optional): Config of the data preprocessor
            (``mmseg.SegDataPreProcessor``). Defaults to None.
        train_cfg (dict, optional): Set as the segmentor's ``train_cfg``
            when given. Defaults to None.
        test_cfg (dict, optional): Set as the segmentor's ``test_cfg``
            when given. Defaults to None.
        pretrained (str, optional): Set as the segmentor's ``pretrained``
            (its backbone checkpoint) when given. These three take the
            arguments of mmseg's ``EncoderDecoder``, which
            ``mmseg.apis.init_model`` passes (as None). Defaults to None.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 segmentor: dict,
                 loss_wce: dict = dict(type='mmweak.WeightedCrossEntropyLoss'),
                 restrict_to_tags: bool = True,
                 teacher_crf: Union[bool, dict, None] = False,
                 predict_on: str = 'teacher',
                 uncertain_index: int = UNCERTAIN_INDEX,
                 ignore_index: int = IGNORE_INDEX,
                 data_preprocessor: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if predict_on not in BRANCHES:
            raise ValueError(f'MARSEncoderDecoder: predict_on must be one of '
                             f'{BRANCHES}, got {predict_on!r}')
        if not isinstance(segmentor, dict) or 'type' not in segmentor:
            raise TypeError('MARSEncoderDecoder: segmentor must be a config '
                            'dict with a type, e.g. '
                            "dict(type='mmseg.EncoderDecoder', ...)")
        segmentor = ConfigDict(copy.deepcopy(segmentor))
        inner_preprocessor = segmentor.pop('data_preprocessor', None)
        for key, value in (('train_cfg', train_cfg), ('test_cfg', test_cfg),
                           ('pretrained', pretrained)):
            if value is not None:
                segmentor[key] = value
        if data_preprocessor is None:
            data_preprocessor = inner_preprocessor
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.student = MODELS.build(copy.deepcopy(segmentor))
        self.teacher = MODELS.build(copy.deepcopy(segmentor))
        head = getattr(self.student, 'decode_head', None)
        if head is None or not hasattr(self.student, 'extract_feat'):
            raise TypeError(
                'MARSEncoderDecoder: the segmentor must be an encoder-decoder '
                f'with extract_feat and decode_head, got '
                f'{type(self.student).__name__}')
        if head.out_channels < 2 or head.out_channels != head.num_classes:
            raise ValueError(
                'MARSEncoderDecoder needs a softmax decode head with '
                f'num_classes >= 2 outputs, got out_channels='
                f'{head.out_channels}, num_classes={head.num_classes}')
        self.num_classes = head.num_classes
        self.out_channels = head.out_channels
        self.align_corners = head.align_corners
        self.teacher.requires_grad_(False)
        self.teacher.train(False)
        self.copy_student_to_teacher()

        self.loss_wce = MODELS.build(loss_wce)
        self.restrict_to_tags = bool(restrict_to_tags)
        self.predict_on = predict_on
        self.uncertain_index = int(uncertain_index)
        self.ignore_index = int(ignore_index)
        if teacher_crf is True:
            teacher_crf = dict(preset='deeplab')
        self.teacher_crf_cfg = teacher_crf or None
        self.crf = None
        if self.teacher_crf_cfg is not None:
            from mmweak.wsss.crf import DenseCRF
            self.crf = DenseCRF(**self.teacher_crf_cfg)

    # ------------------------------------------------------ weights, modes
    def init_weights(self) -> None:
        """Initialise the student (its ``init_cfg``, e.g. a pretrained
        backbone) and copy it into the teacher (the teacher's own
        ``init_cfg`` is not run, so nothing is loaded twice)."""
        self.student.init_weights()
        self.copy_student_to_teacher()
        self._is_init = True

    @torch.no_grad()
    def copy_student_to_teacher(self) -> None:
        """Teacher weights and buffers := the student's."""
        self.teacher.load_state_dict(self.student.state_dict())

    def train(self, mode: bool = True) -> 'MARSEncoderDecoder':
        """Set the training mode; the teacher always stays in eval mode."""
        super().train(mode)
        self.teacher.train(False)
        return self

    def _load_from_state_dict(self, state_dict: dict, prefix: str,
                              *args, **kwargs) -> None:
        """Fill both branches from a plain segmentor state dict (or one
        branch from the other) before the usual loading."""
        fill_branches(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ----------------------------------------------------------- inference
    @property
    def predictor(self) -> nn.Module:
        """The branch used for inference (``predict_on``)."""
        return self.teacher if self.predict_on == 'teacher' else self.student

    @property
    def decode_head(self) -> nn.Module:
        """The decode head of the inference branch."""
        return self.predictor.decode_head

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        """Features of the inference branch."""
        return self.predictor.extract_feat(inputs)

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Tensor:
        """Logits of the inference branch at the input size."""
        return self.predictor.encode_decode(inputs, batch_img_metas)

    def inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """mmseg inference (whole / slide) of the inference branch."""
        return self.predictor.inference(inputs, batch_img_metas)

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[List[SegDataSample]] = None
                ) -> List[SegDataSample]:
        """Predictions of the inference branch (teacher by default)."""
        return self.predictor.predict(inputs, data_samples)

    def _forward(self,
                 inputs: Tensor,
                 data_samples: Optional[List[SegDataSample]] = None
                 ) -> Tensor:
        """Raw decode-head output of the inference branch."""
        return self.predictor._forward(inputs, data_samples)

    # ------------------------------------------------------------ training
    def _tag_masks(self, data_samples: Sequence[SegDataSample],
                   device: torch.device) -> Tensor:
        """``(B, C)`` bool, True at each image's foreground tags."""
        fg = torch.zeros(
            len(data_samples), self.num_classes, dtype=torch.bool)
        for i, sample in enumerate(data_samples):
            tags = sample.get('gt_tags', None)
            if tags is None:
                raise KeyError(
                    'MARSEncoderDecoder: data sample of '
                    f'{sample.metainfo.get("img_path", f"image {i}")} has '
                    'no gt_tags; add LoadImageLevelLabels to the train '
                    "pipeline and 'gt_tags' to the meta_keys of "
                    'mmseg.PackSegInputs')
            if isinstance(tags, Tensor):
                tags = tags.detach().cpu().numpy()
            ids = np.asarray(tags).reshape(-1)
            if ids.size and not np.issubdtype(ids.dtype, np.integer):
                raise ValueError(f'MARSEncoderDecoder: gt_tags must be '
                                 f'integer label ids, got {tags!r}')
            if ids.size and (ids.min() < 1 or ids.max() >= self.num_classes):
                raise ValueError(
                    f'MARSEncoderDecoder: gt_tags {ids.tolist()} of '
                    f'{sample.metainfo.get("img_path", f"image {i}")} lie '
                    f'outside the foreground label ids 1..'
                    f'{self.num_classes - 1}')
            fg[i, torch.as_tensor(ids, dtype=torch.long)] = True
        return fg.to(device)

    @torch.no_grad()
    def teacher_probs(self, inputs: Tensor, size: Tuple[int, int]) -> Tensor:
        """Teacher softmax ``P^`` ``(B, C, H, W)`` at ``size`` (the label
        size), without gradient."""
        feats = self.teacher.extract_feat(inputs)
        logits = self.teacher.decode_head.forward(feats)
        logits = resize(
            logits,
            size=size,
            mode='bilinear',
            align_corners=self.teacher.align_corners)
        return logits.float().softmax(dim=1)

    def unnormalized_images(self, inputs: Tensor,
                            size: Tuple[int, int]) -> np.ndarray:
        """``(B, H, W, 3)`` uint8 images for the CRF: ``inputs * std +
        mean`` of the data preprocessor, resized to ``size`` if needed.
        The channel order is the preprocessor's (RGB with
        ``bgr_to_rgb=True``); the CRF's bilateral kernel is invariant to
        it."""
        imgs = inputs.detach().float()
        pre = self.data_preprocessor
        if getattr(pre, '_enable_normalize', False):
            imgs = imgs * pre.std.to(imgs) + pre.mean.to(imgs)
        if imgs.shape[1] != 3:
            raise ValueError('MARSEncoderDecoder: teacher_crf needs 3-channel '
                             f'images, got {imgs.shape[1]} channels')
        if tuple(imgs.shape[-2:]) != tuple(size):
            imgs = F.interpolate(
                imgs, size=size, mode='bilinear', align_corners=False)
        imgs = imgs.clamp(0, 255).round().to(torch.uint8)
        return imgs.permute(0, 2, 3, 1).cpu().numpy()

    @torch.no_grad()
    def teacher_labels(self, inputs: Tensor, probs: Tensor,
                       allowed: Tensor) -> Tensor:
        """``Y^te = argmax R(P^)`` over the ``allowed`` ``(B, C)`` classes,
        ``(B, H, W)`` long."""
        if self.crf is None:
            return probs.masked_fill(~allowed[:, :, None, None],
                                     -1.).argmax(dim=1)
        imgs = self.unnormalized_images(inputs, probs.shape[-2:])
        labels = []
        for i in range(probs.shape[0]):
            classes = allowed[i].nonzero().squeeze(1)
            sub = probs[i, classes]
            sub = sub / sub.sum(dim=0, keepdim=True).clamp(min=1e-12)
            refined = self.crf(imgs[i], sub.cpu().numpy())
            index = torch.from_numpy(refined.argmax(axis=0)).to(
                classes.device)
            labels.append(classes[index])
        return torch.stack(labels)

    def loss(self, inputs: Tensor,
             data_samples: List[SegDataSample]) -> Dict[str, Tensor]:
        """MARS Step 4 (Eqs. 6-7): complement the 254 pixels with the
        teacher and train the student with the weighted CE."""
        labels = torch.stack([s.gt_sem_seg.data for s in data_samples])
        labels = labels.squeeze(1).long()  # (B, H, W)
        fg_tags = self._tag_masks(data_samples, labels.device)
        allowed = fg_tags.clone()
        allowed[:, 0] = True
        if not self.restrict_to_tags:
            allowed[:] = True

        probs = self.teacher_probs(inputs, labels.shape[-2:])
        teacher_labels = self.teacher_labels(inputs, probs, allowed)
        complemented, weight = complement_labels(labels, teacher_labels,
                                                 probs, fg_tags,
                                                 self.uncertain_index)

        feats = self.student.extract_feat(inputs)
        logits = self.student.decode_head.forward(feats)
        logits = resize(
            logits,
            size=labels.shape[-2:],
            mode='bilinear',
            align_corners=self.student.align_corners)
        losses = {
            f'decode.{self.loss_wce.loss_name}':
            self.loss_wce(
                logits,
                complemented,
                weight=weight,
                ignore_index=self.ignore_index),
            'decode.acc_seg':
            accuracy(logits, complemented, ignore_index=self.ignore_index),
        }
        if self.student.with_auxiliary_head:
            samples = []
            for i, sample in enumerate(data_samples):
                new = SegDataSample(metainfo=sample.metainfo)
                new.gt_sem_seg = PixelData(data=complemented[i:i + 1])
                samples.append(new)
            losses.update(
                self.student._auxiliary_head_forward_train(feats, samples))
        losses.update(self._statistics(labels, complemented, weight))
        return losses

    def _statistics(self, labels: Tensor, complemented: Tensor,
                    weight: Tensor) -> Dict[str, Tensor]:
        """Logged-only values (no ``'loss'`` in their keys)."""
        with torch.no_grad():
            uncertain = labels == self.uncertain_index
            labelled = labels != self.ignore_index
            valid = complemented != self.ignore_index
            share = uncertain.sum() / labelled.sum().clamp(min=1)
            mean_w = (weight * valid).sum() / valid.sum().clamp(min=1)
            mean_w_254 = weight[uncertain].mean() if uncertain.any() \
                else weight.new_ones(())
        return {
            'mars.share_254': share.float(),
            'mars.mean_w': mean_w.float(),
            'mars.mean_w_254': mean_w_254.float(),
        }


def fill_branches(state_dict: dict, prefix: str = '') -> None:
    """Make a state dict fit :class:`MARSEncoderDecoder`, in place.

    Keys under ``prefix`` without ``student.`` / ``teacher.`` (a plain
    segmentor checkpoint) are moved to both branches; when only one branch
    is present its entries are copied to the other. Keys of the data
    preprocessor and of ``loss_wce`` are left alone.
    """
    own = {
        key: key[len(prefix):]
        for key in list(state_dict) if key.startswith(prefix)
    }
    present = {
        branch
        for branch in BRANCHES
        if any(rel.startswith(branch + '.') for rel in own.values())
    }
    if not present:
        for key, rel in own.items():
            if rel.startswith(('data_preprocessor.', 'loss_wce.')):
                continue
            value = state_dict.pop(key)
            state_dict[f'{prefix}student.{rel}'] = value
            state_dict[f'{prefix}teacher.{rel}'] = value.clone() \
                if isinstance(value, Tensor) else copy.deepcopy(value)
    elif len(present) == 1:
        (source, ) = present
        (target, ) = set(BRANCHES) - present
        for key, rel in own.items():
            if rel.startswith(source + '.'):
                value = state_dict[key]
                rest = rel[len(source) + 1:]
                state_dict[f'{prefix}{target}.{rest}'] = value.clone() \
                    if isinstance(value, Tensor) else copy.deepcopy(value)
