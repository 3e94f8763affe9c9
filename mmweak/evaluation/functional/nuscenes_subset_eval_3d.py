# Copyright (c) mmweak contributors.
"""nuScenes detection metrics (mAP, TP errors, NDS) on any subset of a
split's samples, e.g. the point-only training samples that Point-DETR3D's
teacher pseudo-labels (Point-DETR3D, AAAI 2024, arXiv 2403.15317; spec
section 5: the quality of the pseudo labels against the ground truth).

mmdet3d's ``NuScenesMetric`` always evaluates the devkit's val split, and
the devkit's ``DetectionEval`` asserts that the predicted samples are
exactly the split's samples. This module keeps the devkit's own pieces and
only changes which samples are evaluated:

* :func:`infos_to_detections` - instances of mmdet3d v2 infos (LiDAR
  boxes, gravity centre) -> nuScenes detection dicts in global
  coordinates, through mmdet3d's ``output_to_nusc_box`` and
  ``lidar_nusc_box_to_global`` (``lidar_points.lidar2ego`` and
  ``ego2global``, the class-range cut in the ego frame) with the
  attribute names ``NuScenesMetric._format_lidar_bbox`` assigns
  (:func:`default_attribute_name`).
* :func:`load_subset_gt` - the devkit GT of the eval split
  (``load_gt``) restricted to the given sample tokens; unknown tokens are
  named in the error.
* :func:`evaluate_subset` - ``add_center_dist`` and ``filter_eval_boxes``
  on both sides, then per class the devkit's ``accumulate`` at every
  distance threshold, ``calc_ap``, ``calc_tp`` at ``dist_th_tp`` and a
  ``DetectionMetrics`` (the loop of ``DetectionEval.evaluate``, the
  ``traffic_cone``/``barrier`` NaN rules included).

This file imports mmdet3d and nuscenes-devkit; it is not imported by
``mmweak.evaluation.functional``.
"""
import math
import os.path as osp
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional,
                    Sequence)

import numpy as np
import torch
from mmdet3d.evaluation.metrics.nuscenes_metric import (
    NuScenesMetric, lidar_nusc_box_to_global, output_to_nusc_box)
from mmdet3d.structures import LiDARInstance3DBoxes
from nuscenes import NuScenes
from nuscenes.eval.common.config import config_factory
from nuscenes.eval.common.data_classes import EvalBoxes
from nuscenes.eval.common.loaders import (add_center_dist, filter_eval_boxes,
                                          load_gt)
from nuscenes.eval.detection.algo import accumulate, calc_ap, calc_tp
from nuscenes.eval.detection.constants import TP_METRICS
from nuscenes.eval.detection.data_classes import (DetectionBox,
                                                  DetectionConfig,
                                                  DetectionMetrics)

#: the devkit's train split of each version (where pseudo labels live)
TRAIN_EVAL_SETS = {'v1.0-mini': 'mini_train', 'v1.0-trainval': 'train'}
#: the eval splits a version can be evaluated on
VERSION_EVAL_SETS = {
    'v1.0-mini': ('mini_train', 'mini_val'),
    'v1.0-trainval': ('train', 'val'),
}
EVAL_VERSION = 'detection_cvpr_2019'
#: ``NuScenesMetric``'s speed above which a box counts as moving
MOVING_SPEED = 0.2
_VEHICLES = ('car', 'construction_vehicle', 'bus', 'truck', 'trailer')
_CYCLES = ('bicycle', 'motorcycle')


def default_attribute_name(name: str, velocity: Sequence[float]) -> str:
    """The attribute ``NuScenesMetric._format_lidar_bbox`` gives a LiDAR box
    of class ``name`` with BEV velocity ``velocity`` (moving above
    0.2 m/s, otherwise the class default, pedestrians standing and buses
    stopped)."""
    speed = math.hypot(float(velocity[0]), float(velocity[1]))
    if speed > MOVING_SPEED:
        if name in _VEHICLES:
            return 'vehicle.moving'
        if name in _CYCLES:
            return 'cycle.with_rider'
        return NuScenesMetric.DefaultAttribute[name]
    if name == 'pedestrian':
        return 'pedestrian.standing'
    if name == 'bus':
        return 'vehicle.stopped'
    return NuScenesMetric.DefaultAttribute[name]


def check_v2_infos(data: Any, path: str = 'info pkl') -> List[dict]:
    """The ``data_list`` of an mmdet3d 1.4 v2 info pkl; a clear error for
    anything else (e.g. a v1 pkl with ``infos``)."""
    if not isinstance(data, Mapping) or 'data_list' not in data \
            or 'metainfo' not in data:
        keys = sorted(data) if isinstance(data, Mapping) else type(data)
        raise ValueError(
            f'{path}: not an mmdet3d v2 info pkl (expected a dict with '
            f"'metainfo' and 'data_list', got {keys}); convert v1 pkls with "
            "mmdet3d's update_infos_to_v2")
    data_list = data['data_list']
    if not isinstance(data_list, list):
        raise ValueError(f"{path}: 'data_list' must be a list, got "
                         f'{type(data_list).__name__}')
    return data_list


def classes_from_metainfo(metainfo: Mapping) -> List[str]:
    """Class names in label order: the pkl's ``metainfo['categories']``
    (name -> label), else mmdet3d's nuScenes classes."""
    categories = metainfo.get('categories') if metainfo else None
    if categories:
        return [n for n, _ in sorted(categories.items(), key=lambda x: x[1])]
    from mmdet3d.datasets import NuScenesDataset
    return list(NuScenesDataset.METAINFO['classes'])


def _instance_arrays(info: Mapping, instances: Sequence[Mapping],
                     num_classes: int):
    boxes, scores, labels = [], [], []
    for k, inst in enumerate(instances):
        label = int(inst.get('bbox_label_3d', -1))
        if not 0 <= label < num_classes:
            continue  # don't-care (-1) or unknown labels
        if 'bbox_3d' not in inst:
            raise KeyError(f"sample {info.get('token')}: instance {k} has no "
                           "'bbox_3d'")
        box = np.asarray(inst['bbox_3d'], dtype=np.float64).reshape(-1)
        if box.shape[0] != 7:
            raise ValueError(
                f"sample {info.get('token')}: instance {k} 'bbox_3d' must "
                f'be [x, y, z, l, w, h, yaw], got {box.shape[0]} values')
        vel = np.asarray(inst.get('velocity', (0., 0.)),
                         dtype=np.float64).reshape(-1)[:2]
        if vel.shape[0] != 2:
            vel = np.zeros(2)
        boxes.append(np.concatenate([box, np.nan_to_num(vel, nan=0.)]))
        scores.append(float(inst.get('score', 1.0)))
        labels.append(label)
    return (np.asarray(boxes, np.float32).reshape(-1, 9),
            np.asarray(scores, np.float32), np.asarray(labels, np.int64))


def infos_to_detections(
        infos: Iterable[Mapping],
        classes: Sequence[str],
        select: Callable[[Mapping], Sequence[Mapping]],
        eval_cfg: Optional[DetectionConfig] = None) -> Dict[str, List[dict]]:
    """nuScenes detection dicts (global coordinates) of chosen instances.

    Args:
        infos: mmdet3d v2 infos (``token``, ``lidar_points.lidar2ego``,
            ``ego2global``); instances with ``bbox_3d`` (LiDAR, gravity
            centre), ``bbox_label_3d``, optional ``score`` (default 1) and
            ``velocity`` (default / NaN -> 0).
        classes: Class names in label order.
        select: ``info -> instances`` to convert (may be empty).
        eval_cfg: Devkit config (its ``class_range`` cut, as mmdet3d);
            default ``detection_cvpr_2019``.

    Returns:
        dict: sample token -> list of result dicts (the devkit's JSON
        result format), one entry (maybe empty) per info.
    """
    eval_cfg = eval_cfg or config_factory(EVAL_VERSION)
    results: Dict[str, List[dict]] = {}
    for info in infos:
        token = info['token']
        if token in results:
            raise ValueError(f'sample token {token} appears twice')
        boxes, scores, labels = _instance_arrays(info, select(info),
                                                 len(classes))
        annos = []
        if len(boxes):
            det = dict(bboxes_3d=LiDARInstance3DBoxes(boxes,
                                                      box_dim=9,
                                                      origin=(0.5, 0.5, 0.5)),
                       scores_3d=torch.from_numpy(scores),
                       labels_3d=torch.from_numpy(labels))
            nusc_boxes, _ = output_to_nusc_box(det)
            nusc_boxes = lidar_nusc_box_to_global(info, nusc_boxes, classes,
                                                  eval_cfg)
            for box in nusc_boxes:
                name = classes[box.label]
                annos.append(
                    dict(sample_token=token,
                         translation=box.center.tolist(),
                         size=box.wlh.tolist(),
                         rotation=box.orientation.elements.tolist(),
                         velocity=box.velocity[:2].tolist(),
                         detection_name=name,
                         detection_score=float(box.score),
                         attribute_name=default_attribute_name(
                             name, box.velocity[:2])))
        results[token] = annos
    return results


def _short(tokens: Sequence[str], n: int = 5) -> str:
    head = ', '.join(tokens[:n])
    return head + (f' ... ({len(tokens)} in all)' if len(tokens) > n else '')


def check_eval_set(version: str, eval_set: str) -> None:
    """A clear error when ``eval_set`` is not a split of ``version``."""
    if version not in VERSION_EVAL_SETS:
        raise ValueError(f'version {version!r}: expected one of '
                         f'{sorted(VERSION_EVAL_SETS)}')
    if eval_set not in VERSION_EVAL_SETS[version]:
        raise ValueError(f'eval set {eval_set!r} is not a split of '
                         f'{version}: expected one of '
                         f'{VERSION_EVAL_SETS[version]}')


def load_nuscenes(data_root: str, version: str) -> NuScenes:
    """The devkit tables of ``data_root/version`` (a clear error if the
    folder is missing)."""
    if not osp.isdir(osp.join(data_root, version)):
        raise FileNotFoundError(
            f'{osp.join(data_root, version)}: no nuScenes {version} tables '
            '(check --data-root and --version)')
    return NuScenes(version=version, dataroot=data_root, verbose=False)


def load_subset_gt(nusc: NuScenes, eval_set: str,
                   sample_tokens: Sequence[str]) -> EvalBoxes:
    """The devkit GT (``load_gt`` of ``eval_set``) of ``sample_tokens``
    only, in that order.

    Raises:
        KeyError: tokens absent from the devkit's ``sample`` table, or not
            in ``eval_set`` (the tokens are named).
    """
    unknown = [t for t in sample_tokens if t not in nusc._token2ind['sample']]
    if unknown:
        raise KeyError(
            f'{len(unknown)} sample token(s) missing from the devkit tables '
            f'of {nusc.version} ({nusc.dataroot}): {_short(unknown)}')
    gt_all = load_gt(nusc, eval_set, DetectionBox, verbose=False)
    in_split = set(gt_all.sample_tokens)
    outside = [t for t in sample_tokens if t not in in_split]
    if outside:
        raise KeyError(f'{len(outside)} sample token(s) are not in the '
                       f'{eval_set} split of {nusc.version}: '
                       f'{_short(outside)}')
    gt = EvalBoxes()
    for token in sample_tokens:
        gt.add_boxes(token, gt_all[token])
    return gt


def _json_float(value: Any) -> Optional[float]:
    value = float(value)
    return None if math.isnan(value) else value


def evaluate_subset(nusc: NuScenes,
                    detections: Mapping[str, Sequence[dict]],
                    eval_set: str,
                    sample_tokens: Optional[Sequence[str]] = None,
                    config: Optional[DetectionConfig] = None) -> dict:
    """nuScenes detection metrics of ``detections`` on a subset of
    ``eval_set``.

    Args:
        nusc: Devkit tables.
        detections: Sample token -> result dicts
            (:func:`infos_to_detections`).
        eval_set: Devkit split whose GT is loaded (``mini_train``,
            ``mini_val``, ``train``, ``val``).
        sample_tokens: The evaluated samples (default: the keys of
            ``detections``); samples without detections count their GT as
            misses.
        config: Devkit config, default ``detection_cvpr_2019``.

    Returns:
        dict: ``mean_ap``, ``nd_score``, ``label_aps`` (class -> distance
        threshold -> AP), ``mean_dist_aps``, ``label_tp_errors``,
        ``tp_errors``, ``tp_scores`` (as ``DetectionMetrics.serialize``,
        NaN -> None), ``classes_with_gt`` and ``mean_ap_classes_with_gt``
        (mAP over the classes that have GT in the subset; the devkit mAP
        counts a class without GT as AP 0), ``num_samples``,
        ``num_gt_boxes`` and ``num_pred_boxes`` (after the devkit's
        filters), ``eval_set``.
    """
    cfg = config or config_factory(EVAL_VERSION)
    tokens = list(detections) if sample_tokens is None else list(
        dict.fromkeys(sample_tokens))
    if not tokens:
        raise ValueError('no samples to evaluate')
    token_set = set(tokens)
    extra = [t for t in detections if t not in token_set]
    if extra:
        raise ValueError(f'detections of {len(extra)} sample(s) outside the '
                         f'evaluated subset: {_short(extra)}')
    for token in tokens:
        n = len(detections.get(token, ()))
        if n > cfg.max_boxes_per_sample:
            raise ValueError(f'sample {token}: {n} boxes, the devkit allows '
                             f'at most {cfg.max_boxes_per_sample}')
    gt_boxes = load_subset_gt(nusc, eval_set, tokens)
    pred_boxes = EvalBoxes.deserialize(
        {t: list(detections.get(t, ()))
         for t in tokens}, DetectionBox)

    gt_boxes = filter_eval_boxes(nusc, add_center_dist(nusc, gt_boxes),
                                 cfg.class_range)
    pred_boxes = filter_eval_boxes(nusc, add_center_dist(nusc, pred_boxes),
                                   cfg.class_range)

    metrics = DetectionMetrics(cfg)
    for name in cfg.class_names:
        data = {
            th: accumulate(gt_boxes, pred_boxes, name, cfg.dist_fcn_callable,
                           th)
            for th in cfg.dist_ths
        }
        for th in cfg.dist_ths:
            metrics.add_label_ap(
                name, th, calc_ap(data[th], cfg.min_recall, cfg.min_precision))
        tp_data = data[cfg.dist_th_tp] if cfg.dist_th_tp in data else \
            accumulate(gt_boxes, pred_boxes, name, cfg.dist_fcn_callable,
                       cfg.dist_th_tp)
        for metric_name in TP_METRICS:
            if (name == 'traffic_cone'
                    and metric_name in ('attr_err', 'vel_err', 'orient_err')
                ) or (name == 'barrier'
                      and metric_name in ('attr_err', 'vel_err')):
                tp = np.nan  # undefined for these classes (devkit rule)
            else:
                tp = calc_tp(tp_data, cfg.min_recall, metric_name)
            metrics.add_label_tp(name, metric_name, tp)

    present = {b.detection_name for b in gt_boxes.all}
    gt_classes = [n for n in cfg.class_names if n in present]
    mean_dist_aps = metrics.mean_dist_aps
    return dict(
        eval_set=eval_set,
        num_samples=len(tokens),
        num_gt_boxes=len(gt_boxes.all),
        num_pred_boxes=len(pred_boxes.all),
        mean_ap=float(metrics.mean_ap),
        nd_score=float(metrics.nd_score),
        mean_dist_aps={
            k: float(v)
            for k, v in mean_dist_aps.items()
        },
        label_aps={
            n: {
                str(th): float(metrics.get_label_ap(n, th))
                for th in cfg.dist_ths
            }
            for n in cfg.class_names
        },
        label_tp_errors={
            n: {
                m: _json_float(metrics.get_label_tp(n, m))
                for m in TP_METRICS
            }
            for n in cfg.class_names
        },
        tp_errors={
            k: _json_float(v)
            for k, v in metrics.tp_errors.items()
        },
        tp_scores={
            k: float(v)
            for k, v in metrics.tp_scores.items()
        },
        classes_with_gt=gt_classes,
        mean_ap_classes_with_gt=(float(
            np.mean([mean_dist_aps[n]
                     for n in gt_classes])) if gt_classes else None),
    )
