# Copyright (c) mmweak contributors.
"""mmweak.evaluation.functional.nuscenes_subset_eval_3d: on the full val
split it gives NuScenesMetric's numbers; subsets, attributes and input
checks."""
import copy
import pickle

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet3d')
pytest.importorskip('nuscenes')

from mmdet3d.evaluation.metrics.nuscenes_metric import \
    NuScenesMetric  # noqa: E402
from mmdet3d.structures import LiDARInstance3DBoxes  # noqa: E402

from mmweak.evaluation.functional.nuscenes_subset_eval_3d import (  # noqa
    check_eval_set, check_v2_infos, classes_from_metainfo,
    default_attribute_name, evaluate_subset, infos_to_detections,
    load_nuscenes)
from mmweak.testing.nuscenes_fixtures import make_nuscenes_root  # noqa: E402


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('nuscenes_subset_eval')
    root = make_nuscenes_root(tmp, gt_database=False)
    with open(root['val_pkl'], 'rb') as f:
        val = pickle.load(f)
    # a noisy "prediction": GT boxes moved 0..1.5 m, varied scores, every
    # fifth box dropped, so APs lie strictly between 0 and 1
    pred = copy.deepcopy(val)
    rng = np.random.default_rng(0)
    for info in pred['data_list']:
        kept = []
        for k, inst in enumerate(info['instances']):
            if k % 5 == 4:
                continue
            box = list(inst['bbox_3d'])
            box[0] += float(rng.uniform(0., 1.5))
            box[6] += float(rng.uniform(-.3, .3))
            kept.append(
                dict(inst, bbox_3d=box, score=float(rng.uniform(.1, 1.))))
        info['instances'] = kept
    nusc = load_nuscenes(root['data_root'], 'v1.0-mini')
    return dict(tmp=tmp, root=root, val=val, pred=pred, nusc=nusc)


def _all(info):
    return info['instances']


def _metric_results(pred):
    """The same prediction as NuScenesMetric inputs (9-dim boxes with the
    velocity, bottom-centre origin as the model outputs them)."""
    results = []
    for idx, info in enumerate(pred['data_list']):
        arr = np.array([
            list(i['bbox_3d']) + list(np.nan_to_num(i['velocity'][:2]))
            for i in info['instances']
        ], np.float32)
        boxes = LiDARInstance3DBoxes(arr, box_dim=9, origin=(0.5, 0.5, 0.5))
        results.append(
            dict(sample_idx=idx,
                 pred_instances=dict(),
                 pred_instances_3d=dict(bboxes_3d=boxes,
                                        scores_3d=torch.tensor([
                                            i['score']
                                            for i in info['instances']
                                        ]),
                                        labels_3d=torch.tensor([
                                            i['bbox_label_3d']
                                            for i in info['instances']
                                        ]))))
    return results


def test_full_val_equals_nuscenes_metric(setup):
    root, pred = setup['root'], setup['pred']
    classes = classes_from_metainfo(pred['metainfo'])
    metric = NuScenesMetric(data_root=root['data_root'],
                            ann_file=root['val_pkl'],
                            jsonfile_prefix=str(setup['tmp'] / 'metric'))
    metric.dataset_meta = dict(classes=classes, version='v1.0-mini')
    ref = metric.compute_metrics(_metric_results(pred))

    dets = infos_to_detections(pred['data_list'], classes, _all)
    ours = evaluate_subset(setup['nusc'], dets, 'mini_val')
    key = 'pred_instances_3d_NuScenes'
    assert 0.1 < ours['mean_ap'] < 0.95
    assert ours['mean_ap'] == pytest.approx(ref[f'{key}/mAP'], abs=1e-12)
    assert ours['nd_score'] == pytest.approx(ref[f'{key}/NDS'], abs=1e-12)
    for name in classes:
        for th, ap in ours['label_aps'][name].items():
            assert ap == pytest.approx(ref[f'{key}/{name}_AP_dist_{th}'],
                                       abs=1e-4), (name, th)


def test_subset_and_missing_predictions(setup):
    val, nusc = setup['val'], setup['nusc']
    classes = classes_from_metainfo(val['metainfo'])
    infos = val['data_list']
    tokens = [i['token'] for i in infos]
    # GT fed back on one sample only: mAP 1 on that sample ...
    one = evaluate_subset(nusc, infos_to_detections(infos[:1], classes, _all),
                          'mini_val')
    assert one['num_samples'] == 1
    assert one['mean_ap'] == pytest.approx(1.0)
    # ... the other sample, evaluated without predictions, halves recall
    both = evaluate_subset(nusc,
                           infos_to_detections(infos[:1], classes, _all),
                           'mini_val',
                           sample_tokens=tokens)
    assert both['num_samples'] == 2
    assert both['num_pred_boxes'] < both['num_gt_boxes']
    assert both['mean_ap'] < 0.9
    with pytest.raises(ValueError, match='outside the evaluated subset'):
        evaluate_subset(nusc,
                        infos_to_detections(infos, classes, _all),
                        'mini_val',
                        sample_tokens=tokens[:1])


def test_class_without_gt(setup):
    """A class without GT after the devkit's filters (here: a zero range
    for barriers): the devkit mAP counts it as AP 0,
    ``mean_ap_classes_with_gt`` leaves it out."""
    from nuscenes.eval.common.config import config_factory
    cfg = config_factory('detection_cvpr_2019')
    cfg.class_range['barrier'] = 0
    val = setup['val']
    classes = classes_from_metainfo(val['metainfo'])
    dets = infos_to_detections(val['data_list'], classes, _all)
    summary = evaluate_subset(setup['nusc'], dets, 'mini_val', config=cfg)
    assert 'barrier' not in summary['classes_with_gt']
    assert len(summary['classes_with_gt']) == 9
    assert summary['mean_dist_aps']['barrier'] == 0.0
    assert summary['mean_ap'] == pytest.approx(0.9)
    assert summary['mean_ap_classes_with_gt'] == pytest.approx(1.0)


def test_attribute_names_follow_nuscenes_metric():
    assert default_attribute_name('car', [0., 0.]) == 'vehicle.parked'
    assert default_attribute_name('car', [1., 0.]) == 'vehicle.moving'
    assert default_attribute_name('bus', [0., 0.1]) == 'vehicle.stopped'
    assert default_attribute_name('bicycle', [0., 1.]) == 'cycle.with_rider'
    assert default_attribute_name('bicycle', [0., 0.]) == \
        'cycle.without_rider'
    assert default_attribute_name('pedestrian', [0., 0.]) == \
        'pedestrian.standing'
    assert default_attribute_name('pedestrian', [2., 0.]) == \
        'pedestrian.moving'
    assert default_attribute_name('barrier', [2., 0.]) == ''


def test_input_checks(setup):
    with pytest.raises(ValueError, match='x.pkl: not an mmdet3d v2'):
        check_v2_infos(dict(infos=[]), 'x.pkl')
    assert check_v2_infos(setup['val'], 'v.pkl') is setup['val']['data_list']
    with pytest.raises(ValueError, match='not a split of v1.0-mini'):
        check_eval_set('v1.0-mini', 'val')
    with pytest.raises(FileNotFoundError, match='v1.0-trainval'):
        load_nuscenes(setup['root']['data_root'], 'v1.0-trainval')
    info = copy.deepcopy(setup['val']['data_list'][0])
    del info['instances'][0]['bbox_3d']
    with pytest.raises(KeyError, match=info['token']):
        infos_to_detections([info], classes_from_metainfo({}), _all)
