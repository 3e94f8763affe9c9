# Copyright (c) mmweak contributors.
"""Eigen-CAM speed, side by side with pytorch-grad-cam, in one run.

    python tools/benchmarks/bench_eigencam.py [--batch 64] [--repeats 5]
        [--ref-repeats 3] [--inputs random trained] [--config CFG]
        [--checkpoint CKPT] [--forward-batch 8] [--forward-repeats 5]
        [--parts maps forward] [--skip-reference] [--ref-blas-threads N]
        [--skip-fpn]

1. Map computation for a batch of activations, at the feature resolution:
   mmweak's batched ``eigen_cam`` against pytorch-grad-cam's per-image NumPy
   SVD path (``get_2d_projection`` + ReLU + ``scale_cam_image``), for both
   mmweak paths: ``center=True, sign='none'`` (the reference's definition)
   and the default ``center=False, sign='channel_mean'`` (the paper's). The
   reference has only the centred definition; both speed-ups are against
   that same reference run. Inputs (``--inputs``):

   - ``random``: uniform [0, 1) activations (non-negative like post-ReLU
     features, noise-like: no dominant component, small leading eigengaps,
     the hard case of an iterative solver) of B x 2048 x 7 x 7 (ResNet-50
     layer4 at 224) and B x 384 x 14 x 14 (DeiT-S at 224);
   - ``trained``: the layer4 output (``backbone(x)[-1]``) of a trained
     network, by default the synthetic CAM ResNet-50
     (``configs/cam/cam_resnet50_synthetic.py``, a quarter-width ResNet-50
     with a stride-1 last stage, 512 channels) on B SyntheticWSOL test
     images resized to 224 (14 x 14 maps) and 112 (7 x 7 maps). The
     checkpoint is ``--checkpoint``, else the one recorded in
     ``work_dirs/demo/CAM/last_checkpoint`` (``make demo``), else the
     committed pretrained demo backbone
     ``checkpoints/demo/resnet50-w16_synthetic-cls.pth``; without any
     the input is skipped (weights that were not trained would not give
     trained activations);
   - ``synthetic``: the earlier synthetic post-ReLU maps (one dominant
     component plus noise).

   Every configuration is timed ``--repeats`` times (the reference
   ``--ref-repeats`` times), interleaved with the other paths, and the table
   gives medians (minimum in brackets). It also counts the images whose
   leading eigenpair needed the full ``eigh`` fallback, gives the median
   relative eigengap (lambda1 - lambda2) / lambda1 of the decomposed
   matrices, and the largest difference of the centred maps from the
   reference's (each image in the orientation that matches: the reference's
   sign is LAPACK's). An FPN-P2-sized case (8 x 256 x 200 x 304) is timed
   for mmweak only (one run each): the reference would materialise a 60800 x
   60800 U (~14.8 GB in float32) per image.
2. Added time over the plain forward pass of an mmpretrain ResNet-50 at 224
   (random weights): ``model(x, mode='tensor')`` against
   ``EigenCAM(model, 'backbone.layer4')`` on the same input (forward + hooks
   + maps at 224 x 224), and against pytorch-grad-cam's ``EigenCAM`` on the
   same model, layer and input.

CPU only; threads as configured by torch / NumPy. The load average is
printed at the start and at the end: on a shared machine the figures are
only comparable within one run.
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# measure this checkout's mmweak: the shared venv's editable install may
# point at another clone of the repository
sys.path.insert(0, ROOT)

import mmweak  # noqa: E402
from mmweak.cam import (EigenCAM, eigen_cam, eigen_projection,  # noqa: E402
                        normalize_cams)

DEFAULT_CONFIG = osp.join(ROOT, 'configs', 'cam', 'cam_resnet50_synthetic.py')
DEMO_CHECKPOINT_RECORD = osp.join(ROOT, 'work_dirs', 'demo', 'CAM',
                                  'last_checkpoint')
# the committed pretrained demo backbone (trained, 100% val top-1 on its
# own synthetic classification set), used when no demo run is recorded
PRETRAINED_BACKBONE = osp.join(ROOT, 'checkpoints', 'demo',
                               'resnet50-w16_synthetic-cls.pth')
# mmweak's two paths: (label, eigen_cam keyword arguments)
PATHS = [('centred, sign none (reference definition)',
          dict(center=True, sign='none')),
         ('paper, channel_mean (default)', dict())]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument(
        '--ref-repeats',
        type=int,
        default=3,
        help='runs of the (slow) reference per input')
    parser.add_argument(
        '--inputs',
        nargs='+',
        choices=['random', 'trained', 'synthetic'],
        default=['random', 'trained'])
    parser.add_argument(
        '--config',
        default=DEFAULT_CONFIG,
        help='config of the trained network (``trained`` input)')
    parser.add_argument(
        '--checkpoint',
        help='its trained weights (a classifier or a backbone-only '
        'checkpoint); default: the checkpoint recorded in '
        'work_dirs/demo/CAM/last_checkpoint, else the committed '
        'checkpoints/demo/resnet50-w16_synthetic-cls.pth')
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
    parser.add_argument(
        '--ref-blas-threads',
        type=int,
        help='limit the BLAS threads of the reference (NumPy) map '
        'computation to this many (threadpoolctl); default: as configured')
    parser.add_argument(
        '--skip-fpn', action='store_true', help='do not time the FPN P2 case')
    return parser.parse_args()


def timed(fn: Callable, settle: float = 0.1) -> float:
    """Wall time of ``fn()``, after a short untimed pause that lets the
    spinning worker threads of the previous call (OpenMP, OpenBLAS) park."""
    time.sleep(settle)
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def best_ms(samples: List[float]) -> float:
    return 1e3 * min(samples)


def median_ms(samples: List[float]) -> float:
    return 1e3 * statistics.median(samples)


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return (f'load average {one:.2f}, {five:.2f}, {fifteen:.2f} '
            f'({os.cpu_count()} CPUs)')


def synthetic_activations(batch: int, chans: int, height: int, width: int,
                          seed: int = 0) -> torch.Tensor:
    """Post-ReLU activations with a dominant component plus noise."""
    gen = torch.Generator().manual_seed(seed)
    blob = torch.rand(batch, 1, height, width, generator=gen)
    profile = torch.rand(batch, chans, 1, 1, generator=gen)
    noise = torch.randn(batch, chans, height, width, generator=gen)
    return (2 * profile * blob + 0.5 * noise).relu()


def random_activations(batch: int, chans: int, height: int, width: int,
                       seed: int = 0) -> torch.Tensor:
    """Uniform [0, 1) activations: non-negative, noise-like."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, chans, height, width, generator=gen)


def find_checkpoint(arg: Optional[str]) -> Optional[str]:
    if arg:
        return arg
    if osp.isfile(DEMO_CHECKPOINT_RECORD):
        with open(DEMO_CHECKPOINT_RECORD) as f:
            path = f.read().strip()
        if osp.isfile(path):
            return path
    if osp.isfile(PRETRAINED_BACKBONE):
        return PRETRAINED_BACKBONE
    return None


def trained_activations(config: str, checkpoint: str, batch: int,
                        sizes: Tuple[int, ...] = (224, 112)
                        ) -> List[Tuple[str, torch.Tensor]]:
    """Layer4 outputs of a trained classifier on SyntheticWSOL test images
    resized to each of ``sizes`` (224 and 112 give 14 x 14 and 7 x 7 maps at
    output stride 16)."""
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint

    from mmweak.datasets.synthetic_wsol import generate_synthetic_wsol
    from mmweak.registry import MODELS
    from mmweak.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(config)
    model = MODELS.build(cfg.model).eval()
    ckpt = load_checkpoint(
        model.backbone, checkpoint, map_location='cpu', strict=False,
        logger='silent', revise_keys=[(r'^backbone\.', '')])
    # a whole-classifier checkpoint or a backbone-only one (such as
    # checkpoints/demo/resnet50-w16_synthetic-cls.pth): the activations need
    # every backbone weight, and nothing else
    names = {k[len('backbone.'):] if k.startswith('backbone.') else k
             for k in ckpt.get('state_dict', ckpt)}
    missing = sorted(set(model.backbone.state_dict()) - names)
    if missing:
        raise KeyError(f'{checkpoint}: backbone weights missing for {config}: '
                       f'{missing[:5]} ({len(missing)} in all)')
    data_cfg = cfg.test_dataloader.dataset
    data = generate_synthetic_wsol(
        batch,
        num_classes=data_cfg.get('num_classes', 8),
        img_size=data_cfg.get('img_size', 96),
        split='test',
        seed=data_cfg.get('seed', 0))
    imgs = [torch.from_numpy(img).permute(2, 0, 1) for img in data['imgs']]
    out = []
    with torch.no_grad():
        inputs = model.data_preprocessor(dict(inputs=imgs))['inputs']
        for size in sizes:
            x = F.interpolate(
                inputs, size=(size, size), mode='bilinear',
                align_corners=False)
            feats = model.backbone(x)
            feats = feats[-1] if isinstance(feats, (tuple, list)) else feats
            out.append((f'trained ({size} px input)', feats.contiguous()))
    return out


def reference_maps(feats: np.ndarray,
                   blas_threads: Optional[int] = None) -> np.ndarray:
    from pytorch_grad_cam.utils.image import scale_cam_image
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection
    if blas_threads is None:
        return scale_cam_image(np.maximum(get_2d_projection(feats), 0))
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=blas_threads, user_api='blas'):
        return scale_cam_image(np.maximum(get_2d_projection(feats), 0))


def _deviation(feats: torch.Tensor, ref: np.ndarray) -> float:
    """Max abs difference of the centred maps from the reference's, each
    map compared in the orientation that matches (the reference's sign is
    LAPACK's)."""
    proj = eigen_projection(feats, center=True, sign='none')
    err = np.minimum(
        np.abs(normalize_cams(proj.relu()).numpy() - ref).max(axis=(1, 2)),
        np.abs(normalize_cams((-proj).relu()).numpy() - ref).max(axis=(1, 2)))
    return float(err.max())


def fallbacks(feats: torch.Tensor, kwargs: dict) -> int:
    """Images whose leading eigenpair needed the full ``eigh`` fallback of
    the iterative solver (untimed run)."""
    module = sys.modules['mmweak.cam.eigen_cam']
    lapack, count = module._lapack, [0]

    def spy(fn, mat):
        if (fn is torch.linalg.eigh
                and mat.shape[-1] >= module._ITERATIVE_MIN_SIZE):
            count[0] += mat.shape[0]
        return lapack(fn, mat)

    module._lapack = spy
    try:
        eigen_cam(feats, **kwargs)
    finally:
        module._lapack = lapack
    return count[0]


def eigengap(feats: torch.Tensor, center: bool) -> float:
    """Median relative gap (s1^2 - s2^2) / s1^2 of the decomposed matrices."""
    mat = feats.double().flatten(2)
    if center:
        mat = mat - mat.mean(dim=2, keepdim=True)
    sing = torch.linalg.svdvals(mat)
    return float(((sing[:, 0]**2 - sing[:, 1]**2) / sing[:, 0]**2).median())


def bench_maps(args: argparse.Namespace, use_ref: bool) -> None:
    cases: List[Tuple[str, torch.Tensor]] = []
    for name in args.inputs:
        if name == 'trained':
            ckpt = find_checkpoint(args.checkpoint)
            if ckpt is None:
                print('\n`trained` input skipped: no checkpoint (pass '
                      '--checkpoint, or run `make demo` to record '
                      f'{osp.relpath(DEMO_CHECKPOINT_RECORD, ROOT)})')
                continue
            print(f'\ntrained network: {osp.relpath(args.config, ROOT)}, '
                  f'checkpoint {ckpt}')
            cases += trained_activations(args.config, ckpt, args.batch)
            continue
        make = (random_activations
                if name == 'random' else synthetic_activations)
        for chans, size in [(2048, 7), (384, 14)]:
            cases.append((name, make(args.batch, chans, size, size)))

    print(f'\n### Map computation, B={args.batch}, CPU '
          f'({torch.get_num_threads()} torch threads); {load_text()}\n')
    blas = (f', reference limited to {args.ref_blas_threads} BLAS '
            'thread(s)' if args.ref_blas_threads else '')
    print(f'Median of {args.repeats} runs (reference: {args.ref_repeats}'
          f'{blas}), minimum in brackets; speed-up = median reference / '
          'median mmweak.\n')
    print('| input | activations | mmweak path | mmweak (ms) | '
          'pytorch-grad-cam (ms) | speed-up | eigh fallbacks | '
          'median rel. eigengap | max abs diff vs reference (up to sign) |')
    print('|---|---|---|---|---|---|---|---|---|')
    for name, feats in cases:
        shape = 'x'.join(map(str, feats.shape))
        feats_np = feats.numpy()
        for _, kwargs in PATHS:
            eigen_cam(feats, **kwargs)  # warm-up
        times: Dict[str, List[float]] = {label: [] for label, _ in PATHS}
        ref_t: List[float] = []
        for rep in range(args.repeats):
            if use_ref and rep < args.ref_repeats:
                ref_t.append(
                    timed(lambda: reference_maps(feats_np,
                                                 args.ref_blas_threads)))
            for label, kwargs in PATHS:
                times[label].append(timed(lambda: eigen_cam(feats, **kwargs)))
        diff = '-'
        if use_ref:
            diff = f'{_deviation(feats, reference_maps(feats_np)):.1e}'
        ref_txt = (f'{median_ms(ref_t):.0f} ({best_ms(ref_t):.0f})'
                   if use_ref else '-')
        for label, kwargs in PATHS:
            ours = median_ms(times[label])
            speedup = (f'{median_ms(ref_t) / ours:.1f}x' if use_ref else '-')
            center = kwargs.get('center', False)
            print(f'| {name} | {shape} | {label} | {ours:.1f} '
                  f'({best_ms(times[label]):.1f}) | {ref_txt} | {speedup} | '
                  f'{fallbacks(feats, kwargs)}/{feats.shape[0]} | '
                  f'{eigengap(feats, center):.1e} | '
                  f'{diff if center else "- (other definition)"} |',
                  flush=True)
    if not args.skip_fpn:
        feats = synthetic_activations(8, 256, 200, 304)  # one run each
        big = [timed(lambda: eigen_cam(feats))]
        low = [timed(lambda: eigen_cam(feats, solver='lowrank'))]
        print(f'\nFPN P2, 8x256x200x304 synthetic (mmweak only, paper path, '
              f'one run each; the reference would materialise a 60800 x 60800'
              f' U per image): gram {best_ms(big):.0f} ms, lowrank '
              f'{best_ms(low):.0f} ms')
    print(f'\nend of map benchmark: {load_text()}')


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
          f'{args.forward_batch}x3x224x224, CPU (best of '
          f'{args.forward_repeats}); {load_text()}\n')
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
    print(f'mmweak from {osp.dirname(mmweak.__file__)}; torch '
          f'{torch.__version__}, numpy {np.__version__}, '
          f'{torch.get_num_threads()} threads; {load_text()}')
    if 'maps' in args.parts:
        bench_maps(args, use_ref)
    if 'forward' in args.parts:
        bench_forward(args, use_ref)


if __name__ == '__main__':
    main()
