# Copyright (c) mmweak contributors.
from typing import Any, Tuple

import torch
import torch.nn as nn

from mmweak.registry import MODELS


class GradientReversalFunction(torch.autograd.Function):
    """Identity in the forward pass, ``-lambda * grad`` in the backward pass.

    The gradient-reversal layer of Ganin & Lempitsky ("Unsupervised Domain
    Adaptation by Backpropagation", ICML 2015): ``R(x) = x`` and
    ``dR/dx = -lambda I``. Placed between a module and the rest of the
    network, one descent step on the loss is an *ascent* step for the
    module's parameters (ESOL's inverse supervision of the expansion
    sampler, Li et al., NeurIPS 2022).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, lambda_: float) -> torch.Tensor:
        ctx.lambda_ = float(lambda_)
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any,
                 grad_output: torch.Tensor) -> Tuple[torch.Tensor, None]:
        return grad_output * -ctx.lambda_, None


def gradient_reversal(x: torch.Tensor, lambda_: float = 1.0) -> torch.Tensor:
    """Functional form of :class:`GradientReversal`."""
    return GradientReversalFunction.apply(x, lambda_)


@MODELS.register_module()
class GradientReversal(nn.Module):
    """Gradient-reversal layer: forward identity, backward ``-lambda``.

    Args:
        lambda_ (float): Scale of the reversed gradient (``lambda_exp`` of
            ESOL's expansion stage). Must be non-negative; 0 blocks the
            gradient. Defaults to 1.0.
    """

    def __init__(self, lambda_: float = 1.0) -> None:
        super().__init__()
        if lambda_ < 0:
            raise ValueError(f'lambda_={lambda_} must be >= 0 (a negative '
                             'value would undo the reversal)')
        self.lambda_ = float(lambda_)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gradient_reversal(x, self.lambda_)

    def extra_repr(self) -> str:
        return f'lambda_={self.lambda_}'
