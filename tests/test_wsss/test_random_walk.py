# Copyright (c) mmweak contributors.
"""IRN's boundary affinities and random walk (mmweak.wsss.random_walk)
against explicit loops over pixel pairs and dense matrix powers."""
import pytest
import torch

from mmweak.wsss.random_walk import (affinity_from_boundary, num_pairs,
                                     pair_offsets, pair_paths, pair_targets,
                                     pairwise_affinity, propagate)


def _explicit_affinity(edge: torch.Tensor, radius: int) -> torch.Tensor:
    """(D, h, w) affinities by a loop over every pixel and offset."""
    h, w = edge.shape
    out = torch.zeros(len(pair_offsets(radius)), h, w)
    for k, ((dy, dx), cells) in enumerate(
            zip(pair_offsets(radius), pair_paths(radius))):
        for y in range(h):
            for x in range(w):
                if y + dy < h and 0 <= x + dx < w:
                    out[k, y, x] = 1 - max(
                        float(edge[y + cy, x + cx]) for cy, cx in cells)
    return out


def _explicit_transition(edge: torch.Tensor, radius: int,
                         beta: float) -> torch.Tensor:
    """Dense D^-1 A^beta built pair by pair (float64)."""
    h, w = edge.shape
    n = h * w
    aff = _explicit_affinity(edge, radius).double()
    mat = torch.eye(n, dtype=torch.float64)
    for k, (dy, dx) in enumerate(pair_offsets(radius)):
        for y in range(h):
            for x in range(w):
                if y + dy < h and 0 <= x + dx < w:
                    i, j = y * w + x, (y + dy) * w + x + dx
                    mat[i, j] = mat[j, i] = aff[k, y, x]**beta
    return mat / mat.sum(dim=1, keepdim=True)


def test_offsets_cover_each_pair_once():
    offsets = pair_offsets(5)
    assert len(offsets) == 34  # IRN's 34 search directions at radius 5
    assert len(set(offsets)) == len(offsets)
    for dy, dx in offsets:
        assert dy > 0 or (dy == 0 and dx > 0)
        assert 0 < dy * dy + dx * dx < 25
        assert (-dy, -dx) not in offsets
    assert pair_offsets(2) == ((0, 1), (1, -1), (1, 0), (1, 1))
    for (dy, dx), cells in zip(offsets, pair_paths(5)):
        assert (0, 0) in cells and (dy, dx) in cells
    with pytest.raises(ValueError, match='radius'):
        pair_offsets(1)


def test_pairwise_affinity_matches_explicit_loop():
    torch.manual_seed(0)
    edge = torch.rand(2, 6, 7)
    for radius in (2, 3, 5):
        aff = pairwise_affinity(edge, radius)
        assert aff.shape == (2, len(pair_offsets(radius)), 6, 7)
        for b in range(2):
            torch.testing.assert_close(
                aff[b], _explicit_affinity(edge[b], radius))
    # number of in-grid pairs
    inside = pair_targets(torch.zeros(6, 7), 3, fill_value=255) != 255
    assert int(inside.sum()) == num_pairs((6, 7), 3)


def test_pairwise_affinity_gradient_reaches_path_maximum():
    edge = torch.tensor([[0.1, 0.5, 0.2]], requires_grad=True)
    aff = pairwise_affinity(edge, 2)  # offsets (0,1),(1,-1),(1,0),(1,1)
    assert aff[0, 0].tolist() == pytest.approx([0.5, 0.5, 0.0])
    aff[0, 0, 0].backward()  # pair (0,0)-(0,1): max is edge[0,1]
    assert edge.grad.tolist() == [[0.0, -1.0, 0.0]]


def test_transition_rows_sum_to_one_and_match_dense():
    torch.manual_seed(0)
    edge = torch.rand(5, 6) * 0.6
    explicit = _explicit_transition(edge, 3, beta=10).float()
    dense = affinity_from_boundary(edge, radius=3, beta=10, layout='dense')
    sparse = affinity_from_boundary(edge, radius=3, beta=10)
    assert sparse.layout == torch.sparse_csr
    torch.testing.assert_close(dense, explicit)
    torch.testing.assert_close(sparse.to_dense(), explicit)
    torch.testing.assert_close(dense.sum(1), torch.ones(30))
    # D T = A^beta is symmetric
    degree_scaled = dense * (1 / dense.diagonal())[:, None]
    torch.testing.assert_close(degree_scaled, degree_scaled.t())


def test_propagate_matches_explicit_matrix_power():
    torch.manual_seed(0)
    edge = torch.rand(5, 6) * 0.6
    cams = torch.rand(2, 5, 6)
    trans = _explicit_transition(edge, 5, beta=10)
    x = (cams.double() * (1 - edge.double())).reshape(2, -1).t()
    for exp_times in (0, 3, 8):
        expected = (torch.linalg.matrix_power(trans, 2**exp_times) @ x)
        expected = expected.t().reshape(2, 5, 6).float()
        for method in ('dense', 'sparse', 'auto'):
            out = propagate(
                cams, edge, beta=10, exp_times=exp_times, radius=5,
                method=method)
            torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)


def test_walk_spreads_within_boundary_not_across():
    h, w = 12, 14
    edge = torch.zeros(h, w)
    edge[:, 7] = 1.0  # a vertical class boundary
    cams = torch.zeros(1, h, w)
    cams[0, 1:3, 1:3] = 1.0  # mass in the top-left corner only
    out = propagate(cams, edge, beta=10, exp_times=8, radius=5)[0]
    left, right = out[:, :7], out[:, 8:]
    assert float(right.abs().max()) < 1e-7  # nothing crosses the boundary
    assert float(out[:, 7].abs().max()) < 1e-7  # boundary cells get none
    assert float(left.min()) > 0  # the whole side receives mass
    # after 256 steps the side is nearly flat (diffusion within the region)
    assert float(left.max() / left.min()) < 1.5
    # without a boundary the mass also reaches the right side
    free = propagate(cams, torch.zeros(h, w), exp_times=8)[0]
    assert float(free[:, 8:].min()) > 0


def test_constant_maps_are_kept_and_empty_stack():
    torch.manual_seed(0)
    edge = torch.rand(6, 6) * 0.3
    ones = torch.ones(2, 6, 6)
    # rows of T sum to one: a constant map stays constant (no boundary)
    out = propagate(ones, torch.zeros(6, 6), exp_times=4)
    torch.testing.assert_close(out, ones)
    assert propagate(torch.zeros(0, 6, 6), edge).shape == (0, 6, 6)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match='edge'):
        propagate(torch.rand(1, 4, 4), torch.rand(4, 5))
    with pytest.raises(ValueError, match='cams'):
        propagate(torch.rand(4, 4), torch.rand(4, 4))
    with pytest.raises(ValueError, match='method'):
        propagate(torch.rand(1, 4, 4), torch.rand(4, 4), method='magic')
    with pytest.raises(ValueError, match='layout'):
        affinity_from_boundary(torch.rand(4, 4), layout='coo')
