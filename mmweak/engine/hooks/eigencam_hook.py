# Copyright (c) mmweak contributors.
import os.path as osp
from typing import Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from mmweak.cam import ActivationRecorder, EigenCAM, img_shapes
from mmweak.registry import HOOKS
from mmweak.visualization.wsol_visualizer import overlay_map

_MODEL_INPUT = ':input'  # the root module's input


def _to_rgb_uint8(image: torch.Tensor) -> np.ndarray:
    """(C, H, W) pipeline image (BGR, uint8 or float) to (H, W, 3) RGB."""
    array = image.detach().cpu()
    if array.dtype != torch.uint8:
        low, high = array.min(), array.max()
        array = ((array - low) / (high - low + 1e-7) * 255).to(torch.uint8)
    array = array.permute(1, 2, 0).numpy()
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return np.ascontiguousarray(array[..., 2::-1])


@HOOKS.register_module()
class EigenCAMHook(Hook):
    """Save Eigen-CAM overlays of the first samples of each validation and
    test run through the runner's ``Visualizer``.

    Eigen-CAM (Muhammad & Yeasin, IJCNN 2020) needs no gradient and no
    class, so the maps come from the forward pass the loop runs anyway:
    forward hooks on ``target_layers`` are opened before the epoch and
    removed once ``max_samples`` overlays are drawn (or at the end of the
    epoch). Images are written with ``visualizer.add_image`` and thus go to
    every configured backend (``LocalVisBackend``: ``<work_dir>/<timestamp>
    /vis_data/vis_image/eigencam_<name>_<step>.png``; TensorBoard).

    Args:
        target_layers (str | Sequence[str]): Module paths in the model,
            e.g. ``'backbone.layer4'`` or ``'neck'`` (see
            :class:`mmweak.cam.EigenCAM`).
        max_samples (int): Samples drawn per run. Defaults to 16.
        center (bool): Centre channels first. Defaults to False.
        sign (str): Sign rule. Defaults to ``'channel_mean'``.
        solver (str): ``'gram'``, ``'svd'`` or ``'lowrank'``. Defaults to
            ``'gram'``.
        fpn_mode (str): ``'per_level'`` or ``'concat'``. Defaults to
            ``'per_level'``.
        reshape (dict, optional): Token layout for ViT targets.
        alpha (float): Heatmap opacity. Defaults to 0.5.
        enable_val (bool): Draw during validation. Defaults to True.
        enable_test (bool): Draw during testing. Defaults to True.
    """

    priority = 'LOW'

    def __init__(self,
                 target_layers: Union[str, Sequence[str]],
                 max_samples: int = 16,
                 center: bool = False,
                 sign: str = 'channel_mean',
                 solver: str = 'gram',
                 fpn_mode: str = 'per_level',
                 reshape: Optional[dict] = None,
                 alpha: float = 0.5,
                 enable_val: bool = True,
                 enable_test: bool = True) -> None:
        if max_samples < 0:
            raise ValueError(f'max_samples must be >= 0, got {max_samples}')
        if not target_layers:
            raise ValueError('EigenCAMHook needs `target_layers`, e.g. '
                             "['backbone.layer4'].")
        self.target_layers = target_layers
        self.max_samples = max_samples
        self.cam_cfg = dict(
            center=center,
            sign=sign,
            solver=solver,
            fpn_mode=fpn_mode,
            reshape=reshape)
        self.alpha = alpha
        self.enable = dict(val=enable_val, test=enable_test)
        self._cam: Optional[EigenCAM] = None
        self._inputs: Optional[ActivationRecorder] = None
        self._drawn = 0

    # ---------------------------------------------------------- scope
    def _open(self, runner: Runner, mode: str) -> None:
        self._close()
        self._drawn = 0
        if not self.enable[mode] or self.max_samples == 0:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        self._cam = EigenCAM(model, self.target_layers, **self.cam_cfg)
        self._inputs = ActivationRecorder(model, [_MODEL_INPUT])
        self._cam.recorder.open()
        self._inputs.open()

    def _close(self) -> None:
        if self._cam is not None:
            self._cam.close()
        if self._inputs is not None:
            self._inputs.close()
        self._cam = self._inputs = None

    def before_val_epoch(self, runner: Runner) -> None:
        self._open(runner, 'val')

    def before_test_epoch(self, runner: Runner) -> None:
        self._open(runner, 'test')

    def after_val_epoch(self, runner: Runner, metrics=None) -> None:
        self._close()

    def after_test_epoch(self, runner: Runner, metrics=None) -> None:
        self._close()

    def after_run(self, runner: Runner) -> None:
        self._close()

    # ---------------------------------------------------------- drawing
    def after_val_iter(self,
                       runner: Runner,
                       batch_idx: int,
                       data_batch: Optional[dict] = None,
                       outputs: Optional[Sequence] = None) -> None:
        self._draw(runner, data_batch, outputs, step=runner.iter)

    def after_test_iter(self,
                        runner: Runner,
                        batch_idx: int,
                        data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        self._draw(runner, data_batch, outputs, step=0)

    def _draw(self, runner: Runner, data_batch: Optional[dict],
              outputs: Optional[Sequence], step: int) -> None:
        if self._cam is None:
            return
        activations = self._cam.recorder.pop()
        model_input = self._inputs.pop()[_MODEL_INPUT]
        if not isinstance(model_input, torch.Tensor):
            raise TypeError('EigenCAMHook expects the model to be called '
                            'with a batched input tensor, got '
                            f'{type(model_input).__name__}.')
        maps = self._cam.maps_from_activations(activations,
                                               model_input.shape[-2:],
                                               img_shapes(outputs))
        images = (data_batch or {}).get('inputs')
        for i, cam in enumerate(maps):
            if self._drawn >= self.max_samples:
                break
            self._draw_one(runner, cam, outputs[i] if outputs else None,
                           images[i] if images is not None else None, step)
            self._drawn += 1
        if self._drawn >= self.max_samples:
            self._close()  # no more hooks for the rest of the epoch

    def _draw_one(self, runner: Runner, cam: torch.Tensor, sample,
                  image: Optional[torch.Tensor], step: int) -> None:
        meta = getattr(sample, 'metainfo', {}) if sample is not None else {}
        img_h, img_w = meta.get('img_shape', cam.shape)[:2]
        cam = cam[:int(img_h), :int(img_w)]
        if image is None:
            rgb = np.zeros((*cam.shape, 3), dtype=np.uint8)
        else:
            rgb = _to_rgb_uint8(image)
            if rgb.shape[:2] != tuple(cam.shape):
                cam = F.interpolate(
                    cam[None, None],
                    size=rgb.shape[:2],
                    mode='bilinear',
                    align_corners=False)[0, 0]
        drawn = overlay_map(rgb, cam.float().cpu().numpy(), self.alpha)
        path = meta.get('img_path')
        name = osp.splitext(osp.basename(str(path)))[0] if path else \
            f'sample_{self._drawn}'
        runner.visualizer.add_image(f'eigencam_{name}', drawn, step=step)
