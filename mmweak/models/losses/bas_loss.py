# Copyright (c) mmweak contributors.
from typing import Dict, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmweak.registry import MODELS


@MODELS.register_module()
class BASLoss(nn.Module):
    """The localization terms of Background Activation Suppression.

    Wu, Zhai, Cao, CVPR 2022 (arXiv 2112.00580), Eq. 4-7, and the IJCV 2023
    extension (arXiv 2309.12943). With ``S = z_y`` (detached), ``S_b`` the
    erase-branch logit of the GT class and ``M_f`` the GT-class foreground
    map (batch size ``B``):

    - ``loss_bas = (1/B) sum_i r_i`` with ``r_i = S_b,i / (S_i + eps)``; if
      ``rectify``, ``S`` and ``S_b`` pass through a ReLU first (extension).
      Guard: where ``S_b > S`` the ratio is replaced by the constant
      ``guard_value`` (0 in CVPR and the extension's VGG, 1 elsewhere in the
      extension); either constant stops that sample's gradient.
    - ``loss_area = beta * (1/B) sum_i mean(M_f,i)`` (area constraint).
    - ``loss_frg = alpha * CE(GAP(F * pool(M_f)), y)`` (foreground guidance;
      the masked logits are computed by the head).

    The total BAS objective is ``loss_cls + loss_frg + loss_bas +
    loss_area``; the classification term comes from the head. A logged
    ``bas_guard_rate`` (no "loss" in the name, so not summed) gives the
    fraction of guarded samples.

    Args:
        alpha (float): Weight of the foreground guidance term.
            Defaults to 0.5.
        beta (float): Weight of the area constraint. Defaults to 1.5.
        guard_value (float): Ratio used where ``S_b > S``; 0 or 1.
            Defaults to 1.
        rectify (bool): Apply ReLU to ``S`` and ``S_b`` (extension; needed
            when the head has no final ReLU). Defaults to True.
        eps (float): Added to ``S`` in the ratio. Defaults to 1e-8.
    """

    def __init__(self,
                 alpha: float = 0.5,
                 beta: float = 1.5,
                 guard_value: float = 1.0,
                 rectify: bool = True,
                 eps: float = 1e-8) -> None:
        super().__init__()
        if guard_value not in (0, 1):
            raise ValueError(
                f'BASLoss: guard_value must be 0 or 1, got {guard_value!r}')
        if alpha < 0 or beta < 0:
            raise ValueError('BASLoss: alpha and beta must be >= 0, got '
                             f'alpha={alpha}, beta={beta}')
        if eps <= 0:
            raise ValueError(f'BASLoss: eps must be positive, got {eps}')
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.guard_value = float(guard_value)
        self.rectify = rectify
        self.eps = eps

    def background_ratio(
            self, fg_score: torch.Tensor,
            bg_score: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per-sample guarded ratio ``r_i`` and the guard mask, both
        ``(B, )``."""
        fg = fg_score.detach()
        bg = bg_score
        if self.rectify:
            fg, bg = F.relu(fg), F.relu(bg)
        guarded = bg > fg
        # keep the unselected branch finite so torch.where's gradient is too
        safe_bg = torch.where(guarded, torch.zeros_like(bg), bg)
        ratio = safe_bg / (fg + self.eps)
        ratio = torch.where(guarded,
                            torch.full_like(ratio, self.guard_value), ratio)
        return ratio, guarded

    def forward(self, fg_score: torch.Tensor, bg_score: torch.Tensor,
                fg_maps: torch.Tensor, frg_score: torch.Tensor,
                labels: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Compute the three terms.

        Args:
            fg_score (Tensor): ``S``, GT-class logits, shape ``(B, )``
                (detached here).
            bg_score (Tensor): ``S_b``, erase-branch GT-class logits,
                ``(B, )``.
            fg_maps (Tensor): ``M_f``, GT-class maps in (0, 1),
                ``(B, H, W)``.
            frg_score (Tensor): ``GAP(F * pool(M_f))``, ``(B, K)``.
            labels (Tensor): GT labels, ``(B, )``.

        Returns:
            dict[str, Tensor]: ``loss_bas``, ``loss_area``, ``loss_frg``
            (weighted) and ``bas_guard_rate``.
        """
        if not (fg_score.shape == bg_score.shape == labels.shape
                and fg_score.dim() == 1):
            raise ValueError(
                'BASLoss: fg_score, bg_score and labels must all have shape '
                f'(B,), got {tuple(fg_score.shape)}, {tuple(bg_score.shape)},'
                f' {tuple(labels.shape)}')
        if fg_maps.dim() != 3 or fg_maps.size(0) != labels.numel():
            raise ValueError('BASLoss: fg_maps must have shape (B, H, W), '
                             f'got {tuple(fg_maps.shape)}')
        ratio, guarded = self.background_ratio(fg_score, bg_score)
        return dict(
            loss_bas=ratio.mean(),
            loss_area=self.beta * fg_maps.flatten(1).mean(dim=1).mean(),
            loss_frg=self.alpha * F.cross_entropy(frg_score, labels),
            bas_guard_rate=guarded.float().mean().detach())
