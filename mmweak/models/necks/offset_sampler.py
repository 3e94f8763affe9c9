# Copyright (c) mmweak contributors.
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmweak.registry import MODELS
from ..utils import GradientReversal

DCN_BACKENDS = ('torchvision', 'mmcv', 'grid_sample')
KERNEL_INITS = ('uniform', 'identity_center')


def _grid_sample_dcn(x: torch.Tensor, offset: torch.Tensor,
                     weight: torch.Tensor) -> torch.Tensor:
    """Channel-wise deformable convolution through ``F.grid_sample``.

    The same operator as ``torchvision.ops.deform_conv2d(x, offset, weight,
    padding=k // 2)`` with a ``(C, 1, k, k)`` kernel (groups ``C``, one
    offset group, stride and dilation 1): ``y_c(p) = sum_t W_c,t x_c(p + p_t
    + dp_t(p))``, bilinear with zero outside the map. One bilinear resampling
    per tap, batched over images and channels.
    """
    b, c, h, w = x.shape
    k = weight.size(-1)
    r = k // 2
    taps = torch.arange(-r, r + 1, device=x.device, dtype=x.dtype)
    tap_y, tap_x = torch.meshgrid(taps, taps, indexing='ij')  # row-major
    offset = offset.view(b, k * k, 2, h, w)  # (dy, dx) per tap
    ys = torch.arange(h, device=x.device, dtype=x.dtype).view(1, 1, h, 1)
    xs = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, 1, w)
    py = ys + tap_y.reshape(1, -1, 1, 1) + offset[:, :, 0]  # (b, k*k, h, w)
    px = xs + tap_x.reshape(1, -1, 1, 1) + offset[:, :, 1]
    # pixel index -> grid_sample's [-1, 1] (align_corners=False, zeros pad)
    grid = torch.stack(((2 * px + 1) / w - 1, (2 * py + 1) / h - 1), dim=-1)
    kernel = weight.to(x.dtype).view(1, c, k * k)
    out = None
    for t in range(k * k):
        sample = F.grid_sample(
            x, grid[:, t], mode='bilinear', padding_mode='zeros',
            align_corners=False)
        term = sample * kernel[:, :, t, None, None]
        out = term if out is None else out + term
    return out


def _mmcv_dcn(x: torch.Tensor, offset: torch.Tensor,
              weight: torch.Tensor) -> torch.Tensor:
    """``mmcv.ops.deform_conv2d`` with a channel-wise kernel."""
    from mmcv.ops import deform_conv2d
    b, c, h, w = x.shape
    k = weight.size(-1)
    # mmcv's kernels assume a map at least as large as the kernel (as its
    # DeformConv2d module, pad bottom/right with zeros and crop back)
    pad_h, pad_w = max(k - h, 0), max(k - w, 0)
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
        offset = F.pad(offset, (0, pad_w, 0, pad_h))
    # the batch must be a multiple of im2col_step
    step = max(d for d in range(1, min(b, 32) + 1) if b % d == 0)
    out = deform_conv2d(x.contiguous(), offset.contiguous(),
                        weight.to(x.dtype), 1, k // 2, 1, c, 1, False, step)
    return out[:, :, :h, :w]


def deform_sample(x: torch.Tensor,
                  offset: torch.Tensor,
                  weight: torch.Tensor,
                  backend: str = 'torchvision') -> torch.Tensor:
    """Channel-wise (depthwise) 2-D deformable convolution, stride 1.

    Args:
        x (Tensor): Features ``(B, C, h, w)``.
        offset (Tensor): ``(B, 2 k^2, h, w)``, ``(dy, dx)`` of each kernel
            tap in row-major order (the torchvision/mmcv layout), in
            feature-map pixels.
        weight (Tensor): Kernel ``(C, 1, k, k)``: tap ``t`` of channel ``c``
            weights ``x_c`` only (no channel mixing).
        backend (str): ``'torchvision'`` (``torchvision.ops.deform_conv2d``
            with ``groups = C``), ``'mmcv'`` (``mmcv.ops.deform_conv2d``,
            needs mmcv's compiled ops) or ``'grid_sample'`` (the same
            operator through ``F.grid_sample``, one call per tap).

    Returns:
        Tensor: ``(B, C, h, w)``.
    """
    if weight.dim() != 4 or weight.size(1) != 1 \
            or weight.size(0) != x.size(1):
        raise ValueError(f'weight {tuple(weight.shape)} is not a channel-wise '
                         f'kernel (C, 1, k, k) for {x.size(1)} channels')
    if backend == 'torchvision':
        from torchvision.ops import deform_conv2d
        k = weight.size(-1)
        return deform_conv2d(
            x, offset, weight.to(x.dtype), padding=(k // 2, k // 2))
    if backend == 'mmcv':
        return _mmcv_dcn(x, offset, weight)
    if backend == 'grid_sample':
        return _grid_sample_dcn(x, offset, weight)
    raise ValueError(f'backend={backend!r} is not one of {DCN_BACKENDS}')


@MODELS.register_module()
class OffsetSampler(BaseModule):
    """A deformable convolution used as a learned resampler: the offset
    branch of ESOL's expansion and shrinkage samplers.

    Li et al., "Expansion and Shrinkage of Localization for Weakly-Supervised
    Semantic Segmentation", NeurIPS 2022 (figure 2). For a feature map
    ``F``::

        dp = m * tanh(offset_conv(sg(F)))        # (B, 2 k^2, h, w)
        F'(p) = sum_t W_t * F(p + p_t + R(dp_t(p)))

    ``sg`` is stop-gradient (the figure's mark on the backbone output that
    enters the offset conv), ``R`` a gradient-reversal layer (expansion
    sampler only) and ``W`` a channel-wise ``k x k`` kernel. With the
    default frozen *uniform sampler* kernel (every tap ``identity / k^2``)
    and zero offsets, ``F'`` is the ``k x k`` box average of ``F`` (zero
    padding, divisor ``k^2``); the sampler only moves the ``k^2`` taps and
    never mixes channels.

    The offset conv (3x3, ``2 k^2`` outputs) is zero-initialised (weight and
    bias) by default, so training starts from that box average.

    Args:
        in_channels (int): Channels of ``F`` (and of ``F'``).
        kernel_size (int): DCN kernel size ``k`` (odd). Defaults to 3
            (the figure's 3x3 grid: 18 offset channels).
        max_offset (float, optional): Bound ``m`` of the offsets in
            feature-map pixels (``m * tanh``); None leaves them unbounded.
            Samples outside the map read zero. Defaults to 8.0.
        grl_lambda (float, optional): Gradient-reversal scale between the
            offsets and the DCN (ESOL's inverse supervision); None means no
            reversal. Defaults to None.
        w_init (str): Kernel ``W``: ``'uniform'`` (each tap identity /
            ``k^2``) or ``'identity_center'`` (identity on the centre tap,
            zero elsewhere). Defaults to ``'uniform'``.
        w_trainable (bool): Whether ``W`` is learnt (channel-wise); the
            figure marks it detached. Defaults to False.
        backend (str): DCN operator: ``'torchvision'``, ``'mmcv'`` or
            ``'grid_sample'`` (see :func:`deform_sample`). Defaults to
            ``'torchvision'``.
        zero_init_offset (bool): Zero weight and bias of the offset conv;
            False keeps PyTorch's default convolution init. Defaults to True.
        detach_input (bool): Stop-gradient on ``F`` before the offset conv.
            Defaults to True.
        init_cfg (dict, optional): Unused (the init is fixed). Defaults to
            None.
    """

    def __init__(self,
                 in_channels: int,
                 kernel_size: int = 3,
                 max_offset: Optional[float] = 8.0,
                 grl_lambda: Optional[float] = None,
                 w_init: str = 'uniform',
                 w_trainable: bool = False,
                 backend: str = 'torchvision',
                 zero_init_offset: bool = True,
                 detach_input: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if in_channels <= 0:
            raise ValueError(f'in_channels={in_channels} must be positive')
        if kernel_size <= 0 or kernel_size % 2 == 0:
            raise ValueError(f'kernel_size={kernel_size} must be odd')
        if max_offset is not None and max_offset <= 0:
            raise ValueError(f'max_offset={max_offset} must be positive or '
                             'None')
        if w_init not in KERNEL_INITS:
            raise ValueError(f'w_init={w_init!r} is not one of '
                             f'{KERNEL_INITS}')
        if backend not in DCN_BACKENDS:
            raise ValueError(f'backend={backend!r} is not one of '
                             f'{DCN_BACKENDS}')
        if backend == 'mmcv':
            try:
                from mmcv.ops import deform_conv2d  # noqa: F401
            except ImportError as e:  # mmcv without compiled ops
                raise ImportError(
                    "backend='mmcv' needs mmcv built with its ops "
                    "(MMCV_WITH_OPS=1); use backend='torchvision'") from e
        self.in_channels = in_channels
        self.kernel_size = kernel_size
        self.max_offset = None if max_offset is None else float(max_offset)
        self.w_init = w_init
        self.backend = backend
        self.zero_init_offset = zero_init_offset
        self.detach_input = detach_input
        self.offset_conv = nn.Conv2d(
            in_channels, 2 * kernel_size**2, kernel_size=3, padding=1)
        self.grl = None if grl_lambda is None else GradientReversal(
            grl_lambda)
        self.weight = nn.Parameter(
            self._kernel(), requires_grad=bool(w_trainable))
        self._init_offset_conv()

    def _kernel(self) -> torch.Tensor:
        k = self.kernel_size
        weight = torch.zeros(self.in_channels, 1, k, k)
        if self.w_init == 'uniform':
            weight.fill_(1.0 / k**2)
        else:  # identity_center
            weight[:, :, k // 2, k // 2] = 1.0
        return weight

    def _init_offset_conv(self) -> None:
        if self.zero_init_offset:
            nn.init.zeros_(self.offset_conv.weight)
            nn.init.zeros_(self.offset_conv.bias)
        else:
            self.offset_conv.reset_parameters()

    def init_weights(self) -> None:
        """Offset conv (zero by default) and the ``w_init`` kernel (before
        ``load_from`` replaces them with a checkpoint's)."""
        self._init_offset_conv()
        with torch.no_grad():
            self.weight.copy_(self._kernel())
        self._is_init = True

    @property
    def grl_lambda(self) -> Optional[float]:
        return None if self.grl is None else self.grl.lambda_

    def offsets(self, x: torch.Tensor) -> torch.Tensor:
        """Bounded offsets ``dp = m * tanh(offset_conv(sg(F)))``.

        Returns:
            Tensor: ``(B, 2 k^2, h, w)``, ``(dy, dx)`` per tap (row-major),
            in feature-map pixels.
        """
        offset = self.offset_conv(x.detach() if self.detach_input else x)
        if self.max_offset is not None:
            offset = self.max_offset * torch.tanh(offset)
        return offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``F' = DCN(F, R(dp), W)``, the same shape as ``F``."""
        offset = self.offsets(x)
        if self.grl is not None:
            offset = self.grl(offset)
        return deform_sample(x, offset, self.weight, self.backend)

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, kernel_size='
                f'{self.kernel_size}, max_offset={self.max_offset}, '
                f'w_init={self.w_init!r}, w_trainable='
                f'{self.weight.requires_grad}, backend={self.backend!r}')
