# Copyright (c) mmweak contributors.
"""Evaluate a checkpoint with an mmweak config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
        [--show-dir DIR] [--cfg-options ...] [--launcher ...]

The metrics are printed and, with ``--out results.json``, written as JSON.
"""
import argparse
import json
import os
import os.path as osp
import tempfile

from mmengine.config import Config, DictAction
from mmengine.dist import is_main_process
from mmengine.runner import Runner

from mmweak.utils import init_cpu_distributed, register_all_modules


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test an mmweak model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='directory for logs and results')
    parser.add_argument(
        '--out', help='write the metrics to this JSON file')
    parser.add_argument(
        '--show-dir',
        help='save map overlays (image, map, GT and predicted boxes) of the '
        'test samples into WORK_DIR/timestamp/SHOW_DIR')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. test_evaluator.loc_thr=0.3')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the command-line options to the config."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.amp:
        cfg.test_cfg = cfg.get('test_cfg') or {}
        cfg.test_cfg.fp16 = True
    if args.show_dir is not None:
        enable_visualization(cfg, args.show_dir, args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def enable_visualization(cfg: Config, show_dir: str, config: str) -> None:
    """Switch on the config's visualization hook, drawing to ``show_dir``.

    mmweak hooks (``WSOLVisualizationHook``) take ``enable``/``out_dir``;
    mmseg/mmdet-style hooks (``mmseg.SegVisualizationHook``) take ``draw``
    and write through the visualizer, whose ``save_dir`` becomes
    ``show_dir``.
    """
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise KeyError(
            f'{config} has no default_hooks.visualization, so --show-dir has '
            'nothing to draw with; inherit a task runtime (e.g. '
            'configs/_base_/wsol_runtime.py) or add a visualization hook')
    if str(hook.get('type', '')).endswith('SegVisualizationHook'):
        hook.draw = True
        cfg.visualizer.save_dir = show_dir
    else:
        hook.enable = True
        hook.out_dir = show_dir


def write_json(metrics: dict, path: str) -> None:
    """Write ``metrics`` to ``path`` atomically (temp file, then rename)."""
    out_dir = osp.dirname(osp.abspath(path))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix='.tmp')
    with os.fdopen(fd, 'w') as f:
        json.dump(metrics, f, indent=2)
    os.replace(tmp, path)


def main() -> None:
    args = parse_args()
    if args.out is not None and not args.out.endswith('.json'):
        raise ValueError(f'--out must name a .json file, got {args.out}')
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} not found')
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(args.config)
    cfg = merge_args(cfg, args)
    init_cpu_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if args.out is not None and is_main_process():
        write_json({k: float(v) for k, v in metrics.items()}, args.out)


if __name__ == '__main__':
    main()
