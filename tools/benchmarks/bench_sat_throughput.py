# Copyright (c) mmweak contributors.
"""SAT throughput against a plain mmpretrain DeiT in the same process.

    python tools/benchmarks/bench_sat_throughput.py [--arch deit-small]
        [--batch-size 32] [--img-size 224] [--iters 3] [--threads N]

Builds ``WSOLClassifier(SATVisionTransformer, SATHead)`` and a plain
mmpretrain ``ImageClassifier(VisionTransformer, VisionTransformerClsHead)``
of the same arch (random weights, 200 classes) and times, alternating the
two models so that both see the same machine load:

- a training step: ``loss`` forward, backward and an AdamW step;
- inference: the network forward (``mode='tensor'``) under ``no_grad``;
- for information, SAT's full ``predict`` (maps, scores and boxes).

Prints images/s for each and the time ratio SAT / plain (goal: <= 1.15).
The median of ``--iters`` timed steps after one warm-up step is used.
"""
import argparse
import statistics
import time
from typing import Callable, Dict, List

import torch
from mmpretrain.structures import DataSample

from mmweak.registry import MODELS
from mmweak.utils import register_all_modules


def build_models(arch: str, img_size: int, num_classes: int) -> Dict:
    embed = {'deit-tiny': 192, 'deit-small': 384, 'deit-base': 768}[arch]
    preprocessor = dict(type='mmpretrain.ClsDataPreprocessor')
    sat = MODELS.build(
        dict(
            type='WSOLClassifier',
            data_preprocessor=preprocessor,
            backbone=dict(
                type='SATVisionTransformer', arch=arch, img_size=img_size),
            head=dict(
                type='SATHead', num_classes=num_classes, in_channels=embed),
            loc_thr=0.4))
    plain = MODELS.build(
        dict(
            type='mmpretrain.ImageClassifier',
            data_preprocessor=preprocessor,
            backbone=dict(
                type='mmpretrain.VisionTransformer',
                arch=arch,
                img_size=img_size,
                drop_path_rate=0.1),
            head=dict(
                type='mmpretrain.VisionTransformerClsHead',
                num_classes=num_classes,
                in_channels=embed,
                loss=dict(type='mmpretrain.CrossEntropyLoss'))))
    return {'SAT': sat, 'DeiT': plain}


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(models: Dict, jobs: Dict[str, Callable], iters: int
          ) -> Dict[str, List[float]]:
    """Run each job once to warm up, then ``iters`` times, alternating."""
    for job in jobs.values():
        job()
    times = {name: [] for name in jobs}
    for _ in range(iters):
        for name, job in jobs.items():
            times[name].append(timed(job))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', default='deit-small',
                        choices=['deit-tiny', 'deit-small', 'deit-base'])
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads (default: torch default)')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    register_all_modules()
    torch.manual_seed(0)
    models = build_models(args.arch, args.img_size, 200)
    x = torch.randn(args.batch_size, 3, args.img_size, args.img_size)
    samples = [
        DataSample().set_gt_label(i % 200) for i in range(args.batch_size)
    ]
    optims = {
        name: torch.optim.AdamW(m.parameters(), lr=1e-4)
        for name, m in models.items()
    }

    def train_step(name: str) -> Callable[[], None]:
        model, optim = models[name], optims[name]

        def step() -> None:
            model.train()
            losses = model(x, samples, mode='loss')
            loss = sum(v for k, v in losses.items() if k.startswith('loss'))
            optim.zero_grad()
            loss.backward()
            optim.step()
        return step

    def infer(name: str, mode: str) -> Callable[[], None]:
        model = models[name]

        def step() -> None:
            model.eval()
            with torch.no_grad():
                model(x, samples if mode == 'predict' else None, mode=mode)
        return step

    print(f'{args.arch}, batch {args.batch_size}, {args.img_size}x'
          f'{args.img_size}, {torch.get_num_threads()} threads, '
          f'median of {args.iters} steps')
    results = {}
    for kind, jobs in (
        ('train', {n: train_step(n) for n in models}),
        ('inference', {n: infer(n, 'tensor') for n in models}),
    ):
        times = bench(models, jobs, args.iters)
        med = {n: statistics.median(t) for n, t in times.items()}
        results[kind] = med
        ratio = med['SAT'] / med['DeiT']
        print(f'{kind:9s}  SAT {args.batch_size / med["SAT"]:7.2f} img/s  '
              f'DeiT {args.batch_size / med["DeiT"]:7.2f} img/s  '
              f'time ratio SAT/DeiT {ratio:.3f} '
              f'({"within" if ratio <= 1.15 else "ABOVE"} the 1.15 goal)')
    pred = statistics.median(
        bench(models, {'SAT': infer('SAT', 'predict')}, args.iters)['SAT'])
    print(f'SAT predict (maps + boxes): {args.batch_size / pred:.2f} img/s, '
          f'{pred / results["inference"]["DeiT"]:.3f}x the plain DeiT '
          'forward')


if __name__ == '__main__':
    main()
