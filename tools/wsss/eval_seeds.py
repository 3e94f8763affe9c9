# Copyright (c) mmweak contributors.
"""Score CAM seeds (over a background-threshold sweep) or finished label
maps (pseudo masks) against VOC-layout pixel labels.

    # CAM seeds: every threshold of the sweep in one pass
    python tools/wsss/eval_seeds.py --data-root data/VOCdevkit/VOC2012 \\
        --split train --cam-dir work_dirs/cams [--bg-mode threshold] \\
        [--thresholds 0.05 0.60 0.01] [--out-dir work_dirs/seed_eval]
    # pseudo masks (PNG label maps, 254 / 255 = no prediction)
    python tools/wsss/eval_seeds.py --data-root data/VOCdevkit/VOC2012 \\
        --split train --mask-dir work_dirs/masks --out-dir work_dirs/eval
    # sharded over processes; the confusion matrices are all-reduced
    torchrun --nproc_per_node=2 tools/wsss/eval_seeds.py ... --launcher pytorch

Protocol (``shared/specs/wsss-protocol.md``, section 5): one confusion
matrix over the whole list (not per-image means), GT 255 ignored, predicted
254 / 255 counted as no prediction (a false negative); per class IoU,
precision, recall and the SEAM / MARS FP and FN rates, mIoU over the classes
present. A CAM file (``<cam-dir>/<id>.npy``, IRN format) is scored through
its ``high_res`` maps and ``keys``: the seed is the argmax over a background
plane and the maps (``bg = t``, or ``bg = (1 - max cam) ** alpha`` with
``--bg-mode power``), background winning ties. The best threshold (first
best on ties) and its per-class table are printed; ``--out-dir`` receives
``<name>.json`` (the whole curve, the table and the confusion matrix at the
best threshold) and ``<name>.png`` (mIoU / precision / recall against the
threshold). This is an evaluation, so nothing is resumed: a rerun recomputes
(in seconds) and replaces the outputs atomically.

Importable: :func:`evaluate_cam_dir` and :func:`evaluate_mask_dir` return
the report dict (see :func:`mmweak.evaluation.seed_report`).
"""
import argparse
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.distributed as dist

from mmweak.cam import load_cam_pack
from mmweak.datasets.cls_labels import load_id_list
from mmweak.evaluation import (confusion_matrix, format_seed_table,
                               inclusive_range, save_seed_report, seed_report,
                               sweep_confusion)
from mmweak.utils.offline_job import (init_offline_dist, is_main_process,
                                      offline_device, shard, track)
from mmweak.wsss.data_io import resolve_data_root, split_list_path

DEFAULT_THRESHOLDS = (0.05, 0.60, 0.01)
DEFAULT_POWERS = (0.5, 32.0, 0.5)
VOC_NUM_CLASSES = 21


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Score CAM seeds (threshold sweep) or pseudo masks '
        'against VOC-layout pixel labels')
    parser.add_argument('--data-root',
                        required=True,
                        help='VOC2012 folder (or the parent of VOCdevkit)')
    parser.add_argument(
        '--split',
        default='train',
        help='ImageSets/Segmentation/<split>.txt, or a list file path '
        '(default: train)')
    parser.add_argument('--gt-dir',
                        default='SegmentationClass',
                        help='GT label folder under --data-root '
                        '(default: SegmentationClass)')
    parser.add_argument('--num-classes',
                        type=int,
                        default=VOC_NUM_CLASSES,
                        help='classes incl. background (default: 21)')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--cam-dir',
                        help='IRN-format CAM .npy files (<id>.npy)')
    source.add_argument('--mask-dir',
                        help='PNG label maps (<id>.png), e.g. pseudo masks')
    parser.add_argument('--bg-mode',
                        choices=['threshold', 'power'],
                        default='threshold',
                        help='background plane: constant t, or '
                        '(1 - max cam) ** alpha (default: threshold)')
    parser.add_argument('--thresholds',
                        nargs=3,
                        type=float,
                        metavar=('START', 'STOP', 'STEP'),
                        default=DEFAULT_THRESHOLDS,
                        help='inclusive threshold sweep '
                        '(default: 0.05 0.60 0.01, 56 values)')
    parser.add_argument('--powers',
                        nargs=3,
                        type=float,
                        metavar=('START', 'STOP', 'STEP'),
                        default=DEFAULT_POWERS,
                        help='inclusive alpha sweep of --bg-mode power '
                        '(default: 0.5 32 0.5)')
    parser.add_argument('--out-dir',
                        help='write <name>.json (+ <name>.png for CAMs)')
    parser.add_argument('--name',
                        default='seed_eval',
                        help='output file stem (default: seed_eval)')
    parser.add_argument('--launcher',
                        choices=['none', 'pytorch'],
                        default='none',
                        help='pytorch: shard over torchrun processes')
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------
def read_label_png(path: str, what: str = 'label map') -> np.ndarray:
    """uint8 (H, W) label map of a palette / grey PNG, or an error naming
    the file."""
    from PIL import Image
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} "{path}" does not exist')
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            array = np.asarray(img)
    except Exception as err:  # PIL raises several error types
        raise ValueError(f'{path}: cannot read the {what} ({err})') from None
    if mode not in ('P', 'L', 'I', 'I;16') or array.ndim != 2:
        raise ValueError(f'{path}: expected a single-channel (palette or '
                         f'grey) PNG, got mode {mode}')
    if array.dtype != np.uint8:
        if array.min() < 0 or array.max() > 255:
            raise ValueError(f'{path}: label values must lie in 0..255')
        array = array.astype(np.uint8)
    return array


def class_names(num_classes: int) -> List[str]:
    """VOC names (mmseg's ``PascalVOCDataset``) for 21 classes, else
    ``class0, class1, ...``."""
    if num_classes == VOC_NUM_CLASSES:
        from mmseg.datasets import PascalVOCDataset
        return list(PascalVOCDataset.METAINFO['classes'])
    return [f'class{i}' for i in range(num_classes)]


def _prefetch(load: Callable, items: Sequence, window: int = 4) -> Iterator:
    """``map(load, items)`` with up to ``window`` loads ahead on threads
    (file reads and PNG decoding release the GIL)."""
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(load, item) for item in items[:window]]
        for i in range(len(items)):
            if i + window < len(items):
                futures.append(pool.submit(load, items[i + window]))
            yield futures[i].result()
            futures[i] = None


def _gather_ids(data_root: str, split: str) -> Tuple[str, str, List[str]]:
    root = resolve_data_root(data_root)
    list_path = split_list_path(root, split)
    return root, list_path, load_id_list(list_path)


def _reduce(conf: torch.Tensor, count: int) -> Tuple[torch.Tensor, int]:
    """Sum over the ranks of a sharded run."""
    if not (dist.is_available() and dist.is_initialized()):
        return conf, count
    device = offline_device() if dist.get_backend() == 'nccl' else 'cpu'
    packed = torch.cat([conf.flatten(), conf.new_tensor([count])]).to(device)
    dist.all_reduce(packed)
    packed = packed.cpu()
    return packed[:-1].view_as(conf), int(packed[-1])


def _finish(report: Dict, out_dir: Optional[str], name: str) -> Dict:
    if is_main_process():
        print(format_seed_table(report), flush=True)
        if out_dir is not None:
            for path in save_seed_report(report, out_dir, name):
                print(f'wrote {path}', flush=True)
    return report


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------
def evaluate_cam_dir(data_root: str,
                     cam_dir: str,
                     split: str = 'train',
                     gt_dir: str = 'SegmentationClass',
                     num_classes: int = VOC_NUM_CLASSES,
                     bg_mode: str = 'threshold',
                     values: Optional[Sequence[float]] = None,
                     out_dir: Optional[str] = None,
                     name: str = 'seed_eval') -> Dict:
    """Sweep the background of the CAM seeds of a list and score them.

    Args:
        data_root (str): VOC2012 folder (or its ``VOCdevkit`` parent).
        cam_dir (str): Folder of ``<id>.npy`` IRN CAM packs.
        split (str): List name or path. Defaults to ``'train'``.
        gt_dir (str): GT folder under ``data_root``.
            Defaults to ``'SegmentationClass'``.
        num_classes (int): Classes incl. background. Defaults to 21.
        bg_mode (str): ``'threshold'`` or ``'power'``.
        values (Sequence[float], optional): Thresholds (or powers); None
            gives 0.05..0.60 step 0.01 (powers 0.5..32 step 0.5).
        out_dir (str, optional): Where to write ``<name>.json`` / ``.png``.
        name (str): Output file stem. Defaults to ``'seed_eval'``.

    Returns:
        dict: :func:`mmweak.evaluation.seed_report` of the summed matrices
        (``best_thr``, ``mIoU``, ``summary``, ``curve``, ...).
    """
    if bg_mode not in ('threshold', 'power'):
        raise ValueError(f"bg_mode must be 'threshold' or 'power', got "
                         f'{bg_mode!r}')
    if values is None:
        values = inclusive_range(*(
            DEFAULT_THRESHOLDS if bg_mode == 'threshold' else DEFAULT_POWERS))
    values = [float(v) for v in values]
    root, list_path, ids = _gather_ids(data_root, split)
    if not osp.isdir(cam_dir):
        raise FileNotFoundError(f'CAM folder "{cam_dir}" does not exist')
    sweep_arg = 'thresholds' if bg_mode == 'threshold' else 'powers'

    def load(img_id: str):
        cam_path = osp.join(cam_dir, f'{img_id}.npy')
        if not osp.isfile(cam_path):
            raise FileNotFoundError(
                f'{cam_path}: no CAM file for id "{img_id}" listed in '
                f'{list_path}')
        pack = load_cam_pack(cam_path)
        cams = np.asarray(pack['high_res'], dtype=np.float32)
        if not np.isfinite(cams).all():
            raise ValueError(f'{cam_path}: high_res holds NaN / inf values')
        gt_path = osp.join(root, gt_dir, f'{img_id}.png')
        gt = read_label_png(gt_path, 'GT label map')
        if gt.shape != cams.shape[1:]:
            raise ValueError(
                f'{gt_path}: GT is {gt.shape[0]}x{gt.shape[1]} but the '
                f'high_res CAMs of {cam_path} are {cams.shape[1]}x'
                f'{cams.shape[2]} (CAMs must be at the original image size)')
        keys = np.asarray(pack['keys'], dtype=np.int64).reshape(-1)
        return cam_path, gt_path, cams, keys, gt

    conf = torch.zeros(len(values),
                       num_classes,
                       num_classes + 1,
                       dtype=torch.long)
    rank, world = _rank_world()
    mine = shard(ids, rank, world)
    progress = track(mine, f'Seeds ({len(values)} {sweep_arg})')
    for _, (cam_path, gt_path, cams, keys, gt) in zip(progress,
                                                      _prefetch(load, mine)):
        try:
            conf += sweep_confusion(torch.from_numpy(cams),
                                    torch.from_numpy(keys),
                                    torch.from_numpy(gt), num_classes,
                                    **{sweep_arg: values})
        except ValueError as err:
            where = gt_path if str(err).startswith('GT') else cam_path
            raise ValueError(f'{where}: {err}') from None
    conf, count = _reduce(conf, len(mine))
    report = seed_report(conf, values, bg_mode, class_names(num_classes),
                         count)
    return _finish(report, out_dir, name)


def evaluate_mask_dir(data_root: str,
                      mask_dir: str,
                      split: str = 'train',
                      gt_dir: str = 'SegmentationClass',
                      num_classes: int = VOC_NUM_CLASSES,
                      out_dir: Optional[str] = None,
                      name: str = 'seed_eval') -> Dict:
    """Score finished label maps (``<mask_dir>/<id>.png``; 254 / 255 = no
    prediction) of a list. Arguments as :func:`evaluate_cam_dir`.

    Returns:
        dict: :func:`mmweak.evaluation.seed_report` of the summed matrix.
    """
    root, list_path, ids = _gather_ids(data_root, split)
    if not osp.isdir(mask_dir):
        raise FileNotFoundError(f'mask folder "{mask_dir}" does not exist')

    def load(img_id: str):
        mask_path = osp.join(mask_dir, f'{img_id}.png')
        if not osp.isfile(mask_path):
            raise FileNotFoundError(
                f'{mask_path}: no label map for id "{img_id}" listed in '
                f'{list_path}')
        pred = read_label_png(mask_path)
        gt_path = osp.join(root, gt_dir, f'{img_id}.png')
        gt = read_label_png(gt_path, 'GT label map')
        if gt.shape != pred.shape:
            raise ValueError(
                f'{gt_path}: GT is {gt.shape[0]}x{gt.shape[1]} but the label '
                f'map {mask_path} is {pred.shape[0]}x{pred.shape[1]}')
        return mask_path, gt_path, pred, gt

    conf = torch.zeros(num_classes, num_classes + 1, dtype=torch.long)
    rank, world = _rank_world()
    mine = shard(ids, rank, world)
    progress = track(mine, 'Label maps')
    for _, (mask_path, gt_path, pred, gt) in zip(progress,
                                                 _prefetch(load, mine)):
        try:
            conf += confusion_matrix(torch.from_numpy(pred),
                                     torch.from_numpy(gt), num_classes)
        except ValueError as err:
            where = gt_path if str(err).startswith('GT') else mask_path
            raise ValueError(f'{where}: {err}') from None
    conf, count = _reduce(conf, len(mine))
    report = seed_report(conf, None, None, class_names(num_classes), count)
    return _finish(report, out_dir, name)


def _rank_world() -> Tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    init_offline_dist(args.launcher)
    if args.cam_dir is not None:
        sweep = args.thresholds if args.bg_mode == 'threshold' \
            else args.powers
        return evaluate_cam_dir(args.data_root,
                                args.cam_dir,
                                split=args.split,
                                gt_dir=args.gt_dir,
                                num_classes=args.num_classes,
                                bg_mode=args.bg_mode,
                                values=inclusive_range(*sweep),
                                out_dir=args.out_dir,
                                name=args.name)
    return evaluate_mask_dir(args.data_root,
                             args.mask_dir,
                             split=args.split,
                             gt_dir=args.gt_dir,
                             num_classes=args.num_classes,
                             out_dir=args.out_dir,
                             name=args.name)


if __name__ == '__main__':
    main()
