# Copyright (c) mmweak contributors.
import pytest
import torch

from mmweak.models.utils import GradientReversal, gradient_reversal
from mmweak.registry import MODELS


def test_forward_is_the_identity():
    x = torch.randn(2, 3, 4, 5)
    y = GradientReversal(0.3)(x)
    assert torch.equal(y, x)
    assert y.shape == x.shape


@pytest.mark.parametrize('lambda_', [1.0, 0.5, 0.0])
def test_backward_is_minus_lambda_times_the_gradient(lambda_):
    x = torch.randn(6, requires_grad=True)
    weights = torch.arange(6.) - 2
    (gradient_reversal(x, lambda_) * weights).sum().backward()
    torch.testing.assert_close(x.grad, -lambda_ * weights, rtol=0, atol=0)


def test_module_is_registered_and_rejects_negative_lambda():
    grl = MODELS.build(dict(type='GradientReversal', lambda_=2.0))
    assert grl.lambda_ == 2.0
    with pytest.raises(ValueError, match='lambda_'):
        GradientReversal(-1.0)
