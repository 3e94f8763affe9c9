# Copyright (c) mmweak contributors.
"""tools/point_detr3d/make_pseudo_labels.py on a tiny nuScenes-layout set
with a fake one-box-per-point teacher: the merged student pkl, resume after
an interrupt or a crash (identical output), torchrun-style sharding, the
round trip through mmdet3d NuScenesDataset, and errors naming the sample."""
import glob
import os
import os.path as osp
import pickle
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet3d')

# builds mmdet3d parts by bare name, as mmdet3d configs do (tests/conftest.py)
DEFAULT_SCOPE = 'mmdet3d'

from mmdet3d.models.detectors import Base3DDetector  # noqa: E402
from mmdet3d.structures import LiDARInstance3DBoxes  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

import mmweak.datasets.transforms.point_annotations_3d  # noqa: E402,F401
from mmweak.registry import MODELS  # noqa: E402
from mmweak.testing import load_tool_script  # noqa: E402

CLASSES = ('car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle',
           'motorcycle', 'pedestrian', 'traffic_cone', 'barrier')


@MODELS.register_module(force=True)
class FakePointTeacher3D(Base3DDetector):
    """Test-only teacher: one box per annotated point, centred at it, with a
    learnable size; ``drop_box_of`` removes a box of that sample."""
    calls = 0

    def __init__(self, drop_box_of=None, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.size = torch.nn.Parameter(torch.tensor([4., 2., 1.5]))
        self.drop_box_of = drop_box_of

    def predict(self, batch_inputs_dict, batch_data_samples, **kwargs):
        type(self).calls += 1
        for sample in batch_data_samples:
            pts = sample.gt_instances_3d.points_3d
            labels = sample.gt_instances_3d.labels_3d
            if sample.sample_idx == self.drop_box_of:
                pts, labels = pts[1:], labels[1:]
            size = self.size.detach().expand(len(pts), 3)
            bottom = pts - torch.stack(
                [0 * size[:, 0], 0 * size[:, 1], size[:, 2] / 2], 1)
            boxes = torch.cat([bottom, size, 0.1 * labels[:, None].float()], 1)
            sample.pred_instances_3d = InstanceData(
                bboxes_3d=LiDARInstance3DBoxes(boxes),
                scores_3d=0.5 + 0.01 * labels.float(),
                labels_3d=labels.clone())
        return batch_data_samples

    def loss(self, batch_inputs_dict, batch_data_samples, **kwargs):
        return {}

    def _forward(self, batch_inputs_dict, batch_data_samples=None, **kwargs):
        return []

    def extract_feat(self, batch_inputs_dict):
        return []


CONFIG = """
default_scope = 'mmdet3d'
custom_imports = dict(
    imports=['mmweak.datasets.transforms.point_annotations_3d'],
    allow_failed_imports=False)
model = dict(
    type='mmweak.FakePointTeacher3D',
    drop_box_of={drop},
    data_preprocessor=dict(type='Det3DDataPreprocessor'))
test_dataloader = dict(
    batch_size=1,
    num_workers=0,
    dataset=dict(
        type='NuScenesDataset',
        data_root='{root}',
        ann_file='nuscenes_infos_train.pkl',
        metainfo=dict(classes={classes}),
        modality=dict(use_lidar=True, use_camera=False),
        data_prefix=dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP'),
        use_valid_flag=True,
        test_mode=True,
        box_type_3d='LiDAR',
        pipeline=[
            dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5,
                 use_dim=5),
            dict(type='mmweak.LoadPointAnnotations3D'),
            dict(type='mmweak.PackPointDet3DInputs',
                 keys=['points', 'gt_labels_3d'])
        ]))
"""

# (ann_type, [(label, point, valid)]) per sample; points far apart. Label
# -1 (outside the classes, as in mmdet3d's real nuScenes infos): no point is
# read, no pseudo box is made; the labelled sample keeps it as GT
SAMPLES = [
    ('box', [(0, (5., 5., -1.), True), (7, (-10., 3., -.5), True)]),
    ('point', [(0, (12., -4., -1.2), True), (3, (20., 20., -1.), False),
               (8, (-6., -15., -.8), True)]),
    ('point', [(-1, (30., 0., -1.), True), (1, (-20., -20., -1.), True)]),
    ('point', []),
    ('box', [(9, (2., -8., -1.), True), (-1, (40., 10., -1.), True)]),
]


def _write_root(root):
    """LiDAR .bin files (n + 1 points near the n-th object, plus far
    ground points) and the v2 train pkl."""
    os.makedirs(osp.join(root, 'samples', 'LIDAR_TOP'))
    rng = np.random.RandomState(0)
    data_list, expected = [], {}
    for idx, (ann_type, objs) in enumerate(SAMPLES):
        pts = [np.array([[90., 90., 0.], [-90., 60., 0.]])]
        instances = []
        for j, (label, point, valid) in enumerate(objs):
            near = np.asarray(point) + rng.uniform(-.3, .3, (j + 1, 3))
            pts.append(near)
            expected[(idx, j)] = j + 1
            box = [*point, 4., 2., 1.5, 0.] if ann_type == 'box' else \
                [*point, 0., 0., 0., 0.]
            instances.append(
                dict(bbox_3d=box,
                     bbox_label_3d=label,
                     velocity=[0., 0.]
                     if ann_type == 'box' else [np.nan, np.nan],
                     num_lidar_pts=j + 1 if valid else 0,
                     num_radar_pts=0,
                     bbox_3d_isvalid=valid,
                     point_3d=list(point)))
        xyz = np.concatenate(pts).astype(np.float32)
        feats = np.concatenate([xyz, np.zeros((len(xyz), 2), np.float32)], 1)
        name = f'n008__LIDAR_TOP__{idx}.pcd.bin'
        feats.tofile(osp.join(root, 'samples', 'LIDAR_TOP', name))
        data_list.append(
            dict(sample_idx=idx,
                 token=f'token{idx}',
                 timestamp=1e6 + idx,
                 ego2global=np.eye(4).tolist(),
                 ann_type=ann_type,
                 lidar_points=dict(num_pts_feats=5,
                                   lidar_path=name,
                                   lidar2ego=np.eye(4).tolist()),
                 instances=instances))
    infos = dict(metainfo=dict(categories={
        c: i
        for i, c in enumerate(CLASSES)
    },
                               dataset='nuscenes',
                               version='v1.0-trainval',
                               info_version='1.1'),
                 data_list=data_list)
    with open(osp.join(root, 'nuscenes_infos_train.pkl'), 'wb') as f:
        pickle.dump(infos, f)
    return infos, expected


@pytest.fixture(scope='module')
def setup(tmp_path_factory, repo_root):
    init_default_scope('mmdet3d')
    tmp = tmp_path_factory.mktemp('make_pseudo_labels')
    root = str(tmp / 'nuscenes')
    infos, expected = _write_root(root)
    cfgs = {}
    for drop in (None, 2):
        path = tmp / f'cfg_{drop}.py'
        path.write_text(
            CONFIG.replace('{root}', root).replace('{classes}',
                                                   repr(CLASSES)).replace(
                                                       '{drop}', repr(drop)))
        cfgs[drop] = str(path)
    ckpt = str(tmp / 'teacher.pth')
    torch.save(
        {
            'state_dict': {
                'size': torch.tensor([4., 2., 1.5])
            },
            'meta': {}
        }, ckpt)
    tool = load_tool_script(repo_root,
                            'tools/point_detr3d/make_pseudo_labels.py')
    FakePointTeacher3D.calls = 0
    clean = str(tmp / 'clean')
    result = tool.main([cfgs[None], ckpt, '--out-dir', clean])
    yield dict(tmp=tmp,
               root=root,
               infos=infos,
               expected=expected,
               cfgs=cfgs,
               ckpt=ckpt,
               tool=tool,
               clean=clean,
               result=result,
               clean_calls=FakePointTeacher3D.calls)
    init_default_scope('mmweak')


def _outputs(out_dir):
    files = sorted(
        glob.glob(osp.join(out_dir, 'samples', '*')) +
        glob.glob(osp.join(out_dir, 'samples', '.*')))
    out = {osp.relpath(p, out_dir): open(p, 'rb').read() for p in files}
    out['merged'] = open(osp.join(out_dir, 'nuscenes_infos_train_pseudo.pkl'),
                         'rb').read()
    return out


def test_clean_run_merges_pseudo_labels(setup):
    assert setup['clean_calls'] == len(SAMPLES)
    result = setup['result']
    assert result['merge'] == dict(point_samples=3,
                                   box_samples=2,
                                   pseudo_boxes=3,
                                   dropped_points=2,
                                   outside_classes=1,
                                   unused_records=2)
    # the teacher saw 6 points: the valid ones with a class (no -1)
    assert result['summary']['num_boxes'] == 6
    with open(result['out_pkl'], 'rb') as f:
        merged = pickle.load(f)
    infos = setup['infos']
    assert merged['metainfo'] == infos['metainfo']
    for idx, (ann_type, objs) in enumerate(SAMPLES):
        new, old = merged['data_list'][idx], infos['data_list'][idx]
        assert {k: v for k, v in new.items() if k != 'instances'} == \
            {k: v for k, v in old.items() if k != 'instances'}
        if ann_type == 'box':
            assert new == old
            continue
        # valid, with a class
        seen = [(j, o) for j, o in enumerate(objs) if o[2] and o[0] >= 0]
        assert len(new['instances']) == len(seen)
        for inst, (j, (label, point, _)) in zip(new['instances'], seen):
            assert inst['bbox_3d'] == pytest.approx(
                [*point, 4, 2, 1.5, 0.1 * label], abs=1e-5)
            assert inst['point_3d'] == list(point)
            assert inst['bbox_label_3d'] == label
            assert inst['num_lidar_pts'] == setup['expected'][(idx, j)]
            assert inst['score'] == pytest.approx(0.5 + 0.01 * label)
            assert inst['is_pseudo'] and inst['bbox_3d_isvalid']
            assert inst['velocity'] == [0.0, 0.0]
            assert inst['num_radar_pts'] == 0
    assert osp.isfile(osp.join(setup['clean'], 'summary.json'))


def test_resume_skips_done_and_redoes_stale_tmp(setup):
    out = str(setup['tmp'] / 'resumed')
    os.makedirs(osp.join(out, 'samples'))
    for idx in (0, 2):
        shutil.copy(osp.join(setup['clean'], 'samples', f'{idx}.pkl'),
                    osp.join(out, 'samples'))
    # what a crash while writing sample 3 leaves: not taken as done
    open(osp.join(out, 'samples', '.3.pkl.x1y2.tmp.pkl'), 'wb').write(b'ab')
    FakePointTeacher3D.calls = 0
    setup['tool'].main([setup['cfgs'][None], setup['ckpt'], '--out-dir', out])
    assert FakePointTeacher3D.calls == len(SAMPLES) - 2
    assert _outputs(out) == _outputs(setup['clean'])


def test_interrupted_run_resumes_identically(setup, monkeypatch):
    tool, out = setup['tool'], str(setup['tmp'] / 'interrupted')
    write = tool.write_record
    done = []

    def crash_after_two(path, record):
        if len(done) == 2:
            raise KeyboardInterrupt('killed')
        write(path, record)
        done.append(path)

    monkeypatch.setattr(tool, 'write_record', crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        tool.main([setup['cfgs'][None], setup['ckpt'], '--out-dir', out])
    assert len(os.listdir(osp.join(out, 'samples'))) == 2
    assert not osp.exists(osp.join(out, 'nuscenes_infos_train_pseudo.pkl'))
    monkeypatch.setattr(tool, 'write_record', write)
    tool.main([setup['cfgs'][None], setup['ckpt'], '--out-dir', out])
    assert _outputs(out) == _outputs(setup['clean'])


def test_shards_of_two_ranks_give_the_same_output(setup, monkeypatch):
    tool, tmp = setup['tool'], setup['tmp']
    args = [setup['cfgs'][None], setup['ckpt'], '--launcher', 'pytorch']
    for rank in (1, 0):  # both ranks list the work before either writes
        monkeypatch.setattr(tool,
                            'init_offline_dist',
                            lambda launcher, r=rank: (r, 2))
        monkeypatch.setattr(tool, 'is_main_process', lambda r=rank: r == 0)
        FakePointTeacher3D.calls = 0
        if rank == 1:
            assert tool.main(args + ['--out-dir', str(tmp / 'rank1')]) == \
                dict(samples=len(SAMPLES))
        else:  # rank 0 checks that every sample has a record before merging
            with pytest.raises(
                    RuntimeError,
                    match='2 sample.s. have no '
                    r'record after the run, e.g. dataset indices \[1, 3\]'):
                tool.main(args + ['--out-dir', str(tmp / 'rank0')])
        assert FakePointTeacher3D.calls == (3 if rank == 0 else 2)
    for path in glob.glob(str(tmp / 'rank1' / 'samples' / '*.pkl')):
        shutil.copy(path, str(tmp / 'rank0' / 'samples'))
    monkeypatch.undo()
    FakePointTeacher3D.calls = 0
    tool.main(args[:2] + ['--out-dir', str(tmp / 'rank0')])
    assert FakePointTeacher3D.calls == 0
    assert _outputs(str(tmp / 'rank0')) == _outputs(setup['clean'])


def test_merged_pkl_round_trips_through_nuscenes_dataset(setup):
    from mmdet3d.datasets import NuScenesDataset
    dataset = NuScenesDataset(data_root=setup['root'],
                              ann_file=setup['result']['out_pkl'],
                              metainfo=dict(classes=CLASSES),
                              modality=dict(use_lidar=True, use_camera=False),
                              data_prefix=dict(pts='samples/LIDAR_TOP'),
                              use_valid_flag=True,
                              filter_empty_gt=False,
                              test_mode=False,
                              pipeline=[
                                  dict(type='LoadAnnotations3D',
                                       with_bbox_3d=True,
                                       with_label_3d=True)
                              ])
    with open(setup['result']['out_pkl'], 'rb') as f:
        merged = pickle.load(f)
    assert len(dataset) == len(SAMPLES)
    for idx in range(len(dataset)):
        results = dataset[idx]
        insts = merged['data_list'][idx]['instances']
        boxes = results['gt_bboxes_3d']
        assert isinstance(boxes, LiDARInstance3DBoxes)
        expect = np.array([i['bbox_3d'] for i in insts], np.float32)
        got = torch.cat([boxes.gravity_center, boxes.tensor[:, 3:7]], 1)
        np.testing.assert_allclose(got.numpy(),
                                   expect.reshape(-1, 7),
                                   atol=1e-5)
        assert results['gt_labels_3d'].tolist() == \
            [i['bbox_label_3d'] for i in insts]


def test_errors_name_the_sample(setup):
    tool, tmp = setup['tool'], setup['tmp']
    with pytest.raises(ValueError,
                       match='sample 2: the teacher returned 0 '
                       'boxes for 1 annotated points'):
        tool.main(
            [setup['cfgs'][2], setup['ckpt'], '--out-dir',
             str(tmp / 'drop')])
    # a train pkl whose point-only sample has one more point than was seen
    infos = pickle.load(
        open(osp.join(setup['root'], 'nuscenes_infos_train.pkl'), 'rb'))
    extra = dict(infos['data_list'][1]['instances'][0], point_3d=[1., 1., 1.])
    infos['data_list'][1]['instances'].append(extra)
    bad_pkl = str(tmp / 'bad_train.pkl')
    pickle.dump(infos, open(bad_pkl, 'wb'))
    out = str(tmp / 'bad')
    shutil.copytree(osp.join(setup['clean'], 'samples'),
                    osp.join(out, 'samples'))
    with pytest.raises(ValueError,
                       match='sample_idx=1, token=token1: 2 '
                       'pseudo boxes for 3 annotated points'):
        tool.main([
            setup['cfgs'][None], setup['ckpt'], '--out-dir', out,
            '--train-pkl', bad_pkl
        ])
    with pytest.raises(KeyError, match='pseudo_label_dataloader'):
        tool.pseudo_loader_cfg(
            type('C', (), dict(get=lambda self, k: None, filename='x.py'))())
