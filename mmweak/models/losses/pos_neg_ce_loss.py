# Copyright (c) mmweak contributors.
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmweak.registry import MODELS


def pos_neg_cross_entropy(cls_score: torch.Tensor,
                          target: torch.Tensor) -> torch.Tensor:
    """Multi-label cross-entropy of every positive class against the
    negatives, summed over the positives and averaged over the batch.

    ``L = (1/B) sum_i sum_{k in P_i} -log(e^{z_ik} / (e^{z_ik} +
    sum_{j in N_i} e^{z_ij}))``: the ``L_mcls`` of BAS for WSSS (Zhai et al.,
    IJCV 2023, arXiv 2309.12943, Sec. 5). Each positive competes with the
    negatives only, never with the other positives. Per term this is
    ``softplus(LSE_{j in N_i} z_ij - z_ik)``, computed batched in float32;
    an image without negatives adds 0, one without positives adds 0.

    Args:
        cls_score (Tensor): Logits ``z``, ``(B, K)``.
        target (Tensor): Multi-hot tags ``(B, K)``; entries above 0.5 are
            the positives ``P_i``, the rest the negatives ``N_i``.

    Returns:
        Tensor: The scalar loss.
    """
    if cls_score.dim() != 2 or cls_score.shape != target.shape:
        raise ValueError('pos_neg_cross_entropy: cls_score and target must '
                         'both be (B, K), got '
                         f'{tuple(cls_score.shape)} and {tuple(target.shape)}')
    logits = cls_score.float()
    positive = target > 0.5
    # log-sum-exp over the negatives; a finite fill (not -inf) keeps the
    # gradient finite for rows without negatives, whose terms then vanish
    floor = torch.finfo(logits.dtype).min
    neg_lse = torch.logsumexp(
        logits.masked_fill(positive, floor), dim=1, keepdim=True)
    terms = F.softplus(neg_lse - logits)  # -log p(k vs N_i), (B, K)
    return (terms * positive).sum(dim=1).mean()


@MODELS.register_module()
class PosNegCrossEntropyLoss(nn.Module):
    """Multi-label loss of BAS for WSSS, ``L_mcls``
    (:func:`pos_neg_cross_entropy`; Zhai et al., IJCV 2023, Sec. 5).

    Unlike the soft-margin (sigmoid) loss of the IRN CAM network, it is
    invariant to adding a constant to all logits of an image: only the
    ranking of positives over negatives is trained, so ``sigmoid(z)`` is not
    a calibrated probability.

    Args:
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        if loss_weight < 0:
            raise ValueError(
                f'PosNegCrossEntropyLoss: loss_weight={loss_weight} < 0')
        self.loss_weight = float(loss_weight)

    def forward(self, cls_score: torch.Tensor, target: torch.Tensor,
                **kwargs) -> torch.Tensor:
        """Weighted :func:`pos_neg_cross_entropy` of ``(B, K)`` logits and
        multi-hot targets."""
        return self.loss_weight * pos_neg_cross_entropy(cls_score, target)
