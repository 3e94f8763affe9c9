# Copyright (c) mmweak contributors.
"""MARS functional core on synthetic features with planted biased objects:
K-means (batched == alone, planted clusters, degenerate cases, seeding),
ranking (target centroids selected, 'min', chunking, hand example), the
sanity metric, the similarity map, binarisation and Eq. 5."""
import importlib.util
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmweak.wsss import (background_distance, binarize_similarity,
                         cluster_image_classes, cluster_target_flags,
                         collect_centroids, debias_label, kmeans_batched,
                         rank_centroids, selected_target_share,
                         similarity_map)
from mmweak.wsss.mars import (FeatureProjection, feature_moments,
                              fit_feature_projection, num_selected)

HAS_CRF = importlib.util.find_spec('pydensecrf') is not None

D = 16
E = torch.eye(D)
BG, BIAS = E[0], E[1]  # background texture and the biased object ("rails")
TARGET = {1: E[2], 2: E[3]}  # true object direction per class
PART = E[4]  # splits unbiased objects into two parts (clean K=2 split)
N_IMG, GRID, STRIDE = 12, 8, 2


def planted_data(noise=0.03, seed=0):
    """12 images, features (12, D, 8, 8), labels (12, 16, 16), GT (12, 8, 8).

    Images 0-5 hold class 1, 6-11 class 2, in rows 2-5, columns 1-6 of the
    feature grid. In even images, columns 4-6 of the object are the biased
    object (direction BIAS; GT background); columns 1-3 are the target. In
    odd images the object is all target, as two parts target +- PART, and
    rows 6-7 of the background show the biased object. Label (0, 0) of
    every image is 255.
    """
    gen = torch.Generator().manual_seed(seed)
    feats = BG.view(1, D, 1, 1).repeat(N_IMG, 1, GRID, GRID)
    labels = torch.zeros(N_IMG, GRID, GRID, dtype=torch.long)
    gt = torch.zeros(N_IMG, GRID, GRID, dtype=torch.long)
    for i in range(N_IMG):
        c = 1 if i < 6 else 2
        t = TARGET[c]
        labels[i, 2:6, 1:7] = c
        if i % 2 == 0:
            feats[i, :, 2:6, 1:4] = t[:, None, None]
            feats[i, :, 2:6, 4:7] = BIAS[:, None, None]
            gt[i, 2:6, 1:4] = c
        else:
            feats[i, :, 2:6, 1:4] = (t + 0.3 * PART)[:, None, None]
            feats[i, :, 2:6, 4:7] = (t - 0.3 * PART)[:, None, None]
            feats[i, :, 6:8, :] = BIAS[:, None, None]
            gt[i, 2:6, 1:7] = c
    feats = feats + noise * torch.randn(feats.shape, generator=gen)
    feats = F.normalize(feats, dim=1)
    labels[:, 0, 0] = 255
    gt[:, 0, 0] = 255
    full = labels.repeat_interleave(STRIDE, 1).repeat_interleave(STRIDE, 2)
    return feats, full, gt


def test_kmeans_recovers_planted_clusters_and_batch_equals_alone():
    feats, labels, _ = planted_data()
    res = cluster_image_classes(feats, labels, return_assignments=True)
    assert res.labels.shape == res.assignments.shape == (N_IMG, GRID, GRID)
    assert res.assignments[:, 0, 0].eq(-1).all()  # ignored pixel
    for i in range(N_IMG):
        c = 1 if i < 6 else 2
        assert sorted(res.centroids[i]) == [0, c]
        for v in res.centroids[i].values():
            assert v.shape == (2, D)
            torch.testing.assert_close(v.norm(dim=1), torch.ones(2))
        a = res.assignments[i]
        left, right = a[2:6, 1:4], a[2:6, 4:7]
        # each planted group is one cluster, the two groups differ
        assert left.unique().numel() == 1 and right.unique().numel() == 1
        assert left[0, 0] != right[0, 0]
        cents = res.centroids[i][c]
        if i % 2 == 0:
            expect = {0: TARGET[c], 1: BIAS}
            cos = cents @ torch.stack([expect[0], expect[1]]).T
            k_t, k_b = int(left[0, 0]), int(right[0, 0])
            assert cos[k_t, 0] > 0.99 and cos[k_b, 1] > 0.99
        else:  # background splits into texture and biased rows
            bg = res.assignments[i][6:8]
            assert bg.unique().numel() == 1
            assert not (res.assignments[i][1] == bg[0, 0]).any()
    # every image alone gives the same centroids and assignments
    for i in range(N_IMG):
        alone = cluster_image_classes(
            feats[i:i + 1], labels[i:i + 1], return_assignments=True)
        assert torch.equal(alone.assignments[0], res.assignments[i])
        for c, v in alone.centroids[0].items():
            torch.testing.assert_close(v, res.centroids[i][c])


def test_kmeans_batched_two_blobs_and_padding():
    gen = torch.Generator().manual_seed(3)
    problems = []
    for n, (u, v) in zip([7, 20, 13], [(0, 1), (2, 5), (3, 3)]):
        pts = torch.cat([
            E[u].repeat(n // 2, 1),
            E[v].repeat(n - n // 2, 1) * 2 + E[7]  # scale is normalised
        ]) + 0.01 * torch.randn(n, D, generator=gen)
        problems.append(pts)
    length = max(p.shape[0] for p in problems) + 3
    x = torch.zeros(3, length, D)
    valid = torch.zeros(3, length, dtype=torch.bool)
    for p, pts in enumerate(problems):
        x[p, :pts.shape[0]] = pts
        valid[p, :pts.shape[0]] = True
    x[~valid] = 1e3  # padding content must not matter
    res = kmeans_batched(x, valid, k=2)
    assert res.centroids.shape == (3, 2, D) and res.labels.shape == (3,
                                                                     length)
    assert res.num_clusters.tolist() == [2, 2, 2]
    assert (res.labels[~valid] == -1).all()
    assert res.iterations < 100  # converged early
    for p, pts in enumerate(problems):
        n = pts.shape[0]
        lab = res.labels[p, :n]
        unit = F.normalize(pts, dim=1)
        # the two planted halves (problem 2 holds two nearby blobs)
        if p < 2:
            assert lab[:n // 2].unique().numel() == 1
            assert lab[n // 2:].unique().numel() == 1
            assert lab[0] != lab[-1]
        for k in range(2):
            mean = F.normalize(unit[lab == k].mean(0), dim=0)
            torch.testing.assert_close(res.centroids[p, k], mean)
        alone = kmeans_batched(pts[None], k=2)
        assert torch.equal(alone.labels[0], lab)
        torch.testing.assert_close(alone.centroids[0], res.centroids[p])


def test_kmeans_seed_is_private_and_deterministic():
    x = torch.randn(4, 30, D, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    state = torch.get_rng_state()
    a = kmeans_batched(x, k=3, seed=5)
    assert torch.equal(torch.get_rng_state(), state)  # global RNG untouched
    torch.manual_seed(2)
    b = kmeans_batched(x, k=3, seed=5)
    assert torch.equal(a.labels, b.labels)
    assert torch.equal(a.centroids, b.centroids)
    # random data: the result is a fixed point of Lloyd's update (labels
    # are the Voronoi cells of the cluster means, centroids the normalised
    # means)
    unit = F.normalize(x, dim=-1)
    for p in range(4):
        means = torch.stack(
            [unit[p][a.labels[p] == k].mean(0) for k in range(3)])
        torch.testing.assert_close(a.centroids[p],
                                   F.normalize(means, dim=1))
        nearest = torch.cdist(unit[p], means).argmin(1)
        assert torch.equal(nearest, a.labels[p])


def test_kmeans_degenerate_problems():
    x = torch.zeros(4, 6, D)
    valid = torch.zeros(4, 6, dtype=torch.bool)
    x[0, :1] = E[3]  # one point, k=2
    valid[0, :1] = True
    x[1, :5] = E[5]  # duplicates + one other point, k=3
    x[1, 5] = E[6]
    valid[1] = True
    x[2, :2] = torch.stack([E[0], E[1]])  # exactly k points
    valid[2, :2] = True
    # problem 3: no valid point
    res = kmeans_batched(x, valid, k=torch.tensor([2, 3, 2, 2]))
    assert torch.isfinite(res.centroids).all()
    assert res.num_clusters.tolist() == [1, 3, 2, 0]
    # fewer points than k: one cluster, centroid duplicated
    torch.testing.assert_close(res.centroids[0],
                               torch.stack([E[3], E[3], torch.zeros(D)]))
    assert res.labels[0].tolist() == [0, -1, -1, -1, -1, -1]
    # two distinct locations for three clusters: both found, unit norm
    torch.testing.assert_close(res.centroids[1].norm(dim=1), torch.ones(3))
    found = (res.centroids[1] @ torch.stack([E[5], E[6]]).T).amax(0)
    torch.testing.assert_close(found, torch.ones(2))
    assert res.labels[1, :5].unique().numel() == 1
    assert res.labels[1, 5] != res.labels[1, 0]
    # k points: every point its own cluster
    assert sorted(res.labels[2, :2].tolist()) == [0, 1]
    assert torch.equal(res.centroids[3], torch.zeros(3, D))
    assert (res.labels[3] == -1).all()
    # a smaller k in a batch with a larger one leaves zero rows
    assert res.centroids.shape == (4, 3, D)
    assert torch.equal(res.centroids[2, 2], torch.zeros(D))


def test_cluster_skips_vanished_regions_and_handles_tiny_ones():
    feats = F.normalize(torch.randn(1, D, 4, 4,
                                    generator=torch.Generator()
                                    .manual_seed(0)), dim=1)
    labels = torch.zeros(1, 8, 8, dtype=torch.long)
    # nearest (cell centre) samples pixels 2i + 1: (0, 0) vanishes
    labels[0, 0, 0] = 3
    labels[0, 1, 1] = 4  # one feature pixel (0, 0) -> fewer than k
    labels[0, 6:, 6:] = 255
    res = cluster_image_classes(feats, labels, k_fg=2, k_bg=3,
                                return_assignments=True)
    cents = res.centroids[0]
    assert sorted(cents) == [0, 4]
    assert cents[0].shape == (3, D) and cents[4].shape == (2, D)
    torch.testing.assert_close(cents[4],
                               feats[0, :, 0, 0].expand(2, D))
    assert res.assignments[0, 0, 0] == 0 and res.assignments[0, 3, 3] == -1
    assert res.labels[0, 0, 0] == 4
    # labels as numpy, biased pixels (254) are left out like 255
    labels[0, 2:4, 2:4] = 254
    out = cluster_image_classes(feats, labels.numpy())
    assert sorted(out[0]) == [0, 4]
    # no valid pixel at all
    assert cluster_image_classes(feats, torch.full((1, 8, 8), 255)) == [{}]


def test_rank_selects_targets_and_debiases_labels():
    feats, labels, gt = planted_data()
    res = cluster_image_classes(feats, labels, return_assignments=True)
    bank = collect_centroids(res.centroids)
    assert bank.bg.shape == (2 * N_IMG, D)
    assert bank.fg[1].shape == (12, D) and bank.fg[2].shape == (12, D)
    assert bank.fg_origin[2][:, 0].unique().tolist() == list(range(6, 12))

    flags = cluster_target_flags(res.assignments, res.labels, gt,
                                 num_labels=3)
    assert flags.shape == (N_IMG, 3, 2)
    # the biased cluster of even images is no target; all others are
    for i in range(N_IMG):
        c = 1 if i < 6 else 2
        k_bias = int(res.assignments[i, 2, 5])
        assert flags[i, c].tolist() == [
            not (i % 2 == 0 and k == k_bias) for k in range(2)
        ]
    # flags at the label resolution (assignments upsampled) agree
    gt_full = gt.repeat_interleave(2, 1).repeat_interleave(2, 2)
    assert torch.equal(
        cluster_target_flags(res.assignments, res.labels, gt_full, 3), flags)

    for reduce in ('mean', 'min'):
        ranked = rank_centroids(bank.fg, bank.bg, alpha=0.4, reduce=reduce)
        for c in (1, 2):
            assert ranked.selected[c].numel() == math.ceil(0.4 * 12)
            d = ranked.distances[c]
            assert torch.all(d[ranked.selected[c]].min() >= d.sort(
                descending=True).values[4])
            assert F.cosine_similarity(ranked.vectors[c], TARGET[c],
                                       dim=0) > 0.95
            torch.testing.assert_close(ranked.vectors[c].norm(),
                                       torch.tensor(1.))
        share = selected_target_share(ranked, bank.fg_origin, flags)
        assert share.share == 1.0 and share.num_selected == 10
        assert share.per_class == {1: 1.0, 2: 1.0}

    # taking every centroid includes the biased ones: the metric sees it
    ranked_all = rank_centroids(bank.fg, bank.bg, alpha=1.0)
    assert selected_target_share(ranked_all, bank.fg_origin,
                                 flags).share == pytest.approx(18 / 24)

    # step 3: similarity map, binarisation, Eq. 5
    ranked = rank_centroids(bank.fg, bank.bg)
    vectors = ranked.matrix(3)
    assert vectors.shape == (3, D) and torch.equal(vectors[0],
                                                   torch.zeros(D))
    tags = torch.zeros(N_IMG, 3, dtype=torch.bool)
    tags[:6, 1] = True
    tags[6:, 2] = True
    sim = similarity_map(feats, vectors, tags)
    assert sim.shape == (N_IMG, GRID, GRID) and sim.min() >= 0
    obj = (res.labels > 0) & (res.labels != 255)
    biased = torch.zeros_like(obj)
    biased[0::2, 2:6, 4:7] = True
    assert sim[obj & ~biased].min() > 0.8 and sim[biased].max() < 0.2
    out = debias_label(res.labels, binarize_similarity(sim))
    expect = res.labels.masked_fill(biased, 254)
    assert torch.equal(out, expect)
    assert (out[:, 0, 0] == 255).all() and torch.equal(out == 0,
                                                       res.labels == 0)


def test_background_distance_chunks_and_hand_example():
    gen = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(37, D, generator=gen), dim=1)
    bg = F.normalize(torch.randn(23, D, generator=gen), dim=1)
    pair = (1 - q @ bg.T) / 2
    for reduce, ref in (('mean', pair.mean(1)), ('min', pair.amin(1))):
        full = background_distance(q, bg, reduce, chunk=10**6)
        torch.testing.assert_close(full, ref)
        for chunk in (1, 5, 16):
            torch.testing.assert_close(
                background_distance(q, bg, reduce, chunk=chunk), full)
    fg = {1: q[:20], 3: q[20:]}
    a = rank_centroids(fg, bg, chunk=4)
    b = rank_centroids(fg, bg, chunk=4096)
    for c in (1, 3):
        assert torch.equal(a.selected[c], b.selected[c])
        torch.testing.assert_close(a.vectors[c], b.vectors[c])
    # hand example: D(e0, e0) = 0, D(e1, e0) = 1/2, D(-e0, e0) = 1
    ranked = rank_centroids({5: torch.stack([E[0], E[1], -E[0]])},
                            E[0][None], alpha=0.4)
    torch.testing.assert_close(ranked.distances[5],
                               torch.tensor([0.0, 0.5, 1.0]))
    assert ranked.selected[5].tolist() == [2, 1]  # ceil(0.4 * 3) = 2
    torch.testing.assert_close(ranked.vectors[5],
                               F.normalize(E[1] - E[0], dim=0))
    assert ranked.matrix().shape == (6, D)
    assert num_selected(10, 0.7) == 7 and num_selected(12, 0.4) == 5
    assert num_selected(1, 0.01) == 1 and num_selected(0, 0.4) == 0
    with pytest.raises(ValueError, match='reduce'):
        background_distance(q, bg, 'max')
    with pytest.raises(ValueError, match='alpha'):
        rank_centroids(fg, bg, alpha=0)


def test_similarity_map_hand_example():
    # pixels e0, e1, -e0 and (e0 + e1) / sqrt 2; classes: 1 -> e0, 2 -> e1
    pix = torch.stack([E[0], E[1], -E[0], F.normalize(E[0] + E[1], dim=0)])
    feats = pix.T.reshape(1, D, 1, 4).repeat(3, 1, 1, 1) * 3  # unnormalised
    vectors = torch.stack([torch.zeros(D), E[0], E[1]])
    tags = torch.tensor([[False, True, False], [False, True, True],
                         [False, False, False]])
    sim = similarity_map(feats, vectors, tags)
    r = 1 / math.sqrt(2)
    torch.testing.assert_close(
        sim[:, 0],
        torch.tensor([[1, 0, 0, r], [1, 1, 0, r], [0, 0, 0, 0]]))
    up = similarity_map(feats, vectors, tags, out_size=(2, 8))
    torch.testing.assert_close(
        up,
        F.interpolate(sim[:, None], size=(2, 8), mode='bilinear',
                      align_corners=False)[:, 0])
    with pytest.raises(ValueError, match='tags'):
        similarity_map(feats, vectors, tags[:, :2])


def test_debias_label_hand_example_tensor_and_numpy():
    label = torch.tensor([[0, 1, 255], [2, 2, 0], [254, 3, 3]],
                         dtype=torch.uint8)
    keep = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=torch.bool)
    expect = [[0, 254, 255], [2, 254, 0], [254, 3, 254]]
    out = debias_label(label, keep)
    assert out.dtype == torch.uint8 and out.tolist() == expect
    assert label[0, 1] == 1  # input untouched
    out_np = debias_label(label.numpy(), keep.numpy().astype(np.uint8))
    assert isinstance(out_np, np.ndarray) and out_np.dtype == np.uint8
    assert out_np.tolist() == expect
    # keeping everything changes nothing; background is never changed
    assert torch.equal(debias_label(label, torch.ones_like(keep)), label)
    with pytest.raises(ValueError, match='shape'):
        debias_label(label, keep[:2])


def test_binarize_threshold():
    sim = torch.tensor([[0.2, 0.5, 0.51]])
    assert binarize_similarity(sim).tolist() == [[False, False, True]]
    assert binarize_similarity(sim.numpy()).tolist() == [[False, False, True]]
    with pytest.raises(ValueError, match='image'):
        binarize_similarity(sim, crf='deeplab')


@pytest.mark.skipif(not HAS_CRF, reason='pydensecrf is not installed')
def test_binarize_with_deeplab_crf_snaps_to_the_edge():
    from mmweak.wsss import DenseCRF
    h, w, edge = 24, 32, 16
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :edge] = (200, 40, 30)
    img[:, edge:] = (30, 60, 210)
    truth = np.broadcast_to(np.arange(w) >= edge, (h, w))
    x = np.arange(w, dtype=np.float32)
    sim = np.broadcast_to(1 / (1 + np.exp(-(x - 11) / 3.0)), (h, w))
    assert (binarize_similarity(sim) != truth).sum() == 4 * h  # 12..15
    out = binarize_similarity(torch.from_numpy(sim.copy()), img, 'deeplab')
    assert out.dtype == torch.bool and torch.equal(out,
                                                   torch.from_numpy(truth))
    batch = binarize_similarity(
        np.stack([sim, sim]), np.stack([img, img]), DenseCRF('deeplab'))
    assert batch.shape == (2, h, w) and (batch == truth).all()


def test_feature_projection_matches_the_svd_of_the_centred_features():
    g = torch.Generator().manual_seed(0)
    feats = torch.rand(3, 12, 5, 7, generator=g)  # non-negative, like ReLU
    moments = [feature_moments(f) for f in feats]  # accumulated per image
    sum_x = sum(m[0] for m in moments)
    sum_xx = sum(m[1] for m in moments)
    count = sum(m[2] for m in moments)
    assert count == 3 * 5 * 7
    proj = fit_feature_projection(sum_x, sum_xx, count, 4)
    x = feats.permute(0, 2, 3, 1).reshape(-1, 12).double()
    _, s, vt = torch.linalg.svd(x - x.mean(0), full_matrices=False)
    torch.testing.assert_close(proj.mean.double(), x.mean(0), atol=1e-6,
                               rtol=0)
    # same subspace, rows by decreasing variance, largest entry positive
    torch.testing.assert_close(proj.components.double().abs(),
                               vt[:4].abs(), atol=1e-5, rtol=0)
    peak = proj.components.gather(
        1, proj.components.abs().argmax(1, keepdim=True))
    assert (peak > 0).all()
    assert proj.explained == pytest.approx(
        float((s[:4]**2).sum() / (s**2).sum()), abs=1e-6)
    out = proj(feats)
    assert out.shape == (3, 4, 5, 7)
    want = torch.einsum('kd,bdhw->bkhw', proj.components,
                        feats - proj.mean[:, None, None])
    torch.testing.assert_close(out, want)
    # projected features are centred over the fitted pixels
    assert out.mean((0, 2, 3)).abs().max() < 1e-5
    # a single image (D, h, w) is mapped the same way
    torch.testing.assert_close(proj(feats[1]), out[1])


def test_feature_projection_centring_only_and_errors():
    feats = torch.rand(2, 6, 3, 4)
    sum_x, sum_xx, count = feature_moments(feats, second=False)
    assert sum_xx is None and count == 2 * 3 * 4
    proj = fit_feature_projection(sum_x, sum_xx, count)
    assert isinstance(proj, FeatureProjection) and proj.components is None
    torch.testing.assert_close(
        proj(feats), feats - feats.mean((0, 2, 3))[:, None, None])
    with pytest.raises(ValueError, match=r'fitted on 6-d'):
        proj(torch.rand(5, 3, 4))
    with pytest.raises(ValueError, match=r'\[1, 6\]'):
        fit_feature_projection(*feature_moments(feats), 7)
    with pytest.raises(ValueError, match=r'sum_xx must be \(6, 6\)'):
        fit_feature_projection(sum_x, None, count, 2)
    with pytest.raises(ValueError, match='no feature vector'):
        fit_feature_projection(torch.zeros(6), torch.zeros(6, 6), 0, 2)
