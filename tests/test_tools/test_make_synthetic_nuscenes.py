# Copyright (c) mmweak contributors.
"""make_synthetic_nuscenes.py: byte-identical reruns, nuscenes-devkit loads
the tree (v1.0-mini scene names, the 10 detection classes with valid
attributes, linked tokens, defined velocities), num_lidar_pts = the points
inside each box, images with --with-camera, and the OUT_ROOT checks."""
import hashlib
import os
import os.path as osp

import numpy as np
import pytest

pytest.importorskip('nuscenes')

from mmweak.testing import load_tool_script  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = load_tool_script(ROOT,
                        'tools/dataset_converters/make_synthetic_nuscenes.py')
ARGS = [
    '--num-samples-per-scene', '3', '--ground-points', '1500', '--scenes',
    'scene-0103', 'scene-0061', '--with-camera', '--image-size', '160', '90'
]


def _digest(root):
    h = hashlib.sha256()
    for dirpath, dirnames, files in sorted(os.walk(root)):
        dirnames.sort()
        for name in sorted(files):
            path = osp.join(dirpath, name)
            h.update(osp.relpath(path, root).encode())
            with open(path, 'rb') as f:
                h.update(f.read())
    return h.hexdigest()


@pytest.fixture(scope='module')
def generated(tmp_path_factory):
    base = tmp_path_factory.mktemp('gen')
    a, b = str(base / 'a'), str(base / 'b')
    TOOL.main([a] + ARGS)
    TOOL.main([b] + ARGS)
    return a, b


def test_deterministic(generated):
    a, b = generated
    assert _digest(a) == _digest(b)
    assert not [n for n in os.listdir(osp.dirname(a)) if n.startswith('.')]


def test_devkit_loads_consistent_tables(generated):
    from nuscenes.eval.detection.utils import (category_to_detection_name,
                                               detection_name_to_rel_attributes
                                               )
    from nuscenes.nuscenes import NuScenes
    from nuscenes.utils import splits
    from nuscenes.utils.geometry_utils import points_in_box
    from PIL import Image
    root = generated[0]
    nusc = NuScenes(version='v1.0-mini', dataroot=root, verbose=False)
    assert sorted(s['name']
                  for s in nusc.scene) == ['scene-0061', 'scene-0103']
    assert {s['name']
            for s in nusc.scene} <= set(splits.mini_train + splits.mini_val)
    assert len(nusc.sample) == 6
    names = set()
    for scene in nusc.scene:
        tokens, tok = [], scene['first_sample_token']
        while tok:
            tokens.append(tok)
            tok = nusc.get('sample', tok)['next']
        assert len(tokens) == scene['nbr_samples'] == 3
        assert tokens[-1] == scene['last_sample_token']
        for k, tok in enumerate(tokens):
            sample = nusc.get('sample', tok)
            assert len(sample['data']) == 7  # LIDAR_TOP + 6 cameras
            lidar_path, boxes, _ = nusc.get_sample_data(
                sample['data']['LIDAR_TOP'])
            pts = np.fromfile(lidar_path, np.float32).reshape(-1, 5)
            assert 1000 < len(pts) < 60000
            assert set(np.unique(pts[:, 4])) <= set(range(32))
            r = np.hypot(pts[:, 0], pts[:, 1])[pts[:, 2] < -1.7]
            # ground density ~ 1 / r^2: the 20-60 m ring has 64 times the
            # area of the 2.5-7.5 m one but not more points (shadows)
            near, far = ((r > 2.5) & (r < 7.5)).sum(), (r > 20).sum()
            assert 0.3 * near < far < 1.2 * near
            pose = nusc.get(
                'ego_pose',
                nusc.get('sample_data',
                         sample['data']['LIDAR_TOP'])['ego_pose_token'])
            for box, ann_tok in zip(boxes, sample['anns']):
                ann = nusc.get('sample_annotation', ann_tok)
                assert box.token == ann_tok
                n = int(points_in_box(box, pts[:, :3].T).sum())
                assert n == ann['num_lidar_pts']
                name = category_to_detection_name(ann['category_name'])
                names.add(name)
                attrs = [
                    nusc.get('attribute', t)['name']
                    for t in ann['attribute_tokens']
                ]
                rel = detection_name_to_rel_attributes(name)
                assert (attrs == []
                        if not rel else len(attrs) == 1 and attrs[0] in rel)
                dist = np.hypot(*(np.array(ann['translation'][:2]) -
                                  pose['translation'][:2]))
                assert dist < 45
                velo = nusc.box_velocity(ann_tok)
                assert np.isfinite(velo).all()
                moving = np.hypot(*velo[:2]) > 0.2
                assert moving == any(a in ('vehicle.moving',
                                           'cycle.with_rider',
                                           'pedestrian.moving') for a in attrs)
                inst = nusc.get('instance', ann['instance_token'])
                assert inst['nbr_annotations'] == 3
                assert (ann['prev'] == '') == (k == 0)
            for cam in ('CAM_FRONT', 'CAM_BACK_LEFT'):
                sd = nusc.get('sample_data', sample['data'][cam])
                cs = nusc.get('calibrated_sensor',
                              sd['calibrated_sensor_token'])
                assert np.array(cs['camera_intrinsic']).shape == (3, 3)
                with Image.open(osp.join(root, sd['filename'])) as img:
                    assert img.size == (sd['width'], sd['height']) == \
                        (160, 90)
    assert names == {
        'car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle',
        'motorcycle', 'pedestrian', 'traffic_cone', 'barrier'
    }


def test_out_root_checks(generated, tmp_path, capsys):
    a = generated[0]
    TOOL.main([a] + ARGS)  # same arguments: nothing to do
    assert 'already generated' in capsys.readouterr().out
    with pytest.raises(SystemExit, match='other arguments'):
        TOOL.main([a, '--seed', '1'] + ARGS)
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    with pytest.raises(SystemExit, match='not written by'):
        TOOL.main([str(foreign)] + ARGS)
    with pytest.raises(SystemExit):
        TOOL.main([str(tmp_path / 'x'), '--scenes', 'scene-9999'])
    small = str(tmp_path / 'small')
    TOOL.main([
        small, '--num-samples-per-scene', '1', '--ground-points', '500',
        '--scenes', 'scene-0061'
    ])
    TOOL.main([
        small, '--num-samples-per-scene', '1', '--ground-points', '600',
        '--scenes', 'scene-0061', '--overwrite'
    ])
    assert sorted(os.listdir(tmp_path)) == ['foreign', 'small']
    assert len(os.listdir(osp.join(small, 'samples', 'LIDAR_TOP'))) == 1


def test_trainval_names_and_splits(tmp_path):
    """--version v1.0-trainval --num-scenes T V: the devkit opens the
    v1.0-trainval tables and its train / val split helpers put the scenes
    where real nuScenes has them; mmdet3d's converter splits them so."""
    from nuscenes import NuScenes
    from nuscenes.utils import splits

    from mmweak.testing import make_nuscenes_root
    out = make_nuscenes_root(tmp_path, num_samples_per_scene=2,
                             ground_points=500, num_scenes=(2, 1),
                             gt_database=False)
    root = out['data_root']
    assert out['summary']['args']['version'] == 'v1.0-trainval'
    assert sorted(os.listdir(root)) == sorted([
        'maps', 'samples', 'sweeps', 'synthetic_nuscenes.json',
        'v1.0-trainval', 'nuscenes_infos_train.pkl', 'nuscenes_infos_val.pkl'
    ])
    nusc = NuScenes(version='v1.0-trainval', dataroot=root, verbose=False)
    names = sorted(s['name'] for s in nusc.scene)
    assert names == sorted(splits.train[:2] + splits.val[:1])
    assert (out['summary']['train'], out['summary']['val']) == (4, 2)
    logs = [nusc.get('log', s['log_token'])['logfile'] for s in nusc.scene]
    assert len(set(logs)) == 3
    from mmweak.datasets.pseudo_labels_3d import load_pickle
    val = load_pickle(out['val_pkl'])['data_list']
    val_scene = {nusc.get('sample', s['token'])['scene_token'] for s in val}
    assert [nusc.get('scene', t)['name'] for t in val_scene] == \
        splits.val[:1]


@pytest.mark.parametrize('argv, message', [
    (['--version', 'v1.0-trainval'], 'needs --num-scenes'),
    (['--version', 'v1.0-trainval', '--num-scenes', '0', '1'], '1-700'),
    (['--version', 'v1.0-trainval', '--num-scenes', '1', '1', '--scenes',
      'scene-0061'], 'needs --num-scenes'),
    (['--num-scenes', '1', '1'], 'is for --version v1.0-trainval'),
])
def test_version_argument_errors(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit):
        TOOL.parse_args([str(tmp_path / 'out')] + argv)
    assert message in capsys.readouterr().err
