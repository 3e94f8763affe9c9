# Copyright (c) mmweak contributors.
import os.path as osp
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmweak.registry import HOOKS


@HOOKS.register_module()
class WSOLVisualizationHook(Hook):
    """Save map overlays of the first ``max_samples`` test samples.

    Each drawing shows the input image next to the localization map, the
    ground-truth boxes (green) and the predicted box (red), through the
    runner's visualizer (``WSOLVisualizer``; local and TensorBoard backends
    work as configured). With ``out_dir`` the files go to
    ``<work_dir>/<timestamp>/<out_dir>/<image>.png`` instead.

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

    def before_test(self, runner: Runner) -> None:
        self._drawn = 0

    def after_test_iter(self,
                        runner: Runner,
                        batch_idx: int,
                        data_batch: dict = None,
                        outputs: Optional[Sequence] = None) -> None:
        if not self.enable or self._drawn >= self.max_samples or not outputs:
            return
        visualizer = runner.visualizer
        inputs = data_batch['inputs']
        for i, sample in enumerate(outputs):
            if self._drawn >= self.max_samples:
                break
            img = inputs[i].detach().cpu().permute(1, 2, 0).numpy()
            img = img[..., ::-1].copy()  # pipelines keep BGR; draw in RGB
            path = sample.get('img_path') or f'sample_{self._drawn}'
            name = osp.splitext(osp.basename(str(path)))[0]
            out_file = None
            if self.out_dir is not None:
                out_file = osp.join(runner.work_dir, runner.timestamp,
                                    self.out_dir, f'{name}.png')
            visualizer.add_datasample(
                name, img, sample, out_file=out_file, step=self._drawn)
            self._drawn += 1
