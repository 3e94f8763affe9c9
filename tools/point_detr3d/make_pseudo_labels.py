# Copyright (c) mmweak contributors.
"""Pseudo-label the training set with the Point-DETR3D teacher and write the
student's info pkl (Point-DETR3D, AAAI 2024, arXiv 2403.15317; spec
section 5, pipeline step 4).

    python tools/point_detr3d/make_pseudo_labels.py CONFIG CHECKPOINT \\
        --out-dir DIR [--train-pkl PKL [PKL ...]] [--point-only-pkl PKL] \\
        [--batch-size 1] [--num-workers N] [--no-merge] \\
        [--cfg-options k=v ...] [--launcher none|pytorch]

    # sharded over N processes (GPUs, or CPU processes with gloo)
    torchrun --nproc_per_node=N tools/point_detr3d/make_pseudo_labels.py \\
        CONFIG CKPT --out-dir DIR --launcher pytorch

Dataset: the config's ``pseudo_label_dataloader`` if it has one, else its
``test_dataloader``. It must list every training sample (labelled and
point-only) with a test-time pipeline that keeps LiDAR coordinates and
packs the annotated points into ``gt_instances_3d.points_3d`` without
dropping any (``mmweak.PackPointDet3DInputs``). The model is built from
``model`` and run with ``model.test_step`` (its data preprocessor included),
without a Runner.

Output, in ``--out-dir``:

* ``samples/<index>.pkl``: one record per dataset index (pseudo instances
  in the v2 format, see :mod:`mmweak.datasets.pseudo_labels_3d`), written
  atomically. A rerun skips the samples whose record exists and removes
  temporary files left by a killed run, so an interrupted job, resumed,
  gives the same output as a clean run.
* ``nuscenes_infos_train_pseudo.pkl`` (rank 0, after all ranks finish): the
  train infos (``--train-pkl``, several are concatenated, e.g. the split's
  labelled and point pkls; default: the dataset's ``ann_file``, or those
  of a ``ConcatDataset``'s parts) with
  the instances of point-only samples (``ann_type == 'point'``, or the
  samples of ``--point-only-pkl``) replaced by the teacher boxes; labelled
  samples keep their GT (instances labelled -1 included). Instances of a
  point-only sample that the dataset's valid filter hid from the teacher
  (``use_valid_flag``, see :func:`dataset_point_filter`) are dropped, and
  so are objects outside the detection classes (``bbox_label_3d == -1``):
  ``mmweak.LoadPointAnnotations3D`` reads no point for them (its default
  ``skip_ignored=True``) and the merge expects none, so the teacher's boxes
  and the stored points stay aligned (``merge.outside_classes`` in the
  summary counts them).
* ``summary.json``: counts, merge statistics and, where the data samples
  carried aligned GT boxes, the pseudo boxes' errors.
"""
import argparse
import json
import os
import os.path as osp
from typing import Dict, List, Optional

import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.registry import DATASETS, MODELS, init_default_scope
from mmengine.runner import load_checkpoint

from mmweak.datasets.pseudo_labels_3d import (
    load_lidar_xyz, load_records, merge_pseudo_label_files, prediction_record,
    record_file_name, save_pickle_atomic, summarize_records)
from mmweak.utils import register_safe_checkpoint_loader
from mmweak.utils.offline_job import (add_launcher_args, atomic_path, barrier,
                                      init_offline_dist, is_main_process,
                                      offline_device, remove_stale_tmp, shard,
                                      track)

OUT_NAME = 'nuscenes_infos_train_pseudo.pkl'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Point-DETR3D teacher pseudo labels -> student info pkl')
    parser.add_argument('config', help='teacher config')
    parser.add_argument('checkpoint', help='teacher checkpoint')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument(
        '--train-pkl',
        nargs='+',
        help='info pkl(s) to merge into, concatenated (default: the '
        "dataset's ann_file)")
    parser.add_argument(
        '--point-only-pkl',
        help='info pkl of the point-only samples with their points '
        "(default: samples with ann_type == 'point')")
    parser.add_argument(
        '--out-name',
        default=OUT_NAME,
        help=f'merged pkl name in --out-dir (default: {OUT_NAME})')
    parser.add_argument('--no-merge',
                        action='store_true',
                        help='only write the per-sample records')
    parser.add_argument('--batch-size',
                        type=int,
                        default=1,
                        help='samples per forward (default: 1)')
    parser.add_argument(
        '--num-workers',
        type=int,
        help="data loading workers (default: the config dataloader's)")
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. model.pts_bbox_head.num_query=300')
    add_launcher_args(parser)
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    return args


def pseudo_loader_cfg(cfg: Config) -> ConfigDict:
    """The dataloader config of the samples to pseudo-label."""
    for key in ('pseudo_label_dataloader', 'test_dataloader'):
        if cfg.get(key) and cfg[key].get('dataset'):
            return cfg[key]
    raise KeyError(f'{cfg.filename}: needs a `pseudo_label_dataloader` or '
                   '`test_dataloader` with a dataset')


def sample_infos(dataset) -> List[dict]:
    """Record file, ``sample_idx`` and LiDAR file of every dataset index.

    Record files are named by the dataset index (``<index>.pkl``), which
    is unique also for a ``ConcatDataset`` (whose parts each count
    ``sample_idx`` from 0); records are matched to the train infos by LiDAR
    file, so every sample must have its own.
    """
    out, seen = [], {}
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        lidar = info.get('lidar_points') or {}
        if 'lidar_path' not in lidar:
            raise KeyError(f'data info {i} of {type(dataset).__name__} needs '
                           'lidar_points.lidar_path')
        base = osp.basename(lidar['lidar_path'])
        if base in seen:
            raise ValueError(f'samples {seen[base]} and {i} of the dataset '
                             f'share the LiDAR file {base}')
        seen[base] = i
        out.append(
            dict(file=record_file_name(i),
                 sample_idx=info.get('sample_idx', i),
                 lidar_path=lidar['lidar_path'],
                 num_pts_feats=int(lidar.get('num_pts_feats', 5))))
    return out


def default_train_pkls(dataset) -> List[str]:
    """The ``ann_file`` of the dataset (of each part of a
    ``ConcatDataset``), for the merge."""
    parts = getattr(dataset, 'datasets', [dataset])
    files = [getattr(d, 'ann_file', None) for d in parts]
    if not all(files):
        raise ValueError(f'{type(dataset).__name__} has no ann_file: give '
                         'the info pkl(s) to merge into with --train-pkl')
    return files


def write_record(path: str, record: dict) -> None:
    """One sample's record, written atomically."""
    save_pickle_atomic(path, record)


def run_chunk(model, data: Dict, metas: List[dict], samples_dir: str) -> None:
    """Teacher boxes of one chunk of samples -> one record file each."""
    with torch.no_grad():
        outputs = model.test_step(data)
    if len(outputs) != len(metas):
        raise RuntimeError(f'the teacher returned {len(outputs)} samples for '
                           f'a batch of {len(metas)}')
    for output, meta in zip(outputs, metas):
        got = output.metainfo.get('sample_idx', meta['sample_idx'])
        if got != meta['sample_idx']:
            raise RuntimeError(f'sample {meta["sample_idx"]}: the teacher '
                               f'output is of sample {got}')
        xyz = load_lidar_xyz(meta['lidar_path'], meta['num_pts_feats'])
        output.set_metainfo(
            dict(sample_idx=meta['sample_idx'], lidar_path=meta['lidar_path']))
        record = prediction_record(output, lidar_xyz=xyz)
        write_record(osp.join(samples_dir, meta['file']), record)


def dataset_point_filter(dataset) -> str:
    """Which instances of a sample reach the pipeline (the merge's
    ``point_filter``): mmdet3d ``NuScenesDataset`` parses annotations with
    its valid filter (``use_valid_flag``: ``bbox_3d_isvalid``, else
    ``num_lidar_pts > 0``); in test mode with ``load_eval_anns=False``, or
    for datasets without that filter, the raw instances (all) are read.
    The parts of a ``ConcatDataset`` must agree."""
    rules = set()
    for part in getattr(dataset, 'datasets', [dataset]):
        if getattr(part, 'test_mode', False) and \
                not getattr(part, 'load_eval_anns', True):
            rules.add('all')
        elif not hasattr(part, 'use_valid_flag'):
            rules.add('all')
        else:
            rules.add('valid' if part.use_valid_flag else 'lidar_pts')
    if len(rules) != 1:
        raise ValueError(f'the dataset parts filter instances differently '
                         f'({sorted(rules)}); use one use_valid_flag')
    return rules.pop()


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    register_safe_checkpoint_loader()

    loader_cfg = pseudo_loader_cfg(cfg)
    dataset = DATASETS.build(loader_cfg['dataset'])
    num_workers = args.num_workers if args.num_workers is not None else \
        loader_cfg.get('num_workers', 0)
    train_pkls = args.train_pkl or default_train_pkls(dataset)

    rank, world_size = init_offline_dist(args.launcher)
    device = offline_device()
    model = MODELS.build(cfg.model)
    load_checkpoint(model,
                    args.checkpoint,
                    map_location='cpu',
                    strict=True,
                    logger='silent')
    model.to(device).eval()

    samples_dir = osp.join(args.out_dir, 'samples')
    metas = sample_infos(dataset)
    done = [osp.exists(osp.join(samples_dir, m['file'])) for m in metas]
    # fixed chunks over the whole list: the unit of work and of resume
    chunks = [
        list(range(j, min(j + args.batch_size, len(metas))))
        for j in range(0, len(metas), args.batch_size)
    ]
    todo = [c for c in chunks if not all(done[i] for i in c)]
    if is_main_process():
        os.makedirs(samples_dir, exist_ok=True)
        stale = remove_stale_tmp(samples_dir, '.pkl')
        print(f'make_pseudo_labels: {len(metas)} samples, {sum(done)} '
              f'already done, {len(metas) - sum(done)} to do -> '
              f'{samples_dir}' + (f' ({stale} stale temporary file(s) '
                                  'removed)' if stale else ''),
              flush=True)
    barrier()

    mine = shard(todo, rank, world_size)
    loader = torch.utils.data.DataLoader(dataset,
                                         batch_sampler=mine,
                                         num_workers=num_workers,
                                         collate_fn=pseudo_collate)
    batches = iter(loader)
    for chunk in track(mine, f'pseudo labels (rank {rank}/{world_size})'):
        run_chunk(model, next(batches), [metas[i] for i in chunk], samples_dir)
    barrier()

    result: Dict = dict(samples=len(metas))
    if is_main_process():
        missing = [
            i for i, m in enumerate(metas)
            if not osp.exists(osp.join(samples_dir, m['file']))
        ]
        if missing:
            raise RuntimeError(f'{len(missing)} sample(s) have no record '
                               f'after the run, e.g. dataset indices '
                               f'{missing[:5]}')
        records = load_records(samples_dir)
        result['summary'] = summarize_records(records.values())
        if not args.no_merge:
            out_pkl = osp.join(args.out_dir, args.out_name)
            result['merge'] = merge_pseudo_label_files(
                samples_dir,
                train_pkls,
                out_pkl,
                args.point_only_pkl,
                dataset_point_filter(dataset),
                records=records)
            result['out_pkl'] = out_pkl
            print(
                f'make_pseudo_labels: {result["merge"]["pseudo_boxes"]} '
                f'pseudo boxes in {result["merge"]["point_samples"]} '
                f'point-only samples -> {out_pkl}',
                flush=True)
        with atomic_path(osp.join(args.out_dir, 'summary.json')) as tmp:
            with open(tmp, 'w') as f:
                json.dump(result, f, indent=2, default=str)
    barrier()
    return result


if __name__ == '__main__':
    main()
