# Copyright (c) mmweak contributors.
"""nuScenes mAP / NDS of Point-DETR3D's pseudo labels against the ground
truth (Point-DETR3D, AAAI 2024, arXiv 2403.15317; spec section 5: the
teacher's box per annotated point, scored like a detector).

    python tools/point_detr3d/eval_pseudo_labels.py MERGED_PKL \\
        --data-root data/nuscenes --version v1.0-trainval \\
        [--gt-pkl TRAIN_PKL] [--eval-set train] [--all-samples] \\
        [--out pseudo_label_eval.json]

``MERGED_PKL`` is the student pkl of ``make_pseudo_labels.py`` /
``merge_pseudo_labels.py``. Evaluated by default: its point-only samples
(``ann_type == 'point'`` or carrying ``is_pseudo`` instances) with their
``is_pseudo`` instances as detections (``score`` as confidence, velocity
``[0, 0]``). ``--all-samples``: every sample of the pkl, all instances
(labelled samples' GT with score 1), e.g. a full val prediction pkl.

The ground truth is the devkit's (``load_gt`` of ``--eval-set``, default
``mini_train`` / ``train`` after the version) restricted to the evaluated
samples; boxes go to global coordinates as mmdet3d's ``NuScenesMetric``
does, and the devkit's filters, matching, AP and TP errors are applied
(:mod:`mmweak.evaluation.functional.nuscenes_subset_eval_3d`).
``--gt-pkl`` (the original train pkl) is checked to hold every evaluated
sample token, which catches a merged pkl from another split early.
"""
import argparse
import json
import os.path as osp
from typing import List, Mapping, Optional

from mmweak.datasets.pseudo_labels_3d import load_pickle
from mmweak.evaluation.functional.nuscenes_subset_eval_3d import (
    EVAL_VERSION, TRAIN_EVAL_SETS, VERSION_EVAL_SETS, check_eval_set,
    check_v2_infos, classes_from_metainfo, evaluate_subset,
    infos_to_detections, load_nuscenes)
from mmweak.utils.offline_job import atomic_path

VELOCITY_CAVEAT = ('pseudo boxes carry velocity [0, 0]: mAVE (and so NDS) '
                   'measures the GT speed, not a prediction')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="nuScenes mAP/NDS of the pseudo labels against the GT")
    parser.add_argument('merged_pkl',
                        help='student info pkl with pseudo '
                        'labels (is_pseudo instances)')
    parser.add_argument('--gt-pkl',
                        nargs='+',
                        help='original train info pkl(s): every evaluated '
                        'sample token must be in them')
    parser.add_argument('--data-root',
                        required=True,
                        help='nuScenes root (holds the version tables)')
    parser.add_argument('--version',
                        required=True,
                        choices=sorted(VERSION_EVAL_SETS),
                        help='nuScenes version')
    parser.add_argument(
        '--eval-set',
        help='devkit split whose GT is used (default: mini_train for '
        'v1.0-mini, train for v1.0-trainval)')
    parser.add_argument('--all-samples',
                        action='store_true',
                        help='evaluate every sample of MERGED_PKL with all '
                        'its instances (GT samples included)')
    parser.add_argument('--out', help='write the metrics to this JSON file')
    args = parser.parse_args(argv)
    if args.eval_set is None:
        args.eval_set = TRAIN_EVAL_SETS[args.version]
    try:
        check_eval_set(args.version, args.eval_set)
    except ValueError as err:
        parser.error(str(err))
    return args


def is_pseudo_sample(info: Mapping) -> bool:
    """A point-only sample: ``ann_type == 'point'`` or pseudo instances."""
    return info.get('ann_type') == 'point' or any(
        inst.get('is_pseudo', False) for inst in info.get('instances', ()))


def pseudo_instances(info: Mapping) -> List[Mapping]:
    return [i for i in info.get('instances', ()) if i.get('is_pseudo')]


def all_instances(info: Mapping) -> List[Mapping]:
    return list(info.get('instances', ()))


def _check_gt_pkls(paths: List[str], tokens: List[str]) -> None:
    known = set()
    for path in paths:
        known.update(
            info.get('token')
            for info in check_v2_infos(load_pickle(path, 'GT pkl'), path))
    missing = [t for t in tokens if t not in known]
    if missing:
        head = ', '.join(missing[:5])
        raise KeyError(f'{len(missing)} evaluated sample token(s) are not in '
                       f'--gt-pkl {" ".join(paths)}: {head}' +
                       (' ...' if len(missing) > 5 else ''))


def format_table(summary: dict, title: str) -> str:
    """The printed report: mAP, NDS (with the velocity caveat), TP errors
    and per-class AP."""
    lines = [
        f'{title}: {summary["num_samples"]} samples, '
        f'{summary["num_pred_boxes"]} boxes vs {summary["num_gt_boxes"]} '
        f'GT ({summary["eval_set"]}, {EVAL_VERSION})',
        f'mAP  {summary["mean_ap"]:.4f}   (classes with GT: '
        f'{_fmt(summary["mean_ap_classes_with_gt"])})',
        f'NDS  {summary["nd_score"]:.4f}' +
        (f'   ({VELOCITY_CAVEAT})' if summary.get('pseudo') else ''),
        '  '.join(f'{k} {_fmt(v)}' for k, v in summary['tp_errors'].items()),
        f'{"class":<22}{"AP":>8}' +
        ''.join(f'{"@" + th:>8}'
                for th in next(iter(summary['label_aps'].values()))),
    ]
    for name, aps in summary['label_aps'].items():
        flag = '' if name in summary['classes_with_gt'] else '  (no GT)'
        lines.append(f'{name:<22}{summary["mean_dist_aps"][name]:>8.4f}' +
                     ''.join(f'{ap:>8.4f}' for ap in aps.values()) + flag)
    return '\n'.join(lines)


def _fmt(value) -> str:
    return 'n/a' if value is None else f'{value:.4f}'


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    data = load_pickle(args.merged_pkl, 'merged pkl')
    infos = check_v2_infos(data, args.merged_pkl)
    classes = classes_from_metainfo(data['metainfo'])
    if args.all_samples:
        chosen, select = infos, all_instances
    else:
        chosen = [info for info in infos if is_pseudo_sample(info)]
        select = pseudo_instances
        if not any(pseudo_instances(info) for info in chosen):
            raise ValueError(
                f'{args.merged_pkl}: no pseudo instances (is_pseudo=True) in '
                f'its {len(infos)} samples; pass the pkl written by '
                'make_pseudo_labels.py / merge_pseudo_labels.py, or '
                '--all-samples to score all its instances')
    missing_token = [i for i, info in enumerate(chosen) if 'token' not in info]
    if missing_token:
        raise KeyError(f"{args.merged_pkl}: {len(missing_token)} sample(s) "
                       f"have no 'token' (first at position "
                       f'{missing_token[0]}); nuScenes infos need it')
    tokens = [info['token'] for info in chosen]
    if args.gt_pkl:
        _check_gt_pkls(args.gt_pkl, tokens)

    nusc = load_nuscenes(args.data_root, args.version)
    detections = infos_to_detections(chosen, classes, select)
    summary = evaluate_subset(nusc, detections, args.eval_set, tokens)
    summary.update(merged_pkl=osp.abspath(args.merged_pkl),
                   version=args.version,
                   pseudo=not args.all_samples,
                   num_instances=sum(len(select(i)) for i in chosen))
    if summary['pseudo']:
        summary['velocity_caveat'] = VELOCITY_CAVEAT
    title = 'all samples' if args.all_samples else 'pseudo labels'
    print(format_table(summary, title), flush=True)
    if args.out:
        with atomic_path(args.out) as tmp:
            with open(tmp, 'w') as f:
                json.dump(summary, f, indent=2)
        print(f'metrics -> {args.out}', flush=True)
    return summary


if __name__ == '__main__':
    main()
