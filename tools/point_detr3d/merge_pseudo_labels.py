# Copyright (c) mmweak contributors.
"""Build the student's info pkl from teacher pseudo labels (Point-DETR3D,
AAAI 2024, arXiv 2403.15317; spec section 5).

    python tools/point_detr3d/merge_pseudo_labels.py PSEUDO \\
        --train-pkl PKL [PKL ...] --out OUT_PKL \\
        [--point-only-pkl PKL] [--point-filter valid|lidar_pts|all]

``PSEUDO`` is either the per-sample directory of
``tools/point_detr3d/make_pseudo_labels.py`` (``<out-dir>/samples``) or the
pkl written by the ``mmweak.DumpPseudoLabels3D`` metric during
``tools/test.py``; its records are matched to samples by LiDAR file name.

The output is the ``--train-pkl`` infos (several pkls are concatenated in
order, e.g. the split's ``*_labelled.pkl`` and ``*_point.pkl``) with the
``instances`` of the point-only samples replaced by the teacher boxes
(``is_pseudo``, ``score``, real ``num_lidar_pts``, the original
``point_3d``); labelled samples keep their GT. Point-only samples are those
with ``ann_type == 'point'``, or, with ``--point-only-pkl`` (the split's
point pkl), the samples of that pkl, whose stored points are then the
reference (so ``--train-pkl`` may be the original train pkl with GT
everywhere; the merged samples get that pkl's ``ann_type``).

``--point-filter`` says which instances of a point-only sample the teacher
saw (its dataset's valid filter: ``valid`` for ``use_valid_flag=True``,
``lidar_pts`` for ``use_valid_flag=False``, ``all``); the others are
dropped. Instances outside the detection classes (``bbox_label_3d == -1``)
have no point annotation whatever the filter (the teacher pipeline's
``mmweak.LoadPointAnnotations3D`` skips them too) and are dropped; the tool
prints how many. A point-only sample without pseudo labels, or whose box count,
labels or points differ from its annotated points, stops the merge with an
error naming the sample.
"""
import argparse
from typing import Dict, List, Optional

from mmweak.datasets.pseudo_labels_3d import (POINT_FILTERS,
                                              merge_pseudo_label_files)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Merge Point-DETR3D pseudo labels into the train infos')
    parser.add_argument(
        'pseudo', help='per-sample record directory or DumpPseudoLabels3D pkl')
    parser.add_argument('--train-pkl',
                        nargs='+',
                        required=True,
                        help='v2 info pkl(s) to merge into (concatenated)')
    parser.add_argument('--out', required=True, help='output info pkl')
    parser.add_argument(
        '--point-only-pkl',
        help='info pkl of the point-only samples with their points '
        "(default: samples with ann_type == 'point')")
    parser.add_argument(
        '--point-filter',
        choices=POINT_FILTERS,
        default='valid',
        help='instances of a point-only sample the teacher saw, as the '
        "teacher's NuScenesDataset filtered them: valid (use_valid_flag="
        'True, default), lidar_pts (use_valid_flag=False), all (no filter)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> Dict[str, int]:
    args = parse_args(argv)
    stats = merge_pseudo_label_files(args.pseudo, args.train_pkl, args.out,
                                     args.point_only_pkl, args.point_filter)
    print(
        f'merge_pseudo_labels: {stats["pseudo_boxes"]} pseudo boxes in '
        f'{stats["point_samples"]} point-only samples, '
        f'{stats["box_samples"]} labelled samples kept -> {args.out}',
        flush=True)
    if stats['dropped_points']:
        print(f'merge_pseudo_labels: dropped {stats["dropped_points"]} '
              f'point(s) the teacher did not see (--point-filter '
              f'{args.point_filter}' +
              (f'; {stats["outside_classes"]} of them outside the classes, '
               'bbox_label_3d -1' if stats['outside_classes'] else '') + ')',
              flush=True)
    return stats


if __name__ == '__main__':
    main()
