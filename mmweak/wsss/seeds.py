# Copyright (c) mmweak contributors.
"""CAM seeds: a background plane in front of the tagged-class CAMs, then an
argmax (``shared/specs/wsss-protocol.md``, section 5).

Two background forms are supported:

- constant threshold (IRN, AdvCAM, LPCAM): ``bg = t``;
- power form (PSA / SEAM): ``bg = (1 - max_k cam_k) ** alpha``.

The label of a pixel is the argmax over ``[bg, cam_1, ..., cam_K]`` with
:func:`torch.argmax`'s tie rule (the first maximum wins), so **background
wins ties** and, among classes, the earlier key wins. Hence a pixel whose
largest CAM value is ``m`` is background iff ``bg >= m``; for both forms this
is ``m <= b`` for one boundary ``b`` per threshold or power
(:func:`bg_boundaries`), which is what lets the seed metric sweep every
threshold in one pass.

The power plane is evaluated in float64 and rounded to the CAMs' dtype, so
that its comparison with ``m`` is decided by a correctly ordered, position
independent value (see :func:`bg_boundaries`).
"""
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

Keys = Union[Tensor, Sequence[int], Sequence[Tensor]]

# Same-width signed integer views of the floating dtypes: non-negative floats
# are ordered like their bit patterns, which makes bisection exact.
_INT_VIEW = {
    torch.float16: torch.int16,
    torch.bfloat16: torch.int16,
    torch.float32: torch.int32,
    torch.float64: torch.int64,
}


def _check_mode(bg_threshold: Optional[float],
                bg_power: Optional[float]) -> None:
    if (bg_threshold is None) == (bg_power is None):
        raise ValueError('give exactly one of `bg_threshold` (constant '
                         'background) and `bg_power` (background '
                         f'(1 - max cam) ** alpha), got bg_threshold='
                         f'{bg_threshold!r}, bg_power={bg_power!r}')
    if bg_power is not None and not bg_power >= 0:
        raise ValueError(f'`bg_power` must be >= 0, got {bg_power!r}')


def _check_cams(cams: Tensor) -> None:
    if not isinstance(cams, Tensor):
        raise TypeError(f'`cams` must be a Tensor, got {type(cams).__name__}')
    if cams.dim() not in (3, 4) or not cams.is_floating_point():
        raise ValueError('`cams` must be a floating (K, H, W) or (B, K, H, '
                         f'W) tensor, got {cams.dtype} {tuple(cams.shape)}')
    if cams.dtype not in _INT_VIEW:
        raise ValueError(f'`cams` dtype {cams.dtype} is not supported')


def power_background(max_cam: Tensor, bg_power: float) -> Tensor:
    """``(1 - m) ** alpha`` (PSA / SEAM background score) in ``m``'s dtype.

    Computed in float64 and rounded once; ``1 - m`` is clamped at 0 so that
    maps slightly above 1 give 0 instead of NaN.

    Args:
        max_cam (Tensor): Largest CAM value per pixel, any shape.
        bg_power (float): ``alpha >= 0``.

    Returns:
        Tensor: Background scores, same shape and dtype as ``max_cam``.
    """
    work = (1 - max_cam.to(torch.float64)).clamp_(min=0)
    return work.pow_(float(bg_power)).to(max_cam.dtype)


def bg_plane(cams: Tensor,
             bg_threshold: Optional[float] = None,
             bg_power: Optional[float] = None) -> Tensor:
    """Background score plane put in front of the CAMs.

    Args:
        cams (Tensor): CAMs (K, H, W) in [0, 1], or a batch (B, K, H, W).
        bg_threshold (float, optional): Constant background ``t``.
        bg_power (float, optional): ``alpha`` of ``(1 - max_k cam_k) **
            alpha``; with K = 0 the background is 1.

    Returns:
        Tensor: (1, H, W) (or (B, 1, H, W)) in ``cams``' dtype and device.
    """
    _check_cams(cams)
    _check_mode(bg_threshold, bg_power)
    shape = cams.shape[:-3] + (1, ) + cams.shape[-2:]
    if bg_threshold is not None:
        return cams.new_full(shape, float(bg_threshold))
    if cams.shape[-3] == 0:
        return cams.new_ones(shape)
    return power_background(cams.amax(dim=-3, keepdim=True), bg_power)


def _label_lut(keys: Keys, batch: Optional[int], num_keys: int,
               device: torch.device) -> Tensor:
    """Label ids ``[0, keys + 1]`` per image: (K + 1,) or (B, K + 1)."""
    if isinstance(keys, Tensor):
        keys = keys.to(device=device, dtype=torch.long)
    elif batch is None:
        keys = torch.as_tensor(list(keys), dtype=torch.long, device=device)
    else:
        rows = [
            torch.as_tensor(k, dtype=torch.long, device=device).reshape(-1)
            for k in keys
        ]
        if len(rows) != batch or any(r.numel() != num_keys for r in rows):
            raise ValueError(f'`keys` must hold {batch} vectors of {num_keys} '
                             'keys to match the CAMs, got lengths '
                             f'{[r.numel() for r in rows]}')
        keys = torch.stack(rows) if rows else torch.zeros(
            0, num_keys, dtype=torch.long, device=device)
    expected = (num_keys, ) if batch is None else (batch, num_keys)
    if tuple(keys.shape) != expected:
        raise ValueError(f'`keys` must have shape {expected} to match the '
                         f'CAMs, got {tuple(keys.shape)}')
    if keys.numel() and int(keys.min()) < 0:
        raise ValueError('`keys` are 0-based foreground class indices and '
                         f'must be >= 0, got {keys.tolist()}')
    zero = keys.new_zeros(keys.shape[:-1] + (1, ))
    return torch.cat([zero, keys + 1], dim=-1)


def _fg_max(cams: Tensor,
            labels: Tensor,
            dtype: torch.dtype = torch.long) -> Tuple[Tensor, Tensor]:
    """Largest CAM value per pixel and the label id of the first class that
    reaches it (``torch.argmax``'s tie rule), without stacking the maps.

    Args:
        cams (Tensor): (K, H, W) or (B, K, H, W) with K >= 1.
        labels (Tensor): ``[0, keys + 1]``: (K + 1,) or (B, K + 1).
        dtype (torch.dtype): Dtype of the returned labels.

    Returns:
        tuple[Tensor, Tensor]: ``top`` (..., H, W) in ``cams``' dtype and
        ``fg`` (..., H, W) label ids.
    """
    num_keys = cams.shape[-3]
    top = cams.amax(dim=-3)
    fg_labels = labels[..., 1:].to(dtype)
    if labels.dim() == 1:
        ids = fg_labels.tolist()
        fg = torch.full(top.shape, ids[-1], dtype=dtype, device=top.device)
        # from the last class to the first, so that the first maximum wins
        for k in range(num_keys - 2, -1, -1):
            fg.masked_fill_(cams.select(-3, k) == top, ids[k])
        return top, fg
    fg = fg_labels[:, -1].view(-1, 1, 1).expand_as(top)
    for k in range(num_keys - 2, -1, -1):
        fg = torch.where(
            cams.select(-3, k) == top, fg_labels[:, k].view(-1, 1, 1), fg)
    return top, fg.contiguous()


def cams_to_label(cams: Tensor,
                  keys: Keys,
                  bg_threshold: Optional[float] = None,
                  bg_power: Optional[float] = None) -> Tensor:
    """Seed label map: argmax over ``[bg_plane, cams]`` mapped to label ids.

    Ties go to the first maximum (as :func:`torch.argmax`): background
    beats a class with an equal score, an earlier key a later one. The
    argmax is evaluated as "background iff ``bg >= max_k cam_k``, else the
    first class reaching the maximum", which equals the argmax over the
    stacked planes for finite maps without building that stack.

    Args:
        cams (Tensor): CAMs of the tagged classes (K, H, W), or a batch
            (B, K, H, W) of images with the same number of tags.
        keys (Tensor | list): 0-based foreground indices of the K maps
            (K,); for a batch a (B, K) tensor or a list of B such vectors.
        bg_threshold (float, optional): Constant background ``t``.
        bg_power (float, optional): ``alpha`` of the power background.

    Returns:
        Tensor: int64 (H, W) (or (B, H, W)) label ids: 0 background,
        ``keys + 1`` for the classes.
    """
    _check_cams(cams)
    _check_mode(bg_threshold, bg_power)
    batch = cams.shape[0] if cams.dim() == 4 else None
    labels = _label_lut(keys, batch, cams.shape[-3], cams.device)
    if cams.shape[-3] == 0:
        return torch.zeros(cams.shape[:-3] + cams.shape[-2:],
                           dtype=torch.long,
                           device=cams.device)
    top, fg = _fg_max(cams, labels)
    if bg_threshold is not None:
        # the value the plane cams.new_full(..., t) holds
        bg = cams.new_tensor(float(bg_threshold))
    else:
        bg = power_background(top, bg_power)
    return fg.masked_fill_(top <= bg, 0)


def _lattice_bisect(predicate, num: int, dtype: torch.dtype,
                    device: torch.device) -> Tensor:
    """Largest value ``v`` of ``dtype`` in [0, 1] with ``predicate(v)``
    true, per column; ``predicate(0)`` must hold and be monotone."""
    ints = _INT_VIEW[dtype]
    one = int(torch.ones((), dtype=dtype).view(ints))
    lo = torch.zeros(num, dtype=torch.long, device=device)
    hi = torch.full((num, ), one, dtype=torch.long, device=device)
    top = predicate(hi.to(ints).view(dtype))
    lo = torch.where(top, hi, lo)
    hi = torch.where(top, hi + 1, hi)
    while bool((hi - lo > 1).any()):
        mid = (lo + hi) // 2
        ok = predicate(mid.to(ints).view(dtype))
        lo = torch.where(ok, mid, lo)
        hi = torch.where(ok, hi, mid)
    return lo.to(ints).view(dtype)


def bg_boundaries(values: Sequence[float],
                  mode: str = 'threshold',
                  dtype: torch.dtype = torch.float32,
                  device: Union[str, torch.device] = 'cpu',
                  ulps: int = 4) -> Tuple[Tensor, Tensor]:
    """Per threshold / power, the boundary ``b`` with "background iff
    ``max_k cam_k <= b``" under :func:`cams_to_label`'s rule.

    - ``mode='threshold'``: ``b = t`` rounded to ``dtype`` (the plane
      ``cams.new_full(..., t)`` holds exactly that value).
    - ``mode='power'``: the pixel is background iff ``(1 - m) ** alpha >=
      m``; the left side decreases and the right increases in ``m``, so the
      set is ``m <= m*(alpha)``, the root of ``m = (1 - m) ** alpha``. ``b``
      is the largest ``dtype`` value that passes the test with
      :func:`power_background` itself, found by bisection on the bit
      patterns. The float64 power is accurate to about an ulp of float64
      (far below the spacing of ``dtype`` values unless ``dtype`` is
      float64), so every ``m`` except the two lattice neighbours of the root
      is decided with a wide margin; those two are re-checked with the
      float64 power moved by ``ulps`` ulps either way. A power whose
      decision there could flip (e.g. for float64 CAMs) is flagged as not
      ``exact``: callers must evaluate it directly.

    Args:
        values (Sequence[float]): Thresholds ``t`` or powers ``alpha``.
        mode (str): ``'threshold'`` or ``'power'``. Defaults to
            ``'threshold'``.
        dtype (torch.dtype): Dtype of the CAMs. Defaults to float32.
        device (str | torch.device): Device of the CAMs (the power is
            evaluated there). Defaults to ``'cpu'``.
        ulps (int): Safety margin of the power check. Defaults to 4.

    Returns:
        tuple[Tensor, Tensor]: boundaries (T,) in ``dtype`` and bool
        ``exact`` (T,).
    """
    if dtype not in _INT_VIEW:
        raise ValueError(f'unsupported CAM dtype {dtype}')
    values = [float(v) for v in values]
    num = len(values)
    if mode == 'threshold':
        return (torch.tensor(values, dtype=dtype, device=device),
                torch.ones(num, dtype=torch.bool, device=device))
    if mode != 'power':
        raise ValueError(f"mode must be 'threshold' or 'power', got {mode!r}")
    if any(not v >= 0 for v in values):
        raise ValueError(f'powers must be >= 0, got {values}')
    alphas = torch.tensor(values, dtype=torch.float64, device=device)

    def power64(m: Tensor) -> Tensor:
        # same arithmetic as power_background, one alpha per column
        return (1 - m.to(torch.float64)).clamp(min=0).pow(alphas)

    def is_bg(m: Tensor) -> Tensor:
        return power64(m).to(dtype) >= m

    bounds = _lattice_bisect(is_bg, num, dtype, device)
    exact = torch.ones(num, dtype=torch.bool, device=device)
    ints = _INT_VIEW[dtype]
    for step in (0, 1):  # the last background value and the next one
        m = (bounds.view(ints).long() + step).to(ints).view(dtype)
        decided = is_bg(m)
        up = down = power64(m)
        for _ in range(ulps):
            up = torch.nextafter(up, up.new_tensor(float('inf')))
            down = torch.nextafter(down, down.new_tensor(float('-inf')))
        exact &= (up.to(dtype) >= m) == decided
        exact &= (down.to(dtype) >= m) == decided
    return bounds, exact
