# Copyright (c) mmweak contributors.
from typing import Optional

import torch
import torch.nn as nn

from mmweak.registry import MODELS

CLIP_MODES = ('ratio', 'fixed', 'none')


@MODELS.register_module()
class FeatureClip(nn.Module):
    """ESOL's "Clip Op": cap the peak activations of a feature map.

    Li et al., NeurIPS 2022 (figure 2 shows the op; its rule is not public).
    mmweak's rule: ``F_clip = min(ReLU(F), tau)`` with

    - ``'ratio'``: ``tau = ratio * max_{x, y} ReLU(F)`` per image and
      channel, detached (no gradient through the threshold);
    - ``'fixed'``: a constant ``tau = value``;
    - ``'none'``: identity (no ReLU, no clip).

    Capped peaks carry no gradient, so the classifier must use broader
    support of the object and the CAM spreads.

    Args:
        mode (str): ``'ratio'``, ``'fixed'`` or ``'none'``.
            Defaults to ``'ratio'``.
        ratio (float): ``kappa`` of the ratio mode, in (0, 1].
            Defaults to 0.5.
        value (float, optional): ``tau`` of the fixed mode (required there).
            Defaults to None.
    """

    def __init__(self,
                 mode: str = 'ratio',
                 ratio: float = 0.5,
                 value: Optional[float] = None) -> None:
        super().__init__()
        if mode not in CLIP_MODES:
            raise ValueError(f'mode={mode!r} is not one of {CLIP_MODES}')
        if mode == 'ratio' and not 0 < ratio <= 1:
            raise ValueError(f'ratio={ratio} must be in (0, 1]')
        if mode == 'fixed' and (value is None or value < 0):
            raise ValueError(f"mode='fixed' needs a value >= 0, got {value}")
        self.mode = mode
        self.ratio = float(ratio)
        self.value = None if value is None else float(value)

    def threshold(self, x: torch.Tensor) -> torch.Tensor:
        """Detached ``tau``: ``(B, C, 1, 1)`` (ratio) or a scalar (fixed)."""
        if self.mode == 'ratio':
            peak = x.detach().relu().amax(dim=(-2, -1), keepdim=True)
            return self.ratio * peak
        if self.mode == 'fixed':
            return x.new_tensor(self.value)
        raise ValueError("mode='none' has no threshold")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == 'none':
            return x
        return torch.minimum(x.relu(), self.threshold(x))

    def extra_repr(self) -> str:
        if self.mode == 'ratio':
            return f'mode={self.mode!r}, ratio={self.ratio}'
        if self.mode == 'fixed':
            return f'mode={self.mode!r}, value={self.value}'
        return f'mode={self.mode!r}'
