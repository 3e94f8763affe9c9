# Copyright (c) mmweak contributors.
"""Choose a checkpoint's WSOL threshold on the config's validation split.

    python tools/analysis_tools/calibrate_wsol_threshold.py \\
        CONFIG CHECKPOINT --out THR.json [--work-dir DIR] \\
        [--cfg-options ...] [--launcher ...]

Runs the val loop of ``CONFIG`` (``val_dataloader`` and the ``WSOLMetric`` of
``val_evaluator``) with ``CHECKPOINT`` through mmengine's ``Runner``, as
``tools/test.py`` runs the test loop. The metric sweeps tau on that split and
writes ``THR.json`` (``WSOLMetric(thr_out=...)``): ``loc_thr``, the tau
maximising GT-known Loc with the metric's fixed-threshold box; the tau
maximising the fixed-box accuracy at IoU 0.3 / 0.5 / 0.7; for the ``choe``
preset the MaxBoxAccV2 tau* per IoU; the box rule, the number of samples, the
split, the dataset, the config and the checkpoint. Test with it:

    python tools/test.py CONFIG CHECKPOINT \\
        --cfg-options test_evaluator.thr_file=THR.json

The validation split must differ from the test split (``split='test'`` or a
val dataset identical to the test dataset is refused): thresholds are never
chosen on the data they are reported on.
"""
import argparse
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional

from mmengine.config import Config, ConfigDict, DictAction
from mmengine.dist import is_main_process
from mmengine.runner import Runner

# fields of the val dataset config recorded in the threshold file
DATASET_FIELDS = ('split', 'seed', 'num_samples', 'data_root', 'metadata_root',
                  'ann_file')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description='Calibrate the WSOL localization threshold of a '
        "checkpoint on the config's val split and write it as JSON for "
        'tools/test.py (test_evaluator.thr_file)')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out',
                        required=True,
                        help='threshold file to write (.json)')
    parser.add_argument('--work-dir', help='directory for the logs')
    parser.add_argument('--cfg-options',
                        nargs='+',
                        action=DictAction,
                        help='override config keys, e.g. '
                        'val_dataloader.dataset.num_samples=200')
    parser.add_argument('--launcher',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def _is_wsol_metric(metric_cfg: Any) -> bool:
    return isinstance(metric_cfg, dict) and str(metric_cfg.get(
        'type', '')).split('.')[-1] == 'WSOLMetric'


def wsol_metric_cfg(cfg: Config) -> ConfigDict:
    """The single ``WSOLMetric`` entry of ``cfg.val_evaluator``.

    Raises:
        KeyError: No ``val_evaluator`` / ``val_dataloader``.
        ValueError: No ``WSOLMetric``, or more than one.
    """
    for key in ('val_dataloader', 'val_evaluator'):
        if cfg.get(key) is None:
            raise KeyError(f'the config has no `{key}`; calibration runs '
                           'the val loop on a train-fullsup split')
    evaluator = cfg.val_evaluator
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        evaluator = evaluator['metrics']  # Evaluator(metrics=...) form
    entries = evaluator if isinstance(evaluator, (list, tuple)) \
        else [evaluator]
    found = [m for m in entries if _is_wsol_metric(m)]
    if len(found) != 1:
        raise ValueError('val_evaluator must hold exactly one WSOLMetric, '
                         f'found {len(found)}')
    return found[0]


def check_split(cfg: Config) -> Dict[str, Any]:
    """Refuse a val split that is the test split; return its description.

    Returns:
        dict: ``dataset`` (type) and the :data:`DATASET_FIELDS` present in
        the val dataset config.
    """
    val = cfg.val_dataloader.get('dataset') or {}
    test = (cfg.get('test_dataloader') or {}).get('dataset')
    if val.get('split') == 'test':
        raise ValueError(
            "val_dataloader.dataset.split is 'test': thresholds must be "
            'chosen on a validation (train-fullsup) split; set e.g. '
            '--cfg-options val_dataloader.dataset.split=val')
    if test is not None and val == test:
        raise ValueError(
            'val_dataloader.dataset is identical to test_dataloader.dataset: '
            'thresholds must not be chosen on the test data; point '
            'val_dataloader at a validation (train-fullsup) split')
    info = dict(dataset=str(val.get('type')))
    for key in DATASET_FIELDS:
        if val.get(key) is not None:
            info[key] = val[key]
    return info


def prepare_cfg(cfg: Config, args: argparse.Namespace) -> Config:
    """Set the checkpoint, work dir and the metric's ``thr_out``."""
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join(
            './work_dirs',
            osp.splitext(osp.basename(args.config))[0] + '_calibration')
    cfg.load_from = args.checkpoint
    if cfg.get('val_cfg') is None:
        cfg.val_cfg = dict()
    metric = wsol_metric_cfg(cfg)
    info = check_split(cfg)
    info.update(config=args.config, checkpoint=args.checkpoint)
    metric.pop('thr_file', None)  # the sweep does not use a fixed tau
    metric.thr_out = args.out
    metric.calib_info = info
    return cfg


def main(argv: Optional[List[str]] = None) -> Optional[dict]:
    """Run the calibration; return the written file's content (main
    process; None elsewhere)."""
    from mmweak.utils import init_cpu_distributed, register_all_modules

    args = parse_args(argv)
    if not args.out.endswith('.json'):
        raise ValueError(f'--out must name a .json file, got {args.out}')
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} not found')
    register_all_modules(init_default_scope=False)
    cfg = prepare_cfg(Config.fromfile(args.config), args)
    init_cpu_distributed(cfg, args.launcher)
    if osp.isfile(args.out) and is_main_process():
        os.remove(args.out)  # never report a stale file
    runner = Runner.from_cfg(cfg)
    runner.val()
    if not is_main_process():
        return None
    if not osp.isfile(args.out):
        raise RuntimeError(f'the val loop did not write {args.out}')
    with open(args.out) as f:
        content = json.load(f)
    print(f'loc_thr={content["loc_thr"]:g} (GT-known '
          f'{content["gt_known_loc"]:.2f} on {content["num_samples"]} '
          f'{content.get("split")} samples) written to {args.out}; test '
          f'with --cfg-options test_evaluator.thr_file={args.out}')
    return content


if __name__ == '__main__':
    main()
