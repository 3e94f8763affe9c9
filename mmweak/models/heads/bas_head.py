# Copyright (c) mmweak contributors.
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.structures import DataSample
from torch.func import functional_call

from mmweak.registry import MODELS
from mmweak.structures import normalize_maps
from .base_wsol_head import BaseWSOLHead

MAP_SOURCES = ('pred', 'gt')
ERASE_NORM_MODES = ('train', 'eval')


class BASGenerator(nn.Sequential):
    """Foreground map generator of BAS: ``Conv3x3(C_mid -> K) + Sigmoid``.

    Wu et al., CVPR 2022 (arXiv 2112.00580), Sec. 3.2: one foreground map
    per class, ``M = sigmoid(conv(X_mid))`` in ``(0, 1)^{K x H x W}``.
    Indices 0 (conv) and 1 (sigmoid) keep the reference's parameter names
    (``classifier_loc.0.weight``).

    Args:
        in_channels (int): Channels of ``X_mid``.
        num_classes (int): Number of classes ``K``.
        bias (bool): Give the convolution a bias (WSOL BAS); the WSSS
            variant's generator has none. Defaults to True.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 bias: bool = True) -> None:
        super().__init__(
            nn.Conv2d(
                in_channels, num_classes, kernel_size=3, padding=1,
                bias=bias), nn.Sigmoid())

    def class_maps(self, x: torch.Tensor,
                   labels: torch.Tensor) -> torch.Tensor:
        """Maps of one class per sample, ``(B, H, W)``.

        Equal to ``self(x)[arange(B), labels]`` but computes only the
        selected channel: each of the 9 kernel taps is a batched matrix
        product ``W_y[tap] @ X`` and the shifted tap outputs are summed,
        which is ``K`` times cheaper than the full convolution.

        Args:
            x (Tensor): ``X_mid`` of shape ``(B, C, H, W)``.
            labels (Tensor): Class index per sample, shape ``(B, )``.
        """
        conv = self[0]
        batch, channels, height, width = x.shape
        k = conv.kernel_size[0]
        pad = conv.padding[0]
        weight = conv.weight[labels].flatten(2).transpose(1, 2)  # B, k*k, C
        taps = torch.bmm(weight, x.flatten(2)).view(batch, k * k, height,
                                                    width)
        taps = F.pad(taps, (pad, pad, pad, pad))
        if conv.bias is not None:
            out = conv.bias[labels][:, None, None].expand(
                batch, height, width)
        else:
            out = taps.new_zeros(batch, height, width)
        for i in range(k):
            for j in range(k):
                out = out + taps[:, i * k + j, i:i + height, j:j + width]
        return torch.sigmoid(out)


@MODELS.register_module()
class BASHead(BaseWSOLHead):
    """Background Activation Suppression head.

    Wu, Zhai, Cao, "Background Activation Suppression for Weakly Supervised
    Object Localization", CVPR 2022 (arXiv 2112.00580), and its IJCV 2023
    extension (arXiv 2309.12943). The head holds

    - the generator ``classifier_loc`` (:class:`BASGenerator`) on ``X_mid``:
      one sigmoid foreground map per class;
    - the classifier ``classifier_cls`` on ``X_last``:
      ``Conv3x3(C_last -> hidden) + ReLU -> Conv3x3(hidden -> hidden) + ReLU
      -> Conv1x1(hidden -> K)`` (+ ReLU in the CVPR version), giving the
      class activation maps ``F``; logits ``z = GAP(F)``;
    - the erase branch (activation map constraint): the background-masked
      features ``X_b = X_mid.detach() * (1 - M_f)`` run through the
      backbone's tail and ``classifier_cls`` **with the current weights held
      fixed**: ``torch.func.functional_call`` with detached parameters and
      cloned buffers, so ``L_bas`` reaches the generator only (never the tail
      or the classifier), batch norms in train mode use the erased batch's
      statistics, and the real running statistics never see erased inputs.
      No module is copied.

    Training needs the backbone's tail, which :class:`BASClassifier` passes
    to :meth:`loss`. Losses: ``loss_cls`` (the ``loss`` config) plus the
    terms of ``bas_loss`` (:class:`BASLoss`).

    Inference: the class-agnostic ``loc_map`` is the mean of the generator
    maps of the ``loc_topk`` classes with the highest logits (Sec. 3.4). With
    ``map_source='gt'`` the map of the ground-truth class is also stored as
    ``gt_loc_map`` (used for GT-known / Top-5 Loc, e.g. on ILSVRC with
    ``loc_topk=1``).

    Args:
        num_classes (int): Number of classes ``K``.
        in_channels (int): Channels of ``X_last`` (tail output).
        mid_channels (int): Channels of ``X_mid`` (generator input).
        hidden_channels (int): Width of the two 3x3 classifier convolutions.
            Defaults to 1024.
        final_relu (bool): Rectify ``F`` with a final ReLU (CVPR version);
            the extension rectifies ``S`` and ``S_b`` in the loss instead
            (``BASLoss(rectify=True)``). Defaults to False.
        loss (dict): Classification loss config.
            Defaults to ``dict(type='mmpretrain.CrossEntropyLoss')``.
        bas_loss (dict): Config of the BAS terms. Defaults to
            ``dict(type='BASLoss')``.
        loc_topk (int): Number of top-scoring classes whose maps are averaged
            into ``loc_map``; values above ``num_classes`` mean all classes.
            Defaults to 1.
        map_source (str): ``'pred'`` stores only the top-k ``loc_map``;
            ``'gt'`` also stores the ground-truth class map as
            ``gt_loc_map`` when labels are known. Defaults to ``'pred'``.
        erase_norm_mode (str): Mode of the norm layers in the erase branch
            during training. ``'train'`` (the reference's behaviour: its deep
            copies are in train mode) normalises the erased batch with its
            own statistics; ``'eval'`` uses the running statistics, so the
            erased features are judged by the network as it is, and erasing
            everything does not renormalise the remainder. Neither touches
            the real running statistics. Defaults to ``'train'``.
        detach_frg_feats (bool): Detach the class maps ``F`` in the
            foreground guidance ``GAP(F * pool(M_f))``, so ``loss_frg``
            trains the generator only (the WSSS variant, IJCV 2023 Sec. 5);
            WSOL BAS lets it reach ``F`` too. Defaults to False.
        topk (tuple[int]): Training accuracy top-k. Defaults to ``(1, )``.
        cal_acc (bool): Log training accuracy. Defaults to False.
        init_cfg (dict, optional): Initialization config. Defaults to
            Xavier-uniform convolutions with zero bias.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 mid_channels: int,
                 hidden_channels: int = 1024,
                 final_relu: bool = False,
                 loss: dict = dict(
                     type='mmpretrain.CrossEntropyLoss', loss_weight=1.0),
                 bas_loss: dict = dict(type='BASLoss'),
                 loc_topk: int = 1,
                 map_source: str = 'pred',
                 erase_norm_mode: str = 'train',
                 detach_frg_feats: bool = False,
                 topk: Tuple[int, ...] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[dict] = dict(
                     type='Xavier',
                     layer='Conv2d',
                     distribution='uniform',
                     bias=0.)) -> None:
        super().__init__(
            loss=loss, topk=topk, cal_acc=cal_acc, init_cfg=init_cfg)
        for name, value in (('num_classes', num_classes),
                            ('in_channels', in_channels),
                            ('mid_channels', mid_channels),
                            ('hidden_channels', hidden_channels),
                            ('loc_topk', loc_topk)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f'BASHead: `{name}` must be a positive int, '
                                 f'got {value!r}')
        if map_source not in MAP_SOURCES:
            raise ValueError(f'BASHead: `map_source` must be one of '
                             f'{MAP_SOURCES}, got {map_source!r}')
        if erase_norm_mode not in ERASE_NORM_MODES:
            raise ValueError(f'BASHead: `erase_norm_mode` must be one of '
                             f'{ERASE_NORM_MODES}, got {erase_norm_mode!r}')
        self.erase_norm_mode = erase_norm_mode
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.mid_channels = mid_channels
        self.loc_topk = loc_topk
        self.map_source = map_source
        self.final_relu = final_relu
        self.hidden_channels = hidden_channels
        self.detach_frg_feats = detach_frg_feats

        self.classifier_cls = self._build_classifier()
        self.classifier_loc = self._build_generator()
        self.bas_loss = MODELS.build(bas_loss)
        if not final_relu and not getattr(self.bas_loss, 'rectify', True):
            raise ValueError(
                'BASHead: with final_relu=False the loss must rectify the '
                'scores (bas_loss.rectify=True); otherwise the background '
                'ratio S_b / S is undefined for negative S')

    # ------------------------------------------------------------------ #
    def _build_classifier(self) -> nn.Module:
        """``classifier_cls``: ``X_last -> F`` (the three-conv WSOL head).
        Subclasses with another head override this."""
        layers = [
            nn.Conv2d(self.in_channels, self.hidden_channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(self.hidden_channels, self.hidden_channels, 3,
                      padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(self.hidden_channels, self.num_classes, 1),
        ]
        if self.final_relu:
            layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    def _build_generator(self) -> BASGenerator:
        """``classifier_loc``: the generator on ``X_mid``."""
        return BASGenerator(self.mid_channels, self.num_classes)

    def _split_feats(
            self, feats: Sequence[torch.Tensor]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(feats, (tuple, list)) or len(feats) < 2:
            raise ValueError(
                'BASHead expects the backbone output (X_mid, X_last) from a '
                'BAS backbone (BASResNet, BASVGG, BASInceptionV3, '
                f'BASMobileNetV1); got {type(feats).__name__} of length '
                f'{len(feats) if isinstance(feats, (tuple, list)) else 1}')
        x_mid, x_last = feats[-2], feats[-1]
        if x_mid.size(1) != self.mid_channels:
            raise ValueError(f'BASHead: X_mid has {x_mid.size(1)} channels, '
                             f'but mid_channels={self.mid_channels}')
        if x_last.size(1) != self.in_channels:
            raise ValueError(f'BASHead: X_last has {x_last.size(1)} channels,'
                             f' but in_channels={self.in_channels}')
        return x_mid, x_last

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """Class scores ``(B, K)``: ``GAP(classifier_cls(X_last))``."""
        _, x_last = self._split_feats(feats)
        return self.classifier_cls(x_last).mean(dim=(2, 3))

    def erase_branch(self, x_erased: torch.Tensor,
                     tail: nn.Module) -> torch.Tensor:
        """Class scores of background-masked features with frozen weights.

        Runs ``tail`` then ``classifier_cls`` through
        ``torch.func.functional_call`` with detached parameters and cloned
        buffers: gradients flow to ``x_erased`` only, batch norms in train
        mode normalise with the erased batch's statistics and update only
        the clones. With ``erase_norm_mode='eval'`` the path's modules run
        in eval mode (running statistics) and get their modes back after.

        Args:
            x_erased (Tensor): ``X_b`` of shape ``(B, C_mid, H, W)``.
            tail (nn.Module): The backbone's ``X_mid -> X_last`` module.

        Returns:
            Tensor: ``GAP(F_b)`` of shape ``(B, K)``.
        """
        path = nn.Sequential(tail, self.classifier_cls)  # a view, no copy
        frozen = {n: p.detach() for n, p in path.named_parameters()}
        frozen.update({n: b.clone() for n, b in path.named_buffers()})
        if self.erase_norm_mode == 'train' or not self.training:
            return functional_call(path, frozen, (x_erased, )).mean((2, 3))
        modes = [(m, m.training) for m in path.modules()]
        for m, _ in modes:
            m.training = False
        try:
            cams = functional_call(path, frozen, (x_erased, ))
        finally:
            for m, mode in modes:
                m.training = mode
        return cams.mean(dim=(2, 3))

    @staticmethod
    def _labels(data_samples: List[DataSample],
                device: torch.device) -> torch.Tensor:
        if not data_samples or any('gt_label' not in s
                                   for s in data_samples):
            raise ValueError('BASHead.loss needs `gt_label` in every data '
                             'sample')
        labels = torch.cat([s.gt_label for s in data_samples]).to(device)
        if labels.numel() != len(data_samples):
            raise ValueError('BASHead needs exactly one gt_label per image '
                             '(single-label WSOL), got '
                             f'{labels.numel()} labels for '
                             f'{len(data_samples)} images')
        return labels.long()

    def loss(self,
             feats: Sequence[torch.Tensor],
             data_samples: List[DataSample],
             tail: Optional[nn.Module] = None,
             **kwargs) -> Dict[str, torch.Tensor]:
        """Compute ``loss_cls``, ``loss_frg``, ``loss_bas`` and
        ``loss_area``.

        Args:
            feats (Sequence[Tensor]): ``(X_mid, X_last)``.
            data_samples (list[DataSample]): Samples with ``gt_label``.
            tail (nn.Module): The backbone's tail (``X_mid -> X_last``),
                passed by :class:`BASClassifier`.
        """
        x_mid, x_last = self._split_feats(feats)
        labels = self._labels(data_samples, x_mid.device)
        cls_score, bas_losses = self.bas_losses(x_mid, x_last, labels, tail)
        losses = self._get_loss(cls_score, data_samples, **kwargs)
        losses.update(bas_losses)
        return losses

    def bas_losses(
        self, x_mid: torch.Tensor, x_last: torch.Tensor,
        labels: torch.Tensor, tail: Optional[nn.Module]
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Class scores and the BAS terms for one class per image.

        The shared core of WSOL and WSSS BAS: ``F = classifier_cls(X_last)``,
        ``z = GAP(F)``; ``M_f`` the generator map of class ``labels``; the
        erase branch on ``X_b = X_mid.detach() * (1 - M_f)`` gives ``S_b``;
        the foreground guidance scores ``GAP(F * pool(M_f))`` (``F``
        detached if ``detach_frg_feats``); :attr:`bas_loss` turns them into
        ``loss_frg``, ``loss_bas`` and ``loss_area``.

        Args:
            x_mid (Tensor): ``X_mid``, ``(B, C_mid, H, W)``.
            x_last (Tensor): ``X_last``, ``(B, C_last, h, w)``.
            labels (Tensor): The class of each image, ``(B, )``: the GT
                class (WSOL) or one sampled positive class (WSSS).
            tail (nn.Module): The backbone's ``X_mid -> X_last`` module.

        Returns:
            tuple[Tensor, dict]: Logits ``z`` ``(B, K)`` and the BAS terms.
        """
        if tail is None:
            raise ValueError(f'{type(self).__name__}.loss needs the backbone '
                             'tail for the erase branch; build the model with '
                             'a BAS classifier and a BAS backbone')
        batch = torch.arange(labels.numel(), device=labels.device)
        cams = self.classifier_cls(x_last)  # F: (B, K, h, w)
        cls_score = cams.mean(dim=(2, 3))  # z
        fg_maps = self.classifier_loc.class_maps(x_mid, labels)  # M_f
        x_erased = x_mid.detach() * (1. - fg_maps[:, None])  # X_b
        bg_score = self.erase_branch(x_erased, tail)[batch, labels]  # S_b
        pooled = F.adaptive_avg_pool2d(fg_maps[:, None], cams.shape[-2:])
        guide = cams.detach() if self.detach_frg_feats else cams
        frg_score = (guide * pooled).mean(dim=(2, 3))
        return cls_score, self.bas_loss(
            fg_score=cls_score[batch, labels],
            bg_score=bg_score,
            fg_maps=fg_maps,
            frg_score=frg_score,
            labels=labels)

    def predict(
        self,
        feats: Sequence[torch.Tensor],
        data_samples: Optional[List[Optional[DataSample]]] = None
    ) -> List[DataSample]:
        """Predict scores, labels and the top-k mean generator map
        (``loc_map``), plus ``gt_loc_map`` when ``map_source='gt'``."""
        x_mid, x_last = self._split_feats(feats)
        cls_score = self.classifier_cls(x_last).mean(dim=(2, 3))
        maps = self.classifier_loc(x_mid)  # (B, K, H, W)
        samples = self._get_predictions(cls_score, data_samples)

        k = min(self.loc_topk, self.num_classes)
        top = cls_score.topk(k, dim=1).indices  # (B, k)
        index = top[:, :, None, None].expand(-1, -1, *maps.shape[-2:])
        loc_maps = maps.gather(1, index).mean(dim=1)
        samples = self._attach_maps(samples, loc_maps, class_specific=False)

        if self.map_source == 'gt' and all('gt_label' in s
                                           for s in samples):
            labels = torch.cat([s.gt_label[:1] for s in samples]).to(
                maps.device)
            batch = torch.arange(labels.numel(), device=maps.device)
            gt_maps = normalize_maps(maps[batch, labels].detach().float())
            for sample, gt_map in zip(samples, gt_maps):
                sample.set_field(gt_map, 'gt_loc_map', dtype=torch.Tensor)
        return samples
