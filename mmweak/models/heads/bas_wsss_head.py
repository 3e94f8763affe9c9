# Copyright (c) mmweak contributors.
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
from mmpretrain.structures import DataSample, label_to_onehot

from mmweak.registry import MODELS
from .bas_head import BASGenerator, BASHead


def sample_positive_classes(
        targets: torch.Tensor,
        generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Draw one positive class per image, uniformly among its positives.

    BAS for WSSS (Zhai et al., IJCV 2023, Sec. 5): each iteration every image
    picks one ground-truth class ``c`` at random; ``c`` defines ``M_f``,
    ``S`` and ``S_b``. One batched ``torch.multinomial`` over the multi-hot
    rows; the draw follows torch's global generator (seeded by mmengine's
    ``randomness.seed``) unless ``generator`` is given (it must live on the
    device of ``targets``).

    Args:
        targets (Tensor): Multi-hot tags ``(B, K)``; entries above 0.5 are
            positive.
        generator (torch.Generator, optional): Random generator.

    Returns:
        Tensor: The drawn class index per image, ``(B, )`` int64.
    """
    if targets.dim() != 2:
        raise ValueError('sample_positive_classes: targets must be (B, K), '
                         f'got {tuple(targets.shape)}')
    positive = (targets > 0.5).float()
    empty = positive.sum(dim=1) == 0
    if bool(empty.any()):
        raise ValueError(
            'BAS-WSSS needs at least one positive tag per training image, '
            f'but images {empty.nonzero().flatten().tolist()} of the batch '
            'have none; drop untagged images from the training list (e.g. '
            'coco2014_to_wsss.py without --include-empty)')
    return torch.multinomial(positive, 1, generator=generator).squeeze(1)


def multi_hot_targets(data_samples: Sequence[DataSample], num_classes: int,
                      device: torch.device) -> torch.Tensor:
    """``(B, K)`` float tags from ``gt_score`` (or one-hot ``gt_label``)."""
    if not data_samples:
        raise ValueError('BASWSSSHead.loss needs data samples')
    if all('gt_score' in s for s in data_samples):
        targets = torch.stack([s.gt_score.float() for s in data_samples])
    elif all('gt_label' in s for s in data_samples):
        for s in data_samples:
            label = s.gt_label
            if label.numel() and (int(label.min()) < 0
                                  or int(label.max()) >= num_classes):
                raise ValueError(
                    f'gt_label {label.tolist()} of '
                    f'{s.get("img_path", "a sample")} is outside '
                    f'[0, {num_classes}): tags must be 0-based foreground '
                    'indices')
        targets = torch.stack([
            label_to_onehot(s.gt_label, num_classes) for s in data_samples
        ]).float()
    else:
        raise ValueError('BASWSSSHead.loss needs `gt_score` or `gt_label` '
                         '(image tags) in every data sample')
    if targets.size(1) != num_classes:
        raise ValueError(f'tags have {targets.size(1)} classes, the head '
                         f'{num_classes}')
    return targets.to(device)


@MODELS.register_module()
class BASWSSSHead(BASHead):
    """BAS head for weakly supervised semantic segmentation: the Stage A seed
    generator of Zhai, Wu, Zhu, Cao, Wu, Zha, "Background Activation
    Suppression for Weakly Supervised Object Localization and Semantic
    Segmentation", IJCV 2023 (arXiv 2309.12943), Sec. 5.

    A :class:`BASHead` with the WSSS layout and objective:

    - ``classifier_loc``: bias-free ``Conv3x3(C_mid -> K) + Sigmoid`` on
      ``X_mid`` (``layer3`` at output stride 16);
    - ``classifier_cls``: bias-free ``Conv1x1(C_last -> K)`` on ``X_last``
      (``layer4`` at stride 1), no three-conv head; ``z = GAP(F)``;
    - per image one positive class ``c`` drawn uniformly
      (:func:`sample_positive_classes`) plays the GT class of WSOL BAS;
      the erase branch (``layer4`` + ``classifier_cls`` with frozen
      weights), ``loss_bas`` and ``loss_area`` are those of :class:`BASHead`
      / :class:`BASLoss`; the foreground guidance uses the detached ``F``.

    Loss: ``loss_cls`` = ``L_mcls`` (``loss``, default
    :class:`PosNegCrossEntropyLoss`) + ``loss_frg`` (``alpha`` x CE of
    ``GAP(F.detach() * M_f)`` with target ``c``) + ``loss_bas`` + ``loss_area``
    (``beta`` x mean ``M_f``): ``L_mcls + 0.2 L_frg + L_bas + 1.2 L_ac`` with
    the defaults.

    Seeds: :meth:`class_maps` returns the generator maps ``M(x)`` of every
    class, which :class:`MultiLabelCAMClassifier.forward_cam` (and so
    ``tools/wsss/make_cams.py``) exports as CAMs.

    Initialisation from a CAM network: a checkpoint of a
    :class:`MultiLabelCAMHead` (``head.classifier.weight``, the same
    bias-free ``Conv1x1``) loads its classifier into ``classifier_cls``
    (e.g. through ``load_from``); the generator keeps its initialisation.

    Args:
        num_classes (int): Foreground classes ``K`` (20 for VOC).
        in_channels (int): Channels of ``X_last``. Defaults to 2048.
        mid_channels (int): Channels of ``X_mid``. Defaults to 1024.
        loss (dict): ``L_mcls`` config. Defaults to
            ``dict(type='PosNegCrossEntropyLoss', loss_weight=1.0)``.
        bas_loss (dict): Config of the BAS terms. Defaults to
            ``dict(type='BASLoss', alpha=0.2, beta=1.2, guard_value=1,
            rectify=True)`` (the extension's VOC values).
        erase_norm_mode (str): See :class:`BASHead`. Defaults to 'train'.
        detach_frg_feats (bool): See :class:`BASHead`. Defaults to True.
        thr (float): Score threshold of ``pred_label`` on ``sigmoid(z)``.
            ``L_mcls`` does not calibrate the logits, so use rank metrics
            (mAP) to judge the classifier. Defaults to 0.5.
        init_cfg (dict, optional): Defaults to Xavier-uniform convolutions.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int = 2048,
                 mid_channels: int = 1024,
                 loss: dict = dict(
                     type='PosNegCrossEntropyLoss', loss_weight=1.0),
                 bas_loss: dict = dict(
                     type='BASLoss',
                     alpha=0.2,
                     beta=1.2,
                     guard_value=1,
                     rectify=True),
                 erase_norm_mode: str = 'train',
                 detach_frg_feats: bool = True,
                 thr: float = 0.5,
                 init_cfg: Optional[dict] = dict(
                     type='Xavier', layer='Conv2d',
                     distribution='uniform')) -> None:
        if isinstance(loss, dict):  # mmweak's registry, not mmpretrain's
            loss = MODELS.build(loss)
        super().__init__(
            num_classes=num_classes,
            in_channels=in_channels,
            mid_channels=mid_channels,
            final_relu=False,
            loss=loss,
            bas_loss=bas_loss,
            erase_norm_mode=erase_norm_mode,
            detach_frg_feats=detach_frg_feats,
            init_cfg=init_cfg)
        if not 0.0 <= thr <= 1.0:
            raise ValueError(f'BASWSSSHead: thr must be in [0, 1], got {thr}')
        self.thr = thr
        self._register_load_state_dict_pre_hook(self._cam_head_keys)

    @staticmethod
    def _cam_head_keys(state_dict: dict, prefix: str, *args) -> None:
        """Rename a CAM head's ``classifier.weight`` to
        ``classifier_cls.weight`` when the state dict has no BAS classifier
        (a Stage-0 CAM checkpoint)."""
        old = prefix + 'classifier.weight'
        new = prefix + 'classifier_cls.weight'
        if old in state_dict and new not in state_dict:
            state_dict[new] = state_dict.pop(old)

    def _build_classifier(self) -> nn.Module:
        return nn.Conv2d(
            self.in_channels, self.num_classes, kernel_size=1, bias=False)

    def _build_generator(self) -> BASGenerator:
        return BASGenerator(self.mid_channels, self.num_classes, bias=False)

    def class_maps(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """The seed maps ``M(x)``: generator maps of all classes, ``(B, K,
        H, W)`` in (0, 1) at the resolution of ``X_mid``."""
        x_mid, _ = self._split_feats(feats)
        return self.classifier_loc(x_mid)

    def loss(self,
             feats: Sequence[torch.Tensor],
             data_samples: List[DataSample],
             tail: Optional[nn.Module] = None,
             generator: Optional[torch.Generator] = None,
             **kwargs) -> Dict[str, torch.Tensor]:
        """``loss_cls`` (``L_mcls``), ``loss_frg``, ``loss_bas`` and
        ``loss_area`` for one randomly drawn positive class per image.

        Args:
            feats (Sequence[Tensor]): ``(X_mid, X_last)``.
            data_samples (list[DataSample]): Samples with multi-label tags
                (``gt_score`` or ``gt_label``).
            tail (nn.Module): The backbone's ``layer4``, passed by
                :class:`BASWSSSClassifier`.
            generator (torch.Generator, optional): Generator of the class
                draw. Defaults to torch's global one.
        """
        x_mid, x_last = self._split_feats(feats)
        targets = multi_hot_targets(data_samples, self.num_classes,
                                    x_mid.device)
        labels = sample_positive_classes(targets, generator)  # c
        cls_score, losses = self.bas_losses(x_mid, x_last, labels, tail)
        return dict(
            loss_cls=self.loss_module(cls_score, targets, **kwargs),
            **losses)

    def predict(
        self,
        feats: Sequence[torch.Tensor],
        data_samples: Optional[List[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        """Multi-label predictions: ``pred_score = sigmoid(z)`` and
        ``pred_label`` the classes with a score of at least ``thr``."""
        scores = torch.sigmoid(self(feats)).detach()
        if data_samples is None:
            data_samples = [DataSample() for _ in range(scores.size(0))]
        for sample, score in zip(data_samples, scores):
            sample.set_pred_score(score).set_pred_label(
                torch.where(score >= self.thr)[0])
        return data_samples
