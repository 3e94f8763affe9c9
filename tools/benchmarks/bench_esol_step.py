# Copyright (c) mmweak contributors.
"""Time of one ESOL training step relative to one plain CAM step (CPU).

    python tools/benchmarks/bench_esol_step.py [--batch-size 8]
        [--img-size 320] [--iters 3] [--threads N]
        [--backends torchvision grid_sample mmcv] [--tiny]

Builds, from the VOC configs and with random weights (no download), the
ResNet-50 at output stride 16 (layer4 at stride 1, a 2048-channel map of
``img/16`` squared) of

- CAM: ``configs/esol/esol_r50_stage0_voc12aug.py`` (the IRN CAM network:
  stem, layer1-2 frozen, BN in eval mode; GAP + 1x1 classifier), the
  denominator;
- ESOL stage 1: ``esol_r50_stage1_voc12aug.py`` (backbone frozen, expansion
  sampler with gradient reversal + Clip Op);
- ESOL stage 2: ``esol_r50_stage2_voc12aug.py`` (backbone and expansion
  block frozen, shrinkage sampler, classification + area loss),

each ESOL model once per DCN backend (``--backends``; the configs'
default is ``torchvision``), and times a full ``train_step`` (data
preprocessor, forward, backward, SGD step), alternating the models so that
all see the same machine load, after one warm-up round; the median of
``--iters`` timed steps is reported. ``--tiny`` runs a quarter-width
backbone (512 channels) on 64x64 images, batch 2, one timed step: a smoke
run of the script, not a figure.
"""
import argparse
import copy
import os.path as osp
import statistics
import time
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.config import Config
from mmpretrain.structures import DataSample

from mmweak.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from mmweak.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = {
    'CAM': 'configs/esol/esol_r50_stage0_voc12aug.py',
    'ESOL stage 1': 'configs/esol/esol_r50_stage1_voc12aug.py',
    'ESOL stage 2': 'configs/esol/esol_r50_stage2_voc12aug.py',
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--img-size', type=int, default=320)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument(
        '--backends',
        nargs='+',
        default=['torchvision', 'grid_sample', 'mmcv'],
        choices=['torchvision', 'grid_sample', 'mmcv'],
        help='DCN operators of the ESOL samplers (mmcv is skipped when its '
        'ops are not compiled)')
    parser.add_argument(
        '--no-stage1', action='store_true', help='skip ESOL stage 1')
    parser.add_argument(
        '--tiny',
        action='store_true',
        help='quarter-width backbone, 64x64, batch 2, 1 iteration (smoke)')
    args = parser.parse_args(argv)
    if args.tiny:
        args.batch_size, args.img_size, args.iters = 2, 64, 1
    return args


def mmcv_ops_available() -> bool:
    try:
        from mmcv.ops import deform_conv2d  # noqa: F401
        return True
    except ImportError:
        return False


def build(config: str, backend: Optional[str], tiny: bool) -> Tuple:
    """Model (PyTorch default init, no checkpoint) and its optim wrapper."""
    cfg = Config.fromfile(osp.join(ROOT, config))
    model_cfg = cfg.model
    model_cfg.backbone.init_cfg = None
    if tiny:
        model_cfg.backbone.update(stem_channels=16, base_channels=16)
        model_cfg.head.in_channels = 512
    neck = model_cfg.get('neck')
    if neck is not None:
        if tiny:
            neck.in_channels = 512
        neck.backend = backend
        if 'shrinkage' in neck:
            neck.shrinkage.backend = backend
    model = MODELS.build(model_cfg)
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    constructor = optim_cfg.pop('constructor',
                                'DefaultOptimWrapperConstructor')
    paramwise = optim_cfg.pop('paramwise_cfg', None)
    optim = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(
            type=constructor,
            optim_wrapper_cfg=optim_cfg,
            paramwise_cfg=paramwise))(model)
    return model.train(), optim


def batch(size: int, img: int, num_classes: int = 20) -> Dict:
    g = torch.Generator().manual_seed(0)
    return dict(
        inputs=[
            torch.randint(0, 256, (3, img, img), dtype=torch.uint8,
                          generator=g) for _ in range(size)
        ],
        data_samples=[
            DataSample().set_gt_label([i % num_classes, (3 * i + 1) %
                                       num_classes]) for i in range(size)
        ])


def main(argv: Optional[List[str]] = None) -> Dict[str, float]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    register_all_modules()
    torch.manual_seed(0)
    backends = [b for b in args.backends
                if b != 'mmcv' or mmcv_ops_available()]
    models = {'CAM': build(CONFIGS['CAM'], None, args.tiny)}
    stages = ['ESOL stage 2'] if args.no_stage1 else ['ESOL stage 1',
                                                      'ESOL stage 2']
    for stage in stages:
        for backend in backends:
            models[f'{stage} ({backend})'] = build(CONFIGS[stage], backend,
                                                   args.tiny)
    data = batch(args.batch_size, args.img_size)

    times: Dict[str, List[float]] = {name: [] for name in models}
    for it in range(args.iters + 1):  # the first round is the warm-up
        for name, (model, optim) in models.items():
            start = time.perf_counter()
            model.train_step(data, optim)
            if it > 0:
                times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(t) for name, t in times.items()}

    size = 'quarter-width (512 ch)' if args.tiny else 'ResNet-50 (2048 ch)'
    print(f'train step, {size}, output stride 16, batch {args.batch_size}, '
          f'{args.img_size}x{args.img_size}, {torch.get_num_threads()} '
          f'threads, median of {args.iters} (after 1 warm-up)')
    print('| model | s / step | x CAM |\n|---|---|---|')
    for name, t in med.items():
        print(f'| {name} | {t:.2f} | {t / med["CAM"]:.2f} |')
    return med


if __name__ == '__main__':
    main()
