# Copyright (c) mmweak contributors.
"""Eigen-CAM speed, side by side with pytorch-grad-cam, in one run.

    python tools/benchmarks/bench_eigencam.py [--batch 64] [--repeats 3]
        [--forward-batch 8] [--forward-repeats 5] [--parts maps forward]
        [--skip-reference]

1. Map computation for a batch of activations (B x 2048 x 7 x 7, as ResNet-50
   layer4 at 224, and B x 384 x 14 x 14, as DeiT-S at 224): mmweak's batched
   ``eigen_cam`` against pytorch-grad-cam's per-image NumPy SVD path
   (``get_2d_projection`` + ReLU + ``scale_cam_image``), both at the feature
   resolution. ``center=True`` is the reference's definition; the default
   (paper, ``sign='channel_mean'``) is timed too. Activations are synthetic
   post-ReLU maps with one dominant component (the timing of the exact solvers
   does not depend on the values). An FPN-P2-sized case (8 x 256 x 200 x 304)
   is timed for mmweak only: the reference would materialise a 60800 x 60800
   U (~14.8 GB in float32) per image.
2. Added time over the plain forward pass of an mmpretrain ResNet-50 at 224:
   ``model(x, mode='tensor')`` against ``EigenCAM(model, 'backbone.layer4')``
   on the same input (forward + hooks + maps at 224 x 224), and against
   pytorch-grad-cam's ``EigenCAM`` on the same model, layer and input.

Times are the best of ``--repeats`` runs (mmweak and the reference
interleaved). CPU only; threads as configured by torch / NumPy.
"""
import argparse
import time
from typing import Callable, List

import numpy as np
import torch

from mmweak.cam import EigenCAM, eigen_cam


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--forward-batch', type=int, default=8)
    parser.add_argument('--forward-repeats', type=int, default=5)
    parser.add_argument(
        '--parts',
        nargs='+',
        choices=['maps', 'forward'],
        default=['maps', 'forward'],
        help='which benchmarks to run')
    parser.add_argument(
        '--skip-reference',
        action='store_true',
        help='do not time pytorch-grad-cam')
    return parser.parse_args()


def timed(fn: Callable) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def best_ms(samples: List[float]) -> float:
    """Best of the runs in ms (as ``timeit`` advises: on a shared machine
    the minimum is the least disturbed by other processes)."""
    return 1e3 * min(samples)


def activations(batch: int, chans: int, height: int, width: int,
                seed: int = 0) -> torch.Tensor:
    """Post-ReLU activations with a dominant component plus noise."""
    gen = torch.Generator().manual_seed(seed)
    blob = torch.rand(batch, 1, height, width, generator=gen)
    profile = torch.rand(batch, chans, 1, 1, generator=gen)
    noise = torch.randn(batch, chans, height, width, generator=gen)
    return (2 * profile * blob + 0.5 * noise).relu()


def reference_maps(feats: np.ndarray) -> np.ndarray:
    from pytorch_grad_cam.utils.image import scale_cam_image
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection
    return scale_cam_image(np.maximum(get_2d_projection(feats), 0))


def bench_maps(args: argparse.Namespace, use_ref: bool) -> None:
    print(f'\n### Map computation, B={args.batch}, CPU '
          f'({torch.get_num_threads()} torch threads)\n')
    print('| activations | pytorch-grad-cam (ms) | mmweak centred, gram '
          '(ms) | speed-up | mmweak paper + channel_mean (ms) | '
          'mmweak centred, lowrank (ms) | max abs diff vs reference '
          '(up to sign) |')
    print('|---|---|---|---|---|---|---|')
    for chans, size in [(2048, 7), (384, 14)]:
        feats = activations(args.batch, chans, size, size)
        feats_np = feats.numpy()
        eigen_cam(feats, center=True, sign='none')  # warm-up
        eigen_cam(feats)
        ref_t, ours_t, paper_t, low_t = [], [], [], []
        for _ in range(args.repeats):
            if use_ref:
                ref_t.append(timed(lambda: reference_maps(feats_np)))
            ours_t.append(
                timed(lambda: eigen_cam(feats, center=True, sign='none')))
            paper_t.append(timed(lambda: eigen_cam(feats)))
            low_t.append(
                timed(lambda: eigen_cam(
                    feats, center=True, sign='none', solver='lowrank')))
        diff = '-'
        if use_ref:
            ref = reference_maps(feats_np)
            diff = (f'gram {_deviation(feats, ref, "gram"):.1e}, lowrank '
                    f'{_deviation(feats, ref, "lowrank"):.1e}')
        ref_ms = best_ms(ref_t) if use_ref else float('nan')
        ours_ms = best_ms(ours_t)
        speedup = f'{ref_ms / ours_ms:.0f}x' if use_ref else '-'
        ref_txt = f'{ref_ms:.0f}' if use_ref else '-'
        print(f'| {args.batch}x{chans}x{size}x{size} | {ref_txt} | '
              f'{ours_ms:.1f} | {speedup} | {best_ms(paper_t):.1f} | '
              f'{best_ms(low_t):.1f} | {diff} |')
    feats = activations(8, 256, 200, 304)  # large: one run each
    big = [timed(lambda: eigen_cam(feats))]
    low = [timed(lambda: eigen_cam(feats, solver='lowrank'))]
    print(f'| 8x256x200x304 (FPN P2) | not run (U: 60800x60800 per image) | '
          f'- | - | {best_ms(big):.0f} | {best_ms(low):.0f} (paper) | - |')


def _deviation(feats: torch.Tensor, ref: np.ndarray, solver: str) -> float:
    """Max abs difference of the centred maps from the reference's, each
    map compared in the orientation that matches (the reference's sign is
    LAPACK's)."""
    from mmweak.cam import eigen_projection, normalize_cams
    proj = eigen_projection(feats, center=True, sign='none', solver=solver)
    err = np.minimum(
        np.abs(normalize_cams(proj.relu()).numpy() - ref).max(axis=(1, 2)),
        np.abs(normalize_cams((-proj).relu()).numpy() - ref).max(axis=(1, 2)))
    return float(err.max())


def bench_forward(args: argparse.Namespace, use_ref: bool) -> None:
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=dict(type='ResNet', depth=50, out_indices=(3, )),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(
                    type='LinearClsHead', num_classes=1000,
                    in_channels=2048))).eval()
    x = torch.randn(args.forward_batch, 3, 224, 224)

    def plain():
        with torch.no_grad():
            model(x, mode='tensor')

    cam = EigenCAM(model, ['backbone.layer4'])

    class TensorModel(torch.nn.Module):

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, inputs):
            return self.inner(inputs, mode='tensor')

    def reference():
        from pytorch_grad_cam import EigenCAM as RefEigenCAM
        ref_cam = RefEigenCAM(TensorModel(model), [model.backbone.layer4])
        ref_cam(x, targets=None)
        ref_cam.activations_and_grads.release()

    plain()
    cam(x)
    with torch.no_grad():
        _, acts = cam.record(model, x, mode='tensor')
    plain_t, cam_t, maps_t, ref_t = [], [], [], []
    for _ in range(args.forward_repeats):
        plain_t.append(timed(plain))
        cam_t.append(timed(lambda: cam(x)))
        maps_t.append(
            timed(lambda: cam.maps_from_activations(acts, x.shape[-2:])))
        if use_ref:
            ref_t.append(timed(reference))
    base = best_ms(plain_t)
    ours = best_ms(cam_t)
    maps = best_ms(maps_t)
    print(f'\n### Added time over the forward pass: ResNet-50, '
          f'{args.forward_batch}x3x224x224, CPU\n')
    print('| | time (ms) | added over forward |')
    print('|---|---|---|')
    print(f'| plain forward | {base:.0f} | - |')
    print(f'| mmweak EigenCAM (forward + maps) | {ours:.0f} | '
          f'{ours - base:.0f} ms ({100 * (ours - base) / base:.1f}%) |')
    print(f'| mmweak maps alone (from the recorded layer4 output) | '
          f'{maps:.1f} | {100 * maps / base:.1f}% of the forward |')
    if use_ref:
        ref = best_ms(ref_t)
        print(f'| pytorch-grad-cam EigenCAM | {ref:.0f} | {ref - base:.0f} ms '
              f'({100 * (ref - base) / base:.0f}%) |')


def main() -> None:
    args = parse_args()
    use_ref = not args.skip_reference
    if use_ref:
        try:
            import pytorch_grad_cam  # noqa: F401
        except ImportError:
            print('pytorch-grad-cam (package grad-cam) is not installed: '
                  'timing mmweak only')
            use_ref = False
    print(f'torch {torch.__version__}, numpy {np.__version__}, '
          f'{torch.get_num_threads()} threads')
    if 'maps' in args.parts:
        bench_maps(args, use_ref)
    if 'forward' in args.parts:
        bench_forward(args, use_ref)


if __name__ == '__main__':
    main()
