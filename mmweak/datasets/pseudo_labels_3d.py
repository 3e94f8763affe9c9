# Copyright (c) mmweak contributors.
"""Teacher pseudo labels of Point-DETR3D (Point-DETR3D, AAAI 2024, arXiv
2403.15317; spec ``point-detr3d.md`` section 5).

The teacher predicts exactly one box per annotated point. This module turns
such a prediction into mmdet3d 1.4 v2 instances and merges them into the
student's info pkl:

* :func:`prediction_record` - one sample's prediction (``pred_instances_3d``
  as a data-sample dict) -> a *record* ``{'sample_idx', 'lidar_path',
  'instances', 'gt_bbox_3d'}`` whose ``instances`` are pseudo-labelled v2
  instances: ``bbox_3d`` at the gravity centre, ``bbox_label_3d``,
  ``velocity`` ``[0, 0]``, ``num_lidar_pts`` (real count of the sample's
  keyframe LiDAR points inside the box, not the reference code's fake 100),
  ``num_radar_pts`` 0, ``bbox_3d_isvalid`` True, ``score``, ``is_pseudo``
  True and ``point_3d``.
* :func:`merge_pseudo_labels` - train infos + records -> the same infos
  with the ``instances`` of point-only samples replaced (labelled samples
  keep their GT). Records are matched by LiDAR file name; the reference
  points are the samples' own ``point_3d`` or those of the split's point
  pkl (``point_infos``); :func:`merge_pseudo_label_files` does the same on
  files (several train pkls are concatenated, :func:`concat_infos`).
* :func:`summarize_records` - counts and, where aligned GT boxes were seen,
  the pseudo boxes' errors (BEV centre distance, nuScenes-style scale error
  1 - aligned IoU, yaw error).

Points of a point-only sample (the rule the merge checks predictions
against): its ``instances`` in order that mmdet3d's ``NuScenesDataset``
keeps, i.e. ``point_filter='valid'`` (``use_valid_flag=True``:
``bbox_3d_isvalid``), ``'lidar_pts'`` (``use_valid_flag=False``:
``num_lidar_pts > 0``) or ``'all'`` (no filter, e.g. test mode with
``load_eval_anns=False``), **except** objects outside the detection classes
(``bbox_label_3d == -1``): they are not point-annotated (the split writes
no instance for them; older point pkls may still hold some) and
``mmweak.LoadPointAnnotations3D`` gives them no point, so the teacher never
sees them. Filtered-out and outside-class instances have no pseudo box and
are dropped from the merged sample (counted as ``dropped_points``, the
latter also as ``outside_classes``). Labelled samples keep their GT
instances untouched, -1 included.

Boxes may be mmdet3d ``LiDARInstance3DBoxes`` or plain arrays; this file
itself needs no mmdet3d import and is not imported by ``mmweak.datasets``.
"""
import os.path as osp
import pickle
from typing import (Any, Dict, Iterable, List, Mapping, Optional, Sequence,
                    Tuple, Union)

import numpy as np
import torch

from mmweak.utils.offline_job import atomic_path

DUMP_FORMAT = 'mmweak-pseudo-labels-3d/1'

# ---------------------------------------------------------------- geometry


def points_in_boxes_mask(points: torch.Tensor,
                         boxes: torch.Tensor,
                         impl: str = 'auto',
                         max_elements: int = 1 << 24) -> torch.Tensor:
    """Which points lie in which boxes (mmdet3d's ``points_in_boxes_all``).

    Args:
        points (Tensor): (M, >=3) LiDAR points; only x, y, z are used.
        boxes (Tensor): (K, 7) boxes ``[x, y, z, l, w, h, yaw]`` with z at
            the bottom centre (mmdet3d ``LiDARInstance3DBoxes.tensor``).
        impl (str): ``'mmcv'`` (mmcv's ``points_in_boxes_cpu`` on CPU,
            ``points_in_boxes_all`` on CUDA), ``'torch'`` (a batched test in
            each box's frame, same rule as the mmcv kernels: strictly inside
            in x/y, within half the height in z) or ``'auto'`` (mmcv when its
            compiled op loads, else torch).
        max_elements (int): Cap of points x boxes per torch chunk.

    Returns:
        Tensor: (M, K) bool.
    """
    if impl not in ('auto', 'mmcv', 'torch'):
        raise ValueError(f"impl={impl!r}: expected 'auto', 'mmcv' or 'torch'")
    points = torch.as_tensor(points)[:, :3].float()
    boxes = torch.as_tensor(boxes, device=points.device).float()
    if boxes.dim() != 2 or boxes.shape[1] != 7:
        raise ValueError(f'boxes must be (K, 7), got {tuple(boxes.shape)}')
    num_pts, num_boxes = points.shape[0], boxes.shape[0]
    if num_pts == 0 or num_boxes == 0:
        return points.new_zeros((num_pts, num_boxes), dtype=torch.bool)
    if impl in ('auto', 'mmcv'):
        try:
            from mmcv.ops import points_in_boxes_all, points_in_boxes_cpu
            if points.is_cuda:
                mask = points_in_boxes_all(points[None].contiguous(),
                                           boxes[None].contiguous())[0]
            else:
                mask = points_in_boxes_cpu(points[None].contiguous(),
                                           boxes[None].contiguous())[0]
            return mask.bool()
        except (ImportError, RuntimeError, AttributeError):
            if impl == 'mmcv':
                raise
    # torch: points into every box frame (rotate by -yaw about z)
    step = max(1, max_elements // max(num_pts, 1))
    chunks = []
    for start in range(0, num_boxes, step):
        box = boxes[start:start + step]  # (k, 7)
        rel = points[:, None, :] - box[None, :, :3]  # (M, k, 3)
        cos, sin = torch.cos(box[:, 6]), torch.sin(box[:, 6])
        local_x = rel[..., 0] * cos + rel[..., 1] * sin
        local_y = -rel[..., 0] * sin + rel[..., 1] * cos
        half = box[:, 3:6] / 2
        chunks.append((local_x > -half[:, 0]) & (local_x < half[:, 0])
                      & (local_y > -half[:, 1]) & (local_y < half[:, 1])
                      & ((rel[..., 2] - half[:, 2]).abs() <= half[:, 2]))
    return torch.cat(chunks, dim=1)


def count_points_in_boxes(points: Union[np.ndarray, torch.Tensor],
                          boxes: Union[np.ndarray, torch.Tensor],
                          impl: str = 'auto') -> np.ndarray:
    """Number of ``points`` inside each of the bottom-centre ``boxes``
    ((K, 7)), as an int64 (K,) array (see :func:`points_in_boxes_mask`)."""
    mask = points_in_boxes_mask(torch.as_tensor(points),
                                torch.as_tensor(boxes),
                                impl=impl)
    return mask.sum(0).cpu().numpy().astype(np.int64)


def load_lidar_xyz(lidar_path: str,
                   num_pts_feats: int = 5,
                   backend_args: Optional[dict] = None) -> np.ndarray:
    """x, y, z of a LiDAR file as mmdet3d's ``LoadPointsFromFile`` reads it
    (float32 ``.bin`` with ``num_pts_feats`` values per point, or ``.npy``).

    Returns:
        np.ndarray: (M, 3) float32.
    """
    if lidar_path.endswith('.npy'):
        points = np.load(lidar_path).astype(np.float32).reshape(-1)
    else:
        from mmengine.fileio import get
        try:
            points = np.frombuffer(get(lidar_path, backend_args=backend_args),
                                   dtype=np.float32)
        except FileNotFoundError:
            raise FileNotFoundError(
                f'LiDAR file {lidar_path} not found (needed to count '
                'num_lidar_pts of the pseudo boxes)') from None
    if points.size % num_pts_feats:
        raise ValueError(f'{lidar_path}: {points.size} floats is not a '
                         f'multiple of num_pts_feats={num_pts_feats}')
    return points.reshape(-1, num_pts_feats)[:, :3].copy()


def box_errors(pred: np.ndarray, gt: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-box errors of aligned pseudo and GT boxes (IoU-free, as the
    nuScenes TP errors).

    Args:
        pred, gt (np.ndarray): (N, 7) boxes ``[x, y, z, l, w, h, yaw]``.

    Returns:
        dict: (N,) arrays ``center`` (BEV centre distance, m), ``size``
        (1 - IoU of the boxes aligned in centre and yaw) and ``yaw``
        (absolute yaw difference wrapped to [0, pi], rad).
    """
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 7)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 7)
    center = np.linalg.norm(pred[:, :2] - gt[:, :2], axis=1)
    inter = np.prod(np.minimum(pred[:, 3:6], gt[:, 3:6]), axis=1)
    union = np.prod(pred[:, 3:6], axis=1) + np.prod(gt[:, 3:6], axis=1) - \
        inter
    size = 1 - inter / np.maximum(union, 1e-12)
    yaw = np.abs((pred[:, 6] - gt[:, 6] + np.pi) % (2 * np.pi) - np.pi)
    return dict(center=center, size=size, yaw=yaw)


# ------------------------------------------------------------ predictions


def _field(obj: Any, key: str, default: Any = None) -> Any:
    """``obj[key]`` for dicts and data elements (None-safe)."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _as_numpy(value: Any) -> np.ndarray:
    if hasattr(value, 'tensor'):  # mmdet3d boxes / points
        value = value.tensor
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _gravity_boxes(boxes: Any) -> np.ndarray:
    """(N, 7) float64 ``[x, y, z_gravity, l, w, h, yaw]`` of teacher boxes
    (``LiDARInstance3DBoxes`` or a bottom-centre (N, >=7) array)."""
    if hasattr(boxes, 'gravity_center'):
        out = _as_numpy(boxes.tensor)[:, :7].astype(np.float64)
        out[:, :3] = _as_numpy(boxes.gravity_center)
        return out
    out = _as_numpy(boxes).astype(np.float64).reshape(-1, boxes.shape[-1])
    out = out[:, :7].copy()
    out[:, 2] += out[:, 5] / 2
    return out


def pseudo_instances(boxes_3d: Any,
                     scores: Any,
                     labels: Any,
                     num_lidar_pts: Sequence[int],
                     points_3d: Optional[Any] = None) -> List[dict]:
    """v2 pseudo-labelled instances of one sample (data contract).

    Args:
        boxes_3d: (N,) teacher boxes, ``LiDARInstance3DBoxes`` (origin
            bottom-centre) or a bottom-centre (N, >=7) array.
        scores, labels: (N,) scores and class indices.
        num_lidar_pts: (N,) point counts of the boxes.
        points_3d: Optional (N, 3) annotated points (kept as ``point_3d``).

    Returns:
        list[dict]: One instance per box, in order.
    """
    boxes = _gravity_boxes(boxes_3d)
    scores = _as_numpy(scores).astype(np.float64).reshape(-1)
    labels = _as_numpy(labels).astype(np.int64).reshape(-1)
    counts = np.asarray(num_lidar_pts, dtype=np.int64).reshape(-1)
    points = None if points_3d is None else \
        _as_numpy(points_3d).astype(np.float64).reshape(-1, 3)
    num = len(boxes)
    for name, arr in (('scores', scores), ('labels', labels),
                      ('num_lidar_pts', counts), ('points_3d', points)):
        if arr is not None and len(arr) != num:
            raise ValueError(f'{name} has {len(arr)} entries for {num} boxes')
    instances = []
    for i in range(num):
        inst = dict(bbox_3d=[float(v) for v in boxes[i]],
                    bbox_label_3d=int(labels[i]),
                    velocity=[0.0, 0.0],
                    num_lidar_pts=int(counts[i]),
                    num_radar_pts=0,
                    bbox_3d_isvalid=True,
                    score=float(scores[i]),
                    is_pseudo=True)
        if points is not None:
            inst['point_3d'] = [float(v) for v in points[i]]
        instances.append(inst)
    return instances


def _aligned_gt(data_sample: Any, labels: np.ndarray) -> Optional[np.ndarray]:
    """GT boxes (gravity centre) aligned one-to-one with the predictions:
    the packed ``gt_instances_3d.bboxes_3d``, else ``eval_ann_info``'s, if
    the count and labels match; None otherwise, and for point-only samples
    (``ann_type == 'point'``, or any zero-size box: the point pkl's
    placeholders are not GT). GT rows labelled -1 (outside the classes, no
    point, hence no prediction) are left out before the comparison."""
    if _field(data_sample, 'ann_type') == 'point':
        return None
    gt_inst = _field(data_sample, 'gt_instances_3d')
    eval_ann = _field(data_sample, 'eval_ann_info')
    for boxes, gt_labels in ((_field(gt_inst, 'bboxes_3d'),
                              _field(gt_inst, 'labels_3d')),
                             (_field(eval_ann, 'gt_bboxes_3d'),
                              _field(eval_ann, 'gt_labels_3d'))):
        if boxes is None:
            continue
        if gt_labels is not None:
            gt_labels = _as_numpy(gt_labels).astype(np.int64).reshape(-1)
            if len(gt_labels) == len(boxes) and (gt_labels < 0).any():
                keep = gt_labels >= 0
                boxes = boxes[torch.from_numpy(keep)] if hasattr(
                    boxes, 'gravity_center') else _as_numpy(boxes)[keep]
                gt_labels = gt_labels[keep]
        if len(boxes) != len(labels):
            continue
        if gt_labels is not None and not np.array_equal(gt_labels, labels):
            continue
        if hasattr(boxes, 'gravity_center'):
            gt = _gravity_boxes(boxes)
        else:  # plain arrays are infos' gravity-centre boxes
            gt = _as_numpy(boxes).astype(np.float64).reshape(len(labels),
                                                             -1)[:, :7]
        if (np.prod(gt[:, 3:6], axis=1) <= 0).any():
            return None
        return gt.copy()
    return None


def prediction_record(data_sample: Any,
                      lidar_xyz: Optional[np.ndarray] = None,
                      count_points: bool = True,
                      backend_args: Optional[dict] = None,
                      points_impl: str = 'auto') -> dict:
    """The pseudo-label record of one teacher prediction.

    Args:
        data_sample (Det3DDataSample | dict): With ``pred_instances_3d``
            (``bboxes_3d``, ``scores_3d``, ``labels_3d``), metainfo
            ``sample_idx`` (and ``lidar_path``, ``num_pts_feats`` to count
            points), optionally ``gt_instances_3d.points_3d`` (the annotated
            points, one per box) and GT boxes (for quality statistics).
        lidar_xyz (np.ndarray, optional): (M, 3) real LiDAR points of the
            sample; read from ``lidar_path`` when None and ``count_points``.
        count_points (bool): Count ``num_lidar_pts``; False stores -1.
        backend_args (dict, optional): File backend of ``lidar_path``.
        points_impl (str): See :func:`points_in_boxes_mask`.

    Returns:
        dict: ``{'sample_idx', 'lidar_path', 'instances', 'gt_bbox_3d'}``;
        ``gt_bbox_3d`` is a (N, 7) gravity-centre array or None.
    """
    sample_idx = _field(data_sample, 'sample_idx')
    if sample_idx is None:
        raise KeyError('the data sample has no sample_idx in its metainfo '
                       '(Pack3DDetInputs meta_keys must keep it)')
    pred = _field(data_sample, 'pred_instances_3d')
    if pred is None or _field(pred, 'bboxes_3d') is None:
        raise KeyError(f'sample {sample_idx}: no pred_instances_3d.bboxes_3d '
                       'in the teacher output')
    boxes = _field(pred, 'bboxes_3d')
    labels = _as_numpy(_field(pred, 'labels_3d')).astype(np.int64)
    if (labels < 0).any():
        raise ValueError(
            f'sample {sample_idx}: the teacher predicted labels '
            f'{sorted(set(labels[labels < 0].tolist()))}; pseudo boxes need '
            'class indices (objects outside the classes, label -1, must get '
            'no point: mmweak.LoadPointAnnotations3D skip_ignored=True)')
    points = _field(_field(data_sample, 'gt_instances_3d'), 'points_3d')
    if points is not None and len(points) != len(boxes):
        raise ValueError(
            f'sample {sample_idx}: the teacher returned {len(boxes)} boxes '
            f'for {len(points)} annotated points; it must return exactly one '
            'box per point (score threshold 0, no NMS)')
    lidar_path = _field(data_sample, 'lidar_path')
    if count_points:
        if lidar_xyz is None:
            if lidar_path is None:
                raise KeyError(f'sample {sample_idx}: no lidar_path in the '
                               'metainfo, cannot count num_lidar_pts')
            lidar_xyz = load_lidar_xyz(
                lidar_path, int(_field(data_sample, 'num_pts_feats', 5)),
                backend_args)
        bottom = _as_numpy(
            boxes.tensor if hasattr(boxes, 'tensor') else boxes)[:, :7]
        counts = count_points_in_boxes(lidar_xyz, bottom, impl=points_impl)
    else:
        counts = np.full(len(boxes), -1, dtype=np.int64)
    instances = pseudo_instances(boxes, _field(pred, 'scores_3d'), labels,
                                 counts, points)
    return dict(sample_idx=sample_idx,
                lidar_path=lidar_path,
                instances=instances,
                gt_bbox_3d=_aligned_gt(data_sample, labels.reshape(-1)))


def summarize_records(records: Iterable[dict]) -> Dict[str, float]:
    """Counts of pseudo labels, and their errors where aligned GT exists.

    Returns:
        dict: ``num_samples``, ``num_boxes``, ``mean_score``,
        ``mean_num_lidar_pts``, ``empty_boxes`` (boxes with 0 points) and,
        when some records carry ``gt_bbox_3d``: ``quality_boxes``,
        ``center_err`` (m, BEV), ``size_err`` (1 - aligned IoU),
        ``yaw_err`` (rad), ``within_1m`` and ``within_2m`` (fractions).
    """
    scores, counts, errs = [], [], []
    num_samples = 0
    for rec in records:
        num_samples += 1
        insts = rec['instances']
        scores.extend(inst['score'] for inst in insts)
        counts.extend(inst['num_lidar_pts'] for inst in insts)
        if rec.get('gt_bbox_3d') is not None and len(insts):
            pred = np.array([inst['bbox_3d'] for inst in insts])
            errs.append(box_errors(pred, rec['gt_bbox_3d']))
    counts = np.asarray(counts, dtype=np.float64)
    out = dict(num_samples=num_samples,
               num_boxes=len(scores),
               mean_score=float(np.mean(scores)) if scores else 0.0,
               mean_num_lidar_pts=float(counts[counts >= 0].mean()) if
               (counts >= 0).any() else 0.0,
               empty_boxes=int((counts == 0).sum()))
    if errs:
        center = np.concatenate([e['center'] for e in errs])
        out.update(
            quality_boxes=int(center.size),
            center_err=float(center.mean()),
            size_err=float(np.concatenate([e['size'] for e in errs]).mean()),
            yaw_err=float(np.concatenate([e['yaw'] for e in errs]).mean()),
            within_1m=float((center <= 1).mean()),
            within_2m=float((center <= 2).mean()))
    return out


# ------------------------------------------------------------------ merge


def sample_name(info: Mapping) -> str:
    """``sample_idx=..., token=...`` of an info, for error messages."""
    parts = [f'sample_idx={info.get("sample_idx")!r}']
    if info.get('token') is not None:
        parts.append(f'token={info["token"]}')
    return ', '.join(parts)


def sample_key(info: Mapping) -> Any:
    """A sample's identity across info pkls: its nuScenes ``token``, else
    ``('sample_idx', sample_idx)``."""
    if info.get('token') is not None:
        return info['token']
    return ('sample_idx', info.get('sample_idx'))


def is_point_only(info: Mapping,
                  point_only: Optional[Iterable] = None) -> bool:
    """Whether ``info`` is a point-only sample: its ``sample_idx`` or
    ``token`` is in ``point_only`` when that is given, else its
    ``ann_type`` is ``'point'`` (missing means ``'box'``)."""
    if point_only is not None:
        return info.get('sample_idx') in point_only or \
            info.get('token') in point_only
    return info.get('ann_type', 'box') == 'point'


def concat_infos(infos_list: Sequence[Mapping],
                 names: Optional[Sequence[str]] = None) -> dict:
    """One v2 info dict from several (e.g. the split's labelled and
    point-only pkls): their ``data_list`` entries in order, the first
    ``metainfo``. A sample (token) in two of them is an error."""
    names = list(names or [f'infos[{i}]' for i in range(len(infos_list))])
    data_list, seen = [], {}
    for infos, name in zip(infos_list, names):
        if not isinstance(infos, Mapping) or 'data_list' not in infos:
            raise KeyError(f'{name}: expected v2 infos with `data_list` '
                           '(mmdet3d >= 1.0 format)')
        for info in infos['data_list']:
            key = sample_key(info)
            if key in seen:
                raise ValueError(f'{sample_name(info)} is in both {seen[key]}'
                                 f' and {name}')
            seen[key] = name
            data_list.append(info)
    if not infos_list:
        raise ValueError('no info pkl to merge into')
    return dict(infos_list[0], data_list=data_list)


def outside_classes(instance: dict) -> bool:
    """Whether a v2 instance's object is outside the detection classes
    (mmdet3d's converters write ``bbox_label_3d = -1`` for those; any
    negative label counts). Such objects get no point annotation."""
    return int(instance['bbox_label_3d']) < 0


POINT_FILTERS = ('valid', 'lidar_pts', 'all')


def annotated_point_instances(info: Mapping,
                              point_filter: str = 'valid') -> List[dict]:
    """The instances of a point-only sample whose points the teacher saw,
    in order: those with a class (``bbox_label_3d >= 0``; objects outside
    the classes, -1, get no point) that mmdet3d's ``NuScenesDataset`` keeps
    (``'valid'``: ``bbox_3d_isvalid`` true or missing, as
    ``use_valid_flag=True``; ``'lidar_pts'``: ``num_lidar_pts > 0`` or
    missing, as ``use_valid_flag=False``; ``'all'``: every instance). The
    same rule as ``mmweak.LoadPointAnnotations3D`` reading the sample."""
    if point_filter not in POINT_FILTERS:
        raise ValueError(f'point_filter={point_filter!r}: expected one of '
                         f'{POINT_FILTERS}')
    keep = []
    for j, inst in enumerate(info.get('instances', [])):
        if outside_classes(inst):
            continue
        if point_filter == 'valid' and not inst.get('bbox_3d_isvalid', True):
            continue
        if point_filter == 'lidar_pts' and inst.get('num_lidar_pts', 1) <= 0:
            continue
        if 'point_3d' not in inst:
            raise KeyError(f'{sample_name(info)}: point-only instance {j} has '
                           'no point_3d')
        keep.append(inst)
    return keep


def merge_pseudo_labels(
        infos: Mapping,
        records: Mapping[Any, dict],
        point_only: Optional[Iterable] = None,
        point_filter: str = 'valid',
        point_atol: float = 1e-3,
        point_infos: Optional[Mapping] = None) -> Tuple[dict, Dict[str, int]]:
    """The student's infos: ``infos`` with the ``instances`` of its
    point-only samples replaced by their pseudo labels.

    Records are matched to samples by LiDAR file name (``lidar_path``, one
    file per nuScenes sample), so the teacher may have run on any pkl
    holding the samples; records without ``lidar_path`` are matched by
    ``sample_idx`` = the sample's position in ``infos['data_list']``
    (mmengine's ``BaseDataset`` sets ``sample_idx`` to the dataset index,
    so this holds when the teacher ran on ``infos`` itself).

    Each point-only sample needs a record with one pseudo instance per
    annotated point (:func:`annotated_point_instances` of its *reference*
    info: the sample itself, or its entry in ``point_infos``), in order and
    with the point's class; ``point_3d`` is copied from the reference
    instance (where the record has points, they must agree within
    ``point_atol`` m). Labelled samples keep their GT; their records (the
    teacher also runs on them) are ignored. Everything else is unchanged
    (but ``ann_type``, copied from ``point_infos``); instances the teacher
    did not see (``point_filter``, or outside the classes: label -1) are
    dropped.

    Args:
        infos (dict): v2 infos ``{metainfo, data_list}``.
        records (dict): ``sample_idx`` -> record (:func:`prediction_record`).
        point_only (Iterable, optional): sample_idx / tokens of the
            point-only samples; default: ``ann_type == 'point'``.
        point_filter (str): Which instances the teacher saw, see
            :func:`annotated_point_instances`. Defaults to ``'valid'``.
        point_atol (float): Tolerance of the point check.
        point_infos (dict, optional): v2 infos of the point-only samples
            with their annotated points (``make_point_split.py``'s point
            pkl): its samples (by token) are the point-only ones and its
            instances the reference points, so ``infos`` may be the
            original train pkl with GT everywhere.

    Returns:
        tuple[dict, dict]: The merged infos and counts (``point_samples``,
        ``box_samples``, ``pseudo_boxes``, ``dropped_points`` (instances
        of point-only samples without a pseudo box), ``outside_classes``
        (those of them labelled -1), ``unused_records``).

    Raises:
        KeyError / ValueError: naming the sample, when a point-only sample
        has no record, or a count, label or point differs.
    """
    if not isinstance(infos, Mapping) or 'data_list' not in infos:
        raise KeyError('infos must be a v2 info dict with `data_list` '
                       '(mmdet3d >= 1.0 format)')
    refs: Dict[Any, Mapping] = {}
    if point_infos is not None:
        if point_only is not None:
            raise ValueError('give point_only or point_infos, not both')
        if not isinstance(point_infos, Mapping) or \
                'data_list' not in point_infos:
            raise KeyError('point_infos must be v2 infos with `data_list`')
        refs = {sample_key(info): info for info in point_infos['data_list']}
        point_only = {k for k in refs if not isinstance(k, tuple)} | \
            {k[1] for k in refs if isinstance(k, tuple)}
    if point_only is not None:
        point_only = set(point_only)
    by_file: Dict[str, Any] = {}
    for key, rec in records.items():
        if rec.get('lidar_path'):
            base = osp.basename(rec['lidar_path'])
            if base in by_file:
                raise ValueError(f'two pseudo-label records ({by_file[base]!r}'
                                 f' and {key!r}) are of one LiDAR file {base}')
            by_file[base] = key
    stats = dict(point_samples=0,
                 box_samples=0,
                 pseudo_boxes=0,
                 dropped_points=0,
                 outside_classes=0)
    used = set()
    data_list = []
    for pos, info in enumerate(infos['data_list']):
        if not is_point_only(info, point_only):
            stats['box_samples'] += 1
            data_list.append(info)
            continue
        name = sample_name(info)
        lidar = (info.get('lidar_points') or {}).get('lidar_path')
        key = by_file.get(osp.basename(lidar)) if by_file and lidar else pos
        if key is None or key not in records:
            raise KeyError(
                f'{name}: point-only sample without pseudo labels (no record '
                + (f'of LiDAR file {osp.basename(lidar)}'
                   if by_file and lidar else f'with sample_idx {pos}') + ')')
        used.add(key)
        rec = records[key]
        ref = refs.get(sample_key(info), info)
        originals = annotated_point_instances(ref, point_filter)
        pseudo = rec['instances']
        if len(pseudo) != len(originals):
            raise ValueError(
                f'{name}: {len(pseudo)} pseudo boxes for {len(originals)} '
                f'annotated points (point_filter={point_filter!r}; the '
                'teacher must return one box per point, and the pipeline '
                'must not drop points)')
        merged = []
        for j, (orig, inst) in enumerate(zip(originals, pseudo)):
            if inst['bbox_label_3d'] != orig['bbox_label_3d']:
                raise ValueError(
                    f'{name}: pseudo box {j} has label {inst["bbox_label_3d"]}'
                    f', its point has {orig["bbox_label_3d"]}')
            if 'point_3d' in inst and not np.allclose(
                    inst['point_3d'], orig['point_3d'], atol=point_atol):
                raise ValueError(
                    f'{name}: pseudo box {j} was made for point '
                    f'{inst["point_3d"]}, the info has {orig["point_3d"]}')
            merged.append(dict(inst, point_3d=list(orig['point_3d'])))
        stats['point_samples'] += 1
        stats['pseudo_boxes'] += len(merged)
        stats['dropped_points'] += len(ref.get('instances', [])) - \
            len(originals)
        stats['outside_classes'] += sum(
            map(outside_classes, ref.get('instances', [])))
        new = dict(info, instances=merged)
        if ref is not info and 'ann_type' in ref:
            new['ann_type'] = ref['ann_type']
        data_list.append(new)
    stats['unused_records'] = len(set(records) - used)
    out = dict(infos)
    out['data_list'] = data_list
    return out, stats


# -------------------------------------------------------------------- I/O


def save_pickle_atomic(path: str, obj: Any) -> None:
    """Pickle ``obj`` to ``path`` atomically (write, then rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as f:
            pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def load_pickle(path: str, what: str = 'file') -> Any:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path} does not exist')
    with open(path, 'rb') as f:
        return pickle.load(f)


def record_file_name(sample_idx: Any) -> str:
    """File name of one sample's record in a per-sample directory."""
    name = str(sample_idx)
    if not name or '/' in name or name.startswith('.'):
        raise ValueError(f'sample_idx {sample_idx!r} cannot name a file')
    return name + '.pkl'


def dump_records(path: str,
                 records: Mapping[Any, dict],
                 metainfo: Optional[dict] = None) -> None:
    """Write records as one pkl (``DumpPseudoLabels3D``'s format)."""
    save_pickle_atomic(
        path,
        dict(format=DUMP_FORMAT,
             metainfo=dict(metainfo or {}),
             records=dict(records)))


def load_records(path: str) -> Dict[Any, dict]:
    """Records from a per-sample directory (``<key>.pkl`` files keyed by
    their stem, an int when numeric; hidden temporary files ignored) or a
    ``DumpPseudoLabels3D`` pkl (keyed as written)."""
    records: Dict[Any, dict] = {}
    if osp.isdir(path):
        import glob
        for file in sorted(glob.glob(osp.join(path, '*.pkl'))):
            rec = load_pickle(file, 'record')
            if not isinstance(rec, dict) or 'instances' not in rec:
                raise ValueError(f'{file}: not a pseudo-label record')
            stem = osp.splitext(osp.basename(file))[0]
            records[int(stem) if stem.isdigit() else stem] = rec
        return records
    obj = load_pickle(path, 'pseudo-label file')
    if not isinstance(obj, dict) or obj.get('format') != DUMP_FORMAT:
        raise ValueError(f'{path}: not a {DUMP_FORMAT} file (write it with '
                         'DumpPseudoLabels3D) nor a per-sample directory')
    return dict(obj['records'])


def load_infos(paths: Sequence[str]) -> dict:
    """v2 infos of one or several pkls (:func:`concat_infos`)."""
    return concat_infos([load_pickle(p, 'info pkl') for p in paths], paths)


def merge_pseudo_label_files(
        pseudo: Optional[str],
        train_pkls: Sequence[str],
        out: str,
        point_only_pkl: Optional[str] = None,
        point_filter: str = 'valid',
        records: Optional[Mapping] = None) -> Dict[str, int]:
    """File-level :func:`merge_pseudo_labels`: records from ``pseudo`` (a
    per-sample directory or a ``DumpPseudoLabels3D`` pkl; or ``records``
    given), the infos of ``train_pkls`` (concatenated), the reference
    points of ``point_only_pkl``; writes ``out`` atomically and returns the
    merge counts."""
    if records is None:
        records = load_records(pseudo)
    infos = load_infos(train_pkls)
    point_infos = load_pickle(point_only_pkl, 'point-only info pkl') \
        if point_only_pkl else None
    merged, stats = merge_pseudo_labels(infos,
                                        records,
                                        point_filter=point_filter,
                                        point_infos=point_infos)
    save_pickle_atomic(out, merged)
    return stats
