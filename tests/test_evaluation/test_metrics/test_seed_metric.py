# Copyright (c) mmweak contributors.
"""SeedMetric: threshold / power sweep of CAM seeds and label maps."""
import json
import math

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from mmweak.evaluation import (SeedMetric, confusion_matrix, seg_scores,
                               sweep_confusion)
from mmweak.registry import METRICS
from mmweak.wsss import cams_to_label


def make_samples(num=3, num_classes=5, seed=0, size=(12, 10)):
    gen = torch.Generator().manual_seed(seed)
    samples = []
    for i in range(num):
        cams = (torch.rand(2, *size, generator=gen) * 20).round() / 20
        keys = torch.randperm(num_classes - 1, generator=gen)[:2]
        gt = torch.randint(0, num_classes, (1, ) + size, generator=gen)
        gt[:, :2] = 255
        samples.append(
            dict(img_path=f'img{i}.jpg',
                 gt_sem_seg=PixelData(data=gt),
                 pred_cams=cams,
                 cam_keys=keys))
    return samples


def test_registered_and_default_sweep():
    metric = METRICS.build(dict(type='SeedMetric'))
    assert isinstance(metric, SeedMetric)
    assert len(metric.values) == 56
    assert metric.values[0] == 0.05 and metric.values[-1] == 0.6
    assert metric.prefix == 'seed'


def test_threshold_sweep_matches_the_functional_core():
    samples = make_samples()
    metric = SeedMetric(num_classes=5, class_names=list('abcde'))
    # mmengine's Evaluator passes dicts; PixelData in its dict form too
    metric.process(None, samples[:2])
    metric.process(
        None,
        [dict(samples[2], gt_sem_seg=samples[2]['gt_sem_seg'].to_dict())])
    assert len(metric.results) == 1  # a running sum, no maps kept
    metrics = metric.evaluate(3)

    conf = sum(
        sweep_confusion(s['pred_cams'],
                        s['cam_keys'],
                        s['gt_sem_seg'].data[0],
                        5,
                        thresholds=metric.values) for s in samples)
    scores = seg_scores(conf)
    best = int(np.nanargmax(scores['miou']))
    assert metrics['seed/mIoU'] == pytest.approx(100 * scores['miou'][best])
    assert metrics['seed/best_thr'] == metric.values[best]
    assert metrics['seed/precision'] == pytest.approx(
        100 * scores['mprecision'][best])
    for i, name in enumerate('abcde'):
        for key, label in (('iou', 'IoU'), ('recall', 'recall'),
                           ('fp_rate', 'fp_rate'), ('fn_rate', 'fn_rate')):
            got = metrics[f'seed/{label}.{name}']
            want = 100 * scores[key][best, i]
            assert (math.isnan(got) and math.isnan(want)) or \
                got == pytest.approx(want)
    assert not metric.results  # cleared by evaluate


def test_power_mode_and_out_dir(tmp_path):
    samples = make_samples(seed=1)
    metric = SeedMetric(num_classes=5,
                        bg_mode='power',
                        powers=[1, 2, 4, 8],
                        out_dir=str(tmp_path),
                        prefix='cams')
    metric.process(None, samples)
    metrics = metric.evaluate(3)
    assert 'cams/best_power' in metrics and 'cams/best_thr' not in metrics
    ref = [
        sum(
            confusion_matrix(
                cams_to_label(s['pred_cams'], s['cam_keys'], bg_power=a),
                s['gt_sem_seg'].data[0], 5) for s in samples)
        for a in (1, 2, 4, 8)
    ]
    mious = [seg_scores(c)['miou'] for c in ref]
    assert metrics['cams/mIoU'] == pytest.approx(100 * max(mious))
    report = json.loads((tmp_path / 'cams.json').read_text())
    assert report['values'] == [1, 2, 4, 8]
    assert len(report['curve']['miou']) == 4
    assert report['best_power'] == metrics['cams/best_power']
    assert (tmp_path / 'cams.png').stat().st_size > 0


def test_label_maps_scored_once_with_254_as_no_prediction():
    gt = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 1]])
    pred = torch.tensor([[0, 1, 1, 254], [2, 0, 2, 255]])
    metric = SeedMetric(num_classes=3)
    metric.dataset_meta = dict(classes=('background', 'cat', 'dog'))
    metric.process(None, [
        dict(gt_sem_seg=PixelData(data=gt[None]),
             pred_sem_seg=PixelData(data=pred[None]))
    ])
    metrics = metric.evaluate(1)
    assert 'seed/best_thr' not in metrics
    assert metrics['seed/IoU.background'] == pytest.approx(100 / 3)
    assert metrics['seed/IoU.cat'] == pytest.approx(25)
    assert metrics['seed/fn_rate.cat'] == pytest.approx(50)
    assert metrics['seed/mIoU'] == pytest.approx(100 *
                                                 (1 / 3 + 1 / 4 + 1 / 2) / 3)


def test_bad_samples_raise_naming_the_image():
    metric = SeedMetric(num_classes=5)
    sample = make_samples(1)[0]
    with pytest.raises(KeyError, match='img0.jpg.*cam_keys'):
        metric.process(None, [dict(sample, cam_keys=None)])
    with pytest.raises(ValueError, match='img0.jpg.*GT size'):
        metric.process(None,
                       [dict(sample, pred_cams=sample['pred_cams'][:, :5])])
    with pytest.raises(KeyError, match='neither'):
        metric.process(None, [dict(gt_sem_seg=sample['gt_sem_seg'])])
    with pytest.raises(ValueError, match='bg_mode'):
        SeedMetric(bg_mode='softmax')


def test_mixing_cams_and_label_maps_is_refused():
    metric = SeedMetric(num_classes=5)
    sample = make_samples(1)[0]
    metric.process(None, [sample])
    metric.process(None, [
        dict(gt_sem_seg=sample['gt_sem_seg'],
             pred_sem_seg=sample['gt_sem_seg'])
    ])
    with pytest.raises(ValueError, match='one kind per run'):
        metric.evaluate(2)
