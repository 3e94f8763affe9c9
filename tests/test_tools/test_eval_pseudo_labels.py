# Copyright (c) mmweak contributors.
"""tools/point_detr3d/eval_pseudo_labels.py on the synthetic nuScenes:
pseudo labels equal to the GT score mAP 1, shifted by 5 m ~0, a dropped
class AP 0; --all-samples; JSON output; errors for a v1 pkl, no pseudo
instances and unknown sample tokens."""
import copy
import json
import pickle

import pytest

pytest.importorskip('mmdet3d')
pytest.importorskip('nuscenes')

from mmweak.testing import load_tool_script  # noqa: E402
from mmweak.testing.nuscenes_fixtures import make_nuscenes_root  # noqa: E402

DROPPED = 'pedestrian'


@pytest.fixture(scope='module')
def setup(tmp_path_factory, repo_root):
    tmp = tmp_path_factory.mktemp('eval_pseudo_labels')
    root = make_nuscenes_root(tmp, gt_database=False)
    with open(root['train_pkl'], 'rb') as f:
        train = pickle.load(f)
    tool = load_tool_script(repo_root,
                            'tools/point_detr3d/eval_pseudo_labels.py')
    return dict(tmp=tmp, root=root, train=train, tool=tool)


def _merged(setup, name, shift=0.0, drop=None):
    """The train pkl with sample 0 point-only: its GT instances become
    pseudo instances (optionally shifted in x / one class dropped)."""
    data = copy.deepcopy(setup['train'])
    classes = list(data['metainfo']['categories'])
    info = data['data_list'][0]
    info['ann_type'] = 'point'
    insts = []
    for k, inst in enumerate(info['instances']):
        if drop is not None and inst['bbox_label_3d'] == classes.index(drop):
            continue
        box = list(inst['bbox_3d'])
        box[0] += shift
        insts.append(
            dict(inst,
                 bbox_3d=box,
                 velocity=[0., 0.],
                 point_3d=box[:3],
                 score=0.5 + 0.01 * k,
                 is_pseudo=True))
    info['instances'] = insts
    data['data_list'][1]['ann_type'] = 'box'
    path = str(setup['tmp'] / name)
    with open(path, 'wb') as f:
        pickle.dump(data, f)
    return path


def _run(setup, pkl, *extra):
    root = setup['root']
    return setup['tool'].main([
        pkl, '--data-root', root['data_root'], '--version', 'v1.0-mini', *extra
    ])


def test_gt_pseudo_labels_score_one(setup, capsys):
    pkl = _merged(setup, 'exact.pkl')
    out = str(setup['tmp'] / 'exact.json')
    summary = _run(setup, pkl, '--gt-pkl', setup['root']['train_pkl'], '--out',
                   out)
    n_inst = len(setup['train']['data_list'][0]['instances'])
    assert summary['num_samples'] == 1
    assert summary['pseudo'] is True
    assert summary['num_instances'] == n_inst
    assert summary['num_pred_boxes'] == summary['num_gt_boxes'] > 0
    assert summary['mean_ap'] == pytest.approx(1.0)
    assert summary['classes_with_gt'] == list(summary['label_aps'])
    for aps in summary['label_aps'].values():
        assert all(ap == pytest.approx(1.0) for ap in aps.values())
    assert summary['tp_errors']['trans_err'] == pytest.approx(0., abs=1e-3)
    assert summary['tp_errors']['scale_err'] == pytest.approx(0., abs=1e-3)
    assert summary['tp_errors']['orient_err'] == pytest.approx(0., abs=1e-3)
    # NaN TP errors (traffic cone attributes) are written as null
    with open(out) as f:
        saved = json.load(f)
    assert saved['label_tp_errors']['traffic_cone']['attr_err'] is None
    assert saved['mean_ap'] == pytest.approx(summary['mean_ap'])
    text = capsys.readouterr().out
    assert 'mAP  1.0000' in text and 'velocity [0, 0]' in text


def test_shifted_pseudo_labels_score_zero(setup):
    summary = _run(setup, _merged(setup, 'shift.pkl', shift=5.0))
    assert summary['mean_ap'] < 0.1
    assert summary['label_aps']['car']['0.5'] == 0.0


def test_dropped_class_has_ap_zero(setup):
    summary = _run(setup, _merged(setup, 'drop.pkl', drop=DROPPED))
    for name, ap in summary['mean_dist_aps'].items():
        assert ap == pytest.approx(0.0 if name == DROPPED else 1.0), name
    assert summary['mean_ap'] == pytest.approx(0.9)


def test_all_samples(setup):
    summary = _run(setup, _merged(setup, 'all.pkl', shift=5.0),
                   '--all-samples')
    assert summary['num_samples'] == 2
    assert summary['pseudo'] is False
    # sample 1 (GT) is exact, sample 0 (shifted) misses: recall 1/2
    assert 0.2 < summary['mean_ap'] < 0.9


def test_errors(setup):
    tmp, root = setup['tmp'], setup['root']
    v1 = str(tmp / 'v1.pkl')
    with open(v1, 'wb') as f:
        pickle.dump(dict(infos=[], metadata=dict(version='v1.0-mini')), f)
    with pytest.raises(ValueError, match='not an mmdet3d v2 info pkl'):
        _run(setup, v1)
    with pytest.raises(ValueError, match='no pseudo instances'):
        _run(setup, root['train_pkl'])
    # a token the devkit does not know is named
    with open(_merged(setup, 'tok.pkl'), 'rb') as f:
        data = pickle.load(f)
    data['data_list'][0]['token'] = 'no_such_token'
    bad = str(tmp / 'bad_token.pkl')
    with open(bad, 'wb') as f:
        pickle.dump(data, f)
    with pytest.raises(KeyError, match='no_such_token'):
        _run(setup, bad)
    with pytest.raises(KeyError, match='--gt-pkl.*no_such_token'):
        _run(setup, bad, '--gt-pkl', root['train_pkl'])
    # train samples are not in the mini_val split
    token = setup['train']['data_list'][0]['token']
    with pytest.raises(KeyError, match=f'mini_val.*{token}'):
        _run(setup, _merged(setup, 'exact2.pkl'), '--eval-set', 'mini_val')
    with pytest.raises(SystemExit):
        _run(setup, v1, '--eval-set', 'val')
