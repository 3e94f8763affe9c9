# Copyright (c) mmweak contributors.
"""Where the false positives of the planted biased classes lie, on the
embedded VOC-layout set.

    python tools/analysis_tools/biased_fp_breakdown.py \\
        --data-root data/synthetic_voc/VOCdevkit/VOC2012 --split train \\
        --mask-dir NAME=DIR [NAME=DIR ...] [--gt-dir SegmentationClass] \\
        [--out breakdown.json]

``tools/dataset_converters/make_synthetic_voc.py`` plants a background
structure under every ``boat`` (water) and ``train`` (rails) and records
each structure's band of rows in ``synthetic_meta.json`` (``structures``;
the structures span the image width). For each label folder (pseudo masks,
MARS labels, ...) and each biased class ``c`` this tool splits the class's
false positives into those on a structure band of the image and those
elsewhere, as rates over ``TP + FP + FN`` of ``c`` (the protocol's FP
rate, as ``tools/wsss/eval_seeds.py`` reports it: GT 255 ignored, a
predicted 254 or 255 is no label, so ``FP on + FP elsewhere`` is that FP
rate). MARS aims at the first part; the second is mask bleeding of any
kind.
"""
import argparse
import json
import os.path as osp
from typing import Dict, List, Optional

import numpy as np

from mmweak.datasets.cls_labels import VOC_CLASSES, load_id_list
from mmweak.evaluation.functional.seg_confusion import (confusion_matrix,
                                                        seg_scores)
from mmweak.utils.offline_job import track
from mmweak.utils.stage_pipeline import write_atomic

META_FILE = 'synthetic_meta.json'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='False positives of the planted biased classes on and '
        'off their structures (embedded VOC-layout set)')
    parser.add_argument('--data-root', required=True,
                        help='VOCdevkit/VOC2012 of the synthetic set')
    parser.add_argument('--meta', default=None,
                        help=f'{META_FILE} (default: two folders above '
                        '--data-root, where the generator writes it)')
    parser.add_argument('--split', default='train')
    parser.add_argument('--gt-dir', default='SegmentationClass',
                        help='GT folder under --data-root')
    parser.add_argument('--mask-dir', nargs='+', required=True,
                        metavar='NAME=DIR', help='label folders to score')
    parser.add_argument('--out', default=None, help='write a JSON report')
    return parser.parse_args(argv)


def structure_rows(meta: dict, img_id: str, height: int) -> np.ndarray:
    """(H,) bool: the rows of every structure band of ``img_id``."""
    rows = np.zeros(height, bool)
    for s in meta.get('structures', {}).get(img_id, []):
        _, top, _, bottom = s['bbox']
        rows[max(0, int(top)):min(height, int(bottom))] = True
    return rows


def read_png(path: str) -> np.ndarray:
    from PIL import Image
    if not osp.isfile(path):
        raise FileNotFoundError(f'label map "{path}" does not exist')
    with Image.open(path) as img:
        return np.array(img)


def breakdown(data_root: str, meta: dict, ids: List[str], mask_dir: str,
              gt_dir: str, classes: List[str]) -> Dict[str, dict]:
    """Per class: ``iou``, ``fp_rate``, ``fp_on_structure``,
    ``fp_elsewhere``, ``fn_rate`` (%) and the counts ``tp``, ``fp``,
    ``fn``, ``fp_on``: the confusion matrix of ``eval_seeds.py``, over all
    pixels and over the structure rows."""
    num = len(VOC_CLASSES)
    conf = np.zeros((num, num + 1), np.int64)
    conf_band = np.zeros_like(conf)
    for img_id in track(ids, f'{osp.basename(mask_dir.rstrip("/"))}'):
        gt = read_png(osp.join(data_root, gt_dir, img_id + '.png'))
        path = osp.join(mask_dir, img_id + '.png')
        pred = read_png(path)
        if gt.shape != pred.shape:
            raise ValueError(f'{path} is {pred.shape}, its GT is {gt.shape}')
        rows = structure_rows(meta, img_id, gt.shape[0])
        conf += confusion_matrix(pred, gt, num).numpy()
        conf_band += confusion_matrix(pred[rows], gt[rows], num).numpy()
    scores = seg_scores(conf)
    fp_band = seg_scores(conf_band)['fp']
    out = {}
    for c in classes:
        k = VOC_CLASSES.index(c)
        tp, fp, fn, on = (int(scores['tp'][k]), int(scores['fp'][k]),
                          int(scores['fn'][k]), int(fp_band[k]))
        union = tp + fp + fn

        def pct(x, union=union):
            return None if union == 0 else 100.0 * x / union
        out[c] = dict(iou=pct(tp), fp_rate=pct(fp), fp_on_structure=pct(on),
                      fp_elsewhere=pct(fp - on), fn_rate=pct(fn), tp=tp,
                      fp=fp, fn=fn, fp_on=on)
    return out


def main(argv: Optional[List[str]] = None) -> Dict[str, dict]:
    args = parse_args(argv)
    meta_path = args.meta or osp.join(args.data_root, '..', '..', META_FILE)
    if not osp.isfile(meta_path):
        raise FileNotFoundError(
            f'{meta_path} does not exist: this tool reads the structures of '
            'a set written by make_synthetic_voc.py (set --meta)')
    with open(meta_path) as f:
        meta = json.load(f)
    classes = sorted(meta.get('biased_classes', {}))
    if not classes:
        raise KeyError(f'{meta_path} has no `biased_classes`')
    dirs = {}
    for item in args.mask_dir:
        name, sep, path = item.partition('=')
        if not sep or not name or not path:
            raise ValueError(f'--mask-dir expects NAME=DIR, got {item!r}')
        dirs[name] = path
    ids = load_id_list(
        osp.join(args.data_root, 'ImageSets', 'Segmentation',
                 f'{args.split}.txt'))
    report = {name: breakdown(args.data_root, meta, ids, path, args.gt_dir,
                              classes) for name, path in dirs.items()}
    print(f'{"labels":24s} {"class":6s} {"IoU":>6s} {"FP":>6s} '
          f'{"on str.":>7s} {"elsewh.":>7s} {"FN":>6s}')
    for name, per_class in report.items():
        for c, r in per_class.items():
            vals = [r[k] for k in ('iou', 'fp_rate', 'fp_on_structure',
                                   'fp_elsewhere', 'fn_rate')]
            print(f'{name:24s} {c:6s} ' + ' '.join(
                '   nan' if v is None else f'{v:6.2f}' for v in vals))
    if args.out:
        write_atomic(args.out, json.dumps(report, indent=2))
    return report


if __name__ == '__main__':
    main()
