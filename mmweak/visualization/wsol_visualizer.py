# Copyright (c) mmweak contributors.
from typing import Optional, Sequence

import cv2
import mmcv
import numpy as np
import torch
from mmengine.dist import master_only
from mmengine.visualization import Visualizer

from mmweak.registry import VISUALIZERS


def overlay_map(image: np.ndarray,
                loc_map: np.ndarray,
                alpha: float = 0.5) -> np.ndarray:
    """Blend a [0, 1] map, resized bilinearly to the image, as a JET heatmap.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB image.
        loc_map (np.ndarray): ``(h, w)`` float map in [0, 1].
        alpha (float): Weight of the heatmap. Defaults to 0.5.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 RGB overlay.
    """
    h, w = image.shape[:2]
    heat = cv2.resize(
        loc_map.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    heat = np.uint8(255 * np.clip(heat, 0, 1))
    heat = cv2.applyColorMap(heat, cv2.COLORMAP_JET)[..., ::-1]
    return cv2.addWeighted(image, 1 - alpha, heat, alpha, 0)


@VISUALIZERS.register_module()
class WSOLVisualizer(Visualizer):
    """Visualizer for WSOL predictions: the localization map as a heatmap
    over the image, ground-truth boxes in green and the predicted box in red,
    side by side with the plain image.

    Args:
        name (str): Instance name. Defaults to ``'visualizer'``.
        vis_backends (list[dict], optional): Backends, e.g.
            ``[dict(type='LocalVisBackend'),
            dict(type='TensorboardVisBackend')]``.
        save_dir (str, optional): Directory for the backends.
        alpha (float): Heatmap opacity. Defaults to 0.5.
        **kwargs: Other arguments of mmengine's ``Visualizer``.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 vis_backends: Optional[Sequence[dict]] = None,
                 save_dir: Optional[str] = None,
                 alpha: float = 0.5,
                 **kwargs) -> None:
        super().__init__(
            name=name, vis_backends=vis_backends, save_dir=save_dir, **kwargs)
        self.alpha = alpha

    def draw_wsol(self, image: np.ndarray, data_sample) -> np.ndarray:
        """Return the drawn ``(H, 2W, 3)`` RGB canvas for one sample."""
        canvas = image
        if 'loc_map' in data_sample:
            loc_map = data_sample.loc_map
            if isinstance(loc_map, torch.Tensor):
                loc_map = loc_map.detach().float().cpu().numpy()
            canvas = overlay_map(image, loc_map, self.alpha)
        self.set_image(canvas)
        for key, colour in (('gt_bboxes', 'g'), ('pred_bboxes', 'r')):
            if key in data_sample and len(data_sample.get(key)) > 0:
                boxes = data_sample.get(key)
                if isinstance(boxes, torch.Tensor):
                    boxes = boxes.detach().float().cpu()
                # boxes may end one past the last pixel (x2 = W, the CUB
                # convention); the canvas takes coordinates up to W - 1
                boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(
                    -1, 4)
                h, w = canvas.shape[:2]
                limit = boxes.new_tensor([w - 1, h - 1, w - 1, h - 1])
                boxes = torch.minimum(boxes.clamp(min=0), limit)
                self.draw_bboxes(
                    boxes,
                    edge_colors=colour,
                    line_widths=2)
        text = ''
        if 'pred_label' in data_sample:
            text = f'pred {int(data_sample.pred_label[0])}'
            if 'gt_label' in data_sample:
                text += f' / gt {int(data_sample.gt_label[0])}'
        if data_sample.get('loc_thr') is not None:
            # the scored box's threshold (WSOLVisualizationHook), own line
            sep = '\n' if text else ''
            text += f'{sep}tau {data_sample.loc_thr:.2f}'
        if text:
            self.draw_texts(
                text,
                torch.tensor([2, 2]),
                colors='w',
                font_sizes=8,
                bboxes=dict(facecolor='black', alpha=0.6, pad=1))
        drawn = self.get_image()
        return np.concatenate([image, drawn], axis=1)

    @master_only
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample=None,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0,
                       **kwargs) -> np.ndarray:
        """Draw one sample and send it to the backends (and ``out_file``).

        Args:
            name (str): Image identifier.
            image (np.ndarray): ``(H, W, 3)`` uint8 RGB image as the model
                saw it.
            data_sample (DataSample): Holds ``loc_map``, ``gt_bboxes``,
                ``pred_bboxes``, ``pred_label``, ``gt_label`` and the
                metainfo ``loc_thr`` (the threshold of ``pred_bboxes``)
                when present.
            show (bool): Show in a window. Defaults to False.
            wait_time (float): Seconds to wait when showing. Defaults to 0.
            out_file (str, optional): Also write the drawing to this file.
            step (int): Global step for the backends. Defaults to 0.

        Returns:
            np.ndarray: The drawn RGB canvas.
        """
        drawn = self.draw_wsol(image, data_sample)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(drawn[..., ::-1], out_file)
        else:
            self.add_image(name, drawn, step)
        return drawn
