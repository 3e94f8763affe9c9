# Copyright (c) mmweak contributors.
"""Split a nuScenes v2 train info pkl into a labelled part and a point-only
part (Point-DETR3D, Gao et al., AAAI 2024, arXiv 2403.15317; spec section 1).

    python tools/point_detr3d/make_point_split.py INFO_PKL --ratio 0.05 \\
        [--seed 0] [--split-by sample|scene] [--dbinfos DBINFOS_PKL] \\
        [--mean 0.5] [--std 0.3] --out-dir DIR

Writes, for ``INFO_PKL = .../<stem>.pkl`` and ``--ratio 0.05`` (tag
``r05``; 0.1 -> ``r10``, 0.025 -> ``r2p5``):

* ``<stem>_r05_labelled.pkl``: the labelled samples (``ann_type='box'``,
  GT instances kept, ``point_3d`` added);
* ``<stem>_r05_point.pkl``: the other samples (``ann_type='point'``, one
  ``point_3d`` + ``bbox_label_3d`` per object, simulated deterministically
  from the GT box; see :mod:`mmweak.datasets.point_split_3d` for the
  placeholder keys that let mmdet3d's ``NuScenesDataset`` load them);
* with ``--dbinfos``: ``<dbstem>_r05_labelled.pkl``, the GT-paste database
  restricted to the labelled samples: ``create_gt_database`` records an
  entry's sample as ``image_idx`` = the sample's position in INFO_PKL (the
  ``sample_idx`` mmengine assigns; mmdet3d's converters store the same
  value), so the database must have been built from this INFO_PKL;
* ``<stem>_r05_split.json``: a summary (counts, rule, seed, outputs).

Objects outside the detection classes (``bbox_label_3d == -1`` in mmdet3d's
v2 infos) are not point-annotated: point-only samples get no instance for
them, labelled samples keep them as GT. The summary counts them
(``num_point_instances_outside_classes`` skipped,
``num_labelled_instances_outside_classes`` kept) and the tool prints the
number skipped.

The sample rule (default) sorts by timestamp and labels the first
``ceil(r * N)`` samples; ``--seed`` only affects ``--split-by scene``
(the order of whole scenes). All files are written atomically.
"""
import argparse
import json
import os.path as osp
import sys
from typing import List, Optional

import mmengine

from mmweak.datasets.point_split_3d import (check_ratio, filter_dbinfos,
                                            make_point_split, ratio_tag)
from mmweak.utils.offline_job import atomic_path


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Labelled / point-only split of a v2 nuScenes info pkl')
    parser.add_argument('info_pkl', help='v2 train info pkl')
    parser.add_argument('--ratio',
                        type=float,
                        required=True,
                        help='labelled fraction in (0, 1], e.g. 0.05 for 5%%')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--split-by',
                        choices=['sample', 'scene'],
                        default='sample')
    parser.add_argument('--dbinfos', help='GT-paste database info pkl')
    parser.add_argument('--mean',
                        type=float,
                        default=0.5,
                        help='point noise: TruncNormal '
                        'mean of u')
    parser.add_argument('--std',
                        type=float,
                        default=0.3,
                        help='point noise: TruncNormal std')
    parser.add_argument('--out-dir', required=True)
    return parser.parse_args(argv)


def _dump_pkl(obj, path: str) -> None:
    with atomic_path(path) as tmp:
        mmengine.dump(obj, tmp, file_format='pkl')


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    try:
        check_ratio(args.ratio)
    except ValueError as err:
        raise SystemExit(f'--ratio: {err}')
    if not osp.isfile(args.info_pkl):
        raise FileNotFoundError(f'no info pkl at {args.info_pkl}')
    if args.dbinfos and not osp.isfile(args.dbinfos):
        raise FileNotFoundError(f'no dbinfos pkl at {args.dbinfos}')
    infos = mmengine.load(args.info_pkl, file_format='pkl')
    labelled, point, summary, positions = make_point_split(
        infos,
        args.ratio,
        split_by=args.split_by,
        seed=args.seed,
        mean=args.mean,
        std=args.std,
        path=args.info_pkl)
    tag = ratio_tag(args.ratio)
    stem = osp.splitext(osp.basename(args.info_pkl))[0]
    out = dict(labelled=osp.join(args.out_dir, f'{stem}_{tag}_labelled.pkl'),
               point=osp.join(args.out_dir, f'{stem}_{tag}_point.pkl'))
    if args.dbinfos:
        dbinfos = mmengine.load(args.dbinfos, file_format='pkl')
        kept, counts = filter_dbinfos(dbinfos, positions, args.dbinfos)
        db_stem = osp.splitext(osp.basename(args.dbinfos))[0]
        out['dbinfos'] = osp.join(args.out_dir,
                                  f'{db_stem}_{tag}_labelled.pkl')
        summary['dbinfos_kept_per_class'] = counts
    _dump_pkl(labelled, out['labelled'])
    _dump_pkl(point, out['point'])
    if args.dbinfos:
        _dump_pkl(kept, out['dbinfos'])
    summary.update(input=osp.abspath(args.info_pkl), outputs=out)
    out['summary'] = osp.join(args.out_dir, f'{stem}_{tag}_split.json')
    with atomic_path(out['summary']) as tmp:
        with open(tmp, 'w') as f:
            json.dump(summary, f, indent=2)
    print(f"{summary['num_labelled']} labelled / {summary['num_point']} "
          f"point-only samples ({args.split_by} rule, ratio {args.ratio}) "
          f"-> {args.out_dir}")
    print(f"{summary['num_point_annotations']} point annotations; "
          f"{summary['num_point_instances_outside_classes']} instance(s) of "
          'point-only samples outside the classes (bbox_label_3d -1) got no '
          'point')
    return out


if __name__ == '__main__':
    main(sys.argv[1:])
