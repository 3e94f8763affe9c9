# Copyright (c) mmweak contributors.
"""Weakly supervised object localization metric (Top-k Loc, MaxBoxAccV2,
PxAP)."""
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from mmweak.registry import METRICS
from mmweak.structures import bbox_overlaps, boxes_from_maps, resize_maps
from ..functional import (max_box_acc, pxap_from_histograms, score_histograms,
                          sweep_max_ious, sweep_thresholds)

IOU_THRS = (0.3, 0.5, 0.7)
IGNORE_INDEX = 255


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
    - ``maxboxacc_v2_iou{30,50,70}``: ``max_tau BoxAcc(tau, delta)`` with all
      contour boxes over ``tau = 0, interval, ...``; ``maxboxacc_v2`` is their
      mean; ``best_thr`` (and ``best_thr_iou{30,50,70}``) the maximising tau
      (at delta = 0.5 for ``best_thr``).
    - ``pxap`` and ``piou`` when masks are given (pooled histograms).
    - ``paper`` preset: ``boxacc_iou{30,50,70}``, the accuracy at ``loc_thr``
      at each IoU (not MaxBoxAccV2).
    - ``choe`` preset: ``maxboxacc``, MaxBoxAcc (CVPR 2020; largest contour,
      delta = 0.5).
    - With ``per_class=True`` the class-mean ``*_per_class`` variants of the
      Top-k and fixed-threshold accuracies.

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
        'paper': dict(box_method='largest_cc', interpolation='bilinear'),
        'choe': dict(box_method='largest_contour', interpolation='bicubic'),
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

    def _parse(self, sample: dict, index: int) -> dict:
        score = self._to_tensor(self._get(sample, 'pred_score',
                                          index)).flatten().float()
        label = self._to_tensor(self._get(sample, 'gt_label', index))
        if label.numel() != 1:
            raise ValueError(
                f'WSOLMetric: `gt_label` of sample {index} must '
                f'hold one class, got shape {tuple(label.shape)}.')
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
        return dict(score=score,
                    label=int(label.item()),
                    map=loc_map,
                    map_key=key,
                    img_shape=img_shape,
                    bboxes=bboxes,
                    mask=mask)

    # ------------------------------------------------------------------
    # Maps
    # ------------------------------------------------------------------
    def _prepare_maps(self, parsed: List[dict]) -> List[np.ndarray]:
        """Resize (and for ``choe`` re-normalise) maps, batched per shape."""
        groups = defaultdict(list)
        for i, item in enumerate(parsed):
            groups[(tuple(item['map'].shape), item['img_shape'])].append(i)
        out: List[Optional[np.ndarray]] = [None] * len(parsed)
        for (map_shape, img_shape), indices in groups.items():
            maps = np.stack([parsed[i]['map'].numpy() for i in indices])
            low = np.fmin.reduce(maps, axis=None)  # NaN-ignoring min / max
            high = np.fmax.reduce(maps, axis=None)
            if low < -1e-3 or high > 1 + 1e-3:
                key = parsed[indices[0]]['map_key']
                raise ValueError(
                    f'WSOLMetric: `{key}` values must lie in [0, 1] '
                    f'(min-max normalised), got range [{low:.4g}, '
                    f'{high:.4g}].')
            if map_shape != img_shape:
                maps = resize_maps(torch.from_numpy(maps),
                                   img_shape,
                                   mode=self.interpolation).numpy()
            if self.preset == 'choe':
                maps = self._choe_normalize(maps)
            else:
                # NaN and negative values become 0
                maps = np.where(maps > 0, np.minimum(maps, 1), np.float32(0))
            for j, i in enumerate(indices):
                out[i] = maps[j]
        return out

    @staticmethod
    def _choe_normalize(maps: np.ndarray) -> np.ndarray:
        """Min-max per map; constant or NaN-containing maps become zeros."""
        flat = maps.reshape(len(maps), -1)
        low = flat.min(axis=1, keepdims=True)
        span = flat.max(axis=1, keepdims=True) - low
        valid = span > 0  # False for constant maps and NaN spans
        normed = (flat - low) / np.where(valid, span, 1)
        normed[~valid[:, 0]] = 0
        return normed.reshape(maps.shape).astype(np.float32, copy=False)

    def _fixed_boxes(self, maps: List[np.ndarray]) -> List[np.ndarray]:
        """One box per map at ``loc_thr``, batched per map shape."""
        groups = defaultdict(list)
        for i, m in enumerate(maps):
            groups[m.shape].append(i)
        out: List[Optional[np.ndarray]] = [None] * len(maps)
        for indices in groups.values():
            boxes = boxes_from_maps(
                np.stack([maps[i] for i in indices]),
                self.loc_thr,
                method=self.box_method,
                box_convention=self.box_convention).numpy()
            for j, i in enumerate(indices):
                out[i] = boxes[j]
        return out

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

        maps = self._prepare_maps(parsed)
        fixed_boxes = self._fixed_boxes(maps)
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
        sweep = sweep_max_ious(score_map,
                               gt_bboxes,
                               self.thresholds,
                               iou_offset=self.iou_offset,
                               box_convention=self.box_convention,
                               return_largest=self.preset == 'choe')
        largest = None
        if self.preset == 'choe':
            sweep, largest = sweep
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
                    sweep_iou=sweep,
                    largest_iou=largest,
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
                flags[f'boxacc_iou{round(delta * 100)}'] = ious >= delta

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

        sweep = np.stack([r['sweep_iou'] for r in results])
        accs = max_box_acc(sweep, self.thresholds, IOU_THRS)
        for delta, (acc, _) in accs.items():
            metrics[f'maxboxacc_v2_iou{round(delta * 100)}'] = acc
        metrics['maxboxacc_v2'] = float(
            np.mean([acc for acc, _ in accs.values()]))
        metrics['best_thr'] = accs[0.5][1]
        for delta, (_, thr) in accs.items():
            metrics[f'best_thr_iou{round(delta * 100)}'] = thr
        if self.preset == 'choe':
            largest = np.stack([r['largest_iou'] for r in results])
            metrics['maxboxacc'] = max_box_acc(largest, self.thresholds,
                                               (0.5, ))[0.5][0]

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
        return metrics

    def _describe(self, num_samples: int) -> str:
        return (f'WSOLMetric on {num_samples} samples: preset={self.preset}, '
                f'loc_thr={self.loc_thr} (fixed, {self.box_method}, '
                f'{self.box_convention} box ends), IoU offset='
                f'{self.iou_offset}, sweep step={self.cam_curve_interval} '
                f'(all contours), PxAP step={1 / self.pxap_bins:g}, '
                f'{self.interpolation} map resizing, per-instance averaging'
                f'{" (+ per-class)" if self.per_class else ""}.')
