# Copyright (c) mmweak contributors.
"""Time of one BAS-ResNet50 training step relative to one CAM-ResNet50 step.

    python tools/benchmarks/bench_bas_step.py [--batch-size 16]
        [--img-size 224] [--iters 3] [--num-classes 200] [--threads N]
        [--no-deepcopy]

Builds, from the CUB configs and with random weights (no download):

- CAM: ``configs/cam/cam_resnet50_cub.py`` (ResNet-50 with a stride-1 last
  stage: output stride 16, a 14x14 map; GAP + linear). This is mmweak's CAM
  baseline and the denominator of the headline ratio;
- CAM (os8): ``configs/cam/cam_resnet50-os8_cub.py``, the same with layer3
  at stride 1 too (output stride 8, a 28x28 map: wsolevaluation's "large
  feature map" ResNet-50, at the resolution BAS's generator reads);
- BAS: ``configs/bas/bas_resnet50_cub.py`` (BASResNet: layer3 at stride 1,
  max-pool + layer4; generator, 3-conv head and the functional erase branch).

and times a full ``train_step`` (data preprocessor, forward, backward, SGD
step) of each, alternating the models so that both see the same machine
load, after one warm-up step; the median of ``--iters`` timed steps is used.
Goal: BAS / CAM <= 1.6. Both CAM layouts are reported because the ratio
depends mostly on which one is meant (see ``BENCHMARKS.md``).

For context it also reports

- ``BAS (no erase)``: the same BAS model with the erase branch replaced by
  a zero score, i.e. the cost of the BAS architecture alone (28x28 layer3,
  3-conv 1024-wide head, generator); BAS / no-erase is the erase branch's
  overhead;
- ``BAS (deepcopy erase)``: the erase branch as in the reference code
  (``copy.deepcopy`` of the tail and head on every forward), to compare with
  mmweak's ``torch.func.functional_call`` (disable with ``--no-deepcopy``);
- the forward multiply-accumulates of both networks (mmengine FlopAnalyzer),
  which explain the ratio that architecture alone imposes.
"""
import argparse
import copy
import os.path as osp
import statistics
import time
from typing import Callable, Dict, List

import torch
import torch.nn as nn
from mmengine.config import Config
from mmpretrain.structures import DataSample

from mmweak.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from mmweak.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--num-classes', type=int, default=200)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument(
        '--no-deepcopy',
        action='store_true',
        help='skip the deep-copy erase-branch variant')
    parser.add_argument(
        '--no-os8', action='store_true', help='skip the CAM (os8) model')
    parser.add_argument(
        '--no-flops', action='store_true', help='skip the MAC count')
    return parser.parse_args()


def build(config: str, num_classes: int):
    """Model (PyTorch default init, no checkpoint) and its optim wrapper."""
    cfg = Config.fromfile(osp.join(ROOT, config))
    model_cfg = cfg.model
    model_cfg.backbone.init_cfg = None
    model_cfg.data_preprocessor.num_classes = num_classes
    model_cfg.head.num_classes = num_classes
    model = MODELS.build(model_cfg)  # init_weights skipped: timing only
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    constructor = optim_cfg.pop('constructor', 'DefaultOptimWrapperConstructor')
    paramwise = optim_cfg.pop('paramwise_cfg', None)
    optim = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(
            type=constructor,
            optim_wrapper_cfg=optim_cfg,
            paramwise_cfg=paramwise))(model)
    return model.train(), optim


def batch(size: int, img: int, num_classes: int) -> Dict:
    g = torch.Generator().manual_seed(0)
    return dict(
        inputs=[
            torch.randint(0, 256, (3, img, img), dtype=torch.uint8,
                          generator=g) for _ in range(size)
        ],
        data_samples=[
            DataSample().set_gt_label(i % num_classes) for i in range(size)
        ])


def deepcopy_erase(head: nn.Module) -> Callable:
    """The reference's erase branch: fresh deep copies on every call."""

    def erase_branch(x_erased: torch.Tensor, tail: nn.Module):
        tail_copy = copy.deepcopy(tail)
        cls_copy = copy.deepcopy(head.classifier_cls)
        return cls_copy(tail_copy(x_erased)).mean(dim=(2, 3))

    return erase_branch


def no_erase(head: nn.Module) -> Callable:
    """Skip the erase branch (architecture cost only)."""

    def erase_branch(x_erased: torch.Tensor, tail: nn.Module):
        return x_erased.new_zeros(x_erased.size(0), head.num_classes)

    return erase_branch


def macs(model: nn.Module, img: int) -> float:
    """Forward multiply-accumulates (G) of one image, tensor mode."""
    from mmengine.analysis import FlopAnalyzer

    class Wrapper(nn.Module):

        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            out = self.m(x, mode='tensor')
            return out if isinstance(out, torch.Tensor) else out[-1]

    was_training = model.training
    model.eval()
    analyzer = FlopAnalyzer(Wrapper(model), torch.rand(1, 3, img, img))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    total = analyzer.total() / 1e9
    model.train(was_training)
    return total


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    register_all_modules()
    torch.manual_seed(0)
    k = args.num_classes
    cam, cam_optim = build('configs/cam/cam_resnet50_cub.py', k)
    cam8 = None
    if not args.no_os8:
        cam8, cam8_optim = build('configs/cam/cam_resnet50-os8_cub.py', k)
    bas, bas_optim = build('configs/bas/bas_resnet50_cub.py', k)
    data = batch(args.batch_size, args.img_size, k)
    real_erase = bas.head.erase_branch

    def run_bas(variant: Callable = None) -> Callable:

        def step():
            if variant is not None:
                bas.head.erase_branch = variant(bas.head)
            try:
                bas.train_step(data, bas_optim)
            finally:
                bas.head.erase_branch = real_erase

        return step

    runs = {
        'CAM': lambda: cam.train_step(data, cam_optim),
        'BAS': run_bas(),
        'BAS (no erase)': run_bas(no_erase),
    }
    if cam8 is not None:
        runs['CAM (os8)'] = lambda: cam8.train_step(data, cam8_optim)
    if not args.no_deepcopy:
        runs['BAS (deepcopy erase)'] = run_bas(deepcopy_erase)

    times: Dict[str, List[float]] = {name: [] for name in runs}
    for it in range(args.iters + 1):  # the first round is the warm-up
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            if it > 0:
                times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(t) for name, t in times.items()}

    print(f'train step, batch {args.batch_size}, {args.img_size}x'
          f'{args.img_size}, {k} classes, {torch.get_num_threads()} threads, '
          f'median of {args.iters} (after 1 warm-up)')
    print('| model | s / step | x CAM |\n|---|---|---|')
    for name, t in med.items():
        print(f'| {name} | {t:.2f} | {t / med["CAM"]:.2f} |')
    print(f'BAS / CAM step ratio: {med["BAS"] / med["CAM"]:.2f} (goal <= 1.6)')
    if 'CAM (os8)' in med:
        print(f'BAS / CAM (os8) step ratio: '
              f'{med["BAS"] / med["CAM (os8)"]:.2f}')
    print(f'erase-branch overhead (BAS / no erase): '
          f'{med["BAS"] / med["BAS (no erase)"]:.2f}')
    if 'BAS (deepcopy erase)' in med:
        print(f'functional vs deepcopy erase: '
              f'{med["BAS (deepcopy erase)"] / med["BAS"]:.2f}x faster')
    if not args.no_flops:
        cam_g, bas_g = macs(cam, args.img_size), macs(bas, args.img_size)
        line = f'forward GMACs / image: CAM {cam_g:.2f}, BAS {bas_g:.2f} ' \
            f'(x{bas_g / cam_g:.2f})'
        if cam8 is not None:
            cam8_g = macs(cam8, args.img_size)
            line += f', CAM (os8) {cam8_g:.2f} (BAS x{bas_g / cam8_g:.2f})'
        print(line + '; the erase branch adds the tail and head once more '
              'in training')


if __name__ == '__main__':
    main()
