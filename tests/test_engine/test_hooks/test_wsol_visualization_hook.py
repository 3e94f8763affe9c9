# Copyright (c) mmweak contributors.
"""One box rule: the overlay's red box is the box WSOLMetric scored."""
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmpretrain.structures import DataSample

from mmweak.engine.hooks import WSOLVisualizationHook
from mmweak.evaluation import WSOLMetric
from mmweak.structures import bbox_overlaps
from mmweak.visualization import WSOLVisualizer

SIZE = 32


class _Recorder:
    """Stands in for the visualizer: keeps what the hook draws."""

    def __init__(self):
        self.drawn = []

    def add_datasample(self, name, image, data_sample, **kwargs):
        self.drawn.append(data_sample)


def _outputs(seed, num=4, gt_loc_map=False):
    """Model outputs with low-resolution maps and deliberately different
    model boxes."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(num):
        loc = torch.from_numpy(rng.random((8, 8)).astype(np.float32))
        loc = torch.nn.functional.avg_pool2d(loc[None, None], 3, 1, 1)[0, 0]
        loc = (loc - loc.min()) / (loc.max() - loc.min())
        sample = DataSample(
            metainfo=dict(img_shape=(SIZE, SIZE), img_path=f'img_{i}.png'))
        sample.set_gt_label(i % 3).set_pred_score(torch.tensor([.5, .3, .2]))
        sample.set_field(loc, 'loc_map')
        if gt_loc_map:
            sample.set_field(1 - loc, 'gt_loc_map')
        sample.set_field(torch.tensor([[4., 4., 20., 24.]]), 'gt_bboxes')
        sample.set_field(torch.tensor([[0., 0., 1., 1.]]), 'pred_bboxes')
        samples.append(sample)
    return samples


def _runner(metric, visualizer, tmp_path):
    return SimpleNamespace(
        test_loop=SimpleNamespace(evaluator=Evaluator([metric])),
        visualizer=visualizer,
        work_dir=str(tmp_path),
        timestamp='stamp')


def _draw_and_score(metric, outputs, tmp_path, visualizer=None, out_dir=None):
    visualizer = visualizer or _Recorder()
    runner = _runner(metric, visualizer, tmp_path)
    runner.test_loop.evaluator.process(outputs)  # as TestLoop.run_iter
    hook = WSOLVisualizationHook(enable=True, max_samples=8, out_dir=out_dir)
    hook.before_test(runner)
    batch = dict(
        inputs=torch.zeros(len(outputs), 3, SIZE, SIZE, dtype=torch.uint8))
    hook.after_test_iter(runner, 0, batch, outputs)
    return visualizer, metric.results


def _thr_file(tmp_path):
    path = tmp_path / 'thr.json'
    path.write_text(
        json.dumps(
            dict(loc_thr=0.63,
                 preset='choe',
                 box_method='largest_contour',
                 split='val')))
    return str(path)


@pytest.mark.parametrize('kwargs', [
    dict(preset='paper', loc_thr=0.4),
    dict(preset='choe', loc_thr=0.25),
    dict(preset='paper', loc_thr=0.5, box_convention='inclusive'),
    dict(preset='choe', loc_thr=0.3, box_method='largest_cc'),
    'thr_file',
])
@pytest.mark.parametrize('gt_loc_map', [False, True])
def test_overlay_box_is_the_scored_box(kwargs, gt_loc_map, tmp_path):
    if kwargs == 'thr_file':
        kwargs = dict(preset='choe', loc_thr=0.1, thr_file=_thr_file(tmp_path))
    metric = WSOLMetric(num_threads=1, **kwargs)
    outputs = _outputs(0, gt_loc_map=gt_loc_map)
    recorder, results = _draw_and_score(metric, outputs, tmp_path)
    assert len(recorder.drawn) == len(outputs) == len(results)
    for drawn, result, output in zip(recorder.drawn, results, outputs):
        box = drawn.pred_bboxes.numpy()
        np.testing.assert_array_equal(box, result['pred_box'][None])
        # the metric's IoU is the IoU of the drawn box
        iou = bbox_overlaps(box,
                            output.gt_bboxes.numpy(),
                            offset=metric.iou_offset).max()
        assert iou == pytest.approx(result['iou'])
        assert drawn.loc_thr == metric.loc_thr
        assert drawn.loc_map.shape == (SIZE, SIZE)
        assert 'gt_loc_map' not in drawn
        # the model's own box is left alone on the original output
        assert output.pred_bboxes.tolist() == [[0., 0., 1., 1.]]
    if 'thr_file' in kwargs:
        assert metric.loc_thr == 0.63
        assert 'thr.json' in recorder.drawn[0].box_source


def test_overlay_without_wsol_metric_draws_the_model_box(tmp_path):
    recorder = _Recorder()
    runner = SimpleNamespace(test_loop=SimpleNamespace(evaluator=None),
                             visualizer=recorder,
                             work_dir=str(tmp_path),
                             timestamp='stamp')
    outputs = _outputs(1, num=2)
    hook = WSOLVisualizationHook(enable=True, max_samples=1)
    hook.after_test_iter(runner, 0, dict(inputs=torch.zeros(2, 3, SIZE, SIZE)),
                         outputs)
    assert len(recorder.drawn) == 1
    assert recorder.drawn[0].pred_bboxes.tolist() == [[0., 0., 1., 1.]]


def test_overlay_files_are_written_by_the_real_visualizer(tmp_path):
    metric = WSOLMetric(preset='choe', loc_thr=0.3, num_threads=1)
    vis = WSOLVisualizer(name='test_hook_one_box_rule')
    _draw_and_score(metric,
                    _outputs(2, num=2),
                    tmp_path,
                    visualizer=vis,
                    out_dir='overlays')
    files = sorted(os.listdir(tmp_path / 'stamp' / 'overlays'))
    assert files == ['img_0.png', 'img_1.png']
