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
from functools import partial
from typing import Callable, List, Optional, Sequence, Tuple

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


def _per_image(fn: Callable, *args: Optional[Tensor]) -> Tuple[Tensor, ...]:
    """``fn(*args)`` for a routine that treats every image of a batch on its
    own, as a tuple of tensors; ``args`` are tensors with the batch as their
    first dimension, or None.

    On the CPU, the batch is split over ``torch.get_num_threads()`` Python
    threads that each run single-threaded. Intra-op (OpenMP) threads gain
    little on the per-image work of Eigen-CAM, and their synchronisation in
    every call is very slow when the cores are shared with other work: a
    batched 49 x 49 ``eigh`` measured 0.03 s single-threaded against 6 s with
    two OpenMP threads on a loaded 2-core machine, and even a per-channel
    mean of 64 x 2048 x 7 x 7 activations 4 ms against 24 ms; the many small
    steps of an iterative solver suffer most. Each image is treated on its
    own, so results do not depend on the split. The thread setting is
    restored afterwards.
    """
    mat = args[0]
    threads = torch.get_num_threads()
    if mat.device.type != 'cpu' or threads <= 1 or not mat.shape[0]:
        return tuple(fn(*args))
    parts = min(threads, mat.shape[0])
    chunks = [
        arg.chunk(parts) if arg is not None else [None] * parts
        for arg in args
    ]
    chunks = list(zip(*chunks))
    torch.set_num_threads(1)
    try:
        if len(chunks) == 1:
            return tuple(fn(*args))
        with ThreadPoolExecutor(len(chunks)) as pool:
            outs = [tuple(p) for p in pool.map(lambda c: fn(*c), chunks)]
    finally:
        torch.set_num_threads(threads)
    return tuple(torch.cat(out) for out in zip(*outs))


def _lapack(fn: Callable, mat: Tensor) -> Tuple[Tensor, ...]:
    """``fn(mat)`` for a batched LAPACK routine, as a tuple of tensors, split
    over threads on the CPU as in :func:`_per_image`."""
    return _per_image(fn, mat)


def _thin_svd(mat: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    # never full_matrices=True: U alone would be N x N
    return torch.linalg.svd(mat, full_matrices=False)


# Gram matrices at least this large go through the Lanczos iteration of
# ``_leading_eigenpair``; smaller ones straight to a batched ``eigh``.
_ITERATIVE_MIN_SIZE = 96
# Lanczos steps after which convergence is checked (the last one bounds the
# iteration; images still unconverged there go to ``eigh``). Data with a
# dominant component converge in 4 to 9 steps, noise-like spectra in 24 to
# 46 (median 32); a check costs a batched ``eigh`` of the (steps x steps)
# Lanczos matrix, several steps' worth from 32 steps on.
_LANCZOS_CHECKS = (8, 16, 32, 38, 44, 52, 64, 80, 96)
# convergence: residual ||G v - theta v|| <= _LANCZOS_TOL * eps * theta, a
# backward error of the order of ``eigh``'s in the same precision
_LANCZOS_TOL = 8


def _leading_eigenpair(gram: Tensor,
                       tol: Optional[float] = None,
                       checks: Sequence[int] = _LANCZOS_CHECKS
                       ) -> Tuple[Tensor, Tensor]:
    """Largest eigenvalue ``(B,)`` and its unit eigenvector ``(B, N)`` of a
    batch of symmetric positive semi-definite matrices ``(B, N, N)``.

    Matrices smaller than ``_ITERATIVE_MIN_SIZE`` go to a batched ``eigh``.
    Larger ones run a batched Lanczos iteration with full
    re-orthogonalisation (classical Gram-Schmidt, twice) from one start
    vector drawn from a private fixed-seed generator, so an image's result
    depends neither on the rest of the batch nor on the global RNG. After the
    steps in ``checks`` the tridiagonal Lanczos matrix is diagonalised; an
    image is done as soon as the residual of its leading Ritz pair,
    ``||G v - theta v|| = beta_m |y_m|``, is at most ``tol * theta`` (default
    ``tol``: ``_LANCZOS_TOL`` machine epsilons of the dtype, about the
    residual of ``eigh``'s own result), i.e. ``v`` is the exact leading
    eigenvector of a matrix within ``tol * theta`` of ``G``. Its angle to the
    true eigenvector is then at most ``tol * theta / gap`` (``gap`` = lambda_1
    - lambda_2), the same conditioning as ``eigh``; with a (near-)repeated
    leading eigenvalue the result is a unit vector of the leading eigenspace
    (the component of the start vector in it), as arbitrary as ``eigh``'s.
    A zero matrix gives a zero pair. Images not converged after the last
    check fall back to ``eigh``.

    Cost: one pass over ``G`` per step (as a batched vector-matrix product,
    the fast layout on the CPU) plus the checks; data with a dominant
    component converge at the first or second check, noise-like
    (Marchenko-Pastur) spectra within 24 to 48 steps; a full ``eigh`` per
    image costs several times as much even then.
    """
    batch, num, _ = gram.shape
    if num < _ITERATIVE_MIN_SIZE or batch == 0:
        vals, vecs = _lapack(torch.linalg.eigh, gram)
        return vals[..., -1], vecs[..., -1]
    dtype, device = gram.dtype, gram.device
    eps = torch.finfo(dtype).eps
    tol = _LANCZOS_TOL * eps if tol is None else tol
    steps = min(max(checks), num)
    checks = {c for c in checks if c < steps} | {steps}
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(num, generator=gen, dtype=torch.float64)
    start = (start / start.norm()).to(device=device, dtype=dtype)
    val = gram.new_zeros(batch)
    vec = gram.new_zeros(batch, num)
    rows = torch.arange(batch, device=device)  # images still iterating
    pending = torch.ones(batch, dtype=torch.bool, device=device)
    mats = gram
    # Lanczos vectors as rows (a row is written before it is read)
    basis = gram.new_empty(batch, steps + 1, num)
    basis[:, 0] = start
    alphas: List[Tensor] = []  # diagonal of the Lanczos matrix, (B,) each
    betas: List[Tensor] = []  # its off-diagonal
    # a norm below this means an invariant Krylov space (lambda_1 <= trace);
    # the next vector is then (near) zero
    floor = (eps * torch.diagonal(gram, dim1=1, dim2=2).sum(-1)).clamp(
        min=torch.finfo(dtype).tiny).unsqueeze(-1)
    cur = basis[:, 0]
    for step in range(steps):
        # G q as q^T G (G is symmetric): much faster than a batched
        # matrix-vector product on the CPU
        new = torch.bmm(cur.unsqueeze(1), mats)  # (B, 1, N)
        prev = basis[:, :step + 1]  # (B, j, N)
        # full re-orthogonalisation, classical Gram-Schmidt twice; the first
        # coefficient on the newest vector is alpha = q^T G q
        coef = torch.bmm(new, prev.transpose(1, 2))  # (B, 1, j)
        alphas.append(coef[:, 0, step])
        new = torch.baddbmm(new, coef, prev, alpha=-1)
        coef = torch.bmm(new, prev.transpose(1, 2))
        new = torch.baddbmm(new, coef, prev, alpha=-1).squeeze(1)
        norm = torch.linalg.vector_norm(new, dim=-1, keepdim=True)
        betas.append(norm.squeeze(-1))
        cur = new / torch.maximum(norm, floor)
        basis[:, step + 1] = cur
        if step + 1 not in checks:
            continue
        size = step + 1
        # check the images not yet done
        pick = pending.nonzero().squeeze(-1)
        alpha = torch.stack(alphas, dim=-1)[pick]
        beta = torch.stack(betas, dim=-1)[pick]
        off = torch.diag_embed(beta[:, :-1], offset=1)
        thetas, coords = torch.linalg.eigh(
            torch.diag_embed(alpha) + off + off.transpose(1, 2))
        theta, coord = thetas[:, -1], coords[..., -1]
        resid = beta[:, -1] * coord[:, -1].abs()
        done = (resid <= tol * theta) | (theta <= 0)  # theta <= 0: G = 0
        if not done.any():
            continue
        got = pick[done]
        val[rows[got]] = theta[done]
        vec[rows[got]] = torch.bmm(coord[done].unsqueeze(1),
                                   basis[got, :size]).squeeze(1)
        pending[got] = False
        left = int(pending.sum())
        if not left:
            break
        if 2 * left <= pending.numel():
            # go on with the others only once they are at most half (the
            # copy costs about a step; done images otherwise keep iterating
            # without effect on their result)
            keep = pending.nonzero().squeeze(-1)
            rows, mats, pending = rows[keep], mats[keep], pending[keep]
            basis = basis[keep]
            alphas = [a[keep] for a in alphas]
            betas = [b[keep] for b in betas]
            floor, cur = floor[keep], cur[keep]
    rows = rows[pending]
    if rows.numel():
        vals, vecs = _lapack(torch.linalg.eigh, gram[rows])
        val[rows] = vals[..., -1]
        vec[rows] = vecs[..., -1]
    return val, vec


def _gram_projection(mat: Tensor,
                     check_nan: bool = False) -> Optional[Tensor]:
    """``mat @ v1`` (B, N) for a batch ``mat`` (B, N, C), arbitrary sign per
    image, from the leading eigenpair of the Gram matrix on the smaller side
    (exact up to the solver's rounding; see ``_leading_eigenpair``). With
    ``check_nan``, None when the Gram matrix has a NaN on its diagonal (i.e.
    ``mat`` has one)."""
    num, chans = mat.shape[-2:]
    side = chans <= num
    gram = torch.bmm(mat.transpose(1, 2), mat) if side else \
        torch.bmm(mat, mat.transpose(1, 2))  # (B, C, C) or (B, N, N)
    if check_nan and torch.diagonal(gram, dim1=1, dim2=2).isnan().any():
        return None
    val, vec = _leading_eigenpair(gram)
    if side:
        # mat @ v1, as a row-vector product (the fast layout on the CPU)
        return torch.bmm(vec.unsqueeze(1), mat.transpose(1, 2)).squeeze(1)
    # O v1 = s1 u1 and s1^2 is the largest eigenvalue of O O^T
    return vec * val.clamp(min=0).sqrt().unsqueeze(-1)


def _leading_projection(mat: Tensor, solver: str, q: int = 6,
                        niter: int = 4) -> Tensor:
    """Projection ``mat @ v1`` of each row onto the leading right singular
    vector, for a batch ``mat`` of shape (B, N, C). Returns (B, N) with an
    arbitrary sign per image."""
    num, chans = mat.shape[-2:]
    if solver == 'gram':
        return _gram_projection(mat)
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
    v1 = torch.bmm(proj.unsqueeze(1), mat).squeeze(1)  # (B, C)
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
            or, from 96 x 96 up, by a batched Lanczos iteration converged to
            ``eigh``'s residual, with an ``eigh`` fallback), ``'svd'``
            (batched thin SVD) or ``'lowrank'`` (deterministic randomized
            subspace iteration, for very large maps such as FPN P2).
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
    mask = None
    if valid_mask is not None:
        if tuple(valid_mask.shape) != (batch, height, width):
            raise ValueError('`valid_mask` must have shape (B, H, W) = '
                             f'{(batch, height, width)}, got '
                             f'{tuple(valid_mask.shape)}.')
        mask = valid_mask.to(device=activations.device, dtype=torch.bool)
        mask = mask.flatten(1)  # (B, HW)
    with torch.no_grad():
        # TF32 would square its rounding error into the Gram matrix
        tf32 = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = False
        try:
            # the whole per-image computation, split over threads on the CPU
            proj = _per_image(
                partial(
                    _projection,
                    center=center,
                    sign=sign,
                    solver=solver,
                    dtype=dtype), activations.detach(), mask)[0]
        finally:
            torch.backends.cuda.matmul.allow_tf32 = tf32
    return proj.reshape(batch, height, width)


def _projection(feats: Tensor,
                mask: Optional[Tensor],
                center: bool,
                sign: str,
                solver: str,
                dtype: torch.dtype,
                nan_checked: bool = False) -> Tuple[Tensor]:
    """Body of :func:`eigen_projection` for (a chunk of) the batch: ``feats``
    (B, C, H, W), ``mask`` (B, HW) bool or None; returns ((B, HW), )."""
    feats = feats.to(dtype)
    # NaN -> 0 (inf is kept). On the CPU the gram solver skips this pass
    # over the activations: a NaN anywhere reaches the diagonal of the Gram
    # matrix, and the chunk is then computed again with it.
    skip = solver == 'gram' and feats.device.type == 'cpu' and not nan_checked
    if not skip:
        feats = torch.nan_to_num(
            feats, nan=0.0, posinf=float('inf'), neginf=float('-inf'))
    mat = feats.flatten(2).transpose(1, 2)  # (B, HW, C)
    if mask is not None:
        mat = mat * mask.unsqueeze(-1).to(dtype)
    if center:
        if mask is None:
            mat = mat - mat.mean(dim=1, keepdim=True)
        else:
            count = mask.sum(dim=1).clamp(min=1).to(dtype)
            mean = mat.sum(dim=1) / count.unsqueeze(-1)
            mat = (mat - mean.unsqueeze(1)) * mask.unsqueeze(-1).to(dtype)
    if solver == 'gram':
        proj = _gram_projection(mat, check_nan=skip)
        if proj is None:
            return _projection(feats, mask, center, sign, solver, dtype, True)
    else:
        proj = _leading_projection(mat, solver)
    proj = proj * _orientation(proj, mat, sign, mask).unsqueeze(-1)
    if mask is not None:
        proj = proj * mask.to(dtype)
    return (proj, )


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
