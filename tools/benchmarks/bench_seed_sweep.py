# Copyright (c) mmweak contributors.
"""Time the one-pass background-threshold sweep of the seed metric.

On VOC-train-sized synthetic data (1,464 maps of 500x375, one to three
tagged classes, GT with 255 boundary bands), compares

(a) one single-threshold pass: ``cams_to_label`` + ``confusion_matrix``;
(b) the one-pass sweep over all thresholds: ``sweep_confusion``;
(c) the reference that rebuilds the confusion matrix for every threshold
    (``cams_to_label`` + ``confusion_matrix`` per threshold), timed on the
    first ``--reference-images`` maps and extrapolated linearly;

and checks that the sweep's matrices equal the reference's (and the single
pass's at its threshold) exactly. Each map is generated from its own seed
right before it is timed, so nothing is stored; generation is not timed.

Example::

    python tools/benchmarks/bench_seed_sweep.py --num-images 1464 \\
        --size 500 375
"""
import argparse
import sys
import time

import torch
import torch.nn.functional as F

from mmweak.evaluation import (confusion_matrix, inclusive_range, seg_scores,
                               sweep_confusion)
from mmweak.wsss import cams_to_label


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-images',
                        type=int,
                        default=1464,
                        help='maps (VOC train: 1464)')
    parser.add_argument('--size',
                        type=int,
                        nargs=2,
                        default=(500, 375),
                        metavar=('W', 'H'),
                        help='map width and height (default: 500 375)')
    parser.add_argument('--thresholds',
                        type=float,
                        nargs=3,
                        default=(0.05, 0.60, 0.01),
                        metavar=('START', 'STOP', 'STEP'),
                        help='inclusive sweep (default: 0.05 0.60 0.01)')
    parser.add_argument('--reference-images',
                        type=int,
                        default=100,
                        help='maps the per-threshold reference is timed on '
                        '(then extrapolated linearly); 0 = all')
    parser.add_argument('--num-classes', type=int, default=21)
    parser.add_argument('--num-threads', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def make_map(index: int, seed: int, width: int, height: int, num_classes: int):
    """One synthetic image: CAMs (K, H, W) in [0, 1], keys (K,), GT (H, W)
    uint8 with objects of the tagged classes and 255 bands around them."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + index)
    num_keys = int(torch.randint(1, 4, (1, ), generator=gen))
    keys = torch.randperm(num_classes - 1, generator=gen)[:num_keys]
    gt = torch.zeros(height, width, dtype=torch.uint8)
    masks = torch.zeros(num_keys, height, width)
    for k in range(num_keys):
        w = int(torch.randint(width // 6, width // 2, (1, ), generator=gen))
        h = int(torch.randint(height // 6, height // 2, (1, ), generator=gen))
        x = int(torch.randint(0, width - w, (1, ), generator=gen))
        y = int(torch.randint(0, height - h, (1, ), generator=gen))
        masks[k, y:y + h, x:x + w] = 1
        gt[y:y + h, x:x + w] = int(keys[k]) + 1
    # 255 band: pixels within 2 px of an object boundary
    objects = (gt > 0).float()[None, None]
    grown = F.max_pool2d(objects, 5, 1, 2)
    shrunk = -F.max_pool2d(-objects, 5, 1, 2)
    gt[(grown - shrunk)[0, 0] > 0] = 255
    # smooth noise plus blurred objects, each map divided by its max
    noise = torch.rand(1,
                       num_keys,
                       height // 16 + 1,
                       width // 16 + 1,
                       generator=gen)
    noise = F.interpolate(noise, (height, width),
                          mode='bilinear',
                          align_corners=False)[0]
    blurred = F.avg_pool2d(masks[None], 31, 1, 15)[0]
    cams = 0.5 * noise + blurred
    cams = cams / (cams.flatten(1).amax(1)[:, None, None] + 1e-5)
    return cams.contiguous(), keys, gt


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.num_threads)
    width, height = args.size
    num = args.num_images
    num_ref = num if args.reference_images <= 0 else min(
        args.reference_images, num)
    thresholds = inclusive_range(*args.thresholds).tolist()
    single_index = len(thresholds) // 2
    single_thr = thresholds[single_index]
    classes = args.num_classes
    shape = (len(thresholds), classes, classes + 1)
    sweep_total = torch.zeros(shape, dtype=torch.long)
    sweep_ref_part = torch.zeros(shape, dtype=torch.long)
    ref_total = torch.zeros(shape, dtype=torch.long)
    single_total = torch.zeros(shape[1:], dtype=torch.long)
    wall = dict(single=0., sweep=0., reference=0.)
    cpu = dict(single=0., sweep=0., reference=0.)

    def timed(name, fn):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = fn()
        wall[name] += time.perf_counter() - start
        cpu[name] += time.process_time() - start_cpu
        return out

    # warm-up (caches of the sweep plan, allocator) on one map, untimed
    cams, keys, gt = make_map(0, args.seed, width, height, classes)
    sweep_confusion(cams, keys, gt, classes, thresholds=thresholds)
    for i in range(num):
        if i and i % 200 == 0:
            print(f'... {i}/{num} maps', file=sys.stderr, flush=True)
        cams, keys, gt = make_map(i, args.seed, width, height, classes)
        single_total += timed(
            'single', lambda: confusion_matrix(
                cams_to_label(cams, keys, bg_threshold=single_thr), gt, classes
            ))
        conf = timed(
            'sweep', lambda: sweep_confusion(
                cams, keys, gt, classes, thresholds=thresholds))
        sweep_total += conf
        if i < num_ref:
            sweep_ref_part += conf
            ref_total += timed(
                'reference', lambda: torch.stack([
                    confusion_matrix(cams_to_label(cams, keys, bg_threshold=t),
                                     gt, classes) for t in thresholds
                ]))

    scale = num / num_ref
    ref_wall = wall['reference'] * scale
    ref_cpu = cpu['reference'] * scale
    same_ref = torch.equal(sweep_ref_part, ref_total)
    same_single = torch.equal(sweep_total[single_index], single_total)
    scores = seg_scores(sweep_total)
    best = int(scores['miou'].argmax())
    print(f'seed sweep benchmark: {num} maps {width}x{height}, '
          f'{len(thresholds)} thresholds ({thresholds[0]:g}..'
          f'{thresholds[-1]:g}), {classes} classes, '
          f'torch threads {args.num_threads}')
    print(f'(a) single-threshold pass (t={single_thr:g}): '
          f'{wall["single"]:.2f} s wall, {cpu["single"]:.2f} s CPU '
          f'({1e3 * wall["single"] / num:.2f} ms/map)')
    print(f'(b) one-pass sweep ({len(thresholds)} thresholds): '
          f'{wall["sweep"]:.2f} s wall, {cpu["sweep"]:.2f} s CPU '
          f'({1e3 * wall["sweep"] / num:.2f} ms/map)')
    extrapolated = '' if num_ref == num else (
        f', measured on {num_ref} maps ({wall["reference"]:.2f} s) and '
        f'extrapolated linearly to {num}')
    print(f'(c) reference, matrix rebuilt per threshold: {ref_wall:.2f} s '
          f'wall, {ref_cpu:.2f} s CPU{extrapolated}')
    print(f'sweep / single: {wall["sweep"] / wall["single"]:.2f} '
          '(goal <= 2)')
    print(f'reference / sweep: {ref_wall / wall["sweep"]:.1f} (goal >= 20)')
    print(f'identical matrices: sweep == reference on {num_ref} maps x '
          f'{len(thresholds)} thresholds: {"yes" if same_ref else "NO"}; '
          f'sweep == single pass at t={single_thr:g}: '
          f'{"yes" if same_single else "NO"}')
    print(f'best seed mIoU on the synthetic maps: '
          f'{100 * scores["miou"][best]:.2f} at t={thresholds[best]:g}')
    print(f'| seed sweep (sweep_confusion) | {num} maps {width}x{height}, '
          f'{len(thresholds)} thresholds, {args.num_threads} threads | '
          f'single {wall["single"]:.1f} s, sweep {wall["sweep"]:.1f} s, '
          f'reference {ref_wall:.1f} s | sweep/single '
          f'{wall["sweep"] / wall["single"]:.2f}, reference/sweep '
          f'{ref_wall / wall["sweep"]:.1f} |')
    if not (same_ref and same_single):
        raise SystemExit('the sweep and the reference differ')


if __name__ == '__main__':
    main()
