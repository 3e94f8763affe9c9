# Copyright (c) mmweak contributors.
"""Score saved localization maps with mmweak's ``WSOLMetric``.

    python tools/analysis_tools/eval_wsol_maps.py CONFIG MAPS \\
        [--split test] [--scores SCORES.npz] [--preset paper|choe] \\
        [--loc-thr 0.2] [--iou-offset 1] [--cam-curve-interval 0.01] \\
        [--per-class] [--normalize] [--out metrics.json] [--cfg-options ...]

Lets maps produced by other code bases be compared under exactly the same
protocol as mmweak's own models. ``MAPS`` is either a directory holding one
``<image-stem>.npy`` per image or a single ``.npz`` whose keys are the image
stems (e.g. ``Black_Footed_Albatross_0046_18`` for CUB,
``ILSVRC2012_val_00000001`` for ImageNet). Each map is a 2-D float array
(any resolution) covering the same view as the image the config's test
pipeline produces (e.g. the 224 centre crop of ``crop256``, the whole image
of ``resize224``); the metric resizes it to that image and scores it
against the boxes (and masks, if any) that the pipeline carries.

Without ``--scores`` only localization metrics that do not depend on the
class prediction are reported (GT-known Loc, fixed-threshold BoxAcc with
``--preset paper`` or MaxBoxAccV2 with ``--preset choe``, PxAP, ...).
``--scores`` is an ``.npz`` of per-image class-score vectors keyed by stem.
"""
import argparse
import json
import os.path as osp
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

CLASS_DEPENDENT = ('top1_cls', 'top5_cls', 'top1_loc', 'top5_loc')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Score saved localization maps (.npy directory or .npz) '
        "against a dataset config's test split with WSOLMetric")
    parser.add_argument('config', help='config whose dataloader gives the GT')
    parser.add_argument(
        'maps',
        help='directory of <image-stem>.npy files, or one .npz '
        'keyed by image stem')
    parser.add_argument(
        '--split',
        default='test',
        choices=['test', 'val'],
        help='which dataloader of the config to use (default: test)')
    parser.add_argument(
        '--scores',
        help='optional .npz of class-score vectors keyed by image stem; '
        'enables Top-1/Top-5 Cls and Loc')
    parser.add_argument('--preset',
                        default='paper',
                        choices=['paper', 'choe'],
                        help='WSOLMetric preset (default: paper)')
    parser.add_argument(
        '--loc-thr',
        type=float,
        default=0.2,
        help='fixed threshold for Top-k / GT-known Loc (default: 0.2)')
    parser.add_argument(
        '--iou-offset',
        type=int,
        default=1,
        choices=[0, 1],
        help='1: inclusive IoU of the reference evaluators (default); '
        '0: continuous IoU')
    parser.add_argument(
        '--cam-curve-interval',
        type=float,
        default=0.01,
        help='threshold step of the MaxBoxAccV2 sweep (default: 0.01)')
    parser.add_argument('--per-class',
                        action='store_true',
                        help='add class-mean metrics')
    parser.add_argument(
        '--normalize',
        action='store_true',
        help='min-max normalise every map first (needed for raw CAMs that '
        'are not in [0, 1])')
    parser.add_argument('--batch-size',
                        type=int,
                        default=64,
                        help='maps per metric batch')
    parser.add_argument('--out', help='write the metrics to this JSON file')
    parser.add_argument('--cfg-options',
                        nargs='+',
                        action=DictAction,
                        help='override config settings, e.g. '
                        'test_dataloader.dataset.data_root=data/CUB_200_2011')
    return parser.parse_args(argv)


def map_loader(path: str) -> Callable[[str], np.ndarray]:
    """Return ``load(stem) -> map`` for a directory of .npy or an .npz."""
    if osp.isdir(path):

        def load(stem: str) -> np.ndarray:
            file = osp.join(path, stem + '.npy')
            if not osp.isfile(file):
                raise FileNotFoundError(
                    f'No map for image "{stem}": expected the file {file}.')
            return np.load(file)

        return load
    if path.endswith('.npz') and osp.isfile(path):
        archive = np.load(path)
        keys = set(archive.files)

        def load(stem: str) -> np.ndarray:
            if stem not in keys:
                raise KeyError(f'No map for image "{stem}": the archive '
                               f'{path} has no key "{stem}".')
            return archive[stem]

        return load
    raise FileNotFoundError(
        f'MAPS must be a directory of .npy files or an .npz file, got {path}.')


def as_map(array: np.ndarray, stem: str, normalize: bool) -> torch.Tensor:
    """Check one saved map and bring it to [0, 1]."""
    score = np.asarray(array, dtype=np.float32).squeeze()
    if score.ndim != 2:
        raise ValueError(f'The map of "{stem}" must be 2-D (h, w), got shape '
                         f'{np.asarray(array).shape}.')
    if normalize:
        low, high = np.nanmin(score), np.nanmax(score)
        score = (score - low) / (high - low + 1e-5)
    elif np.nanmin(score) < -1e-3 or np.nanmax(score) > 1 + 1e-3:
        raise ValueError(
            f'The map of "{stem}" has values in [{np.nanmin(score):.4g}, '
            f'{np.nanmax(score):.4g}]; maps must lie in [0, 1], or pass '
            '--normalize to min-max normalise them.')
    return torch.from_numpy(score)


def evaluate_maps(args: argparse.Namespace) -> Dict[str, float]:
    """Run the evaluation described by the parsed arguments."""
    from mmweak.evaluation import WSOLMetric
    from mmweak.registry import DATASETS
    from mmweak.utils import register_all_modules

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    register_all_modules(init_default_scope=False)
    init_default_scope(cfg.get('default_scope', 'mmweak'))
    loader_key = f'{args.split}_dataloader'
    if cfg.get(loader_key) is None:
        raise KeyError(f'The config {args.config} has no `{loader_key}`.')
    dataset = DATASETS.build(cfg[loader_key].dataset)

    load_map = map_loader(args.maps)
    scores = dict(np.load(args.scores)) if args.scores else None
    metric = WSOLMetric(preset=args.preset,
                        loc_thr=args.loc_thr,
                        iou_offset=args.iou_offset,
                        cam_curve_interval=args.cam_curve_interval,
                        per_class=args.per_class)
    metric.dataset_meta = dataset.metainfo

    batch: List[dict] = []
    progress = ProgressBar(len(dataset))
    for index in range(len(dataset)):
        data_sample = dataset[index]['data_samples']
        stem = osp.splitext(osp.basename(data_sample.img_path))[0]
        sample = data_sample.to_dict()
        sample['loc_map'] = as_map(load_map(stem), stem, args.normalize)
        if scores is not None:
            if stem not in scores:
                raise KeyError(f'No scores for image "{stem}" in '
                               f'{args.scores}.')
            sample['pred_score'] = torch.as_tensor(
                scores[stem], dtype=torch.float32).flatten()
        else:
            # Placeholder: class-dependent metrics are dropped below.
            num_classes = len(dataset.metainfo.get(
                'classes', ())) or int(data_sample.gt_label.max()) + 1
            sample['pred_score'] = torch.nn.functional.one_hot(
                data_sample.gt_label[:1], num_classes).float()[0]
        batch.append(sample)
        if len(batch) == args.batch_size:
            metric.process(None, batch)
            batch = []
        progress.update()
    if batch:
        metric.process(None, batch)
    metrics = metric.evaluate(len(dataset))
    if scores is None:
        metrics = {
            key: value
            for key, value in metrics.items() if key.split('/', 1)[-1].replace(
                '_per_class', '') not in CLASS_DEPENDENT
        }
    return metrics


def main(argv: Optional[List[str]] = None) -> Dict[str, float]:
    args = parse_args(argv)
    metrics = evaluate_maps(args)
    print()
    for key, value in metrics.items():
        print(f'{key}: {value:.4f}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(metrics=metrics,
                           config=args.config,
                           maps=args.maps,
                           split=args.split,
                           preset=args.preset,
                           loc_thr=args.loc_thr,
                           iou_offset=args.iou_offset,
                           cam_curve_interval=args.cam_curve_interval),
                      f,
                      indent=2)
    return metrics


if __name__ == '__main__':
    main()
