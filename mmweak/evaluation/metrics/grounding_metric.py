# Copyright (c) mmweak contributors.
"""Top-1 referring-expression grounding accuracy (IoU >= 0.5)."""
import json
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from mmweak.registry import METRICS
from mmweak.structures import bbox_overlaps
from mmweak.utils.offline_job import atomic_path


@METRICS.register_module()
class GroundingAccuracy(BaseMetric):
    """Fraction of expressions whose predicted box has IoU >= ``iou_thr``
    with the box of the referred annotation (continuous coordinates,
    ``offset=0``), as in DTMR / KPRN / MAttNet evaluation.

    Reported (in %), under the metric prefix (default ``'grounding'``):
    ``acc`` over all expressions, ``<split>_acc`` per split present (e.g.
    ``val_acc``, ``testA_acc``) when the samples carry ``split``,
    ``random_acc`` (and ``<split>_random_acc``), the **expected** accuracy
    of choosing a candidate uniformly at random (the share of candidates
    with IoU >= ``iou_thr`` with the target, averaged over expressions), and
    ``num_expressions``.

    Args:
        iou_thr (float): IoU threshold. Defaults to 0.5.
        out_file (str, optional): Dump per-expression predictions to JSON.
        prefix (str): Metric prefix. Defaults to 'grounding'.
        collect_device (str): Defaults to 'cpu'.
    """

    default_prefix = 'grounding'

    def __init__(self,
                 iou_thr: float = 0.5,
                 out_file: Optional[str] = None,
                 prefix: Optional[str] = None,
                 collect_device: str = 'cpu') -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.iou_thr = iou_thr
        self.out_file = out_file

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            exprs = sample['expressions']
            pred = sample['pred_instances']['bboxes']
            pred = pred.cpu().numpy() if hasattr(pred, 'cpu') else \
                np.asarray(pred)
            if len(pred) != len(exprs):
                raise ValueError(f'image {sample.get("img_id")}: '
                                 f'{len(pred)} predictions for '
                                 f'{len(exprs)} expressions')
            cands = sample['gt_instances']['bboxes']
            cands = cands.cpu().numpy() if hasattr(cands, 'cpu') else \
                np.asarray(cands)
            gt = np.asarray([e['gt_bbox'] for e in exprs],
                            dtype=np.float64).reshape(-1, 4)
            # IoU of each prediction with its own target: the diagonal
            ious = np.diagonal(bbox_overlaps(pred.reshape(-1, 4), gt,
                                             offset=0)) if len(gt) else \
                np.zeros(0)
            chance = (bbox_overlaps(cands.reshape(-1, 4), gt, offset=0) >=
                      self.iou_thr).mean(0) if len(gt) else np.zeros(0)
            # one result per image: mmengine truncates the collected
            # results to the dataset size, which counts images
            self.results.append([
                dict(split=sample.get('split', ''),
                     sent_id=e.get('sent_id'), iou=float(iou),
                     hit=bool(iou >= self.iou_thr), chance=float(c),
                     pred_bbox=[float(x) for x in p])
                for e, iou, p, c in zip(exprs, ious, pred, chance)
            ])

    def compute_metrics(self, results: List[list]) -> Dict[str, float]:
        results = [r for per_image in results for r in per_image]
        if not results:
            raise ValueError('GroundingAccuracy: no expressions evaluated')
        by_split: Dict[str, List[dict]] = defaultdict(list)
        for r in results:
            by_split[r['split']].append(r)
        out = dict(
            acc=100 * float(np.mean([r['hit'] for r in results])),
            random_acc=100 * float(np.mean([r['chance'] for r in results])),
            num_expressions=len(results))
        for split, rs in sorted(by_split.items()):
            if split:
                out[f'{split}_acc'] = 100 * float(
                    np.mean([r['hit'] for r in rs]))
                out[f'{split}_random_acc'] = 100 * float(
                    np.mean([r['chance'] for r in rs]))
        if self.out_file:
            with atomic_path(self.out_file) as tmp, open(tmp, 'w') as f:
                json.dump(results, f)
        return out
