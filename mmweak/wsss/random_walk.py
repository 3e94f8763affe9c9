# Copyright (c) mmweak contributors.
"""Inter-pixel affinities from a class-boundary map and the random walk that
propagates class attention maps with them (IRN: Ahn, Cho and Kwak, "Weakly
Supervised Learning of Instance Segmentation with Inter-pixel Relations",
CVPR 2019).

Pairs and paths
    A pixel pair is a pixel ``i`` and a neighbour ``j = i + d`` with
    ``0 < |d| < radius`` (Euclidean, on the map grid). Only the offsets of one
    half-plane are enumerated (``dy > 0``, or ``dy == 0`` and ``dx > 0``), so
    each unordered pair appears once; the affinity is symmetric.
    The *path* of an offset ``d`` is every grid cell of the bounding box of
    ``0`` and ``d`` whose perpendicular distance to the line through them is
    below one cell: a one-cell-wide tube holding both end points.

Affinity (IRN, class-boundary affinity)
    ``a_ij = 1 - max_{k in path(i, j)} B(x_k)``: two pixels are related unless
    a class boundary (boundary probability ``B``) lies between them.

Random walk (IRN, propagation of the class maps)
    ``T = D^-1 A^{o beta}`` with ``A`` the symmetric affinity matrix
    (``a_ii = 1``; no pairs farther than ``radius``) raised element-wise to
    ``beta`` and ``D`` its row sums, so every row of ``T`` sums to one.
    The class maps, with boundary pixels suppressed, are propagated by
    ``vec(M*_c) = T^t vec(M_c * (1 - B))`` with ``t = 2 ** exp_times``
    (IRN squares its transition matrix ``exp_times`` times; ``t = 256``).
"""
import functools
import warnings
from typing import List, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# ``propagate(method='auto')`` squares a dense matrix only on accelerators and
# only up to this many nodes (a 64x64 grid; 64 MB per float32 matrix). On the
# CPU it always uses sparse products: measured on 2 shared cores, a 32x32 grid
# took 1.3 s dense (8 products of 1024^3) against 0.4 s sparse (256 products
# with 69 entries per row), and the gap grows as (h w)^2.
DENSE_MAX_NODES = 4096

_METHODS = ('auto', 'dense', 'sparse')


def _check_radius(radius: int) -> int:
    if int(radius) != radius or radius < 2:
        raise ValueError(f'radius must be an integer >= 2 (pairs with '
                         f'0 < |d| < radius), got {radius}')
    return int(radius)


@functools.lru_cache(maxsize=None)
def pair_offsets(radius: int) -> Tuple[Tuple[int, int], ...]:
    """Half-plane offsets ``(dy, dx)`` with ``0 < dy^2 + dx^2 < radius^2``.

    Args:
        radius (int): Pair radius on the map grid (IRN: 10 for training at
            stride 4, 5 for the random walk).

    Returns:
        tuple[tuple[int, int]]: ``dy > 0``, or ``dy == 0`` and ``dx > 0``;
        e.g. 34 offsets for radius 5 and 152 for radius 10.
    """
    r = _check_radius(radius)
    return tuple((dy, dx) for dy in range(r) for dx in range(-r + 1, r)
                 if (dy > 0 or dx > 0) and dy * dy + dx * dx < r * r)


@functools.lru_cache(maxsize=None)
def pair_paths(radius: int) -> Tuple[Tuple[Tuple[int, int], ...], ...]:
    """Cells ``(cy, cx)`` between ``0`` and each offset of
    :func:`pair_offsets`, end points included (see the module docstring)."""
    paths = []
    for dy, dx in pair_offsets(radius):
        norm_sq = dy * dy + dx * dx
        paths.append(tuple(
            (cy, cx) for cy in range(min(0, dy), max(0, dy) + 1)
            for cx in range(min(0, dx), max(0, dx) + 1)
            if (dy * cx - dx * cy)**2 < norm_sq))
    return tuple(paths)


def _shifted(padded: Tensor, cy: int, cx: int, pad: int, size: Tuple[int,
                                                                     int]):
    """``padded[..., y + cy, x + cx]`` for every (y, x) of the unpadded
    grid; ``padded`` has ``pad`` extra columns left and right and ``pad``
    extra rows at the bottom."""
    h, w = size
    return padded[..., cy:cy + h, pad + cx:pad + cx + w]


@functools.lru_cache(maxsize=None)
def _path_groups(radius: int) -> Tuple[Tuple[Tuple[int, ...], Tuple[Tuple[
        Tuple[int, int], ...], ...]], ...]:
    """Offsets grouped by path length: ``((offset ids), (paths))`` per
    length, so that one gather serves every offset of a group."""
    by_length = {}
    for i, cells in enumerate(pair_paths(radius)):
        by_length.setdefault(len(cells), []).append(i)
    paths = pair_paths(radius)
    return tuple((tuple(ids), tuple(paths[i] for i in ids))
                 for _, ids in sorted(by_length.items()))


# upper bound on the elements of one gathered (images, offsets, path, pixels)
# block in :func:`pairwise_affinity` (64 MB of float32)
_GATHER_BUDGET = 1 << 24


def pairwise_affinity(edge: Tensor, radius: int) -> Tensor:
    """Boundary-based affinities of every pair within ``radius`` (IRN).

    ``out[..., k, y, x] = 1 - max_{c in path_k} edge[..., y + c_y, x + c_x]``
    for the k-th offset of :func:`pair_offsets`, i.e. the affinity between
    pixel ``(y, x)`` and ``(y, x) + offset_k``. Pairs whose second pixel
    falls outside the grid get 0 (outside counts as boundary). The maximum is
    differentiable (gradients flow to the arg-max cell of each path).

    Vectorised over images, pixels and offsets: the offsets are grouped by
    path length and each group is one gather from the padded map plus one
    maximum (chunked so that a gathered block stays under 64 MB).

    Args:
        edge (Tensor): Boundary probabilities in [0, 1], ``(..., h, w)``.
        radius (int): Pair radius.

    Returns:
        Tensor: ``(..., D, h, w)`` with ``D = len(pair_offsets(radius))``.
    """
    if edge.dim() < 2:
        raise ValueError(f'edge must be (..., h, w), got {tuple(edge.shape)}')
    r = _check_radius(radius) - 1  # farthest reach of an offset
    h, w = edge.shape[-2:]
    lead = edge.shape[:-2]
    padded = F.pad(edge.reshape(-1, 1, h, w), (r, r, 0, r), value=1.0)
    width = w + 2 * r
    # cells major, images minor: a gather then copies contiguous rows
    table = padded.flatten(1).t().contiguous()  # ((h + r)(w + 2r), M)
    device = edge.device
    ys = torch.arange(h, device=device).view(h, 1)
    xs = torch.arange(w, device=device).view(1, w)
    base = (ys * width + xs + r).reshape(-1)  # (N,) pixel -> padded cell
    order, pieces = [], []
    for ids, paths in _path_groups(radius):
        cells = torch.tensor(paths, device=device)  # (Dg, L, 2)
        shift = cells[..., 0] * width + cells[..., 1]  # (Dg, L)
        length = shift.size(1)
        step = max(1, _GATHER_BUDGET // (table.size(1) * length *
                                         base.numel()))
        for lo in range(0, len(ids), step):
            index = (shift[lo:lo + step, :, None] + base).reshape(-1)
            block = table.index_select(0, index).view(-1, length,
                                                      base.numel(),
                                                      table.size(1))
            # max over the path; max(dim) keeps only the arg-max indices
            # for backward, not the gathered block
            pieces.append(block.max(dim=1).values)  # (d, N, M)
        order.extend(ids)
    path_max = torch.cat(pieces, dim=0)  # (D, N, M), grouped order
    inverse = torch.empty(len(order), dtype=torch.long, device=device)
    inverse[torch.tensor(order, device=device)] = torch.arange(
        len(order), device=device)
    aff = 1.0 - path_max.index_select(0, inverse).permute(2, 0, 1)
    return aff.reshape(*lead, len(order), h, w)


def pair_targets(labels: Tensor, radius: int,
                 fill_value: int = 255) -> Tensor:
    """Label of the second pixel of every pair: ``(..., D, h, w)``.

    ``out[..., k, y, x] = labels[..., (y, x) + offset_k]``, ``fill_value``
    where that pixel is outside the grid.

    Args:
        labels (Tensor): Integer label maps ``(..., h, w)``.
        radius (int): Pair radius.
        fill_value (int): Label given to pixels outside. Defaults to 255.
    """
    r = _check_radius(radius) - 1
    size = tuple(labels.shape[-2:])
    lead = labels.shape[:-2]
    flat = labels.reshape(-1, *size).long()
    padded = F.pad(flat, (r, r, 0, r), value=fill_value)
    out = torch.stack([
        _shifted(padded, dy, dx, r, size)
        for dy, dx in pair_offsets(radius)
    ], dim=1)
    return out.reshape(*lead, out.size(1), *size)


def _pair_index(size: Tuple[int, int], radius: int,
                device: torch.device) -> Tuple[Tensor, Tensor]:
    """Flat indices ``(src, dst)`` of every in-grid pair, offsets major,
    plus the mask selecting them from a ``(D, h, w)`` pair tensor."""
    h, w = size
    offsets = torch.tensor(pair_offsets(radius), device=device)  # (D, 2)
    ys = torch.arange(h, device=device).view(1, h, 1)
    xs = torch.arange(w, device=device).view(1, 1, w)
    dst_y = ys + offsets[:, 0].view(-1, 1, 1)
    dst_x = xs + offsets[:, 1].view(-1, 1, 1)
    inside = (dst_y < h) & (dst_x >= 0) & (dst_x < w)  # (D, h, w)
    src = (ys * w + xs).expand_as(inside)[inside]
    dst = (dst_y * w + dst_x)[inside]
    return torch.stack([src, dst]), inside


def affinity_from_boundary(edge: Tensor,
                           radius: int = 5,
                           beta: float = 10.0,
                           layout: str = 'sparse') -> Tensor:
    """Random-walk transition matrix ``T = D^-1 A^{o beta}`` (IRN).

    ``A`` holds ``a_ij`` (:func:`pairwise_affinity`) for every pair with
    ``|i - j| < radius``, both directions (symmetric), and ``a_ii = 1``; all
    other entries are 0.
    Every row of ``T`` sums to one.

    Args:
        edge (Tensor): Boundary probabilities ``(h, w)`` in [0, 1].
        radius (int): Pair radius. Defaults to 5 (IRN's random walk).
        beta (float): Exponent sharpening the affinities. Defaults to 10.
        layout (str): ``'sparse'`` (CSR, ``(2 P + N)`` stored entries for
            ``P`` pairs) or ``'dense'``. Defaults to ``'sparse'``.

    Returns:
        Tensor: ``(N, N)`` with ``N = h * w`` (row-major pixel order).
    """
    if edge.dim() != 2:
        raise ValueError(f'edge must be (h, w), got {tuple(edge.shape)}')
    if layout not in ('sparse', 'dense'):
        raise ValueError(f"layout must be 'sparse' or 'dense', got {layout!r}")
    edge = edge.float() if not edge.is_floating_point() else edge
    h, w = edge.shape
    n = h * w
    index, inside = _pair_index((h, w), radius, edge.device)
    weight = pairwise_affinity(edge, radius).clamp(min=0)[inside]**beta
    diag = torch.arange(n, device=edge.device)
    rows = torch.cat([index[0], index[1], diag])
    cols = torch.cat([index[1], index[0], diag])
    vals = torch.cat([weight, weight, torch.ones_like(diag, dtype=edge.dtype)])
    degree = torch.zeros(n, dtype=edge.dtype, device=edge.device)
    degree.index_add_(0, rows, vals)
    vals = vals / degree[rows]
    if layout == 'dense':
        trans = torch.zeros(n, n, dtype=edge.dtype, device=edge.device)
        trans[rows, cols] = vals
        return trans
    with warnings.catch_warnings():  # torch flags sparse CSR as beta
        warnings.simplefilter('ignore', UserWarning)
        return torch.sparse_coo_tensor(
            torch.stack([rows, cols]), vals,
            (n, n)).coalesce().to_sparse_csr()


def propagate(cams: Tensor,
              edge: Tensor,
              beta: float = 10.0,
              exp_times: int = 8,
              radius: int = 5,
              method: str = 'auto') -> Tensor:
    """Random-walk propagation of class maps within class boundaries
    (IRN): ``vec(M*_c) = T^t vec(M_c * (1 - B))``, ``t = 2^exp_times``.

    All classes are propagated together (one matrix product per step for
    the ``(N, K)`` stack of maps). Two equivalent evaluations of ``T^t``:

    - ``'dense'``: square the dense ``(N, N)`` transition matrix
      ``exp_times`` times, as IRN does, then one product. Memory ``N^2``
      (a 64x64 grid: 64 MB per matrix) and ``exp_times`` dense ``N^3``
      products; fast on a GPU for small grids.
    - ``'sparse'``: ``2^exp_times`` sparse-by-dense products with the CSR
      matrix (``T`` is never squared, so it stays sparse): memory linear in
      ``N`` and time ``2^exp_times * nnz * K``; the only option for
      ~128x128 grids (a dense matrix would take 1 GB).
    - ``'auto'``: sparse on the CPU (always faster there: 0.4 s against
      1.3 s for 32x32 on 2 cores); on other devices dense up to
      :data:`DENSE_MAX_NODES` nodes, else sparse.

    Args:
        cams (Tensor): Class maps ``(K, h, w)`` at the boundary map's grid.
        edge (Tensor): Boundary probabilities ``(h, w)`` in [0, 1].
        beta (float): Affinity exponent. Defaults to 10.
        exp_times (int): ``log2`` of the number of walk steps. Defaults to 8.
        radius (int): Pair radius. Defaults to 5.
        method (str): ``'auto'``, ``'dense'`` or ``'sparse'``.

    Returns:
        Tensor: Propagated maps ``(K, h, w)`` (float).
    """
    if cams.dim() != 3:
        raise ValueError(f'cams must be (K, h, w), got {tuple(cams.shape)}')
    if edge.shape != cams.shape[-2:]:
        raise ValueError(f'edge {tuple(edge.shape)} must match the class '
                         f'maps (h, w) = {tuple(cams.shape[-2:])}')
    if method not in _METHODS:
        raise ValueError(f'method must be one of {_METHODS}, got {method!r}')
    if int(exp_times) != exp_times or exp_times < 0:
        raise ValueError(f'exp_times must be an integer >= 0, got {exp_times}')
    k, h, w = cams.shape
    edge = edge.detach().float()  # inference only: not differentiable
    x = (cams.detach().float() * (1.0 - edge)).reshape(k, h * w).t()  # (N, K)
    if k == 0:
        return x.t().reshape(k, h, w)
    if method == 'auto':
        small = h * w <= DENSE_MAX_NODES
        method = 'dense' if small and edge.device.type != 'cpu' else 'sparse'
    trans = affinity_from_boundary(edge, radius, beta, layout=method)
    if method == 'dense':
        for _ in range(int(exp_times)):
            trans = trans @ trans
        x = trans @ x
    else:
        x = _sparse_power_apply(trans, x, 2**int(exp_times))
    return x.t().reshape(k, h, w)


def _sparse_power_apply(trans: Tensor, x: Tensor, steps: int) -> Tensor:
    """``trans^steps @ x`` by repeated sparse products (scipy's CSR kernel
    on the CPU, several times faster there than torch's; torch's elsewhere).
    """
    if trans.device.type != 'cpu':
        for _ in range(steps):
            x = trans @ x
        return x
    from scipy.sparse import csr_matrix
    mat = csr_matrix((trans.values().numpy(), trans.col_indices().numpy(),
                      trans.crow_indices().numpy()),
                     shape=tuple(trans.shape))
    out = np.ascontiguousarray(x.numpy())
    for _ in range(steps):
        out = mat @ out
    return torch.from_numpy(out).to(x.dtype)


def num_pairs(size: Tuple[int, int], radius: int) -> int:
    """Number of in-grid pairs (each unordered pair once) of an (h, w) grid."""
    h, w = size
    return sum(
        max(h - dy, 0) * max(w - abs(dx), 0)
        for dy, dx in pair_offsets(radius))


__all__: List[str] = [
    'pair_offsets', 'pair_paths', 'pairwise_affinity', 'pair_targets',
    'affinity_from_boundary', 'propagate', 'num_pairs', 'DENSE_MAX_NODES'
]
