# Copyright (c) mmweak contributors.
import torch
import torch.nn as nn

from mmweak.registry import MODELS

AREA_NORMS = ('max', 'sigmoid', 'none')


@MODELS.register_module()
class AreaLoss(nn.Module):
    """Activated area of the class maps of the tagged classes: ESOL's area
    loss of the shrinkage stage.

    Li et al., NeurIPS 2022 (figure 2 names the loss; its form is not
    public). mmweak's form: for image ``i`` and tagged class ``c``,
    ``A = ReLU(CAM_ic)`` and

    - ``'max'``: ``A^ = A / (max_{x, y} A + eps)`` (scale invariant);
    - ``'sigmoid'``: ``A^ = sigmoid(A)`` (no max normalisation);
    - ``'none'``: ``A^ = A``;

    ``L_area = loss_weight * mean_{(i, c) tagged} mean_{x, y} A^``: the mean
    over every tagged (image, class) pair of the batch. Classes that are not
    tagged add nothing; a batch without tags gives 0 (with a graph).

    Args:
        area_norm (str): ``'max'``, ``'sigmoid'`` or ``'none'``.
            Defaults to ``'max'``.
        loss_weight (float): ``lambda_area``. Defaults to 0.1.
        eps (float): ``eps`` of the max normalisation. Defaults to 1e-5.
    """

    def __init__(self,
                 area_norm: str = 'max',
                 loss_weight: float = 0.1,
                 eps: float = 1e-5) -> None:
        super().__init__()
        if area_norm not in AREA_NORMS:
            raise ValueError(f'area_norm={area_norm!r} is not one of '
                             f'{AREA_NORMS}')
        self.area_norm = area_norm
        self.loss_weight = float(loss_weight)
        self.eps = float(eps)

    def normalised_area(self, cams: torch.Tensor) -> torch.Tensor:
        """``mean_{x, y} A^`` of every map: ``(B, C)``."""
        act = cams.float().relu()
        if self.area_norm == 'max':
            act = act / (act.amax(dim=(-2, -1), keepdim=True) + self.eps)
        elif self.area_norm == 'sigmoid':
            act = act.sigmoid()
        return act.mean(dim=(-2, -1))

    def forward(self, cams: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            cams (Tensor): Raw class maps ``(B, C, h, w)``.
            target (Tensor): ``(B, C)`` image tags; entries > 0 are tagged.

        Returns:
            Tensor: The weighted loss (a scalar).
        """
        if cams.dim() != 4 or target.shape != cams.shape[:2]:
            raise ValueError(f'cams {tuple(cams.shape)} and target '
                             f'{tuple(target.shape)} do not match: need '
                             '(B, C, h, w) and (B, C)')
        tagged = (target > 0).to(cams.device, torch.float32)
        area = self.normalised_area(cams)
        loss = (area * tagged).sum() / tagged.sum().clamp(min=1.0)
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return f'area_norm={self.area_norm!r}, loss_weight={self.loss_weight}'
