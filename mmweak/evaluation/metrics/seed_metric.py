# Copyright (c) mmweak contributors.
"""Seed and pseudo-mask evaluation (``shared/specs/wsss-protocol.md``,
section 5): one confusion matrix over the whole set, at every background
threshold (or power) of a sweep."""
import json
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement

from mmweak.registry import METRICS
from mmweak.structures import IGNORE_INDEX
from mmweak.utils.offline_job import atomic_path
from ..functional import (confusion_matrix, inclusive_range, seg_scores,
                          sweep_confusion)

DEFAULT_THRESHOLDS = inclusive_range(0.05, 0.60, 0.01)  # 56 values
DEFAULT_POWERS = inclusive_range(0.5, 32, 0.5)  # [default]
SCORE_KEYS = ('iou', 'precision', 'recall', 'fp_rate', 'fn_rate')


def _percent(values: Any) -> Any:
    """Fractions to percent, NaN kept (lists of floats for arrays)."""
    values = np.asarray(values, dtype=np.float64) * 100
    return values.tolist() if values.ndim else float(values)


def seed_report(conf: Any,
                values: Optional[Sequence[float]] = None,
                bg_mode: Optional[str] = None,
                class_names: Optional[Sequence[str]] = None,
                num_images: Optional[int] = None) -> Dict[str, Any]:
    """Summarise summed confusion matrices: the curve over the sweep and
    the per-class table at the best mIoU (the first best on ties).

    Args:
        conf (Tensor | np.ndarray): (T, C, C + 1) matrices of a sweep, or
            one (C, C + 1) matrix (finished label maps).
        values (Sequence[float], optional): The T thresholds / powers.
        bg_mode (str, optional): ``'threshold'`` or ``'power'``.
        class_names (Sequence[str], optional): C names; defaults to
            ``class0, class1, ...``.
        num_images (int, optional): Number of evaluated images.

    Returns:
        dict: JSON-ready; scores in percent. Keys ``mIoU``, ``best_index``
        and ``best_value`` (None without a sweep), ``best_thr`` /
        ``best_power`` (``best_value`` in that mode, else None), ``mean``
        (class means of precision, recall, fp_rate, fn_rate at the best
        value), ``summary`` (``miou`` and those means), ``per_class``
        (lists per score), ``confusion`` (at the best value), ``curve``
        (mIoU and the class means per value) and the inputs.
    """
    conf = torch.as_tensor(conf).cpu()
    sweep = conf.dim() == 3
    stack = conf if sweep else conf[None]
    num_classes = stack.shape[1]
    if values is not None and len(values) != len(stack):
        raise ValueError(f'{len(values)} sweep values for {len(stack)} '
                         'confusion matrices')
    if class_names is None:
        class_names = [f'class{i}' for i in range(num_classes)]
    if len(class_names) != num_classes:
        raise ValueError(f'{len(class_names)} class names for '
                         f'{num_classes} classes')
    scores = seg_scores(stack)
    curve_miou = np.asarray(scores['miou'])
    best = 0 if np.all(np.isnan(curve_miou)) else int(np.nanargmax(curve_miou))
    report = dict(
        bg_mode=bg_mode if sweep else None,
        values=[float(v)
                for v in values] if sweep and values is not None else None,
        num_images=num_images,
        class_names=list(class_names),
        mIoU=_percent(curve_miou[best]),
        best_index=best if sweep else None,
        best_value=float(values[best])
        if sweep and values is not None else None,
        mean={
            key: _percent(scores[f'm{key}'][best])
            for key in SCORE_KEYS[1:]
        },
        per_class={key: _percent(scores[key][best])
                   for key in SCORE_KEYS},
        confusion=stack[best].tolist(),
        curve=dict(
            miou=_percent(curve_miou),
            **{key: _percent(scores[f'm{key}'])
               for key in SCORE_KEYS[1:]}) if sweep else None)
    best_value = report['best_value']
    report['best_thr'] = best_value if bg_mode == 'threshold' else None
    report['best_power'] = best_value if bg_mode == 'power' else None
    report['summary'] = dict(miou=report['mIoU'], **report['mean'])
    return report


def format_seed_table(report: Dict[str, Any]) -> str:
    """The per-class table of a :func:`seed_report` as text."""
    names = report['class_names']
    width = max([len(n) for n in names] + [5])
    heads = ('IoU', 'Prec', 'Rec', 'FP', 'FN')
    lines = [f'{"class":<{width}} ' + ' '.join(f'{h:>6}' for h in heads)]
    for i, name in enumerate(names):
        row = [report['per_class'][key][i] for key in SCORE_KEYS]
        lines.append(f'{name:<{width}} ' +
                     ' '.join('   nan' if np.isnan(v) else f'{v:6.2f}'
                              for v in row))
    means = [report['mIoU']] + [report['mean'][k] for k in SCORE_KEYS[1:]]
    lines.append(f'{"mean":<{width}} ' +
                 ' '.join('   nan' if np.isnan(v) else f'{v:6.2f}'
                          for v in means))
    if report['best_value'] is not None:
        name = 'threshold' if report['bg_mode'] == 'threshold' else 'power'
        lines.append(f'best {name}: {report["best_value"]:g} '
                     f'(mIoU {report["mIoU"]:.2f}, {len(report["values"])} '
                     f'{name}s swept)')
    return '\n'.join(lines)


def _nan_to_none(value: Any) -> Any:
    """NaN (undefined scores) as JSON null."""
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    return value


def save_seed_report(report: Dict[str, Any],
                     out_dir: str,
                     name: str = 'seed') -> List[str]:
    """Write ``<out_dir>/<name>.json`` (the report, undefined scores as
    null) and, for a sweep, ``<name>.png`` (mIoU, mean precision and recall
    against the swept value), atomically.

    Returns:
        list[str]: The written paths.
    """
    paths = [osp.join(out_dir, f'{name}.json')]
    with atomic_path(paths[0]) as tmp:
        with open(tmp, 'w') as f:
            json.dump(_nan_to_none(report), f, indent=1)
    if report.get('curve') is None or not report.get('values'):
        return paths
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6.4, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    values = report['values']
    curve = report['curve']
    ax.plot(values, curve['miou'], label='mIoU', lw=2)
    ax.plot(values, curve['precision'], label='precision (class mean)')
    ax.plot(values, curve['recall'], label='recall (class mean)')
    ax.axvline(report['best_value'], color='gray', ls='--', lw=1)
    xlabel = 'background threshold t' if report['bg_mode'] == 'threshold' \
        else 'background power alpha'
    ax.set_xlabel(xlabel)
    ax.set_ylabel('%')
    ax.set_title(f'best {report["best_value"]:g}: mIoU '
                 f'{report["mIoU"]:.2f}')
    ax.grid(alpha=0.3)
    ax.legend(loc='best', fontsize='small')
    fig.tight_layout()
    paths.append(osp.join(out_dir, f'{name}.png'))
    with atomic_path(paths[1]) as tmp:
        fig.savefig(tmp, format='png')
    return paths


@METRICS.register_module()
class SeedMetric(BaseMetric):
    """CAM-seed / pseudo-mask metric with a background-threshold sweep.

    Each data sample (a dict after mmengine's ``Evaluator``, or a
    ``SegDataSample``) carries ``gt_sem_seg`` (mmseg ``PixelData``, its
    dict, or a (1, H, W) / (H, W) tensor) and either

    - ``pred_cams`` (K, H, W) CAMs of the tagged classes in [0, 1] at the
      GT's size and ``cam_keys`` (K,) their 0-based foreground indices: the
      seed is ``argmax([bg, cams])`` (:func:`mmweak.wsss.cams_to_label`) at
      every threshold ``t`` (or power ``alpha`` of ``bg = (1 - max cam) **
      alpha``), all from one pass (:func:`sweep_confusion`); or
    - ``pred_sem_seg``: a finished label map (0..C-1, 254 / 255 = no
      prediction), scored once.

    Only the summed confusion matrices are kept, never the maps. Reported
    keys (percent, prefixed with ``seed/``): ``mIoU`` (the best over the
    sweep), ``best_thr`` (or ``best_power``; the first best value on ties;
    not in percent), the class means ``precision``, ``recall``,
    ``fp_rate``, ``fn_rate`` (FP and FN over TP + FP + FN, SEAM / MARS)
    and per class ``IoU.<name>``, ``precision.<name>``, ``recall.<name>``,
    ``fp_rate.<name>``, ``fn_rate.<name>``, all at the best value.

    Args:
        num_classes (int): Classes including background (21 for VOC).
            Defaults to 21.
        thresholds (Sequence[float], optional): Background thresholds of the
            sweep; None gives 0.05, 0.06, ..., 0.60. Defaults to None.
        bg_mode (str): ``'threshold'`` (constant background) or ``'power'``.
            Defaults to ``'threshold'``.
        powers (Sequence[float], optional): ``alpha`` values for
            ``bg_mode='power'``; None gives 0.5, 1.0, ..., 32.
            Defaults to None.
        ignore_index (int): GT value left out. Defaults to 255.
        class_names (Sequence[str], optional): Names used in the per-class
            keys; None takes ``dataset_meta['classes']`` when it has
            ``num_classes`` entries, else ``class0, class1, ...``.
            Defaults to None.
        out_dir (str, optional): If given, ``<prefix>.json`` (whole curve
            and the table at the best value) and ``<prefix>.png`` (mIoU /
            precision / recall curve) are written there. Defaults to None.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str): Prefix of the metric names. Defaults to ``'seed'``.
    """
    default_prefix: Optional[str] = 'seed'

    def __init__(self,
                 num_classes: int = 21,
                 thresholds: Optional[Sequence[float]] = None,
                 bg_mode: str = 'threshold',
                 powers: Optional[Sequence[float]] = None,
                 ignore_index: int = IGNORE_INDEX,
                 class_names: Optional[Sequence[str]] = None,
                 out_dir: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = 'seed') -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if bg_mode not in ('threshold', 'power'):
            raise ValueError("SeedMetric: `bg_mode` must be 'threshold' or "
                             f"'power', got {bg_mode!r}.")
        if not 2 <= int(num_classes) < 254:
            raise ValueError('SeedMetric: `num_classes` (with background) '
                             f'must be in 2..253, got {num_classes}.')
        self.num_classes = int(num_classes)
        self.bg_mode = bg_mode
        if bg_mode == 'threshold':
            values = DEFAULT_THRESHOLDS if thresholds is None else thresholds
        else:
            values = DEFAULT_POWERS if powers is None else powers
            if any(not float(v) >= 0 for v in values):
                raise ValueError('SeedMetric: `powers` must be >= 0, got '
                                 f'{list(values)}.')
        self.values = [float(v) for v in values]
        if not self.values:
            raise ValueError('SeedMetric: the sweep needs at least one '
                             'threshold / power.')
        self.ignore_index = ignore_index
        if class_names is not None and len(class_names) != self.num_classes:
            raise ValueError(f'SeedMetric: {len(class_names)} class_names '
                             f'for num_classes={self.num_classes}.')
        self.class_names = class_names
        self.out_dir = out_dir

    # ------------------------------------------------------------------
    @staticmethod
    def _data(value: Any) -> torch.Tensor:
        """Tensor of a PixelData, its dict form, a tensor or an array."""
        if isinstance(value, BaseDataElement):
            value = value.data
        elif isinstance(value, dict):
            value = value['data']
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(value)
        if not isinstance(value, torch.Tensor):
            value = torch.as_tensor(value)
        return value.detach()

    @staticmethod
    def _name(sample: dict, index: int) -> str:
        return str(
            sample.get('img_path') or sample.get('img_id')
            or f'sample {index}')

    def _label_map(self, sample: dict, key: str, index: int) -> torch.Tensor:
        value = self._data(sample[key])
        if value.dim() == 3 and value.shape[0] == 1:
            value = value[0]
        if value.dim() != 2:
            raise ValueError(f'SeedMetric: `{key}` of '
                             f'{self._name(sample, index)} must be (H, W) or '
                             f'(1, H, W), got {tuple(value.shape)}.')
        return value

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Add the confusion matrices of a batch to the running sums.

        Args:
            data_batch (Any): Unused.
            data_samples (Sequence[dict]): Model outputs with GT.
        """
        for index, sample in enumerate(data_samples):
            if not isinstance(sample, dict):
                sample = sample.to_dict()
            name = self._name(sample, index)
            if sample.get('gt_sem_seg') is None:
                raise KeyError(f'SeedMetric: {name} has no `gt_sem_seg`.')
            gt = self._label_map(sample, 'gt_sem_seg', index)
            try:
                if sample.get('pred_cams') is not None:
                    if sample.get('cam_keys') is None:
                        raise KeyError('has `pred_cams` but no `cam_keys`')
                    cams = self._data(sample['pred_cams'])
                    keys = self._data(sample['cam_keys']).reshape(-1)
                    if cams.dim() != 3 or cams.shape[-2:] != gt.shape:
                        raise ValueError(
                            f'`pred_cams` must be (K, H, W) at the GT size '
                            f'{tuple(gt.shape)}, got {tuple(cams.shape)}')
                    if not cams.is_floating_point():
                        cams = cams.float()
                    conf = sweep_confusion(cams,
                                           keys,
                                           gt,
                                           self.num_classes,
                                           **{self._values_arg: self.values},
                                           ignore_index=self.ignore_index)
                    self._add('sweep', conf)
                elif sample.get('pred_sem_seg') is not None:
                    pred = self._label_map(sample, 'pred_sem_seg', index)
                    conf = confusion_matrix(pred, gt, self.num_classes,
                                            self.ignore_index)
                    self._add('label', conf)
                else:
                    raise KeyError('has neither `pred_cams` (+ `cam_keys`) '
                                   'nor `pred_sem_seg`')
            except (KeyError, ValueError) as err:
                msg = err.args[0] if err.args else str(err)
                raise type(err)(f'SeedMetric: {name}: {msg}') from err

    @property
    def _values_arg(self) -> str:
        return 'thresholds' if self.bg_mode == 'threshold' else 'powers'

    def _add(self, kind: str, conf: torch.Tensor) -> None:
        if not self.results:
            self.results.append(
                dict(sweep=None, label=None, num_sweep=0, num_label=0))
        entry = self.results[0]
        conf = conf.cpu()
        entry[kind] = conf if entry[kind] is None else entry[kind] + conf
        entry[f'num_{kind}'] += 1

    def _resolve_names(self) -> List[str]:
        if self.class_names is not None:
            return list(self.class_names)
        classes = (self.dataset_meta or {}).get('classes')
        if classes is not None and len(classes) == self.num_classes:
            return list(classes)
        return [f'class{i}' for i in range(self.num_classes)]

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Sum the per-rank matrices and pick the best threshold.

        Args:
            results (list[dict]): One running-sum entry per rank.

        Returns:
            dict[str, float]: Metrics in percent (``best_thr`` /
            ``best_power`` as is).
        """
        totals = dict(sweep=None, label=None, num_sweep=0, num_label=0)
        for entry in results:
            for kind in ('sweep', 'label'):
                if entry[kind] is not None:
                    totals[kind] = entry[kind] if totals[kind] is None \
                        else totals[kind] + entry[kind]
                totals[f'num_{kind}'] += entry[f'num_{kind}']
        if totals['num_sweep'] and totals['num_label']:
            raise ValueError(
                'SeedMetric: got CAMs (`pred_cams`) for '
                f'{totals["num_sweep"]} samples and label maps '
                f'(`pred_sem_seg`) for {totals["num_label"]}; evaluate one '
                'kind per run.')
        names = self._resolve_names()
        if totals['num_sweep']:
            report = seed_report(totals['sweep'], self.values, self.bg_mode,
                                 names, totals['num_sweep'])
        elif totals['num_label']:
            report = seed_report(totals['label'], None, None, names,
                                 totals['num_label'])
        else:
            raise ValueError('SeedMetric: no results to evaluate.')
        kind = f'CAM sweep, bg {self.bg_mode}' if totals['num_sweep'] \
            else 'label maps'
        print_log(f'SeedMetric on {report["num_images"]} images ({kind}):\n' +
                  format_seed_table(report),
                  logger='current')
        if self.out_dir is not None:
            for path in save_seed_report(report, self.out_dir, self.prefix
                                         or 'seed'):
                print_log(f'SeedMetric: wrote {path}', logger='current')
        metrics = {'mIoU': report['mIoU']}
        if report['best_value'] is not None:
            key = 'best_thr' if self.bg_mode == 'threshold' else 'best_power'
            metrics[key] = report['best_value']
        metrics.update(report['mean'])
        for key in SCORE_KEYS:
            label = 'IoU' if key == 'iou' else key
            for name, value in zip(names, report['per_class'][key]):
                metrics[f'{label}.{name}'] = value
        return metrics
