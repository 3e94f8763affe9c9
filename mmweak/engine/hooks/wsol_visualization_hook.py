# Copyright (c) mmweak contributors.
import os.path as osp
from typing import Optional, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import Runner

from mmweak.registry import HOOKS


def find_wsol_metric(runner: Runner):
    """The first ``WSOLMetric`` of the runner's test evaluator, or None."""
    from mmweak.evaluation import WSOLMetric  # avoids an import cycle
    evaluator = getattr(getattr(runner, 'test_loop', None), 'evaluator', None)
    for metric in getattr(evaluator, 'metrics', None) or ():
        if isinstance(metric, WSOLMetric):
            return metric
    return None


@HOOKS.register_module()
class WSOLVisualizationHook(Hook):
    """Save map overlays of the first ``max_samples`` test samples.

    Each drawing shows the input image next to the localization map, the
    ground-truth boxes (green) and the predicted box (red), through the
    runner's visualizer (``WSOLVisualizer``; local and TensorBoard backends
    work as configured). With ``out_dir`` the files go to
    ``<work_dir>/<timestamp>/<out_dir>/<image>.png`` instead.

    One box rule: when the test evaluator holds a ``WSOLMetric``, the map
    and the red box are the ones that metric scores
    (:meth:`WSOLMetric.map_boxes`, i.e.
    :func:`~mmweak.structures.wsol_map_boxes` with the metric's preset
    resizing / normalisation, ``loc_thr`` -- also when read from
    ``thr_file`` --, box method and convention), and the drawing is labelled
    with that tau. Without a ``WSOLMetric`` the model's own ``pred_bboxes``
    are drawn.

    Args:
        enable (bool): Whether to draw. Defaults to False.
        max_samples (int): How many samples to draw per test run.
            Defaults to 16.
        out_dir (str, optional): Sub-directory for image files.
    """

    priority = 'LOW'

    def __init__(self,
                 enable: bool = False,
                 max_samples: int = 16,
                 out_dir: Optional[str] = None) -> None:
        if max_samples < 0:
            raise ValueError(f'max_samples must be >= 0, got {max_samples}')
        self.enable = enable
        self.max_samples = max_samples
        self.out_dir = out_dir
        self._drawn = 0
        self._noted = False

    def before_test(self, runner: Runner) -> None:
        self._drawn = 0
        self._noted = False

    def scored_samples(self, runner: Runner, outputs: Sequence) -> list:
        """Copies of ``outputs`` carrying the metric's map and box.

        Each copy's ``loc_map`` is the prepared map the metric thresholds,
        its ``pred_bboxes`` the (1, 4) box the metric scores, and its
        metainfo ``loc_thr`` / ``box_source`` say where they come from.
        Without a ``WSOLMetric`` in the test evaluator the outputs are
        returned unchanged.
        """
        metric = find_wsol_metric(runner)
        if metric is None:
            if not self._noted:
                print_log(
                    'WSOLVisualizationHook: no WSOLMetric in the test '
                    "evaluator; overlays draw the model's pred_bboxes.",
                    logger='current')
                self._noted = True
            return list(outputs)
        pairs = metric.map_boxes(outputs)
        samples = []
        for sample, (score_map, box) in zip(outputs, pairs):
            sample = sample.clone()
            sample.set_field(torch.from_numpy(score_map),
                             'loc_map',
                             dtype=torch.Tensor)
            sample.set_field(torch.from_numpy(box).reshape(1, 4),
                             'pred_bboxes',
                             dtype=torch.Tensor)
            if 'gt_loc_map' in sample:
                del sample.gt_loc_map  # the drawn map is the scored one
            sample.set_metainfo(
                dict(loc_thr=metric.loc_thr, box_source=metric.thr_source))
            samples.append(sample)
        return samples

    def after_test_iter(self,
                        runner: Runner,
                        batch_idx: int,
                        data_batch: dict = None,
                        outputs: Optional[Sequence] = None) -> None:
        if not self.enable or self._drawn >= self.max_samples or not outputs:
            return
        visualizer = runner.visualizer
        inputs = data_batch['inputs']
        wanted = min(len(outputs), self.max_samples - self._drawn)
        samples = self.scored_samples(runner, list(outputs)[:wanted])
        for i, sample in enumerate(samples):
            img = inputs[i].detach().cpu().permute(1, 2, 0).numpy()
            img = img[..., ::-1].copy()  # pipelines keep BGR; draw in RGB
            path = sample.get('img_path') or f'sample_{self._drawn}'
            name = osp.splitext(osp.basename(str(path)))[0]
            out_file = None
            if self.out_dir is not None:
                out_file = osp.join(runner.work_dir, runner.timestamp,
                                    self.out_dir, f'{name}.png')
            visualizer.add_datasample(name,
                                      img,
                                      sample,
                                      out_file=out_file,
                                      step=self._drawn)
            self._drawn += 1
