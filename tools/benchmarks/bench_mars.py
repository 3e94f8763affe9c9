# Copyright (c) mmweak contributors.
"""Time MARS Steps 1-2 (``cluster`` + ``rank``) at VOC scale.

Generated input shaped like VOC 2012 ``trainaug`` (10,582 images) with a
32x32 feature grid and D = 70 (STEGO's cluster-head width): every image
has one to three foreground classes of the 20, drawn as rectangles on a
32x32 label map, and features made of a per-class mean direction plus a
second "part" direction on one half of each object, plus noise, so that
K-means has real structure to find. Each batch of images is generated from
its own seed right before it is clustered; generation is not timed.

Timed:

(a) ``cluster``: :func:`mmweak.wsss.mars.cluster_image_classes` in batches
    of ``--batch-size`` images (K_fg = K_bg = 2, k-means++, 100 Lloyd
    iterations at most), sharded over ``--workers`` processes of one thread
    each, as ``tools/mars/debias_labels.py`` shards images over torchrun
    ranks (wall time of the slowest worker), then :func:`collect_centroids`;
(b) ``rank``: :func:`rank_centroids` (alpha 0.4, mean distance, chunked
    matrix products) over all foreground and background centroids;
(c) the pairwise-loop reference of (b)'s distances: one Python
    ``(1 - cos) / 2`` per (foreground, background) pair, timed on the first
    ``--reference-rows`` foreground centroids and extrapolated linearly;
    its distances are checked against (b)'s.

The file I/O of ``tools/mars/debias_labels.py`` (reading fp16 feature
files, writing centroid files) is not included.

    python tools/benchmarks/bench_mars.py [--num-images 10582]
"""
import argparse
import time

import torch.multiprocessing as mp

import torch
import torch.nn.functional as F

from mmweak.wsss.mars import (background_distance, cluster_image_classes,
                              collect_centroids, rank_centroids)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-images', type=int, default=10582,
                        help='images (VOC trainaug: 10582)')
    parser.add_argument('--grid', type=int, default=32)
    parser.add_argument('--dims', type=int, default=70)
    parser.add_argument('--num-classes', type=int, default=20,
                        help='foreground classes')
    parser.add_argument('--batch-size', type=int, default=64,
                        help='images per cluster_image_classes call')
    parser.add_argument('--reference-rows', type=int, default=20,
                        help='foreground rows timed in the loop reference')
    parser.add_argument('--workers', type=int, default=2,
                        help='processes for the cluster step (one thread '
                        'each); 1 = in this process with all threads')
    return parser.parse_args()


def make_batch(start: int, size: int, grid: int, dims: int,
               num_classes: int, means: torch.Tensor):
    """Features (B, D, g, g) and labels (B, g, g) of images
    ``start .. start + size - 1``."""
    g = torch.Generator().manual_seed(1000 + start)
    feats = 0.35 * torch.randn(size, dims, grid, grid, generator=g)
    labels = torch.zeros(size, grid, grid, dtype=torch.long)
    bg = means[0]
    feats += bg[None, :, None, None]
    for b in range(size):
        n = int(torch.randint(1, 4, (1, ), generator=g))
        classes = torch.randperm(num_classes, generator=g)[:n] + 1
        for c in classes.tolist():
            y0, x0 = torch.randint(0, grid - 8, (2, ), generator=g).tolist()
            h, w = torch.randint(6, grid // 2, (2, ), generator=g).tolist()
            y1, x1 = min(grid, y0 + h), min(grid, x0 + w)
            labels[b, y0:y1, x0:x1] = c
            feats[b, :, y0:y1, x0:x1] += means[c][:, None, None] - \
                bg[:, None, None]
            # a second part on the lower half of the object
            ym = (y0 + y1) // 2
            feats[b, :, ym:y1, x0:x1] += 0.8 * means[num_classes + c][
                :, None, None]
    return F.normalize(feats, dim=1), labels


def cluster_shard(starts, args, means, rank):
    """Cluster the batches starting at ``starts``; returns ``{start:
    per-image centroids}`` and the clustering seconds (generation
    excluded)."""
    if args.workers > 1:
        torch.set_num_threads(1)
    out, spent = {}, 0.0
    for n, start in enumerate(starts):
        size = min(args.batch_size, args.num_images - start)
        feats, labels = make_batch(start, size, args.grid, args.dims,
                                   args.num_classes, means)
        t0 = time.perf_counter()
        out[start] = cluster_image_classes(feats, labels, k_fg=2, k_bg=2,
                                           iters=100, seed=0)
        spent += time.perf_counter() - t0
        if rank == 0 and n % 20 == 0:
            print(f'  worker 0: {n + 1}/{len(starts)} batches, '
                  f'{spent:.1f} s', flush=True)
    return out, spent


def main() -> None:
    args = parse_args()
    torch.manual_seed(0)
    means = F.normalize(torch.randn(2 * args.num_classes + 1, args.dims),
                        dim=1)
    print(f'MARS cluster + rank: {args.num_images} images, '
          f'{args.grid}x{args.grid} grid, D={args.dims}, '
          f'{args.workers} worker process(es), batches of '
          f'{args.batch_size}', flush=True)

    starts = list(range(0, args.num_images, args.batch_size))
    if args.workers > 1:
        shards = [starts[r::args.workers] for r in range(args.workers)]
        ctx = mp.get_context('spawn')
        with ctx.Pool(args.workers) as pool:
            results = pool.starmap(
                cluster_shard,
                [(shard, args, means, r) for r, shard in enumerate(shards)])
        by_start = {}
        for part, _ in results:
            by_start.update(part)
        per_image = [c for st in starts for c in by_start[st]]
        t_cluster = max(t for _, t in results)
    else:
        part, t_cluster = cluster_shard(starts, args, means, 0)
        per_image = [c for st in starts for c in part[st]]
    t0 = time.perf_counter()
    bank = collect_centroids(per_image)
    t_cluster += time.perf_counter() - t0
    num_fg = sum(v.shape[0] for v in bank.fg.values())
    print(f'(a) cluster: {t_cluster:.1f} s for {args.num_images} images '
          f'({num_fg} foreground and {bank.bg.shape[0]} background '
          'centroids)', flush=True)

    t0 = time.perf_counter()
    ranked = rank_centroids(bank.fg, bank.bg, alpha=0.4, reduce='mean')
    t_rank = time.perf_counter() - t0
    print(f'(b) rank: {t_rank:.2f} s (chunked matrix products, '
          f'{len(ranked.vectors)} classes)', flush=True)

    # (c) the pairwise loop on the first rows, checked against (b)
    cls = min(bank.fg)
    rows = bank.fg[cls][:args.reference_rows].float()
    bg = bank.bg.float()
    t0 = time.perf_counter()
    ref = []
    for v in rows:
        total = 0.0
        for u in bg:
            total += float((1 - F.cosine_similarity(v, u, dim=0)) / 2)
        ref.append(total / bg.shape[0])
    t_ref = time.perf_counter() - t0
    fast = background_distance(rows, bg, 'mean')
    err = (torch.tensor(ref) - fast.double()).abs().max().item()
    per_row = t_ref / rows.shape[0]
    print(f'(c) pairwise-loop reference: {t_ref:.1f} s for {rows.shape[0]} '
          f'rows x {bg.shape[0]} background centroids; extrapolated to all '
          f'{num_fg} rows: {per_row * num_fg / 60:.0f} min '
          f'({per_row * num_fg / max(t_rank, 1e-9):.0f}x (b)); max '
          f'|difference| {err:.2e}', flush=True)
    total = t_cluster + t_rank
    print(f'cluster + rank: {total:.1f} s = {total / 60:.2f} min '
          '(goal: within 10 min on 2 CPU cores)', flush=True)


if __name__ == '__main__':
    main()
