# Copyright (c) mmweak contributors.
"""Labelled / point-only split of a nuScenes v2 info pkl for Point-DETR3D
(Gao et al., AAAI 2024, arXiv 2403.15317; spec section 1).

* **Sample rule** (the released code's, default): sort the train infos by
  ``timestamp`` and label the first ``ceil(r * N)``. The seed is not used.
* **Scene rule** (``split_by='scene'``): whole scenes, in an order shuffled
  by ``seed``, are labelled until at least ``ceil(r * N)`` samples are
  (the scene that crosses the target is taken whole).

mmdet3d 1.4's v2 nuScenes infos carry no scene token (``update_infos_to_v2``
and ``create_data.py`` keep ``token``, ``sample_idx``, ``timestamp``,
``lidar_points``, ``lidar_sweeps``, ...), so a scene is ``info['scene_token']``
when the pkl has one, else derived: samples of one log (the
``<log>__LIDAR_TOP__<time>`` prefix of the lidar file name) in timestamp
order start a new scene after a gap of more than ``max_gap`` seconds
(keyframes inside a scene are 0.5 s apart), or at a sample without LiDAR
sweeps when the pkl has sweeps (the converter collects sweeps back to the
scene's first sweep, so only a scene's first sample has none). Scenes of one
log recorded back to back may be merged, which only makes the split coarser.

Point-only samples (``ann_type='point'``) keep per instance only
``bbox_label_3d`` and ``point_3d`` (simulated deterministically from the GT
box with the transform's noise, seeded by sample token and instance index)
plus the keys mmdet3d's ``NuScenesDataset`` needs to parse them:
``bbox_3d`` as a zero-size placeholder at the point (``[x, y, z, 0, 0, 0,
0]``, see ``mmweak/datasets/transforms/point_annotations_3d.py``),
``velocity`` ``[nan, nan]`` (unknown; the dataset maps NaN to 0) and the
visibility fields ``num_lidar_pts``, ``num_radar_pts``, ``bbox_3d_isvalid``
copied from the GT, so the dataset's valid filter keeps the same objects as
on a labelled sample. ``cam_instances`` (2D/3D camera boxes) is removed.

**Objects outside the classes.** mmdet3d's v2 nuScenes infos keep every
annotated object and mark those whose category is not one of the detection
classes with ``bbox_label_3d == -1`` (:func:`outside_classes`). They are
not point-annotated in the weak setting, so a point-only sample has **no**
instance for them (no point, hence no teacher query and no pseudo box); the
split summary counts them (``num_point_instances_outside_classes``). The
points of the other instances do not move: they are seeded by the
instance's index in the *original* info. Labelled samples
(``ann_type='box'``) keep their GT instances untouched, -1 included, as
mmdet3d expects (``ObjectNameFilter`` drops those in training), and every
instance gets ``point_3d`` from the same function (mmdet3d stacks instance
keys into columns, so all instances of a sample must have the same keys);
the point readers skip the -1 rows
(``mmweak/datasets/transforms/point_annotations_3d.py``).
"""
import copy
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmweak.datasets.pseudo_labels_3d import outside_classes
from mmweak.datasets.transforms.point_annotations_3d import simulate_points_np

GT_VISIBILITY_KEYS = ('num_lidar_pts', 'num_radar_pts', 'bbox_3d_isvalid')


def check_ratio(ratio: float) -> float:
    """The labelled fraction, in (0, 1]."""
    try:
        ratio = float(ratio)
    except (TypeError, ValueError):
        raise ValueError(f'ratio must be a number in (0, 1], got {ratio!r}')
    if not (0.0 < ratio <= 1.0) or math.isnan(ratio):
        raise ValueError(f'ratio must be a fraction in (0, 1] (e.g. 0.05 for '
                         f'5%), got {ratio}')
    return ratio


def ratio_tag(ratio: float) -> str:
    """File-name tag of a ratio: 0.05 -> ``r05``, 0.1 -> ``r10``,
    1.0 -> ``r100``, 0.025 -> ``r2p5``."""
    pct = round(check_ratio(ratio) * 100, 6)
    if float(pct).is_integer():
        return f'r{int(pct):02d}'
    return 'r' + f'{pct:g}'.replace('.', 'p')


def num_labelled(ratio: float, num_samples: int) -> int:
    """``ceil(r * N)``, robust to float error (0.07 * 100 is 7.000...01)."""
    return int(math.ceil(round(check_ratio(ratio) * num_samples, 9)))


def check_v2_infos(infos, path: str = '<infos>') -> dict:
    """Validate the mmdet3d 1.4 v2 layout ``{metainfo, data_list}`` with the
    keys the split needs; return it."""
    if not isinstance(infos, dict) or 'data_list' not in infos or \
            'metainfo' not in infos:
        got = sorted(infos.keys()) if isinstance(infos, dict) else \
            type(infos).__name__
        raise ValueError(
            f'{path}: not an mmdet3d v2 info pkl (expected a dict with '
            f"'metainfo' and 'data_list', got {got}); convert 0.17-format "
            "infos ('infos', 'gt_boxes', 'gt_names') with mmdet3d's "
            'tools/dataset_converters/update_infos_to_v2.py')
    for i, info in enumerate(infos['data_list']):
        for key in ('sample_idx', 'timestamp', 'instances'):
            if key not in info:
                raise ValueError(f'{path}: data_list[{i}] has no {key!r} '
                                 '(not a v2 nuScenes info)')
        for j, ins in enumerate(info['instances']):
            if 'bbox_3d' not in ins or 'bbox_label_3d' not in ins:
                raise ValueError(
                    f"{path}: data_list[{i}] (token={info.get('token')!r}) "
                    f"instance {j} has no 'bbox_3d'/'bbox_label_3d': the "
                    'input must be a fully labelled info pkl')
    return infos


def _log_name(info: dict) -> str:
    path = (info.get('lidar_points') or {}).get('lidar_path', '') or ''
    base = osp.basename(str(path))
    return base.split('__')[0] if '__' in base else ''


def scene_ids(data_list: Sequence[dict], max_gap: float = 1.0) -> List:
    """A scene id per sample: ``scene_token`` when every info has one, else
    derived from the log name, time gaps and sweeps (module docstring)."""
    if data_list and all('scene_token' in i for i in data_list):
        return [i['scene_token'] for i in data_list]
    has_sweeps = any(len(i.get('lidar_sweeps') or []) for i in data_list)
    order = sorted(range(len(data_list)),
                   key=lambda k: (_log_name(data_list[k]), data_list[k][
                       'timestamp'], data_list[k]['sample_idx']))
    ids = [None] * len(data_list)
    scene, prev = -1, None
    for k in order:
        info = data_list[k]
        log, ts = _log_name(info), float(info['timestamp'])
        if prev is None or log != prev[0] or ts - prev[1] > max_gap or (
                has_sweeps and not info.get('lidar_sweeps')):
            scene += 1
        ids[k] = f'derived-{scene:06d}'
        prev = (log, ts)
    return ids


def split_indices(data_list: Sequence[dict],
                  ratio: float,
                  split_by: str = 'sample',
                  seed: int = 0,
                  max_gap: float = 1.0) -> Tuple[List[int], List[int]]:
    """Positions (in ``data_list``) of the labelled and point-only samples,
    each in timestamp order; disjoint and covering."""
    n = len(data_list)
    target = num_labelled(ratio, n)
    by_time = sorted(
        range(n),
        key=lambda k:
        (data_list[k]['timestamp'], data_list[k]['sample_idx'], k))
    if split_by == 'sample':
        chosen = set(by_time[:target])
    elif split_by == 'scene':
        ids = scene_ids(data_list, max_gap)
        first_seen: Dict = {}
        for k in by_time:
            first_seen.setdefault(ids[k], len(first_seen))
        scenes = sorted(first_seen, key=first_seen.get)
        perm = np.random.default_rng(seed).permutation(len(scenes))
        members: Dict = {}
        for k in range(n):
            members.setdefault(ids[k], []).append(k)
        chosen = set()
        for p in perm:
            if len(chosen) >= target:
                break
            chosen.update(members[scenes[p]])
    else:
        raise ValueError(
            f"split_by must be 'sample' or 'scene', got {split_by!r}")
    labelled = [k for k in by_time if k in chosen]
    point = [k for k in by_time if k not in chosen]
    return labelled, point


def instance_points(info: dict,
                    mean: float = 0.5,
                    std: float = 0.3) -> np.ndarray:
    """Deterministic simulated points (``(N, 3)`` float32) of the GT boxes of
    one info; seeded by its ``token`` (else its stored ``sample_idx``) and
    instance index, with the noise of ``SimulatePointAnnotations``."""
    boxes = [ins['bbox_3d'] for ins in info['instances']]
    if not boxes:
        return np.zeros((0, 3), np.float32)
    token = info.get('token')
    token = str(token) if token is not None else int(info['sample_idx'])
    return simulate_points_np(np.array(boxes, np.float64), token, True, mean,
                              std)


def make_box_info(info: dict, mean: float = 0.5, std: float = 0.3) -> dict:
    """A labelled sample: GT instances kept, ``point_3d`` added,
    ``ann_type='box'``."""
    out = copy.deepcopy(info)
    out['ann_type'] = 'box'
    for ins, pt in zip(out['instances'], instance_points(info, mean, std)):
        ins['point_3d'] = [float(c) for c in pt]
    return out


def make_point_info(info: dict, mean: float = 0.5, std: float = 0.3) -> dict:
    """A point-only sample (see the module docstring for the instance
    keys): one point-annotated instance per object of the detection
    classes, in the original order; objects outside the classes
    (:func:`outside_classes`) are left out."""
    out = {
        k: copy.deepcopy(v)
        for k, v in info.items() if k not in ('instances', 'cam_instances')
    }
    out['ann_type'] = 'point'
    instances = []
    for ins, pt in zip(info['instances'], instance_points(info, mean, std)):
        if outside_classes(ins):
            continue
        p = [float(c) for c in pt]
        new = dict(bbox_label_3d=int(ins['bbox_label_3d']),
                   point_3d=p,
                   bbox_3d=p + [0.0, 0.0, 0.0, 0.0],
                   velocity=[float('nan'), float('nan')])
        for key in GT_VISIBILITY_KEYS:
            if key in ins:
                new[key] = copy.deepcopy(ins[key])
        instances.append(new)
    out['instances'] = instances
    return out


def filter_dbinfos(dbinfos: dict,
                   keep_db_idx: Sequence,
                   path: str = '<dbinfos>') -> Tuple[dict, dict]:
    """Keep the GT-paste database entries of the given samples.

    mmdet3d's ``create_gt_database`` writes ``{class_name: [entry, ...]}``
    with ``entry['image_idx'] = example['sample_idx']``, which is the
    sample's **position** in the info pkl the database was built from
    (mmengine's ``BaseDataset.get_data_info`` overwrites ``sample_idx`` with
    the index; it equals the stored ``sample_idx`` in pkls written by
    mmdet3d's converters). Pass those positions as ``keep_db_idx``.

    Returns:
        tuple[dict, dict]: the filtered dbinfos and per-class
        ``{name: [kept, total]}``.
    """
    if not isinstance(dbinfos, dict):
        raise ValueError(f'{path}: expected a dict {{class_name: [entries]}} '
                         f'written by create_gt_database, got '
                         f'{type(dbinfos).__name__}')
    keep = set(int(i) for i in keep_db_idx)
    out, counts = {}, {}
    for name, entries in dbinfos.items():
        kept = []
        for j, entry in enumerate(entries):
            if not isinstance(entry, dict) or 'image_idx' not in entry:
                raise ValueError(f"{path}: entry {j} of class {name!r} has no"
                                 " 'image_idx' (the sample index that "
                                 'create_gt_database records)')
            if int(entry['image_idx']) in keep:
                kept.append(entry)
        out[name] = kept
        counts[name] = [len(kept), len(entries)]
    return out, counts


def make_point_split(infos: dict,
                     ratio: float,
                     split_by: str = 'sample',
                     seed: int = 0,
                     mean: float = 0.5,
                     std: float = 0.3,
                     path: str = '<infos>',
                     max_gap: float = 1.0) -> Tuple[dict, dict, dict, list]:
    """Split a v2 info dict into labelled and point-only info dicts.

    Returns:
        tuple[dict, dict, dict, list]: ``(labelled_infos, point_infos,
        summary, labelled_positions)``; both infos are ``{metainfo,
        data_list}`` whose metainfo records the split under
        ``'point_split'``; ``labelled_positions`` are the labelled samples'
        positions in ``infos['data_list']`` (what ``create_gt_database``
        records as ``image_idx``, see :func:`filter_dbinfos`).
    """
    check_v2_infos(infos, path)
    ratio = check_ratio(ratio)
    data_list = infos['data_list']
    if not data_list:
        raise ValueError(f'{path}: data_list is empty')
    idx = [i['sample_idx'] for i in data_list]
    if len(set(idx)) != len(idx):
        raise ValueError(f'{path}: sample_idx values are not unique')
    lab, pnt = split_indices(data_list, ratio, split_by, seed, max_gap)
    split_meta = dict(ratio=ratio,
                      split_by=split_by,
                      seed=seed,
                      mean=mean,
                      std=std)

    def wrap(items, part):
        meta = copy.deepcopy(infos['metainfo'])
        meta['point_split'] = dict(split_meta, part=part)
        return dict(metainfo=meta, data_list=items)

    labelled = wrap([make_box_info(data_list[k], mean, std) for k in lab],
                    'labelled')
    point = wrap([make_point_info(data_list[k], mean, std) for k in pnt],
                 'point')
    ts = [data_list[k]['timestamp'] for k in lab]

    def count(positions, outside=None):
        return sum(1 for k in positions for ins in data_list[k]['instances']
                   if outside is None or outside_classes(ins) == outside)

    # instances outside the classes: kept as GT on labelled samples, no
    # point annotation on point-only ones
    summary = dict(split_meta,
                   num_samples=len(data_list),
                   num_labelled=len(lab),
                   num_point=len(pnt),
                   num_labelled_instances=count(lab),
                   num_labelled_instances_outside_classes=count(lab, True),
                   num_point_instances=count(pnt),
                   num_point_annotations=count(pnt, False),
                   num_point_instances_outside_classes=count(pnt, True),
                   labelled_time_range=[min(ts), max(ts)] if ts else None)
    if split_by == 'scene':
        ids = scene_ids(data_list, max_gap)
        summary['num_scenes'] = len(set(ids))
        summary['num_labelled_scenes'] = len(set(ids[k] for k in lab))
        summary['scene_source'] = 'scene_token' if all(
            'scene_token' in i for i in data_list) else 'derived'
    summary['class_mean_size'] = class_mean_size(
        [data_list[k] for k in lab], infos['metainfo'])
    summary['sample_idx_is_position'] = all(
        int(info['sample_idx']) == k for k, info in enumerate(data_list))
    return labelled, point, summary, sorted(lab)


def class_mean_size(data_list: Sequence[dict],
                    metainfo: dict) -> Dict[str, Optional[List[float]]]:
    """Per-class mean box size (l, w, h) of the given samples' instances.

    Point-DETR3D's query encoder and D-RoI prior use class-mean sizes
    (spec section 4.2); mmweak's default is the labelled split's own table,
    which the split summary records for the configs. Keys follow the order
    of ``metainfo['categories']`` (name -> label, as mmdet3d's converter
    writes it) or ``metainfo['classes']``, else the labels themselves; a
    class without instances maps to None.
    """
    categories = metainfo.get('categories')
    if not isinstance(categories, dict):
        classes = metainfo.get('classes')
        if classes:
            categories = {name: k for k, name in enumerate(classes)}
        else:
            labels = sorted({
                inst['bbox_label_3d'] for info in data_list
                for inst in info.get('instances', [])
                if inst.get('bbox_label_3d', -1) >= 0
            })
            categories = {str(label): label for label in labels}
    sums = {label: np.zeros(3) for label in categories.values()}
    counts = {label: 0 for label in categories.values()}
    for info in data_list:
        for inst in info.get('instances', []):
            label = inst.get('bbox_label_3d', -1)
            if label in sums and 'bbox_3d' in inst:
                sums[label] += np.asarray(inst['bbox_3d'][3:6], dtype=float)
                counts[label] += 1
    return {
        name: (sums[label] / counts[label]).round(4).tolist()
        if counts[label] else None
        for name, label in sorted(categories.items(), key=lambda kv: kv[1])
    }


__all__ = [
    'outside_classes', 'class_mean_size', 'check_ratio', 'ratio_tag',
    'num_labelled', 'check_v2_infos', 'scene_ids', 'split_indices',
    'instance_points', 'make_box_info', 'make_point_info', 'filter_dbinfos',
    'make_point_split'
]
