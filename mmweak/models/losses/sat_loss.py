# Copyright (c) mmweak contributors.
import math
from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmweak.registry import MODELS


def gaussian_kernel(kernlen: int = 3, nsig: float = 6.) -> torch.Tensor:
    """2-D smoothing kernel of SAT's normalization loss.

    The 1-D weights are the probability mass of a standard normal on
    ``kernlen`` equal bins spanning ``[-nsig - i/2, nsig + i/2]`` with bin
    width ``i = (2 nsig + 1) / kernlen``; the 2-D kernel is the square root
    of their outer product, normalised to sum 1. For ``kernlen=3``,
    ``nsig=6`` the centre is about 0.80544, edges 0.04601, corners 0.00263.

    Args:
        kernlen (int): Kernel size. Defaults to 3.
        nsig (float): Half range in standard deviations. Defaults to 6.

    Returns:
        Tensor: ``(kernlen, kernlen)`` float64 kernel.
    """
    interval = (2 * nsig + 1.) / kernlen
    edges = torch.linspace(-nsig - interval / 2., nsig + interval / 2.,
                           kernlen + 1, dtype=torch.float64)
    cdf = 0.5 * (1. + torch.erf(edges / math.sqrt(2.)))
    k1d = cdf.diff()
    kernel = torch.outer(k1d, k1d).sqrt()
    return kernel / kernel.sum()


@MODELS.register_module()
class SATLoss(nn.Module):
    """The two label-free localization losses of SAT.

    Wu et al., "Spatial-Aware Token for Weakly Supervised Object
    Localization", ICCV 2023 (arXiv 2303.10438), Section 3.3. For a batch of
    localization maps ``M`` (values in (0, 1)):

    - batch area loss ``L_ba = | mean_{i, pixels} M_i - tau_a |``: the
      absolute value applies to the batch-mean foreground ratio, not to each
      image;
    - normalization loss ``L_norm = mean_{i, pixels} M~ (1 - M~)`` with
      ``M~ = G * M``, a fixed 3x3 Gaussian ``G`` (:func:`gaussian_kernel`)
      with zero padding; it pushes the smoothed map towards 0 or 1.

    Both are computed in float32 (safe under AMP).

    Args:
        area_target (float): Target foreground ratio ``tau_a`` (0.25 on CUB,
            0.35 on ImageNet). Defaults to 0.25.
        area_weight (float): Weight of ``loss_area``. Defaults to 1.0.
        norm_weight (float): Weight of ``loss_norm``. Defaults to 1.0.
        kernel_size (int): Gaussian kernel size. Defaults to 3.
        kernel_nsig (float): Gaussian range in sigmas. Defaults to 6.
    """

    def __init__(self,
                 area_target: float = 0.25,
                 area_weight: float = 1.0,
                 norm_weight: float = 1.0,
                 kernel_size: int = 3,
                 kernel_nsig: float = 6.) -> None:
        super().__init__()
        if not 0. <= area_target <= 1.:
            raise ValueError(
                f'area_target must be in [0, 1], got {area_target}')
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        self.area_target = area_target
        self.area_weight = area_weight
        self.norm_weight = norm_weight
        kernel = gaussian_kernel(kernel_size, kernel_nsig).float()
        self.register_buffer(
            'kernel', kernel[None, None], persistent=False)

    def smooth(self, maps: torch.Tensor) -> torch.Tensor:
        """Gaussian smoothing ``G * M`` of maps ``(B, h, w)`` (zero pad)."""
        pad = self.kernel.shape[-1] // 2
        return F.conv2d(
            maps.float()[:, None], self.kernel, padding=pad)[:, 0]

    def forward(self, maps: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Compute the weighted losses.

        Args:
            maps (Tensor): Localization maps ``(B, h, w)`` in (0, 1).

        Returns:
            dict[str, Tensor]: ``loss_area`` and ``loss_norm``.
        """
        if maps.dim() != 3:
            raise ValueError('SATLoss expects maps of shape (B, h, w), got '
                             f'{tuple(maps.shape)}')
        maps = maps.float()
        loss_area = (maps.mean() - self.area_target).abs()
        smoothed = self.smooth(maps)
        loss_norm = (smoothed * (1. - smoothed)).mean()
        return dict(
            loss_area=self.area_weight * loss_area,
            loss_norm=self.norm_weight * loss_norm)
