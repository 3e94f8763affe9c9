# Copyright (c) mmweak contributors.
"""Point annotations of 3D objects for Point-DETR3D (Gao et al.,
"Leveraging Imagery Data with Spatial Point Prior for Weakly Semi-supervised
3D Object Detection", AAAI 2024, arXiv 2403.15317).

In a pipeline the annotated points travel as ``results['gt_points_3d']``
(``np.float32`` ``(N, 3)``, LiDAR coordinates), aligned one-to-one with
``results['gt_labels_3d']`` (and ``gt_bboxes_3d`` when it exists):

* :class:`SimulatePointAnnotations` draws one point per GT box with the
  paper's noise model (section 2 of the spec);
* :class:`LoadPointAnnotations3D` reads the stored ``point_3d`` of the info
  (point-only samples written by ``tools/point_detr3d/make_point_split.py``);
* :class:`PackPointDet3DInputs` packs them into
  ``data_sample.gt_instances_3d.points_3d`` and ``ann_type`` into the
  metainfo.

**Point-only samples inside the pipeline.** mmdet3d's ``NuScenesDataset``
cannot parse instances without ``bbox_3d`` (``parse_ann_info`` builds
``LiDARInstance3DBoxes`` from it unconditionally), so the point pkl gives
every point-only instance a *placeholder* box: ``bbox_3d = [x, y, z, 0, 0, 0,
0]``, a zero-size box whose gravity centre is the annotated point. In the
pipeline ``gt_bboxes_3d`` of a point-only sample therefore holds N zero-size
boxes aligned with ``gt_labels_3d``; ``ann_type == 'point'`` (packed into the
metainfo) tells the model they are not boxes. Because they are ordinary
boxes, every mmdet3d geometric augmentation (``GlobalRotScaleTrans``,
``RandomFlip3D``) and object filter (``ObjectRangeFilter``,
``ObjectNameFilter``) moves and filters them together with the labels, and
:class:`SimulatePointAnnotations` placed after them returns exactly the
(augmented) annotated points: the noise is proportional to the box size and
vanishes for a zero-size box.

**Ordering rule.** mmdet3d's transforms know nothing about
``gt_points_3d``. Whatever makes it (simulation or loading) must run
**after** the last transform that moves or filters boxes (geometric
augmentations, ``ObjectSample``, ``ObjectRangeFilter``,
``ObjectNameFilter``) and right before :class:`PackPointDet3DInputs`. Both
producers record the augmentation flow (``transformation_3d_flow``) they saw
and the packer raises if it changed since, or if the number of points no
longer matches the labels.

**Objects outside the classes** (label -1: mmdet3d's v2 infos mark objects
whose category is not a detection class so, and ``Det3DDataset`` maps
classes left out of ``metainfo['classes']`` to -1) are not point-annotated
in the weak setting and the teacher's query encoder accepts only class
indices. By default (``skip_ignored=True``) :class:`SimulatePointAnnotations`
drops them together with their boxes (as ``ObjectNameFilter`` would; it
runs after the object filters anyway) and :class:`LoadPointAnnotations3D`
gives them neither a point nor a label when it sets ``gt_labels_3d``
itself; the pseudo-label merge
(``mmweak/datasets/pseudo_labels_3d.py``, ``annotated_point_instances``)
applies the same rule, so its points and the pipeline's stay aligned. When
``gt_labels_3d`` is already in ``results`` (``LoadAnnotations3D`` before
it), :class:`LoadPointAnnotations3D` never drops GT rows (GT paste and the
filters after it must see every box): the points follow the labels row by
row, -1 included, and the consumer ignores those rows (``ObjectNameFilter``,
or the student's consistency loss).

**After a pseudo-label merge** the point-only samples carry teacher boxes
instead of placeholders, so :class:`SimulatePointAnnotations` would simulate
from those; their original ``point_3d`` is read by
:class:`LoadPointAnnotations3D` in a pipeline without geometric augmentation
(e.g. the student's weak view).
"""
import hashlib
import inspect
from typing import Optional, Sequence, Union

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet3d.datasets.transforms import Pack3DDetInputs
from mmdet3d.structures import LiDARInstance3DBoxes
from mmdet3d.structures.bbox_3d.utils import rotation_3d_in_axis
from scipy.special import ndtr, ndtri

from mmweak.datasets.pseudo_labels_3d import outside_classes
from mmweak.registry import TRANSFORMS
from mmweak.utils.mmdet3d_compat import patch_numpy_aliases

# ObjectSample (GT paste) needs np.long; configs import this module
patch_numpy_aliases()

POINTS_KEY = 'gt_points_3d'
_FLOW_MARK = 'gt_points_3d_flow'
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


# --------------------------------------------------------------------------
# noise model (shared with mmweak/datasets/point_split_3d.py)
# --------------------------------------------------------------------------
def trunc_normal_from_uniform(v: np.ndarray,
                              mean: float = 0.5,
                              std: float = 0.3) -> np.ndarray:
    """Map uniforms ``v`` in [0, 1) to ``TruncNormal(mean, std)`` on [0, 1]
    by the inverse CDF (the paper's ``u``)."""
    if std <= 0:
        raise ValueError(f'std must be > 0, got {std}')
    lo, hi = ndtr((0.0 - mean) / std), ndtr((1.0 - mean) / std)
    u = mean + std * ndtri(lo + np.asarray(v, dtype=np.float64) * (hi - lo))
    return np.clip(u, 0.0, 1.0)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
    return x ^ (x >> np.uint64(31))


def sample_key(token: Union[str, int]) -> int:
    """A process-independent 63-bit key of a sample token (sha256; Python's
    ``hash`` is salted per process and would not do)."""
    digest = hashlib.sha256(str(token).encode('utf-8')).digest()
    return int.from_bytes(digest[:8], 'little') >> 1


def deterministic_uniforms(token: Union[str, int],
                           num_instances: int) -> np.ndarray:
    """``(num_instances, 3)`` uniforms in [0, 1) that depend only on the
    sample token, the instance index (row) and the axis (column): a
    counter-based hash, vectorised, identical in every run and process."""
    with np.errstate(over='ignore'):
        key = _splitmix64(np.array([sample_key(token)], dtype=np.uint64))
        counter = np.arange(num_instances * 3, dtype=np.uint64)
        bits = _splitmix64(key ^ _splitmix64(counter))
    v = (bits >> np.uint64(11)).astype(np.float64) * (2.0**-53)
    return v.reshape(num_instances, 3)


def point_offsets(dims: np.ndarray,
                  yaw: np.ndarray,
                  u: np.ndarray,
                  box_axes: bool = True) -> np.ndarray:
    """Offsets of the annotated points from the boxes' gravity centres.

    Along each of the box's own axes (length, width, height),
    ``offset = half_size * (2u - 1) / 3``, then rotated by the yaw into
    LiDAR coordinates with mmdet3d's own rotation (the one
    ``LiDARInstance3DBoxes.corners`` uses), so ``|offset| <= half_size / 3``
    in the box frame.

    Args:
        dims: ``(N, 3)`` box sizes (l, w, h) = (x, y, z size at yaw 0).
        yaw: ``(N,)`` yaw about z.
        u: ``(N, 3)`` values in [0, 1].
        box_axes: Rotate by the yaw (the spec's default). ``False``
            reproduces the released Point-DETR3D code, which adds the
            (l, w, h)-scaled offsets along LiDAR x, y, z whatever the yaw
            (for a long box turned by 90 degrees the point can then leave
            the box).

    Returns:
        np.ndarray: ``(N, 3)`` float64 offsets in LiDAR coordinates.
    """
    dims = np.asarray(dims, dtype=np.float64).reshape(-1, 3)
    yaw = np.asarray(yaw, dtype=np.float64).reshape(-1)
    local = 0.5 * dims * (2.0 * np.asarray(u, np.float64) - 1.0) / 3.0
    if len(local) == 0 or not box_axes:
        return local
    return rotation_3d_in_axis(local[:, None, :], yaw, axis=2)[:, 0, :]


def simulate_points_np(boxes: np.ndarray,
                       token: Union[str, int, None] = None,
                       deterministic: bool = False,
                       mean: float = 0.5,
                       std: float = 0.3,
                       box_axes: bool = True) -> np.ndarray:
    """Simulated point annotations of boxes ``[x, y, z, l, w, h, yaw, ...]``
    with z at the **gravity centre** (the v2 info's ``bbox_3d``).

    Random mode draws from ``np.random`` (seeded per dataloader worker by
    mmengine); deterministic mode uses :func:`deterministic_uniforms` of
    ``token`` and the row index.

    Returns:
        np.ndarray: ``(N, 3)`` float32 points.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or (len(boxes) and boxes.shape[1] < 7):
        raise ValueError('expected boxes of shape (N, >=7) [x, y, z, l, w, h,'
                         f' yaw], got {boxes.shape}')
    n = len(boxes)
    if n == 0:
        return np.zeros((0, 3), dtype=np.float32)
    if deterministic:
        if token is None:
            raise ValueError('deterministic simulation needs a sample token')
        v = deterministic_uniforms(token, n)
    else:
        v = np.random.random_sample((n, 3))
    u = trunc_normal_from_uniform(v, mean, std)
    pts = boxes[:, :3] + point_offsets(boxes[:, 3:6], boxes[:, 6], u, box_axes)
    return pts.astype(np.float32)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def sample_name(results: dict) -> str:
    """How errors name a sample: token, sample_idx and lidar file."""
    parts = [
        f'{k}={results[k]!r}' for k in ('token', 'sample_idx', 'lidar_path')
        if k in results
    ]
    return 'sample ' + (', '.join(parts) if parts else '<unnamed>')


def sample_seed_token(results: dict) -> Union[str, int]:
    """The sample identity that seeds deterministic simulation: the nuScenes
    sample ``token`` when present (stable across re-generated pkls and
    splits), else ``sample_idx``. Note that in a pipeline ``sample_idx`` is
    the sample's position in the dataset (mmengine's
    ``BaseDataset.get_data_info`` overwrites it), so without a token the
    points depend on which pkl the sample is read from."""
    if results.get('token') is not None:
        return str(results['token'])
    if results.get('sample_idx') is not None:
        return int(results['sample_idx'])
    raise KeyError(f'{sample_name(results)}: deterministic point simulation '
                   "needs results['token'] or results['sample_idx']")


def _current_flow(results: dict) -> tuple:
    return tuple(results.get('transformation_3d_flow', ()) or ())


def _mark(results: dict, points: np.ndarray) -> None:
    results[POINTS_KEY] = np.ascontiguousarray(points, dtype=np.float32)
    results[_FLOW_MARK] = _current_flow(results)


# --------------------------------------------------------------------------
# transforms
# --------------------------------------------------------------------------
@TRANSFORMS.register_module()
class SimulatePointAnnotations(BaseTransform):
    """Simulate one annotated point per GT box (Point-DETR3D, spec section
    2; the paper's point protocol).

    ``gt_points_3d[i] = gravity_centre_i + R(yaw_i) @ o_i`` where, per box
    axis (length, width, height), ``o = half_size * (2u - 1) / 3`` and
    ``u ~ TruncNormal(mean, std)`` on [0, 1] (inverse CDF, vectorised over
    boxes). Zero-size placeholder boxes of point-only samples therefore give
    their annotated point exactly.

    Put it **after** geometric augmentations, ``ObjectSample`` and the object
    filters (so the points follow the final boxes) and right before
    :class:`PackPointDet3DInputs`.

    Args:
        mean (float): Mean of the truncated normal. Defaults to 0.5.
        std (float): Std of the truncated normal. Defaults to 0.3.
        deterministic (bool): Seed per sample and instance: the uniforms
            are a hash of the sample ``token`` (or, without a token,
            ``sample_idx``, i.e. the dataset position) and the box's row
            index in ``gt_bboxes_3d``, so a sample gives the same points in
            every run and process (pseudo-labelling, evaluation). Random draws
            from ``np.random`` otherwise (training). Defaults to False.
        box_axes (bool): Offsets along the box's own axes (spec
            **[default]**, True); False reproduces the released code's
            offsets along LiDAR x, y, z (see :func:`point_offsets`).
        skip_ignored (bool): Boxes labelled -1 (classes outside the
            dataset's, see the module docstring) get no point: they are
            removed from ``gt_bboxes_3d`` and ``gt_labels_3d`` (the
            deterministic draws of the other boxes keep their row index).
            False simulates a point for every box. Defaults to True.
    """

    def __init__(self,
                 mean: float = 0.5,
                 std: float = 0.3,
                 deterministic: bool = False,
                 box_axes: bool = True,
                 skip_ignored: bool = True) -> None:
        if not 0.0 <= mean <= 1.0:
            raise ValueError(f'mean must lie in [0, 1], got {mean}')
        if std <= 0:
            raise ValueError(f'std must be > 0, got {std}')
        self.mean = float(mean)
        self.std = float(std)
        self.deterministic = bool(deterministic)
        self.box_axes = bool(box_axes)
        self.skip_ignored = bool(skip_ignored)

    def transform(self, results: dict) -> dict:
        boxes = results.get('gt_bboxes_3d')
        if boxes is None:
            raise KeyError(
                f"{sample_name(results)}: SimulatePointAnnotations needs "
                "results['gt_bboxes_3d'] (put it after LoadAnnotations3D "
                'and the augmentations)')
        if not isinstance(boxes, LiDARInstance3DBoxes):
            raise TypeError(f'{sample_name(results)}: gt_bboxes_3d must be '
                            f'LiDARInstance3DBoxes, got {type(boxes)}')
        labels = results.get('gt_labels_3d')
        if labels is not None and len(labels) != len(boxes):
            raise ValueError(
                f'{sample_name(results)}: {len(boxes)} gt_bboxes_3d but '
                f'{len(labels)} gt_labels_3d')
        n = len(boxes)
        if n == 0:
            _mark(results, np.zeros((0, 3), np.float32))
            return results
        if self.deterministic:
            v = deterministic_uniforms(sample_seed_token(results), n)
        else:
            v = np.random.random_sample((n, 3))
        u = trunc_normal_from_uniform(v, self.mean, self.std)
        centre = boxes.gravity_center.detach().cpu().numpy().astype(np.float64)
        dims = boxes.dims.detach().cpu().numpy()
        yaw = boxes.yaw.detach().cpu().numpy()
        points = centre + point_offsets(dims, yaw, u, self.box_axes)
        if self.skip_ignored and labels is not None:
            keep = np.asarray(labels).reshape(-1) >= 0
            if not keep.all():
                results['gt_bboxes_3d'] = boxes[torch.from_numpy(keep)]
                results['gt_labels_3d'] = labels[torch.from_numpy(keep)] \
                    if isinstance(labels, torch.Tensor) else labels[keep]
                points = points[keep]
        _mark(results, points)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(mean={self.mean}, std={self.std},'
                f' deterministic={self.deterministic}, '
                f'box_axes={self.box_axes}, '
                f'skip_ignored={self.skip_ignored})')


@TRANSFORMS.register_module()
class LoadPointAnnotations3D(BaseTransform):
    """Read the stored point annotations (``point_3d``) of a sample
    (Point-DETR3D, spec section 2, stored form).

    **Source.** The dataset's parsed annotations: ``results['ann_info']``
    (training) or ``results['eval_ann_info']`` (test mode). mmdet3d's
    ``Det3DDataset.parse_ann_info`` stacks every instance key into a column,
    so ``point_3d`` arrives as an ``(N, 3)`` column next to ``gt_labels_3d``
    and ``NuScenesDataset._filter_with_mask`` (``use_valid_flag`` /
    ``num_lidar_pts``) removes the same rows from both: points stay aligned
    with the labels the model sees. With ``from_instances=True``, or when the
    dataset parsed nothing (test mode with ``load_eval_anns=False``), the raw
    ``results['instances']`` are read instead: all of them, in the pkl's
    order, unfiltered, with the stored ``bbox_label_3d`` (no
    ``label_mapping``; -1 marks classes outside the dataset's). Use that
    for pseudo-labelling, where every stored point must get exactly one box
    in instance order.

    **Labels.** When ``gt_labels_3d`` is not in ``results`` yet (test
    pipelines without ``LoadAnnotations3D``) and ``with_label=True`` it is
    set from the same source; otherwise its length is checked.

    **Objects outside the classes** (label -1, see the module docstring).
    When ``gt_labels_3d`` is not in ``results`` yet, with
    ``skip_ignored=True`` (default) they get neither a point nor a label
    (and need no ``point_3d``): the points are exactly those of the
    instances with a class, in order, the rule the pseudo-label merge
    checks against. When ``gt_labels_3d`` is already there, the points
    follow it row by row, -1 rows included (GT rows are never dropped
    here).

    **Box samples without stored points** (``ann_type`` ``'box'`` or
    missing): with ``simulate_missing=True`` the points are simulated
    deterministically (as :class:`SimulatePointAnnotations` with
    ``deterministic=True``, seeded by token and row index after the valid
    filter) from the parsed GT boxes; otherwise a ``KeyError`` names the
    sample and key. A point-only sample (``ann_type='point'``) without
    ``point_3d`` always raises.

    Points are read in the original LiDAR frame, so this transform must run
    **before** any geometric augmentation (it raises when
    ``transformation_3d_flow`` is not empty) and before transforms that add
    or drop boxes. Augmented pipelines use :class:`SimulatePointAnnotations`
    after the augmentations instead, which gives point-only samples their
    exact (augmented) points through the zero-size placeholder boxes.

    Args:
        with_label (bool): Set ``gt_labels_3d`` when absent. Defaults to
            True.
        simulate_missing (bool): Simulate points for box samples without
            ``point_3d``. Defaults to True.
        mean (float): Truncated-normal mean for that simulation.
        std (float): Truncated-normal std for that simulation.
        from_instances (bool): Read the raw ``instances`` even when the
            dataset parsed annotations. Defaults to False.
        skip_ignored (bool): Leave out the objects labelled -1 when the
            labels are set here (see above). Defaults to True.
    """

    def __init__(self,
                 with_label: bool = True,
                 simulate_missing: bool = True,
                 mean: float = 0.5,
                 std: float = 0.3,
                 from_instances: bool = False,
                 skip_ignored: bool = True) -> None:
        self.from_instances = from_instances
        self.skip_ignored = skip_ignored
        self.with_label = with_label
        self.simulate_missing = simulate_missing
        self.mean = mean
        self.std = std

    @staticmethod
    def _parsed(results: dict) -> Optional[dict]:
        for key in ('ann_info', 'eval_ann_info'):
            if isinstance(results.get(key), dict):
                return results[key]
        return None

    def _missing(self, results: dict, instances: Sequence[dict]) -> str:
        bad = [i for i, ins in enumerate(instances) if 'point_3d' not in ins]
        return (f"{sample_name(results)} "
                f"(ann_type={results.get('ann_type', 'box')!r}): instance(s) "
                f"{bad[:10]}{'...' if len(bad) > 10 else ''} of "
                f"{len(instances)} have no 'point_3d' ([x, y, z] in LiDAR "
                'coordinates, written by tools/point_detr3d/'
                'make_point_split.py)')

    def transform(self, results: dict) -> dict:
        flow = _current_flow(results)
        if flow:
            raise RuntimeError(
                f'{sample_name(results)}: LoadPointAnnotations3D reads points '
                f'in the original LiDAR frame but augmentations {flow} already'
                ' ran; put it before them, or use SimulatePointAnnotations '
                'after them')
        ann_type = results.get('ann_type', 'box')
        if ann_type not in ('box', 'point'):
            raise ValueError(f"{sample_name(results)}: ann_type must be 'box'"
                             f" or 'point', got {ann_type!r}")
        instances = results.get('instances') or []
        parsed = None if self.from_instances else self._parsed(results)
        # objects outside the classes get no point when the labels are ours
        skip = self.skip_ignored and 'gt_labels_3d' not in results
        if parsed is not None:
            labels = np.asarray(parsed.get('gt_labels_3d', np.zeros(0)),
                                dtype=np.int64).reshape(-1)
            if 'point_3d' in parsed:
                points = np.asarray(parsed['point_3d'], dtype=np.float64)
                points = points.reshape(-1, 3) if points.size else \
                    np.zeros((0, 3))
            elif len(labels) == 0:
                points = np.zeros((0, 3))
            elif ann_type == 'box' and self.simulate_missing:
                boxes = parsed.get('gt_bboxes_3d')
                if not isinstance(boxes, LiDARInstance3DBoxes):
                    raise KeyError(
                        self._missing(results, instances) +
                        ', and there are no parsed gt_bboxes_3d to simulate'
                        ' them from')
                sim = SimulatePointAnnotations(self.mean, self.std, True)
                tmp = dict(token=results.get('token'),
                           sample_idx=results.get('sample_idx'),
                           gt_bboxes_3d=boxes)
                points = sim.transform(tmp)[POINTS_KEY]
            else:
                raise KeyError(self._missing(results, instances))
        else:
            if skip:
                instances = [
                    ins for ins in instances if not outside_classes(ins)
                ]
            labels = np.array([ins['bbox_label_3d'] for ins in instances],
                              dtype=np.int64)
            if all('point_3d' in ins for ins in instances):
                points = np.array([ins['point_3d'] for ins in instances],
                                  dtype=np.float64).reshape(-1, 3)
            elif ann_type == 'box' and self.simulate_missing and all(
                    'bbox_3d' in ins for ins in instances):
                points = simulate_points_np(
                    np.array([ins['bbox_3d'] for ins in instances]),
                    sample_seed_token(results), True, self.mean, self.std)
            else:
                raise KeyError(self._missing(results, instances))
        if len(points) != len(labels):
            raise ValueError(
                f'{sample_name(results)}: {len(points)} point_3d but '
                f'{len(labels)} labels in the parsed annotations')
        if skip:  # raw instances were skipped above; parsed rows here
            keep = labels >= 0
            points, labels = points[keep], labels[keep]
        if 'gt_labels_3d' in results:
            if len(results['gt_labels_3d']) != len(points):
                raise ValueError(
                    f'{sample_name(results)}: {len(points)} stored points but '
                    f"{len(results['gt_labels_3d'])} gt_labels_3d in results:"
                    ' a transform added or dropped objects before '
                    'LoadPointAnnotations3D; put it right after '
                    'LoadAnnotations3D')
        elif self.with_label:
            results['gt_labels_3d'] = labels
        _mark(results, points)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(with_label={self.with_label}, '
                f'simulate_missing={self.simulate_missing}, '
                f'mean={self.mean}, std={self.std}, '
                f'from_instances={self.from_instances}, '
                f'skip_ignored={self.skip_ignored})')


@TRANSFORMS.register_module()
class PackPointDet3DInputs(Pack3DDetInputs):
    """mmdet3d ``Pack3DDetInputs`` that also packs the annotated points
    (Point-DETR3D: one query per annotated point).

    ``results['gt_points_3d']`` (when present) becomes
    ``data_sample.gt_instances_3d.points_3d`` (float32 tensor ``(N, 3)``),
    whether or not ``'gt_points_3d'`` is listed in ``keys``, and
    ``ann_type`` (``'box'`` when the info has none) goes into the metainfo
    (``'ann_type'`` is added to ``meta_keys``).

    Raises when the points cannot be aligned with the labels/boxes: a
    different count, or a geometric augmentation that ran after the points
    were made (see the module docstring's ordering rule). Rows labelled -1
    are packed as they come (only when a producer kept them, see the
    module docstring); the consumer must ignore them.
    """

    def __init__(self,
                 keys: tuple,
                 meta_keys: Optional[tuple] = None,
                 points_key: str = POINTS_KEY) -> None:
        keys = tuple(k for k in keys if k != points_key)
        if meta_keys is None:
            meta_keys = inspect.signature(
                Pack3DDetInputs.__init__).parameters['meta_keys'].default
        meta_keys = tuple(meta_keys)
        if 'ann_type' not in meta_keys:
            meta_keys = meta_keys + ('ann_type', )
        super().__init__(keys=keys, meta_keys=meta_keys)
        self.points_key = points_key

    def pack_single_results(self, results: dict) -> dict:
        results.setdefault('ann_type', 'box')
        points = results.get(self.points_key)
        if points is not None:
            points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
            mark = results.get(_FLOW_MARK)
            flow = _current_flow(results)
            if mark is not None and tuple(mark) != flow:
                raise RuntimeError(
                    f'{sample_name(results)}: {self.points_key} were made '
                    f'before augmentations {flow[len(mark):]}; put '
                    'SimulatePointAnnotations after all geometric '
                    'augmentations and object filters')
            for key in ('gt_labels_3d', 'gt_bboxes_3d'):
                if key in results and len(results[key]) != len(points):
                    raise ValueError(
                        f'{sample_name(results)}: {len(points)} '
                        f'{self.points_key} but {len(results[key])} {key}; '
                        'a transform (e.g. ObjectRangeFilter, ObjectSample) '
                        'added or dropped objects after the points were made:'
                        ' put SimulatePointAnnotations after it')
        packed = super().pack_single_results(results)
        if points is not None:
            packed['data_samples'].gt_instances_3d.points_3d = \
                torch.from_numpy(points)
        return packed

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(keys={self.keys}, '
                f'points_key={self.points_key!r})')
