# Copyright (c) mmweak contributors.
"""Time of one BAS-WSSS training step relative to one multi-label CAM step.

    python tools/benchmarks/bench_bas_wsss_step.py [--batch-size 8]
        [--img-size 320] [--iters 3] [--threads N] [--width 64]

Builds, from the VOC configs and with random weights (no download), two
ResNet-50 Stage A models with the same feature resolution (output stride 16:
a 20x20 map at 320x320):

- CAM: ``configs/wsss/cam_resnet50_voc12aug.py``, the IRN CAM network
  (GAP + bias-free 1x1 classifier, multi-label soft-margin loss). As
  configured, its stem, layer1 and layer2 are frozen and every BN is in eval
  mode (IRN); ``CAM (all trainable)`` is the same network with nothing
  frozen and BN training, as BAS-WSSS trains;
- BAS-WSSS: ``configs/bas/bas_resnet50_voc12aug.py`` (generator on layer3,
  1x1 classifier on layer4, one drawn positive class per image, the erase
  branch = layer4 + classifier run again through ``functional_call``).

and times a full ``train_step`` (data preprocessor, forward, backward, SGD
step) of each, alternating the models so that all see the same machine
load, after one warm-up round; the median of ``--iters`` timed steps is
reported, with ``BAS-WSSS (no erase)`` (the erase branch replaced by a zero
score) to separate the erase branch's cost. ``--width`` sets the ResNet
stem/base channels (64 = ResNet-50; smaller values only for smoke runs).
"""
import argparse
import copy
import os.path as osp
import statistics
import time
from typing import Callable, Dict, List

import torch
from mmengine.config import Config
from mmpretrain.structures import DataSample

from mmweak.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from mmweak.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CAM_CONFIG = 'configs/wsss/cam_resnet50_voc12aug.py'
BAS_CONFIG = 'configs/bas/bas_resnet50_voc12aug.py'
NUM_CLASSES = 20


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--img-size', type=int, default=320)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument(
        '--width',
        type=int,
        default=64,
        help='ResNet stem/base channels (64 = ResNet-50)')
    args = parser.parse_args()
    for name in ('batch_size', 'img_size', 'iters', 'width'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    return args


def build(config: str, width: int, trainable: bool = False):
    """Model (PyTorch default init, no checkpoint) and its optim wrapper.

    ``trainable`` unfreezes every stage and lets BN train.
    """
    cfg = Config.fromfile(osp.join(ROOT, config))
    model_cfg = cfg.model
    model_cfg.backbone.update(
        init_cfg=None, stem_channels=width, base_channels=width)
    if trainable:
        model_cfg.backbone.update(frozen_stages=-1, norm_eval=False)
    expansion = 4  # Bottleneck
    model_cfg.head.in_channels = width * 8 * expansion
    if 'mid_channels' in model_cfg.head:
        model_cfg.head.mid_channels = width * 4 * expansion
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


def batch(size: int, img: int) -> Dict:
    """Random images with one to three tags each (fixed seed)."""
    g = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(size):
        n = int(torch.randint(1, 4, (1, ), generator=g))
        tags = torch.randperm(NUM_CLASSES, generator=g)[:n]
        samples.append(DataSample().set_gt_label(tags.tolist()))
    return dict(
        inputs=[
            torch.randint(0, 256, (3, img, img), dtype=torch.uint8,
                          generator=g) for _ in range(size)
        ],
        data_samples=samples)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    register_all_modules()
    torch.manual_seed(0)
    cam, cam_optim = build(CAM_CONFIG, args.width)
    cam_all, cam_all_optim = build(CAM_CONFIG, args.width, trainable=True)
    bas, bas_optim = build(BAS_CONFIG, args.width)
    data = batch(args.batch_size, args.img_size)
    real_erase = bas.head.erase_branch

    def no_erase(x_erased: torch.Tensor, tail) -> torch.Tensor:
        return x_erased.new_zeros(x_erased.size(0), bas.head.num_classes)

    def run_bas(erase: Callable = None) -> Callable:

        def step():
            if erase is not None:
                bas.head.erase_branch = erase
            try:
                bas.train_step(data, bas_optim)
            finally:
                bas.head.erase_branch = real_erase

        return step

    runs = {
        'CAM': lambda: cam.train_step(data, cam_optim),
        'CAM (all trainable)': lambda: cam_all.train_step(data, cam_all_optim),
        'BAS-WSSS': run_bas(),
        'BAS-WSSS (no erase)': run_bas(no_erase),
    }
    times: Dict[str, List[float]] = {name: [] for name in runs}
    for it in range(args.iters + 1):  # the first round is the warm-up
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            if it > 0:
                times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(t) for name, t in times.items()}

    feat = -(-args.img_size // 16)
    print(f'train step, batch {args.batch_size}, {args.img_size}x'
          f'{args.img_size} (features {feat}x{feat}, output stride 16), '
          f'width {args.width}, {NUM_CLASSES} classes, '
          f'{torch.get_num_threads()} threads, median of {args.iters} '
          '(after 1 warm-up)')
    print('| model | s / step | x CAM | x CAM (all trainable) |')
    print('|---|---|---|---|')
    for name, t in med.items():
        print(f'| {name} | {t:.3f} | {t / med["CAM"]:.2f} | '
              f'{t / med["CAM (all trainable)"]:.2f} |')
    print(f'BAS-WSSS / CAM step ratio: {med["BAS-WSSS"] / med["CAM"]:.2f}')
    print('BAS-WSSS / CAM (all trainable) step ratio: '
          f'{med["BAS-WSSS"] / med["CAM (all trainable)"]:.2f}')
    print('erase-branch overhead (BAS-WSSS / no erase): '
          f'{med["BAS-WSSS"] / med["BAS-WSSS (no erase)"]:.2f}')


if __name__ == '__main__':
    main()
