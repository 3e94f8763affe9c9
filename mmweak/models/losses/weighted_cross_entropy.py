# Copyright (c) mmweak contributors.
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmweak.registry import MODELS
from mmweak.structures import IGNORE_INDEX

REDUCTIONS = ('mean', 'sum', 'none')


def weighted_cross_entropy(logits: torch.Tensor,
                           target: torch.Tensor,
                           weight: Optional[torch.Tensor] = None,
                           ignore_index: int = IGNORE_INDEX,
                           reduction: str = 'mean') -> torch.Tensor:
    """Pixel-weighted cross-entropy, Eq. 7 of MARS (Jo et al., ICCV 2023).

    ``L_WCE = -(1/|V|) sum_{(y,x) in V} W(y,x) log P(Y(y,x), y, x)`` with
    ``V`` the pixels whose target is not ``ignore_index`` (mmweak's default
    normalisation: the paper writes a plain sum). ``W`` is detached: it is
    a per-pixel certainty, not something to learn.

    Args:
        logits (Tensor): Class logits ``(N, C, H, W)`` (any number of
            trailing spatial dims).
        target (Tensor): Integer labels ``(N, H, W)`` in ``0..C-1`` or
            ``ignore_index``.
        weight (Tensor, optional): Per-pixel weights ``(N, H, W)`` (or
            broadcastable to it). Defaults to None (all ones: plain CE).
        ignore_index (int): Target value left out of the loss and of the
            normaliser. Defaults to 255.
        reduction (str): ``'mean'`` (sum over valid pixels divided by their
            number; 0 with a graph when there are none), ``'sum'`` or
            ``'none'`` (per-pixel loss, 0 at ignored pixels).
            Defaults to 'mean'.

    Returns:
        Tensor: The loss (a scalar, or ``(N, H, W)`` for ``'none'``).
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f'weighted_cross_entropy: reduction must be one of '
                         f'{REDUCTIONS}, got {reduction!r}')
    if logits.dim() < 2 or target.shape != logits.shape[:1] + \
            logits.shape[2:]:
        raise ValueError('weighted_cross_entropy: logits (N, C, H, W) and '
                         'target (N, H, W) do not match: got '
                         f'{tuple(logits.shape)} and {tuple(target.shape)}')
    target = target.long()
    valid = target != ignore_index
    # float32 log-softmax; ignored pixels contribute exactly 0
    pixel_loss = F.cross_entropy(
        logits.float(), target, ignore_index=ignore_index, reduction='none')
    if weight is not None:
        weight = weight.detach().to(pixel_loss.dtype)
        try:
            weight = torch.broadcast_to(weight, pixel_loss.shape)
        except RuntimeError:
            raise ValueError(
                'weighted_cross_entropy: weight of shape '
                f'{tuple(weight.shape)} does not broadcast to the target '
                f'{tuple(target.shape)}') from None
        pixel_loss = pixel_loss * weight.masked_fill(~valid, 0.)
    if reduction == 'none':
        return pixel_loss
    total = pixel_loss.sum()
    if reduction == 'sum':
        return total
    return total / valid.sum().clamp(min=1)


@MODELS.register_module()
class WeightedCrossEntropyLoss(nn.Module):
    """Cross-entropy with a per-pixel weight map (MARS, Jo et al., ICCV
    2023, Eq. 7), normalised by the number of non-ignored pixels.

    Called like mmseg's losses, ``loss(seg_logits, seg_label,
    weight=W, ignore_index=255)``, so it also serves as a ``loss_decode``
    of an mmseg decode head (whose ``weight`` is the OHEM sampler's map, or
    None). In :class:`~mmweak.models.MARSEncoderDecoder` ``W`` is the
    teacher's certainty on the pixels it filled in and 1 elsewhere. See
    :func:`weighted_cross_entropy`.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        ignore_index (int): Default ignored target value. Defaults to 255.
        reduction (str): ``'mean'`` (over valid pixels), ``'sum'`` or
            ``'none'``. Defaults to 'mean'.
        loss_name (str): Name of the loss in mmseg's loss dicts; must
            contain ``'loss'`` for mmengine to add it to the total.
            Defaults to 'loss_wce'.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 ignore_index: int = IGNORE_INDEX,
                 reduction: str = 'mean',
                 loss_name: str = 'loss_wce') -> None:
        super().__init__()
        if loss_weight < 0:
            raise ValueError(
                f'WeightedCrossEntropyLoss: loss_weight={loss_weight} < 0')
        if reduction not in REDUCTIONS:
            raise ValueError(f'WeightedCrossEntropyLoss: reduction must be '
                             f'one of {REDUCTIONS}, got {reduction!r}')
        self.loss_weight = float(loss_weight)
        self.ignore_index = int(ignore_index)
        self.reduction = reduction
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """Key of the loss in mmseg's loss dicts."""
        return self._loss_name

    def forward(self,
                cls_score: torch.Tensor,
                label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                ignore_index: Optional[int] = None,
                **kwargs) -> torch.Tensor:
        """Weighted :func:`weighted_cross_entropy` of ``(N, C, H, W)``
        logits, ``(N, H, W)`` labels and an optional ``(N, H, W)`` weight
        map (detached)."""
        ignore_index = self.ignore_index if ignore_index is None \
            else int(ignore_index)
        return self.loss_weight * weighted_cross_entropy(
            cls_score, label, weight, ignore_index, self.reduction)
