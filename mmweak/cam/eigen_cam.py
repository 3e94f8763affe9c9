# Copyright (c) mmweak contributors.
"""Eigen-CAM maps from a batch of activations, in one batched computation.

Eigen-CAM (Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using
Principal Components", IJCNN 2020, arXiv 2008.00299) reshapes the activations
of one image to ``O`` (HW x C: rows are positions, columns channels) and
projects every position onto the first right singular vector ``v1`` of
``O = U S V^T``::

    L = O v1                     (reshaped to H x W)

This module computes ``L`` for a whole batch on the activations' device,
without a per-image Python loop, then orients it with a deterministic sign
rule, applies ReLU and a per-image min-max normalisation.

The singular vector is only defined up to its sign, and because ReLU follows
the projection, ``+v1`` and ``-v1`` select complementary regions. The sign
rules (argument ``sign``) are:

- ``'channel_mean'`` (default): orient ``v1`` so that its entries sum to a
  non-negative number. Since ``v1`` is an eigenvector of ``A^T A``,
  ``L^T (A 1) = s1^2 * sum(v1)``: the rule makes the map positively
  correlated with the channel-summed activation of the decomposed matrix
  ``A`` (``O``, or ``O`` centred per channel), i.e. "salient" means "more
  activation than average". When ``|sum(v1)| < 1e-6 * ||v1||_1`` the
  direction is ambiguous and the ``'max_abs'`` rule decides.
- ``'max_abs'`` (alias ``'max'``): flip when ``|min L| > |max L|`` (the rule
  of Seg-Eigen-CAM, Chung & Ying, Applied Sciences 2025), so that the
  largest-magnitude response is positive.
- ``'none'``: keep whatever orientation the solver returned (for comparisons
  with other implementations only; not deterministic across solvers).

Both rules depend only on ``L`` and ``A`` of the image itself, so an image
gets the same map in every run and in every batch composition.

``center=True`` subtracts each channel's mean over positions before the
decomposition, which is what the reference library pytorch-grad-cam
(``EigenCAM`` / ``get_2d_projection``) does; with it, the maps equal that
library's up to the per-image sign, which it leaves to LAPACK.
"""
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

SIGN_RULES = ('channel_mean', 'max_abs', 'none')
_SIGN_ALIASES = {'max': 'max_abs'}
SOLVERS = ('gram', 'svd', 'lowrank')

# the fallback of ``channel_mean`` when sum(v1) is (numerically) zero
_TIE_TOL = 1e-6


def _check_sign(sign: str) -> str:
    sign = _SIGN_ALIASES.get(sign, sign)
    if sign not in SIGN_RULES:
        raise ValueError(f'`sign` must be one of {SIGN_RULES} (or "max" for '
                         f'"max_abs"), got {sign!r}.')
    return sign


def _lapack(fn: Callable, mat: Tensor) -> Tuple[Tensor, ...]:
    """``fn(mat)`` for a batched LAPACK routine, as a tuple of tensors.

    On the CPU, the batch of small matrices is split over
    ``torch.get_num_threads()`` Python threads that each run LAPACK
    single-threaded. Intra-op threads gain nothing on such small matrices,
    and their synchronisation in every call is very slow when the cores are
    shared with other work (a batched 49 x 49 ``eigh`` measured 0.03 s
    single-threaded against 6 s with two OpenMP threads on a loaded 2-core
    machine). Each matrix is decomposed on its own, so results do not depend
    on the split. The thread setting is restored afterwards.
    """
    threads = torch.get_num_threads()
    if mat.device.type != 'cpu' or threads <= 1:
        return tuple(fn(mat))
    chunks = mat.chunk(min(threads, mat.shape[0]))
    torch.set_num_threads(1)
    try:
        if len(chunks) == 1:
            return tuple(fn(mat))
        with ThreadPoolExecutor(len(chunks)) as pool:
            parts = [tuple(p) for p in pool.map(fn, chunks)]
    finally:
        torch.set_num_threads(threads)
    return tuple(torch.cat(outs) for outs in zip(*parts))


def _thin_svd(mat: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    # never full_matrices=True: U alone would be N x N
    return torch.linalg.svd(mat, full_matrices=False)


# Gram matrices at least this large go through the verified subspace
# iteration of ``_leading_eigenpair``; smaller ones straight to ``eigh``.
_ITERATIVE_MIN_SIZE = 96


def _leading_eigenpair(gram: Tensor,
                       block: int = 8,
                       steps: int = 8,
                       orth_every: int = 4,
                       tol: float = 1e-4,
                       min_gap: float = 1e-2) -> Tuple[Tensor, Tensor]:
    """Largest eigenvalue ``(B,)`` and its unit eigenvector ``(B, N)`` of a
    batch of symmetric positive semi-definite matrices ``(B, N, N)``.

    Exact up to the solver's rounding. For ``N >= _ITERATIVE_MIN_SIZE`` a
    block power (subspace) iteration with ``block`` vectors runs ``steps``
    batched products ``G @ Q`` (re-orthonormalised every ``orth_every``),
    followed by a Rayleigh-Ritz step; then every image is checked: its
    residual ``||G v - lambda v||`` must be below ``tol * lambda`` and the
    two leading Ritz values must be ``min_gap * lambda`` apart (otherwise
    the eigenvector is ill-conditioned or the subspace has not converged).
    Images that fail are recomputed with a full ``eigh``. The start block
    comes from a private fixed-seed generator, so results depend neither on
    the batch nor on the global RNG.
    """
    batch, num, _ = gram.shape
    block = min(block, num)
    if num < _ITERATIVE_MIN_SIZE or batch == 0:
        vals, vecs = _lapack(torch.linalg.eigh, gram)
        return vals[..., -1], vecs[..., -1]
    tiny = torch.finfo(gram.dtype).tiny
    gen = torch.Generator(device=gram.device).manual_seed(0)
    basis = torch.randn(
        num, block, generator=gen, device=gram.device, dtype=gram.dtype)
    basis = basis.expand(batch, num, block)
    for step in range(steps):
        basis = gram @ basis
        if (step + 1) % orth_every == 0 or step + 1 == steps:
            basis = _lapack(torch.linalg.qr, basis)[0]  # (B, N, q)
    ritz = basis.transpose(1, 2) @ gram @ basis  # (B, q, q)
    ritz = (ritz + ritz.transpose(1, 2)) / 2
    thetas, coords = torch.linalg.eigh(ritz)  # small q x q problems
    val = thetas[:, -1]
    vec = (basis @ coords[..., -1:]).squeeze(-1)
    resid = torch.linalg.vector_norm(
        (gram @ vec.unsqueeze(-1)).squeeze(-1) - val.unsqueeze(-1) * vec,
        dim=-1)
    scale = val.abs().clamp(min=tiny)
    ok = (resid <= tol * scale) & (thetas[:, -1] - thetas[:, -2] >=
                                   min_gap * scale)
    bad = (~ok).nonzero().squeeze(-1)
    if bad.numel():
        vals, vecs = _lapack(torch.linalg.eigh, gram[bad])
        val = val.index_copy(0, bad, vals[..., -1])
        vec = vec.index_copy(0, bad, vecs[..., -1])
    return val, vec


def _leading_projection(mat: Tensor, solver: str, q: int = 6,
                        niter: int = 4) -> Tensor:
    """Projection ``mat @ v1`` of each row onto the leading right singular
    vector, for a batch ``mat`` of shape (B, N, C). Returns (B, N) with an
    arbitrary sign per image."""
    num, chans = mat.shape[-2:]
    if solver == 'gram':
        # Decompose the Gram matrix on the smaller side (exact, batched).
        if chans <= num:
            gram = mat.transpose(1, 2) @ mat  # (B, C, C)
            _, vec = _leading_eigenpair(gram)
            return (mat @ vec.unsqueeze(-1)).squeeze(-1)
        gram = mat @ mat.transpose(1, 2)  # (B, N, N)
        # O v1 = s1 u1 and s1^2 is the largest eigenvalue of O O^T
        val, vec = _leading_eigenpair(gram)
        return vec * val.clamp(min=0).sqrt().unsqueeze(-1)
    if solver == 'svd':
        left, sing, _ = _lapack(_thin_svd, mat)
        return left[..., 0] * sing[..., :1]
    # 'lowrank': randomized subspace iteration (Halko et al.) with a start
    # matrix drawn from a private, fixed-seed generator shared by all images:
    # deterministic, independent of the batch and of the global RNG.
    q = max(1, min(q, num, chans))
    gen = torch.Generator(device=mat.device).manual_seed(0)
    omega = torch.randn(
        chans, q, generator=gen, device=mat.device, dtype=mat.dtype)
    basis = _lapack(torch.linalg.qr, mat @ omega)[0]  # (B, N, q)
    for _ in range(niter):
        basis = _lapack(torch.linalg.qr, mat.transpose(1, 2) @ basis)[0]
        basis = _lapack(torch.linalg.qr, mat @ basis)[0]  # (B, N, q)
    small = basis.transpose(1, 2) @ mat  # (B, q, C)
    left, sing, _ = _lapack(_thin_svd, small)
    return (basis @ left[..., :1]).squeeze(-1) * sing[..., :1]


def _orientation(proj: Tensor, mat: Tensor, sign: str,
                 mask: Optional[Tensor]) -> Tensor:
    """Per-image factor (B,) in {-1, +1} that orients ``proj`` (B, N) by the
    sign rule; ``mat`` (B, N, C) is the decomposed (masked) matrix."""
    ones = torch.ones_like(proj[:, 0])
    if sign == 'none':
        return ones
    if mask is None:
        high, low = proj.amax(dim=1), proj.amin(dim=1)
    else:
        inf = torch.finfo(proj.dtype).max
        high = proj.masked_fill(~mask, -inf).amax(dim=1)
        low = proj.masked_fill(~mask, inf).amin(dim=1)
    max_abs = torch.where(low.abs() > high.abs(), -ones, ones)
    if sign == 'max_abs':
        return max_abs
    # channel_mean: v1 = A^T L / ||L||^2 (exact for the leading pair)
    v1 = (mat.transpose(1, 2) @ proj.unsqueeze(-1)).squeeze(-1)
    total = v1.sum(dim=1)
    tied = total.abs() <= _TIE_TOL * v1.abs().sum(dim=1)
    return torch.where(tied, max_abs, torch.where(total < 0, -ones, ones))


def eigen_projection(activations: Tensor,
                     center: bool = False,
                     sign: str = 'channel_mean',
                     solver: str = 'gram',
                     valid_mask: Optional[Tensor] = None) -> Tensor:
    """Signed projection onto the first principal direction (before ReLU).

    Args:
        activations (Tensor): (B, C, H, W) activations on any device. Half
            precision is computed in float32, float64 stays float64; NaN is
            treated as 0.
        center (bool): Subtract each channel's mean over (valid) positions
            first, as pytorch-grad-cam does. Defaults to False (the paper).
        sign (str): ``'channel_mean'`` (default), ``'max_abs'`` (alias
            ``'max'``) or ``'none'``; see the module docstring.
        solver (str): ``'gram'`` (default; exact: the leading eigenpair of
            the Gram matrix on the smaller of HW and C, by batched ``eigh``
            or, from 96 x 96 up, by a verified subspace iteration with an
            ``eigh`` fallback), ``'svd'`` (batched thin
            SVD) or ``'lowrank'`` (deterministic randomized subspace
            iteration, for very large maps such as FPN P2).
        valid_mask (Tensor, optional): (B, H, W) bool, True on positions of
            the image (False on batch padding). Padded positions are left out
            of the mean and of the decomposition and get 0.

    Returns:
        Tensor: (B, H, W) projection, float32 (float64 for float64 input).
    """
    if not isinstance(activations, Tensor) or activations.dim() != 4:
        shape = getattr(activations, 'shape', type(activations).__name__)
        raise ValueError('`activations` must be a (B, C, H, W) tensor, got '
                         f'{shape}.')
    sign = _check_sign(sign)
    if solver not in SOLVERS:
        raise ValueError(f'`solver` must be one of {SOLVERS}, got {solver!r}.')
    batch, chans, height, width = activations.shape
    dtype = torch.float64 if activations.dtype == torch.float64 \
        else torch.float32
    with torch.no_grad():
        feats = torch.nan_to_num(  # NaN -> 0 in one pass; inf is kept
            activations.detach().to(dtype),
            nan=0.0,
            posinf=float('inf'),
            neginf=float('-inf'))
        mat = feats.flatten(2).transpose(1, 2)  # (B, HW, C)
        mask = None
        if valid_mask is not None:
            if tuple(valid_mask.shape) != (batch, height, width):
                raise ValueError(
                    '`valid_mask` must have shape (B, H, W) = '
                    f'{(batch, height, width)}, got '
                    f'{tuple(valid_mask.shape)}.')
            mask = valid_mask.to(device=mat.device, dtype=torch.bool)
            mask = mask.flatten(1)  # (B, HW)
            mat = mat * mask.unsqueeze(-1).to(dtype)
        if center:
            if mask is None:
                mat = mat - mat.mean(dim=1, keepdim=True)
            else:
                count = mask.sum(dim=1).clamp(min=1).to(dtype)
                mean = mat.sum(dim=1) / count.unsqueeze(-1)
                mat = (mat - mean.unsqueeze(1)) * mask.unsqueeze(-1).to(dtype)
        # TF32 would square its rounding error into the Gram matrix
        tf32 = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = False
        try:
            proj = _leading_projection(mat, solver)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = tf32
        proj = proj * _orientation(proj, mat, sign, mask).unsqueeze(-1)
        if mask is not None:
            proj = proj * mask.to(dtype)
    return proj.reshape(batch, height, width)


def normalize_cams(cams: Tensor,
                   valid_mask: Optional[Tensor] = None,
                   eps: float = 1e-7) -> Tensor:
    """Per-image min-max ``(x - min) / (max - min + eps)`` of (B, H, W) maps,
    computed over the valid positions only (others become 0)."""
    if valid_mask is None:
        low = cams.amin(dim=(-2, -1), keepdim=True)
        high = cams.amax(dim=(-2, -1), keepdim=True)
        return (cams - low) / (high - low + eps)
    mask = valid_mask.to(device=cams.device, dtype=torch.bool)
    inf = torch.finfo(cams.dtype).max
    low = cams.masked_fill(~mask, inf).amin(dim=(-2, -1), keepdim=True)
    high = cams.masked_fill(~mask, -inf).amax(dim=(-2, -1), keepdim=True)
    # images without any valid position stay at 0
    empty = ~mask.flatten(-2).any(dim=-1)[..., None, None]
    low = low.masked_fill(empty, 0)
    high = high.masked_fill(empty, 0)
    return ((cams - low) / (high - low + eps)) * mask.to(cams.dtype)


def eigen_cam(activations: Tensor,
              center: bool = False,
              sign: str = 'channel_mean',
              solver: str = 'gram',
              valid_mask: Optional[Tensor] = None,
              eps: float = 1e-7) -> Tensor:
    """Eigen-CAM maps (B, H, W) in [0, 1] from activations (B, C, H, W).

    ``ReLU(L)`` of :func:`eigen_projection`, min-max normalised per image.
    ``center=True`` (with any sign rule) reproduces pytorch-grad-cam's
    ``EigenCAM`` maps at the feature resolution up to the per-image sign.

    Args:
        activations (Tensor): (B, C, H, W) activations on any device.
        center (bool): Centre each channel before the decomposition.
            Defaults to False (the paper's definition).
        sign (str): ``'channel_mean'`` (default), ``'max_abs'`` (alias
            ``'max'``) or ``'none'``.
        solver (str): ``'gram'`` (default), ``'svd'`` or ``'lowrank'``.
        valid_mask (Tensor, optional): (B, H, W) bool mask of non-padded
            positions; padded positions get 0.
        eps (float): Added to the value range in the min-max normalisation.
            Defaults to 1e-7 (as the reference library).

    Returns:
        Tensor: (B, H, W) maps in [0, 1] on the activations' device.
    """
    proj = eigen_projection(
        activations,
        center=center,
        sign=sign,
        solver=solver,
        valid_mask=valid_mask)
    return normalize_cams(F.relu(proj), valid_mask, eps)
