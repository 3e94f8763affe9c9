# Copyright (c) mmweak contributors.
"""Weakly supervised object localization metric (Top-k Loc, MaxBoxAccV2,
PxAP) and its threshold files (tau calibrated on a train-fullsup split)."""
import json
import os
import os.path as osp
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from mmweak.registry import METRICS
from mmweak.structures import bbox_overlaps, wsol_map_boxes
from ..functional import (max_box_acc, pxap_from_histograms, score_histograms,
                          sweep_box_ious, sweep_max_ious, sweep_thresholds)

IOU_THRS = (0.3, 0.5, 0.7)
IGNORE_INDEX = 255
THR_FILE_FORMAT = 'mmweak-wsol-thresholds/1'
# keys a threshold file must hold, and the box-rule settings that must match
THR_FILE_REQUIRED = ('loc_thr', 'preset', 'box_method')
THR_FILE_MATCHED = ('preset', 'box_method', 'box_convention', 'interpolation',
                    'iou_offset')


def _delta_key(delta: float) -> str:
    return f'iou{round(delta * 100)}'


def load_threshold_file(path: str) -> dict:
    """Read and check a threshold file written by ``WSOLMetric(thr_out=...)``.

    Args:
        path (str): JSON file, e.g. from
            ``tools/analysis_tools/calibrate_wsol_threshold.py``.

    Returns:
        dict: The file's content; ``loc_thr`` is a float in [0, 1].

    Raises:
        FileNotFoundError: The file does not exist.
        KeyError: A required key (``loc_thr``, ``preset``, ``box_method``)
            is missing.
        ValueError: Not JSON, ``loc_thr`` out of [0, 1], or the file was
            calibrated on a split named ``test``.
    """
    hint = ('write it with tools/analysis_tools/calibrate_wsol_threshold.py '
            '(or WSOLMetric(thr_out=...) on a validation split)')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'WSOLMetric: threshold file {path} not found; {hint}.')
    with open(path) as f:
        try:
            content = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'WSOLMetric: threshold file {path} is not '
                             f'valid JSON: {err}') from err
    if not isinstance(content, dict):
        raise ValueError(f'WSOLMetric: threshold file {path} must hold a '
                         f'JSON object, got {type(content).__name__}.')
    missing = [k for k in THR_FILE_REQUIRED if k not in content]
    if missing:
        raise KeyError(f'WSOLMetric: threshold file {path} lacks the key(s) '
                       f'{missing}; {hint}.')
    thr = content['loc_thr']
    if isinstance(thr, bool) or not isinstance(thr, (int, float)) \
            or not 0 <= thr <= 1:
        raise ValueError(f'WSOLMetric: `loc_thr` in threshold file {path} '
                         f'must be a number in [0, 1], got {thr!r}.')
    content['loc_thr'] = float(thr)
    if content.get('split') == 'test':
        raise ValueError(
            f'WSOLMetric: threshold file {path} was calibrated on a split '
            "named 'test'; thresholds must be chosen on a validation "
            '(train-fullsup) split.')
    return content


def write_json_atomic(content: dict, path: str) -> None:
    """Write ``content`` as JSON to ``path`` (temporary file, then rename)."""
    out_dir = osp.dirname(osp.abspath(path))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix='.tmp')
    with os.fdopen(fd, 'w') as f:
        json.dump(content, f, indent=2)
    os.replace(tmp, path)


@METRICS.register_module()
class WSOLMetric(BaseMetric):
    """Weakly supervised object localization (WSOL) metric.

    Follows the protocol of Choe et al., "Evaluating Weakly Supervised Object
    Localization Methods Right" (CVPR 2020, arXiv 2001.07437) and "Evaluation
    for Weakly Supervised Object Localization: Protocol, Metrics, and
    Datasets" (arXiv 2007.04178), plus the fixed-threshold metrics of the
    BAS / SAT papers (see ``shared/specs/wsol-protocol.md``).

    Each data sample (a dict after mmengine's ``Evaluator``) must carry
    ``pred_score`` (K,), ``gt_label`` (1,), ``gt_bboxes`` (N, 4) in the pixels
    of ``img_shape`` and ``loc_map`` (h, w) in [0, 1] at any resolution;
    optionally ``gt_loc_map`` (h, w), the map of the ground-truth class, which
    then replaces ``loc_map`` for every localization metric (Top-1 Loc only
    counts when the top-1 class is the GT class, so the maps coincide), and
    ``gt_mask`` (H, W) with 0 = background, 255 = ignored, other values =
    foreground (for PxAP / PIoU). Maps are resized to ``img_shape``.

    Reported keys (percent, prefixed with ``wsol/``):

    - ``top1_cls``, ``top5_cls``: GT label among the top-1 / top-5 scores.
    - ``gt_known_loc``: box at ``loc_thr`` has IoU >= 0.5 with some GT box;
      ``top1_loc`` / ``top5_loc``: the same and the class is right.
      ``loc_thr`` (in [0, 1]) is the threshold they used (from the config
      or from ``thr_file``).
    - ``paper`` preset only: ``boxacc_iou{30,50,70}``, the accuracy at
      ``loc_thr`` at each IoU, and ``boxacc_mean``, their mean (what the
      BAS / SAT tables call "MaxBoxAccV2"; it is not, see the spec's
      pitfall 3, so it never carries that name here).
    - ``choe`` preset only (oracle-threshold metrics by definition: tau is
      swept on the evaluated split): ``maxboxacc_v2_iou{30,50,70}``,
      ``max_tau BoxAcc(tau, delta)`` with all contour boxes over
      ``tau = 0, interval, ...``; ``maxboxacc_v2``, their mean;
      ``best_thr`` (and ``best_thr_iou{30,50,70}``), the maximising tau (at
      delta = 0.5 for ``best_thr``); ``maxboxacc``, MaxBoxAcc (CVPR 2020;
      largest contour, delta = 0.5).
    - ``pxap`` and ``piou`` when masks are given (pooled histograms).
    - With ``per_class=True`` the class-mean ``*_per_class`` variants of the
      Top-k and fixed-threshold accuracies.

    Thresholds calibrated on a validation split: with ``thr_out`` the metric
    also sweeps tau for the fixed-threshold box (the box of GT-known Loc)
    and writes a JSON file holding ``loc_thr``, the tau maximising GT-known
    Loc on the evaluated split (ties: lowest tau), the tau maximising the
    fixed-box accuracy at each IoU (``boxacc_thr``), for ``choe`` the
    MaxBoxAccV2 tau* per IoU (``maxboxacc_v2_thr``), the box rule, the
    number of samples and ``calib_info`` (split, dataset, ...). A later run
    with ``thr_file`` set to that file uses its ``loc_thr`` for Top-1 /
    Top-5 / GT-known Loc and ``boxacc_*`` (and logs so); the box-rule
    settings must match.

    Args:
        preset (str): ``'paper'`` (BAS / SAT tables: bilinear resizing,
            ``s > tau``, largest 8-connected component) or ``'choe'``
            (bicubic resizing and min-max, quantised threshold, largest
            contour for the fixed-threshold box). Defaults to ``'paper'``.
        loc_thr (float): Fixed threshold tau for Top-1/Top-5/GT-known Loc.
            Defaults to 0.2.
        iou_offset (int): 1 for the inclusive ("+1") IoU of the reference
            evaluators, 0 for the continuous one. Defaults to 1.
        cam_curve_interval (float): Step of the threshold sweep.
            Defaults to 0.01.
        per_class (bool): Also report class-mean accuracies.
            Defaults to False.
        box_method (str, optional): ``'largest_cc'`` or ``'largest_contour'``
            for the fixed-threshold box; None picks the preset's.
            Defaults to None.
        box_convention (str): ``'reference'`` (one-past-the-end box ends as in
            the reference code) or ``'inclusive'``. Defaults to
            ``'reference'``.
        interpolation (str, optional): ``'bilinear'`` or ``'bicubic'`` map
            resizing; None picks the preset's. Defaults to None.
        pxap_interval (float): Threshold step of PxAP / PIoU.
            Defaults to 0.001.
        thr_file (str, optional): Threshold file to read ``loc_thr`` from
            (replaces the ``loc_thr`` argument). Defaults to None.
        thr_out (str, optional): Write the thresholds calibrated on the
            evaluated split to this JSON file at every evaluation.
            Defaults to None.
        calib_info (dict, optional): Extra JSON-serialisable fields for
            ``thr_out``, e.g. ``dict(split='val', dataset='SyntheticWSOL')``.
            Defaults to None.
        num_threads (int): Threads for the per-sample map work in
            ``process`` (OpenCV releases the GIL); 1 disables threading.
            Defaults to 2.
        collect_device (str): Device for collecting results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names; None uses
            ``'wsol'``. Defaults to None.
    """
    default_prefix: Optional[str] = 'wsol'
    PRESETS = {
        'paper':
        dict(box_method='largest_cc',
             interpolation='bilinear',
             normalization='clip'),
        'choe':
        dict(box_method='largest_contour',
             interpolation='bicubic',
             normalization='minmax'),
    }

    def __init__(self,
                 preset: str = 'paper',
                 loc_thr: float = 0.2,
                 iou_offset: int = 1,
                 cam_curve_interval: float = 0.01,
                 per_class: bool = False,
                 box_method: Optional[str] = None,
                 box_convention: str = 'reference',
                 interpolation: Optional[str] = None,
                 pxap_interval: float = 0.001,
                 num_threads: int = 2,
                 thr_file: Optional[str] = None,
                 thr_out: Optional[str] = None,
                 calib_info: Optional[dict] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if preset not in self.PRESETS:
            raise ValueError(f'WSOLMetric: `preset` must be one of '
                             f'{list(self.PRESETS)}, got {preset!r}.')
        if iou_offset not in (0, 1):
            raise ValueError(
                f'WSOLMetric: `iou_offset` must be 0 or 1, got {iou_offset}.')
        if not 0 <= loc_thr <= 1:
            raise ValueError(
                f'WSOLMetric: `loc_thr` must be in [0, 1], got {loc_thr}.')
        if box_convention not in ('reference', 'inclusive'):
            raise ValueError("WSOLMetric: `box_convention` must be "
                             f"'reference' or 'inclusive', got "
                             f'{box_convention!r}.')
        defaults = self.PRESETS[preset]
        self.preset = preset
        self.loc_thr = float(loc_thr)
        self.iou_offset = iou_offset
        self.per_class = per_class
        self.box_method = box_method or defaults['box_method']
        if self.box_method not in ('largest_cc', 'largest_contour'):
            raise ValueError("WSOLMetric: `box_method` must be 'largest_cc' "
                             f"or 'largest_contour', got {box_method!r}.")
        self.box_convention = box_convention
        self.interpolation = interpolation or defaults['interpolation']
        if self.interpolation not in ('bilinear', 'bicubic'):
            raise ValueError("WSOLMetric: `interpolation` must be 'bilinear' "
                             f"or 'bicubic', got {interpolation!r}.")
        self.normalization = defaults['normalization']
        self.cam_curve_interval = cam_curve_interval
        if int(num_threads) < 1:
            raise ValueError(
                f'WSOLMetric: `num_threads` must be >= 1, got {num_threads}.')
        self.num_threads = int(num_threads)
        self.thresholds = sweep_thresholds(cam_curve_interval)
        self.pxap_bins = int(round(1 / pxap_interval))
        if self.pxap_bins < 1 or not np.isclose(self.pxap_bins * pxap_interval,
                                                1):
            raise ValueError('WSOLMetric: `pxap_interval` must divide 1, got '
                             f'{pxap_interval}.')
        self.thr_out = thr_out
        self.calib_info = dict(calib_info or {})
        self.thr_file = thr_file
        self.thr_source = 'config'
        if thr_file is not None:
            self._use_threshold_file(thr_file)

    @property
    def box_rule(self) -> dict:
        """Keyword arguments of :func:`~mmweak.structures.wsol_map_boxes`
        (without the maps and ``img_shape``) for the fixed-threshold box."""
        return dict(thr=self.loc_thr,
                    interpolation=self.interpolation,
                    normalization=self.normalization,
                    method=self.box_method,
                    box_convention=self.box_convention)

    def _use_threshold_file(self, path: str) -> None:
        """Take ``loc_thr`` from a threshold file after checking it."""
        content = load_threshold_file(path)
        mine = dict(preset=self.preset,
                    box_method=self.box_method,
                    box_convention=self.box_convention,
                    interpolation=self.interpolation,
                    iou_offset=self.iou_offset)
        clashes = {
            k: (content[k], mine[k])
            for k in THR_FILE_MATCHED if k in content and content[k] != mine[k]
        }
        if clashes:
            detail = ', '.join(f'{k}: file {a!r} vs metric {b!r}'
                               for k, (a, b) in clashes.items())
            raise ValueError(
                f'WSOLMetric: threshold file {path} was calibrated with a '
                f'different box rule ({detail}); recalibrate with this '
                'metric\'s settings.')
        config_thr = self.loc_thr
        self.loc_thr = content['loc_thr']
        origin = ', '.join(f'{k}={content[k]}'
                           for k in ('split', 'dataset', 'num_samples')
                           if content.get(k) is not None)
        self.thr_source = f'threshold file {path}' + (f' ({origin})'
                                                      if origin else '')
        print_log(
            f'WSOLMetric: loc_thr={self.loc_thr:g} from {self.thr_source} '
            f'(the loc_thr={config_thr:g} of the config is not used).',
            logger='current')

    # ------------------------------------------------------------------
    # Input parsing
    # ------------------------------------------------------------------
    @staticmethod
    def _as_dict(sample: Any) -> dict:
        if isinstance(sample, dict):
            return sample
        if hasattr(sample, 'to_dict'):
            return sample.to_dict()
        raise TypeError('WSOLMetric expects data samples as dicts or '
                        f'DataSample, got {type(sample).__name__}.')

    @staticmethod
    def _get(sample: dict, key: str, index: int) -> Any:
        if key not in sample or sample[key] is None:
            raise KeyError(f'WSOLMetric: data sample {index} '
                           f"({sample.get('img_path', 'unknown image')}) has "
                           f'no `{key}`; the WSOL model and pipeline must '
                           f'provide it.')
        return sample[key]

    @staticmethod
    def _to_tensor(value: Any) -> torch.Tensor:
        if isinstance(value, torch.Tensor):
            return value.detach().cpu()
        return torch.as_tensor(np.asarray(value))

    def _parse_map(self, sample: dict, index: int) -> dict:
        """The map the localization metrics use and the image frame."""
        key = 'gt_loc_map' if sample.get('gt_loc_map') is not None \
            else 'loc_map'
        loc_map = self._to_tensor(self._get(sample, key, index)).float()
        loc_map = loc_map.squeeze()
        if loc_map.dim() != 2:
            raise ValueError(f'WSOLMetric: `{key}` of sample {index} must be '
                             f'(h, w), got shape {tuple(loc_map.shape)}.')
        if 'img_shape' in sample and sample['img_shape'] is not None:
            img_shape = tuple(int(v) for v in sample['img_shape'][:2])
        else:
            img_shape = tuple(loc_map.shape)
        return dict(map=loc_map, map_key=key, img_shape=img_shape)

    def _parse(self, sample: dict, index: int) -> dict:
        score = self._to_tensor(self._get(sample, 'pred_score',
                                          index)).flatten().float()
        label = self._to_tensor(self._get(sample, 'gt_label', index))
        if label.numel() != 1:
            raise ValueError(
                f'WSOLMetric: `gt_label` of sample {index} must '
                f'hold one class, got shape {tuple(label.shape)}.')
        parsed = self._parse_map(sample, index)
        img_shape = parsed['img_shape']
        bboxes = self._to_tensor(self._get(sample, 'gt_bboxes', index))
        bboxes = bboxes.double().numpy()
        if bboxes.size == 0:
            bboxes = bboxes.reshape(0, 4)
        if bboxes.ndim != 2 or bboxes.shape[1] != 4:
            raise ValueError(f'WSOLMetric: `gt_bboxes` of sample {index} must '
                             f'be (N, 4), got shape {bboxes.shape}.')
        mask = sample.get('gt_mask')
        if mask is not None:
            mask = self._to_tensor(mask).squeeze().numpy()
            if mask.shape != img_shape:
                raise ValueError(
                    f'WSOLMetric: `gt_mask` of sample {index} has shape '
                    f'{mask.shape} but img_shape is {img_shape}; the mask '
                    'must be in the frame of the image the model sees.')
        parsed.update(score=score,
                      label=int(label.item()),
                      bboxes=bboxes,
                      mask=mask)
        return parsed

    # ------------------------------------------------------------------
    # Maps and fixed-threshold boxes (the one box rule)
    # ------------------------------------------------------------------
    def _maps_and_boxes(
            self,
            parsed: List[dict]) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Prepared maps and fixed-threshold boxes, batched per shape.

        Every map goes through :func:`~mmweak.structures.wsol_map_boxes`
        with :attr:`box_rule`.
        """
        groups = defaultdict(list)
        for i, item in enumerate(parsed):
            groups[(tuple(item['map'].shape), item['img_shape'])].append(i)
        maps_out: List[Optional[np.ndarray]] = [None] * len(parsed)
        boxes_out: List[Optional[np.ndarray]] = [None] * len(parsed)
        for (_, img_shape), indices in groups.items():
            maps = np.stack([parsed[i]['map'].numpy() for i in indices])
            low = np.fmin.reduce(maps, axis=None)  # NaN-ignoring min / max
            high = np.fmax.reduce(maps, axis=None)
            if low < -1e-3 or high > 1 + 1e-3:
                key = parsed[indices[0]]['map_key']
                raise ValueError(
                    f'WSOLMetric: `{key}` values must lie in [0, 1] '
                    f'(min-max normalised), got range [{low:.4g}, '
                    f'{high:.4g}].')
            prepared, boxes = wsol_map_boxes(maps,
                                             img_shape=img_shape,
                                             **self.box_rule)
            for j, i in enumerate(indices):
                maps_out[i] = prepared[j]
                boxes_out[i] = boxes[j]
        return maps_out, boxes_out

    def map_boxes(
            self, data_samples: Sequence[Any]
    ) -> List[Tuple[np.ndarray, np.ndarray]]:
        """The map and the fixed-threshold box each sample is scored with.

        Used by ``WSOLVisualizationHook`` so that overlays draw exactly the
        scored box: same map (``gt_loc_map`` if present), resizing,
        normalisation, ``loc_thr`` (including one from ``thr_file``), box
        method and convention.

        Args:
            data_samples (Sequence): ``DataSample`` objects or dicts holding
                ``loc_map`` (or ``gt_loc_map``) and ``img_shape``.

        Returns:
            list[tuple[np.ndarray, np.ndarray]]: Per sample the prepared map
            (H, W) and the box (4,) as x0, y0, x1, y1.
        """
        parsed = [
            self._parse_map(self._as_dict(s), i)
            for i, s in enumerate(data_samples)
        ]
        maps, boxes = self._maps_and_boxes(parsed)
        return list(zip(maps, boxes))

    # ------------------------------------------------------------------
    # BaseMetric API
    # ------------------------------------------------------------------
    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Reduce each sample to a few numbers and small arrays.

        Args:
            data_batch (Any): Unused.
            data_samples (Sequence[dict]): Outputs of the model.
        """
        parsed = [
            self._parse(self._as_dict(s), i)
            for i, s in enumerate(data_samples)
        ]
        if not parsed:
            return
        num_classes = {item['score'].numel() for item in parsed}
        if len(num_classes) != 1:
            raise ValueError('WSOLMetric: `pred_score` lengths differ within '
                             f'a batch: {sorted(num_classes)}.')
        scores = torch.stack([item['score'] for item in parsed])
        labels = torch.tensor([item['label'] for item in parsed])
        topk = scores.topk(min(5, scores.shape[1]), dim=1).indices
        hits = topk == labels[:, None]
        top1 = hits[:, 0].tolist()
        top5 = hits.any(dim=1).tolist()

        maps, fixed_boxes = self._maps_and_boxes(parsed)
        jobs = [(item, maps[i], fixed_boxes[i])
                for i, item in enumerate(parsed)]
        if self.num_threads > 1 and len(jobs) > 1:
            # OpenCV and large numpy operations release the GIL.
            with ThreadPoolExecutor(self.num_threads) as pool:
                reduced = list(pool.map(lambda job: self._reduce(*job), jobs))
        else:
            reduced = [self._reduce(*job) for job in jobs]
        for i, result in enumerate(reduced):
            result.update(top1=bool(top1[i]), top5=bool(top5[i]))
            self.results.append(result)

    def _reduce(self, item: dict, score_map: np.ndarray,
                fixed_box: np.ndarray) -> dict:
        """Everything one sample contributes to the final metrics."""
        gt_bboxes = item['bboxes']
        iou = 0.
        if len(gt_bboxes):
            iou = float(
                bbox_overlaps(fixed_box[None],
                              gt_bboxes,
                              offset=self.iou_offset).max())
        sweep = largest = loc_sweep = None
        if self.preset == 'choe':
            sweep, largest = sweep_max_ious(score_map,
                                            gt_bboxes,
                                            self.thresholds,
                                            iou_offset=self.iou_offset,
                                            box_convention=self.box_convention,
                                            return_largest=True)
        if self.thr_out is not None:
            # IoU of the fixed-threshold box at every tau (calibration)
            if largest is not None and self.box_method == 'largest_contour':
                loc_sweep = largest
            else:
                loc_sweep = sweep_box_ious(score_map,
                                           gt_bboxes,
                                           self.thresholds,
                                           method=self.box_method,
                                           iou_offset=self.iou_offset,
                                           box_convention=self.box_convention)
        score_hist = None
        mask = item['mask']
        if mask is not None:
            count_dtype = np.uint16 if mask.size < 2**16 else np.int32
            score_hist = score_histograms(score_map,
                                          (mask != 0) & (mask != IGNORE_INDEX),
                                          num_bins=self.pxap_bins,
                                          ignore_mask=mask == IGNORE_INDEX,
                                          dtype=count_dtype)
        return dict(gt_label=item['label'],
                    iou=iou,
                    pred_box=np.asarray(fixed_box, dtype=np.float32),
                    sweep_iou=sweep,
                    largest_iou=largest,
                    loc_sweep_iou=loc_sweep,
                    score_hist=score_hist)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Reduce the per-sample results to the WSOL metrics.

        Args:
            results (list[dict]): Per-sample results of all ranks.

        Returns:
            dict[str, float]: Metrics in percent (``best_thr*`` in [0, 1]).
        """
        if not results:
            raise ValueError('WSOLMetric: no results to evaluate.')
        labels = np.array([r['gt_label'] for r in results])
        top1 = np.array([r['top1'] for r in results])
        top5 = np.array([r['top5'] for r in results])
        ious = np.array([r['iou'] for r in results])
        gt_known = ious >= 0.5
        flags = dict(top1_cls=top1,
                     top5_cls=top5,
                     top1_loc=top1 & gt_known,
                     top5_loc=top5 & gt_known,
                     gt_known_loc=gt_known)
        if self.preset == 'paper':
            for delta in IOU_THRS:
                flags[f'boxacc_{_delta_key(delta)}'] = ious >= delta

        metrics = {k: float(v.mean() * 100) for k, v in flags.items()}
        if self.per_class:
            classes, inverse = np.unique(labels, return_inverse=True)
            counts = np.bincount(inverse, minlength=len(classes))
            for key, value in flags.items():
                hits = np.bincount(inverse,
                                   weights=value.astype(np.float64),
                                   minlength=len(classes))
                metrics[f'{key}_per_class'] = float(
                    (hits / counts).mean() * 100)

        if self.preset == 'paper':
            # the mean of the fixed-tau accuracies, never named MaxBoxAccV2
            metrics['boxacc_mean'] = float(
                np.mean([metrics[f'boxacc_{_delta_key(d)}']
                         for d in IOU_THRS]))
        accs = None
        if self.preset == 'choe':
            sweep = np.stack([r['sweep_iou'] for r in results])
            accs = max_box_acc(sweep, self.thresholds, IOU_THRS)
            for delta, (acc, _) in accs.items():
                metrics[f'maxboxacc_v2_{_delta_key(delta)}'] = acc
            metrics['maxboxacc_v2'] = float(
                np.mean([acc for acc, _ in accs.values()]))
            metrics['best_thr'] = accs[0.5][1]
            for delta, (_, thr) in accs.items():
                metrics[f'best_thr_{_delta_key(delta)}'] = thr
            largest = np.stack([r['largest_iou'] for r in results])
            metrics['maxboxacc'] = max_box_acc(largest, self.thresholds,
                                               (0.5, ))[0.5][0]
        metrics['loc_thr'] = self.loc_thr

        hists = [
            r['score_hist'] for r in results if r['score_hist'] is not None
        ]
        if hists:
            if len(hists) < len(results):
                print_log(
                    f'WSOLMetric: {len(results) - len(hists)} of '
                    f'{len(results)} samples have no `gt_mask`; PxAP / PIoU '
                    'use the others only.',
                    logger='current')
            pooled = np.sum(hists, axis=0, dtype=np.int64)
            if pooled[0].sum() == 0:
                print_log(
                    'WSOLMetric: the masks hold no foreground pixel; '
                    'PxAP / PIoU are reported as 0.',
                    logger='current')
            metrics['pxap'], metrics['piou'] = pxap_from_histograms(
                pooled[0], pooled[1])

        print_log(self._describe(len(results)), logger='current')
        if self.thr_out is not None:
            self._write_thresholds(results, accs)
        return metrics

    def calibrate(self,
                  results: List[dict],
                  accs: Optional[Dict[float, tuple]] = None) -> dict:
        """Thresholds chosen on the evaluated results (see ``thr_out``).

        Args:
            results (list[dict]): Per-sample results computed with
                ``thr_out`` set (they hold the fixed-box sweep).
            accs (dict, optional): MaxBoxAccV2 results per IoU of the
                all-contour sweep (``choe``).

        Returns:
            dict: The content of the threshold file.
        """
        if any(r.get('loc_sweep_iou') is None for r in results):
            raise ValueError('WSOLMetric: calibration needs the results of '
                             'a metric built with `thr_out`.')
        loc_sweep = np.stack([r['loc_sweep_iou'] for r in results])
        box_accs = max_box_acc(loc_sweep, self.thresholds, IOU_THRS)
        content = dict(
            format=THR_FILE_FORMAT,
            loc_thr=box_accs[0.5][1],
            criterion=(f'argmax over tau of GT-known Loc (IoU >= 0.5 of the '
                       f'{self.box_method} box at tau) on the evaluated '
                       'split; ties go to the lowest tau'),
            gt_known_loc=box_accs[0.5][0],
            boxacc_thr={
                _delta_key(d): t
                for d, (_, t) in box_accs.items()
            },
            boxacc={
                _delta_key(d): a
                for d, (a, _) in box_accs.items()
            })
        if accs is not None:
            content['maxboxacc_v2_thr'] = {
                _delta_key(d): t
                for d, (_, t) in accs.items()
            }
            content['maxboxacc_v2'] = {
                _delta_key(d): a
                for d, (a, _) in accs.items()
            }
        content.update(preset=self.preset,
                       box_method=self.box_method,
                       box_convention=self.box_convention,
                       interpolation=self.interpolation,
                       iou_offset=self.iou_offset,
                       cam_curve_interval=self.cam_curve_interval,
                       num_thresholds=len(self.thresholds),
                       num_samples=len(results))
        content.setdefault('split', None)
        content.setdefault('dataset', None)
        content.update(self.calib_info)
        return content

    def _write_thresholds(self, results: List[dict],
                          accs: Optional[Dict[float, tuple]]) -> None:
        content = self.calibrate(results, accs)
        if content.get('split') == 'test':
            print_log(
                f'WSOLMetric: writing thresholds calibrated on a split '
                f"named 'test' to {self.thr_out}; `thr_file` refuses them.",
                logger='current',
                level=30)
        write_json_atomic(content, self.thr_out)
        extra = ''
        if 'maxboxacc_v2_thr' in content:
            extra = ', MaxBoxAccV2 tau* ' + ', '.join(
                f'{k}={v:g}' for k, v in content['maxboxacc_v2_thr'].items())
        print_log(
            f'WSOLMetric: calibrated loc_thr={content["loc_thr"]:g} '
            f'(GT-known {content["gt_known_loc"]:.2f} on '
            f'{content["num_samples"]} samples, split='
            f'{content.get("split")}){extra}; written to {self.thr_out}.',
            logger='current')

    def _describe(self, num_samples: int) -> str:
        text = (f'WSOLMetric on {num_samples} samples: preset={self.preset}, '
                f'loc_thr={self.loc_thr:g} from {self.thr_source} (fixed, '
                f'{self.box_method}, {self.box_convention} box ends), IoU '
                f'offset={self.iou_offset}, {self.interpolation} map '
                f'resizing, PxAP step={1 / self.pxap_bins:g}, per-instance '
                f'averaging{" (+ per-class)" if self.per_class else ""}')
        if self.preset == 'choe':
            text += (f'; maxboxacc*/best_thr* sweep tau on this split '
                     f'(oracle, step {self.cam_curve_interval}, all '
                     'contours)')
        return text + '.'
