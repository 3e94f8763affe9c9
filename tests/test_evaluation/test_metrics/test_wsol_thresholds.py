# Copyright (c) mmweak contributors.
"""WSOLMetric threshold files: calibrate on one set (``thr_out``), reuse the
threshold on another (``thr_file``)."""
import json

import numpy as np
import pytest
import torch

from mmweak.evaluation import WSOLMetric
from mmweak.evaluation.functional import max_box_acc
from mmweak.registry import METRICS
from mmweak.structures import bbox_overlaps, wsol_map_boxes

STEP = 0.05  # a coarse sweep keeps the brute-force check fast


def _blob(xx, yy, cx, cy, sigma):
    return np.exp(-((xx - cx)**2 + (yy - cy)**2) / (2 * sigma**2))


def _blob_samples(seed, num=6, size=24):
    """Samples whose maps are two Gaussian blobs, one on the GT box."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    samples = []
    for i in range(num):
        cx, cy = rng.uniform(6, size - 6, 2)
        obj = _blob(xx, yy, cx, cy, rng.uniform(2, 5))
        dx, dy = rng.uniform(0, size, 2)
        distractor = rng.uniform(0.3, 0.9) * _blob(xx, yy, dx, dy, 3.)
        score = np.maximum(obj, distractor)
        score = (score - score.min()) / (score.max() - score.min())
        half = rng.uniform(3, 6)
        box = [
            max(cx - half, 0),
            max(cy - half, 0),
            min(cx + half, size - 1),
            min(cy + half, size - 1)
        ]
        scores = torch.full((4, ), 0.1)
        scores[i % 4 if i % 3 else (i + 1) % 4] = 0.7
        samples.append(
            dict(gt_label=torch.tensor([i % 4]),
                 pred_score=scores,
                 loc_map=torch.from_numpy(score[::2, ::2].copy()),
                 gt_bboxes=torch.tensor([box], dtype=torch.float32),
                 img_shape=(size, size)))
    return samples


def _run(metric, samples):
    metric.process(None, samples)
    return metric.evaluate(len(samples))


def _brute_force_gt_known(metric, samples):
    """GT-known Loc at every tau, each from wsol_map_boxes directly."""
    accs = []
    for thr in metric.thresholds:
        hits = []
        for s in samples:
            rule = dict(metric.box_rule, thr=float(thr))
            _, box = wsol_map_boxes(s['loc_map'],
                                    img_shape=s['img_shape'],
                                    **rule)
            iou = bbox_overlaps(box,
                                s['gt_bboxes'].numpy(),
                                offset=metric.iou_offset).max()
            hits.append(iou >= 0.5)
        accs.append(100 * np.mean(hits))
    return np.array(accs)


@pytest.mark.parametrize('preset', ['paper', 'choe'])
def test_thr_out_writes_the_argmax_of_gt_known(preset, tmp_path):
    out = tmp_path / 'thr.json'
    samples = _blob_samples(0)
    metric = WSOLMetric(preset=preset,
                        cam_curve_interval=STEP,
                        thr_out=str(out),
                        calib_info=dict(split='val', dataset='blobs'))
    metrics = _run(metric, samples)
    saved = json.loads(out.read_text())

    accs = _brute_force_gt_known(metric, samples)
    best = int(np.argmax(accs))  # lowest tau among ties
    assert saved['loc_thr'] == pytest.approx(metric.thresholds[best])
    assert saved['gt_known_loc'] == pytest.approx(accs[best])
    assert saved['boxacc_thr']['iou50'] == saved['loc_thr']
    assert saved['preset'] == preset
    assert saved['box_method'] == metric.box_method
    assert saved['num_samples'] == len(samples)
    assert saved['split'] == 'val' and saved['dataset'] == 'blobs'
    if preset == 'choe':
        # MaxBoxAccV2's tau* per IoU, as the metric reports them
        for d in (30, 50, 70):
            assert saved['maxboxacc_v2_thr'][f'iou{d}'] == \
                metrics[f'wsol/best_thr_iou{d}']
        # largest contour: the same sweep as MaxBoxAcc (v1)
        assert saved['gt_known_loc'] == pytest.approx(
            metrics['wsol/maxboxacc'])
    else:
        assert 'maxboxacc_v2_thr' not in saved


def test_boxacc_thresholds_follow_max_box_acc_of_the_sweep(tmp_path):
    out = tmp_path / 'thr.json'
    samples = _blob_samples(1)
    metric = WSOLMetric(cam_curve_interval=STEP, thr_out=str(out))
    metric.process(None, samples)
    sweep = np.stack([r['loc_sweep_iou'] for r in metric.results])
    expected = max_box_acc(sweep, metric.thresholds, (0.3, 0.5, 0.7))
    metric.evaluate(len(samples))
    saved = json.loads(out.read_text())
    for delta, (acc, thr) in expected.items():
        key = f'iou{round(delta * 100)}'
        assert saved['boxacc_thr'][key] == thr
        assert saved['boxacc'][key] == pytest.approx(acc)


@pytest.mark.parametrize('preset', ['paper', 'choe'])
def test_thr_file_fixes_tau_at_test_time(preset, tmp_path):
    out = tmp_path / 'thr.json'
    val, test = _blob_samples(2), _blob_samples(3)
    _run(WSOLMetric(preset=preset, cam_curve_interval=STEP, thr_out=str(out)),
         val)
    saved = json.loads(out.read_text())
    # built from a config dict, as tools/test.py --cfg-options does
    metric = METRICS.build(
        dict(type='WSOLMetric', preset=preset, loc_thr=0.99,
             thr_file=str(out)))
    assert metric.loc_thr == saved['loc_thr']
    assert str(out) in metric.thr_source
    from_file = _run(metric, test)
    fixed = _run(WSOLMetric(preset=preset, loc_thr=saved['loc_thr']), test)
    assert from_file == fixed
    assert from_file['wsol/loc_thr'] == saved['loc_thr']
    # on the calibration set itself the file's GT-known is reproduced
    again = _run(WSOLMetric(preset=preset, thr_file=str(out)), val)
    assert again['wsol/gt_known_loc'] == pytest.approx(saved['gt_known_loc'])


def test_thr_file_errors_name_the_file(tmp_path):
    missing = tmp_path / 'none.json'
    with pytest.raises(FileNotFoundError, match='none.json'):
        WSOLMetric(thr_file=str(missing))
    partial = tmp_path / 'partial.json'
    partial.write_text(json.dumps(dict(preset='paper')))
    with pytest.raises(KeyError, match=r"partial\.json.*'loc_thr'"):
        WSOLMetric(thr_file=str(partial))
    good = dict(loc_thr=0.3,
                preset='choe',
                box_method='largest_contour',
                split='val')
    other = tmp_path / 'choe.json'
    other.write_text(json.dumps(good))
    with pytest.raises(ValueError, match=r'choe\.json.*preset'):
        WSOLMetric(preset='paper', thr_file=str(other))
    on_test = tmp_path / 'on_test.json'
    on_test.write_text(json.dumps(dict(good, split='test')))
    with pytest.raises(ValueError, match=r"on_test\.json.*'test'"):
        WSOLMetric(preset='choe', thr_file=str(on_test))
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(dict(good, loc_thr=1.5)))
    with pytest.raises(ValueError, match=r'bad\.json'):
        WSOLMetric(preset='choe', thr_file=str(bad))
    assert WSOLMetric(preset='choe', thr_file=str(other)).loc_thr == 0.3
