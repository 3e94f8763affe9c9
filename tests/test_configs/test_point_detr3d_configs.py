# Copyright (c) mmweak contributors.
"""The Point-DETR3D configs (configs/point_detr3d/, Point-DETR3D, AAAI 2024,
arXiv 2403.15317): every model config builds its model, loads a synthetic
nuScenes (v1.0-mini tables, LIDAR_TOP .bin, camera JPEGs, mmdet3d v2 pkls,
the 2%, 5% and 10% point splits and the students' merged pseudo-label pkls)
through its own train, val and pseudo-labelling pipelines; the embedded-set
(``*_synthetic-nus-*``) configs run a training step, predict and are scored
by their own NuScenesMetric; the real-size ones voxelise a training batch
with their data preprocessor (the pillar-0.2 teachers, the camera one
included, predict at 512 x 512; the voxel-0.1 configs, whose SparseEncoder
has no CPU kernels, run their voxel encoder and are compared with mmdet3d's
own CenterPoint voxel-0.1 model). The teachers' LiDAR branches have the
names and shapes of their box configs' (what fuse_checkpoints.py
transfers).

The runner configs ``pipeline_*.py`` are not mmengine model configs: they
are tested by tests/test_tools/test_run_point_detr3d_pipeline.py."""
import copy
import glob
import importlib
import os
import os.path as osp
import re
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip('mmdet3d')

from mmdet3d.models.detectors import CenterPoint  # noqa: E402
from mmdet3d.registry import DATASETS, METRICS, MODELS  # noqa: E402
from mmdet3d.structures import LiDARInstance3DBoxes  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dataset import pseudo_collate  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

from mmweak.testing import load_tool_script, make_nuscenes_root  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(ROOT, 'configs', 'point_detr3d')
ALL = sorted(osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, '*.py')))
# runner configs of tools/point_detr3d/run_pipeline.py: their own test
RUNNER_CONFIGS = [c for c in ALL if c.startswith('pipeline_')]
RUNNER_TEST = 'tests/test_tools/test_run_point_detr3d_pipeline.py'
MODEL_CONFIGS = [c for c in ALL if c not in RUNNER_CONFIGS]
SYNTHETIC = [c for c in MODEL_CONFIGS if '_synthetic-nus-' in c]
REAL = [c for c in MODEL_CONFIGS if c not in SYNTHETIC]
# CenterPoint voxel 0.1 (SparseEncoder: GPU only) and pillar 0.2
VOXEL = [c for c in REAL if '_voxel01_' in c]
PILLAR = [c for c in REAL if c not in VOXEL]
RATIOS = {'r02': 0.02, 'r05': 0.05, 'r10': 0.1}
# (box config of step 1, teacher config whose LiDAR branch it initialises)
TEACHER_PAIRS = [
    ('centerpoint_pillar02_nus-r05-box.py',
     'point-detr3d_pillar02_nus-r05.py'),
    ('centerpoint_pillar02_nus-r02-box.py',
     'point-detr3d_pillar02_nus-r02.py'),
    ('centerpoint_pillar02_nus-r10-box.py',
     'point-detr3d_pillar02_nus-r10.py'),
    ('centerpoint_pillar02_nus-r05-box.py',
     'point-detr3d_pillar02-cam_nus-r05.py'),
    ('centerpoint_voxel01_nus-r05-box.py', 'point-detr3d_voxel01_nus-r05.py'),
    ('centerpoint_voxel01_nus-r02-box.py', 'point-detr3d_voxel01_nus-r02.py'),
    ('centerpoint_voxel01_nus-r10-box.py', 'point-detr3d_voxel01_nus-r10.py'),
    ('centerpoint_pillar02_synthetic-nus-r05-box.py',
     'point-detr3d_pillar02_synthetic-nus-r05.py'),
]
# mmdet3d's own CenterPoint voxel-0.1 model (installed with the package)
MMDET3D_VOXEL01 = ('.mim/configs/_base_/models/'
                   'centerpoint_voxel01_second_secfpn_nus.py')
# camera images of the fixture (width, height): small, so that the camera
# teacher's ResNet-50 runs in a second
IMAGE_SIZE = (128, 72)
NUM_CAMS = 6
# v1.0-mini scenes of the fixture (mini_train, mini_train, mini_val)
TRAIN_SCENES = ('scene-0061', 'scene-0553')
VAL_SCENES = ('scene-0103', )
LOADER_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader',
               'pseudo_label_dataloader')
EVALUATOR_KEYS = ('val_evaluator', 'test_evaluator')
METRIC_KEYS = ('pred_instances_3d_NuScenes/mAP',
               'pred_instances_3d_NuScenes/NDS')


def _kind(name: str) -> str:
    if name.startswith('point-detr3d'):
        return 'teacher'
    if name.startswith('centerpoint-twoview'):
        return 'student'
    return 'box'


def _ratio(name: str):
    """The split tag of a config (``r05``), None for the full-data ones."""
    found = re.search(r'-(r\d\d)[-.]', name)
    return found.group(1) if found else None


def _camera(name: str) -> bool:
    return '-cam_' in name


def _pseudo_dir(name: str) -> str:
    """The folder of a student's merged pkl (the voxel students write
    their own, next to the pillar ones)."""
    lidar = 'voxel01_' if '_voxel01_' in name else ''
    return f'pseudo_{lidar}{_ratio(name)}'


# ------------------------------------------------------------------ fixture


@pytest.fixture(scope='module')
def nus(tmp_path_factory) -> dict:
    """One synthetic nuScenes for the module: two train scenes and a val
    scene of one keyframe each, with small camera images (1 labelled and 1
    point-only train sample at ratios 0.02, 0.05 and 0.1, so the configs'
    ``r02`` / ``r05`` / ``r10`` file names; a single val sample keeps the
    CPU NMS and the devkit evaluation short), the GT database, the splits of
    make_point_split.py and the students' merged pkl, whose pseudo boxes are
    the point-only sample's GT boxes (a perfect teacher's, made with the
    pseudo-label module's record and merge functions), in the folder of
    every student config (the same samples at every ratio here)."""
    from mmweak.datasets.pseudo_labels_3d import (count_points_in_boxes,
                                                  load_lidar_xyz, load_pickle,
                                                  merge_pseudo_label_files,
                                                  pseudo_instances)
    out = make_nuscenes_root(tmp_path_factory.mktemp('p3d_nus'),
                             num_samples_per_scene=1,
                             scenes=TRAIN_SCENES + VAL_SCENES,
                             with_camera=True,
                             image_size=IMAGE_SIZE)
    data_root = out['data_root']
    split = load_tool_script(ROOT, 'tools/point_detr3d/make_point_split.py')
    splits = {}
    for tag, ratio in RATIOS.items():
        splits[tag] = split.main([
            out['train_pkl'], '--ratio',
            str(ratio), '--dbinfos', out['dbinfos'], '--out-dir', data_root
        ])
        assert osp.basename(splits[tag]['labelled']) == \
            f'nuscenes_infos_train_{tag}_labelled.pkl'
        assert osp.basename(splits[tag]['point']) == \
            f'nuscenes_infos_train_{tag}_point.pkl'
        assert osp.basename(splits[tag]['dbinfos']) == \
            f'nuscenes_dbinfos_train_{tag}_labelled.pkl'
    files = splits['r05']

    # one record per point-only sample: the GT boxes in the points' order
    gt = {i['token']: i for i in load_pickle(out['train_pkl'])['data_list']}
    point_infos = load_pickle(files['point'])['data_list']
    assert point_infos, 'the split must leave a point-only sample'
    records = {}
    for info in point_infos:
        insts = [
            inst for inst in gt[info['token']]['instances']
            if inst.get('bbox_3d_isvalid', True)
        ]
        points = [
            inst['point_3d'] for inst in info['instances']
            if inst.get('bbox_3d_isvalid', True)
        ]
        assert len(points) == len(insts)
        boxes = LiDARInstance3DBoxes(np.array([i['bbox_3d'] for i in insts],
                                              dtype=np.float32),
                                     origin=(0.5, 0.5, 0.5))
        lidar = osp.join(data_root, 'samples', 'LIDAR_TOP',
                         info['lidar_points']['lidar_path'])
        counts = count_points_in_boxes(load_lidar_xyz(lidar),
                                       boxes.tensor.numpy())
        records[info['sample_idx']] = dict(
            sample_idx=info['sample_idx'],
            lidar_path=lidar,
            instances=pseudo_instances(boxes, np.ones(len(insts)),
                                       [i['bbox_label_3d'] for i in insts],
                                       counts, points))
    pseudo = osp.join(data_root, 'pseudo_r05',
                      'nuscenes_infos_train_pseudo.pkl')
    stats = merge_pseudo_label_files(None, [files['labelled'], files['point']],
                                     pseudo,
                                     point_only_pkl=files['point'],
                                     records=records)
    assert stats['point_samples'] == len(point_infos)
    assert stats['box_samples'] >= 1
    # the other students' folders: the same labelled / point-only samples
    for tag in RATIOS:
        assert [
            i['token'] for i in load_pickle(splits[tag]['point'])['data_list']
        ] == [i['token'] for i in point_infos]
    for name in REAL:
        if _kind(name) == 'student' and _pseudo_dir(name) != 'pseudo_r05':
            os.makedirs(osp.join(data_root, _pseudo_dir(name)), exist_ok=True)
            shutil.copy(pseudo, osp.join(data_root, _pseudo_dir(name)))
    return dict(out,
                data_root=data_root,
                files=files,
                splits=splits,
                pseudo=pseudo,
                num_point_samples=len(point_infos),
                num_val=len(load_pickle(out['val_pkl'])['data_list']))


# --------------------------------------------------------------- retargeting


def _retarget(node, data_root: str) -> None:
    """Point every dataset, GT-paste database and evaluator below ``node``
    at ``data_root`` (in place): nested wrappers (CBGSDataset),
    ``mmdet.MultiBranch`` branches and ``ObjectSample.db_sampler`` inside
    pipelines are reached by walking every dict and list. Datasets read the
    v1.0-mini tables; the 10-sweep loader does not pad the missing sweeps
    with copies of the keyframe (the fixture has no sweeps)."""
    if isinstance(node, dict):
        kind = str(node.get('type', '')).split('.')[-1]
        if kind.endswith('NuScenesDataset'):
            node['data_root'] = data_root
            node['metainfo'] = dict(node.get('metainfo') or {},
                                    version='v1.0-mini')
        elif kind.endswith('NuScenesMetric'):
            node['data_root'] = data_root
            node['ann_file'] = osp.join(data_root,
                                        osp.basename(node['ann_file']))
        elif kind == 'LoadPointsFromMultiSweeps':
            node['pad_empty_sweeps'] = False
        if 'info_path' in node:  # a DataBaseSampler (GT paste)
            node['data_root'] = data_root
            node['info_path'] = osp.join(data_root,
                                         osp.basename(node['info_path']))
        for value in node.values():
            _retarget(value, data_root)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _retarget(value, data_root)


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _strings(value)


def _load(name: str, data_root: str) -> Config:
    """The config with its data sections pointed at the fixture, the
    mmdet3d scope and its ``custom_imports`` imported."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    assert cfg.default_scope == 'mmdet3d'
    assert not cfg.custom_imports.get('allow_failed_imports', False)
    init_default_scope(cfg.default_scope)
    for module in cfg.custom_imports.imports:
        importlib.import_module(module)
    for key in LOADER_KEYS + EVALUATOR_KEYS:
        if key in cfg:
            section = cfg[key].to_dict()
            _retarget(section, data_root)
            # nothing left pointing at the real data
            left = [s for s in _strings(section) if s.startswith('data/')]
            assert not left, (name, key, left)
            cfg[key] = section
    return cfg


def _dataset(cfg: Config, key: str):
    return DATASETS.build(copy.deepcopy(cfg[key]['dataset']))


def _items(dataset, n: int = 2) -> list:
    return [dataset[i % len(dataset)] for i in range(n)]


def _base(dataset):
    """The NuScenesDataset below wrappers (CBGSDataset)."""
    while hasattr(dataset, 'dataset'):
        dataset = dataset.dataset
    return dataset


# --------------------------------------------------------------- assertions


def _check_boxes(sample) -> None:
    gt = sample.gt_instances_3d
    assert isinstance(gt.bboxes_3d, LiDARInstance3DBoxes)
    assert len(gt.bboxes_3d) == len(gt.labels_3d) > 0
    assert gt.bboxes_3d.tensor.shape[1] == 9  # + velocity, as nuScenes
    labels = gt.labels_3d
    assert int(labels.min()) >= 0 and int(labels.max()) < 10


def _check_points(inputs) -> None:
    points = inputs['points']
    assert points.ndim == 2 and points.shape[1] == 5 and len(points) > 100
    assert torch.isfinite(points).all()


def _check_point_annotations(sample, with_boxes: bool) -> None:
    gt = sample.gt_instances_3d
    assert gt.points_3d.shape == (len(gt.labels_3d), 3)
    assert len(gt.labels_3d) > 0
    if with_boxes:
        assert len(gt.bboxes_3d) == len(gt.points_3d)


def _check_images(inputs, sample) -> None:
    """The 6 camera images (BGR, float) and their camera matrices: one
    ``cam2img`` / ``lidar2cam`` per view (the D-RoI head composes them);
    no single ``lidar2img`` of a default camera."""
    imgs = inputs['img']
    width, height = IMAGE_SIZE
    assert tuple(imgs.shape) == (NUM_CAMS, 3, height, width)
    assert imgs.dtype == torch.float32 and float(imgs.max()) > 0
    meta = sample.metainfo
    assert len(meta['cam2img']) == len(meta['lidar2cam']) == NUM_CAMS
    assert 'lidar2img' not in meta


def _check_train_item(kind: str, item: dict, camera: bool = False) -> None:
    if kind == 'student':
        # the two views of mmdet.MultiBranch, same sample
        assert set(item['inputs']) == set(
            item['data_samples']) == {'strong', 'weak'}
        strong, weak = item['data_samples']['strong'], \
            item['data_samples']['weak']
        assert strong.sample_idx == weak.sample_idx
        for branch in ('strong', 'weak'):
            _check_points(item['inputs'][branch])
        _check_boxes(strong)
        # the weak view packs the annotated points for the consistency masks
        _check_point_annotations(weak, with_boxes=True)
        assert weak.metainfo['ann_type'] in ('box', 'point')
        assert 'transformation_3d_flow' in strong.metainfo
        return
    _check_points(item['inputs'])
    _check_boxes(item['data_samples'])
    if kind == 'teacher':
        _check_point_annotations(item['data_samples'], with_boxes=True)
    if camera:
        _check_images(item['inputs'], item['data_samples'])
        # the cameras' matrices hold: no global rotation / scaling / flip
        assert 'pcd_rotation' not in item['data_samples'].metainfo
    else:
        assert 'img' not in item['inputs']


def _check_test_item(kind: str, item: dict, camera: bool = False) -> None:
    _check_points(item['inputs'])
    if camera:
        _check_images(item['inputs'], item['data_samples'])
    if kind == 'teacher':  # points simulated from the val GT boxes
        sample = item['data_samples']
        _check_point_annotations(sample, with_boxes=False)
        assert len(sample.gt_instances_3d.points_3d) == len(
            sample.eval_ann_info['gt_labels_3d'])


# -------------------------------------------------------------------- tests


def test_configs_are_found():
    expected = {
        'centerpoint_pillar02_nus-r05-box.py',
        'point-detr3d_pillar02_nus-r05.py',
        'centerpoint-twoview_pillar02_nus-r05-pseudo.py',
        'centerpoint_pillar02_nus-full.py',
    }
    assert expected <= set(REAL)
    # the other ratios (pillar 0.2), the voxel-0.1 setting and the camera
    # teacher, with their runner configs
    assert {
        f'{prefix}{lidar}_nus-{tag}{suffix}.py'
        for tag in ('r02', 'r05', 'r10') for lidar in ('pillar02', 'voxel01')
        for prefix, suffix in (('centerpoint_', '-box'),
                               ('point-detr3d_', ''),
                               ('centerpoint-twoview_', '-pseudo'))
    } | {
        'centerpoint_voxel01_nus-full.py',
        'point-detr3d_pillar02-cam_nus-r05.py',
    } <= set(REAL)
    assert {
        f'pipeline_{lidar}_nus-{tag}.py'
        for tag in ('r02', 'r05', 'r10') for lidar in ('pillar02', 'voxel01')
    } | {'pipeline_pillar02-cam_nus-r05.py'} <= set(RUNNER_CONFIGS)
    # each real-size config has its embedded-set variant
    assert {n.replace('_nus-', '_synthetic-nus-')
            for n in expected} <= set(SYNTHETIC)
    # and each embedded-set config its real-size original
    assert {n.replace('_synthetic-nus-', '_nus-')
            for n in SYNTHETIC} <= set(REAL)


@pytest.mark.parametrize('name', RUNNER_CONFIGS)
def test_runner_configs_are_left_to_their_own_test(name):
    """``pipeline_*.py`` are runner configs (stage list), skipped here on
    purpose: not model configs, run by their own test, and naming stage
    configs that this module drives."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    assert 'model' not in cfg  # not an mmengine model config
    assert osp.isfile(osp.join(ROOT, RUNNER_TEST))
    for stage in ('lidar_pretrain', 'teacher', 'student', 'full'):
        if stage == 'full' and cfg.get('full') is None:
            continue
        assert cfg[stage]['config'] in [
            'configs/point_detr3d/' + c for c in MODEL_CONFIGS
        ], (name, stage)


@pytest.mark.parametrize(
    'name', [c for c in RUNNER_CONFIGS if '_synthetic-nus-' not in c])
def test_nuscenes_runner_configs_match_their_stages(name):
    """The nuScenes runner configs: the split ratio is the one of the
    name and of every stage config (whose split files the runner replaces
    by its own), the LiDAR setting (pillar / voxel) is the name's, and the
    camera teacher's pipeline names the FCOS3D checkpoint it needs."""
    from mmweak.datasets.point_split_3d import ratio_tag
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    assert cfg.data_root == 'data/nuscenes' and 'generate' not in cfg
    tag = ratio_tag(cfg.split.ratio)
    assert _ratio(name) == tag
    lidar = '_voxel01_' if '_voxel01_' in name else '_pillar02'
    for stage in ('lidar_pretrain', 'teacher', 'student', 'full'):
        stage_name = osp.basename(cfg[stage].config)
        assert lidar in stage_name, (stage, stage_name)
        assert _ratio(stage_name) == (None if stage == 'full' else tag)
    assert _camera(osp.basename(cfg.teacher.config)) is _camera(name)
    image = cfg.fuse.image_checkpoint
    if _camera(name):
        # required: a path (a missing file stops the fuse stage)
        assert isinstance(image, str) and image.endswith('.pth')
        teacher = Config.fromfile(osp.join(ROOT, cfg.teacher.config))
        assert 'img_backbone' in teacher.model
        # the fused initialisation, explicit in the teacher config
        assert teacher.load_from.endswith('fused_init.pth')
    else:
        assert image is None


def _check_data(name: str, cfg: Config, nus: dict) -> dict:
    """Train / val / pseudo-label items through the config's own pipelines,
    with the packed fields the model reads; returns the datasets."""
    kind, tag, camera = _kind(name), _ratio(name), _camera(name)
    files = nus['splits'][tag] if tag else None
    train = _dataset(cfg, 'train_dataloader')
    base = _base(train)
    if kind == 'student':
        assert base.ann_file == osp.join(nus['data_root'], _pseudo_dir(name),
                                         osp.basename(nus['pseudo']))
        # Det3DDataset's empty-GT filter reads
        # data_samples.gt_instances_3d, which mmdet.MultiBranch packs per
        # branch ({'strong': ..., 'weak': ...}): AttributeError on the
        # first item unless the config turns the filter off
        assert base.filter_empty_gt is False, (
            f'{name}: set filter_empty_gt=False in '
            'train_dataloader.dataset.dataset (two-view items)')
        # both kinds of samples, each through the two-view pipeline
        types = []
        for i in range(len(base)):
            item = base[i]
            _check_train_item(kind, item)
            weak = item['data_samples']['weak']
            types.append(weak.metainfo['ann_type'])
            if types[-1] == 'point':  # pseudo boxes: one per point
                assert len(weak.gt_instances_3d.bboxes_3d) == len(
                    weak.gt_instances_3d.points_3d)
        assert sorted(set(types)) == ['box', 'point']
    else:
        expected = files['labelled'] if tag else nus['train_pkl']
        assert base.ann_file == expected
        for item in _items(train):
            _check_train_item(kind, item, camera)
    # GT paste from the labelled samples only (r05), or from all
    paste = [
        t for t in base.pipeline.transforms
        if type(t).__name__ == 'ObjectSample'
    ]
    if kind == 'student':
        branches = base.pipeline.transforms[-1].branch_pipelines
        paste = [
            t for t in branches['strong'].transforms
            if type(t).__name__ == 'ObjectSample'
        ]
    assert len(paste) == 1
    assert paste[0].db_sampler.info_path == (files['dbinfos']
                                             if tag else nus['dbinfos'])

    val = _dataset(cfg, 'val_dataloader')
    assert len(val) == nus['num_val']
    for item in _items(val, 1):
        _check_test_item(kind, item, camera)

    if kind == 'teacher':
        pseudo = _dataset(cfg, 'pseudo_label_dataloader')
        assert pseudo.ann_file == files['point']
        assert len(pseudo) == nus['num_point_samples']
        item = pseudo[0]
        _check_points(item['inputs'])
        if camera:
            _check_images(item['inputs'], item['data_samples'])
        sample = item['data_samples']
        _check_point_annotations(sample, with_boxes=False)
        assert sample.metainfo['ann_type'] == 'point'
        # every stored point of the sample, in order
        info = pseudo.get_data_info(0)
        stored = np.array([i['point_3d'] for i in info['instances']])
        assert np.allclose(sample.gt_instances_3d.points_3d.numpy(),
                           stored,
                           atol=1e-4)
    else:
        assert 'pseudo_label_dataloader' not in cfg
    return dict(train=train, val=val)


def _build(name: str, cfg: Config):
    model = MODELS.build(cfg.model)
    kind = _kind(name)
    if kind == 'teacher':
        assert type(model).__name__ == 'PointDETR3D'
        # the camera branch only in the camera teacher
        assert model.with_img_backbone is _camera(name)
        assert model.with_img_neck is _camera(name)
        assert [
            layer.cross_attn.with_camera
            for layer in model.pts_bbox_head.layers
        ] == [_camera(name)] * len(model.pts_bbox_head.layers)
    else:
        # CenterPoint; the student with the two-view consistency loss, the
        # box configs without it (plain or TwoViewCenterPoint)
        assert isinstance(model, CenterPoint)
        assert getattr(model, 'consistency', False) is (kind == 'student')
    return model


def _sweeps(dataset) -> list:
    return [
        t for t in _base(dataset).pipeline.transforms
        if type(t).__name__ == 'LoadPointsFromMultiSweeps'
    ]


def _voxelise(name: str, model, dataset) -> list:
    """A training batch of 2 through the model's data preprocessor: the
    voxels of each view (both samples present)."""
    batch = pseudo_collate(_items(dataset))
    data = model.data_preprocessor(batch, True)
    views = [data['inputs']] if _kind(name) != 'student' else \
        [data['inputs'][b] for b in ('strong', 'weak')]
    for inputs in views:
        voxels = inputs['voxels']
        assert len(voxels['voxels']) == len(voxels['coors']) == len(
            voxels['num_points']) > 0
        assert set(voxels['coors'][:, 0].tolist()) == {0, 1}
    return [inputs['voxels'] for inputs in views]


@pytest.mark.parametrize('name', PILLAR)
def test_real_size_config_builds_loads_and_voxelises(name, nus):
    """The real-size (pillar 0.2, 512 x 512, 10-sweep) configs of every
    ratio: the model builds, the data goes through the config's pipelines,
    the data preprocessor voxelises a training batch onto the 512 x 512
    grid, and the teachers predict one box per point at this size, the
    camera teacher through its 6 cameras (training at this size is left to
    the embedded-set configs, which run the same code on a 256 x 256
    grid)."""
    cfg = _load(name, nus['data_root'])
    model = _build(name, cfg)
    datasets = _check_data(name, cfg, nus)
    assert list(cfg.model.pts_voxel_encoder.voxel_size)[:2] == [0.2, 0.2]
    assert tuple(cfg.model.pts_middle_encoder.output_shape) == (512, 512)
    sweeps = [
        t for t in _base(datasets['train']).pipeline.transforms
        if type(t).__name__ == 'LoadPointsFromMultiSweeps'
    ]
    assert len(sweeps) == 1 and sweeps[0].sweeps_num == 9
    for voxels in _voxelise(name, model, datasets['train']):
        # (batch, z, y, x) on the 512 x 512 pillar grid
        coors = voxels['coors']
        assert int(coors[:, 2:].min()) >= 0 and int(coors[:, 2:].max()) < 512
        assert int(voxels['num_points'].max()) <= 20
    if _kind(name) == 'teacher' and (_ratio(name) == 'r05' or _camera(name)):
        # the DETR head on the 512 x 512 BEV map (about 2 s on one core;
        # CenterPoint at this size takes about 4 s per forward and runs the
        # code of the embedded-set configs; the other ratios' teachers
        # differ from r05 in their data only)
        model.eval()
        with torch.no_grad():
            data = model.data_preprocessor(
                pseudo_collate([datasets['val'][0]]), False)
            if _camera(name):
                # (B, V, 3, H, W), padded to a multiple of 32
                assert tuple(data['inputs']['imgs'].shape) == (1, NUM_CAMS, 3,
                                                               96, 128)
                cam = model.pts_bbox_head.camera_inputs(
                    model.extract_img_feat(data['inputs']['imgs'], None),
                    data['data_samples'])
                assert len(cam['img_feats']) == 4
                assert tuple(cam['lidar2img'].shape) == (1, NUM_CAMS, 4, 4)
            outputs = model(**data, mode='predict')
        pred = outputs[0].pred_instances_3d
        gt = outputs[0].gt_instances_3d
        assert len(pred.bboxes_3d) == len(gt.points_3d) > 0
        assert torch.equal(pred.labels_3d.cpu(), gt.labels_3d.cpu())


@pytest.mark.parametrize('name', VOXEL)
def test_voxel_config_builds_loads_and_voxelises(name, nus):
    """The CenterPoint voxel-0.1 configs (GPU only: mmcv's sparse
    convolution has no CPU kernels): the model builds with the LiDAR branch
    of mmdet3d's own centerpoint_voxel01_second_secfpn_nus.py (same module
    names and shapes), the data goes through the config's pipelines (10
    sweeps), the data preprocessor voxelises a training batch onto the
    41 x 1024 x 1024 grid (at most 10 points per voxel) and the
    HardSimpleVFE encodes it; the sparse encoder's forward is left to
    GPUs."""
    cfg = _load(name, nus['data_root'])
    model = _build(name, cfg)
    datasets = _check_data(name, cfg, nus)
    assert list(
        cfg.model.data_preprocessor.get(
            'data_preprocessor',
            cfg.model.data_preprocessor).voxel_layer.voxel_size) == [
                0.1, 0.1, 0.2
            ]
    assert [
        type(getattr(model, m)).__name__
        for m in ('pts_voxel_encoder', 'pts_middle_encoder', 'pts_backbone',
                  'pts_neck')
    ] == ['HardSimpleVFE', 'SparseEncoder', 'SECOND', 'SECONDFPN']
    sweeps = _sweeps(datasets['train'])
    assert len(sweeps) == 1 and sweeps[0].sweeps_num == 9

    # the LiDAR branch of mmdet3d's voxel-0.1 CenterPoint
    import mmdet3d
    reference = Config.fromfile(
        osp.join(osp.dirname(mmdet3d.__file__), MMDET3D_VOXEL01)).model
    for module in ('pts_voxel_encoder', 'pts_middle_encoder', 'pts_backbone',
                   'pts_neck'):
        assert cfg.model[module] == reference[module], module
        shapes = [{
            k: tuple(v.shape)
            for k, v in m.state_dict().items()
        } for m in (getattr(model, module), MODELS.build(reference[module]))]
        # (HardSimpleVFE has no weights)
        assert shapes[0] == shapes[1], module
        assert shapes[0] or module == 'pts_voxel_encoder'
    if _kind(name) != 'teacher':
        # CenterPoint's targets and decoding on the 128 x 128 map
        head = model.pts_bbox_head
        assert head.train_cfg['grid_size'] == [1024, 1024, 40]
        assert head.train_cfg['out_size_factor'] == 8
        assert head.bbox_coder.out_size_factor == 8
        assert list(head.bbox_coder.voxel_size) == [0.1, 0.1]
    if _kind(name) == 'student':
        loss = model.loss_consistency
        assert list(loss.voxel_size)[:2] == [0.1, 0.1]
        assert loss.out_size_factor == 8

    for voxels in _voxelise(name, model, datasets['train']):
        coors = voxels['coors']
        # (batch, z, y, x) on the 41 x 1024 x 1024 grid
        assert int(coors[:, 1:].min()) >= 0
        assert int(coors[:, 1].max()) < 41 and int(coors[:, 2:].max()) < 1024
        assert int(voxels['num_points'].max()) <= 10
        feats = model.pts_voxel_encoder(voxels['voxels'], voxels['num_points'],
                                        coors)
        assert feats.shape == (len(coors), 5) and torch.isfinite(feats).all()


@pytest.mark.parametrize('name', SYNTHETIC)
def test_synthetic_config_trains_predicts_and_scores(name, nus):
    """The embedded-set configs: the model builds, the data goes through
    the config's pipelines, one training step with the config's optim
    wrapper changes the weights, the val set is predicted and scored by
    the config's NuScenesMetric (about 0 mAP with random weights; the
    teacher boxes the simulated points with class-mean boxes)."""
    cfg = _load(name, nus['data_root'])
    kind = _kind(name)
    model = _build(name, cfg)
    model.init_weights()
    datasets = _check_data(name, cfg, nus)
    # the CPU size of configs/_base_/datasets/synthetic-nus-3d_cpu.py
    grid = list(cfg.syn_grid)
    assert list(cfg.model.pts_voxel_encoder.voxel_size) == cfg.syn_voxel_size
    assert list(cfg.model.pts_middle_encoder.output_shape) == grid
    canvas = torch.zeros(1, cfg.model.pts_backbone.in_channels, *grid)
    with torch.no_grad():
        bev = model.pts_neck(model.pts_backbone(canvas))[0]
    if kind != 'teacher':  # the heads' stride is the BEV map's
        osf = cfg.syn_out_size_factor
        assert [s * osf for s in bev.shape[-2:]] == grid
        assert cfg.model.train_cfg.pts.out_size_factor == osf
        assert cfg.model.test_cfg.pts.out_size_factor == osf
        assert cfg.model.pts_bbox_head.bbox_coder.out_size_factor == osf
        if kind == 'student':
            assert cfg.model.loss_consistency.out_size_factor == osf
    assert not [
        t for t in _base(datasets['train']).pipeline.transforms
        if type(t).__name__ == 'LoadPointsFromMultiSweeps'
    ]

    batch = pseudo_collate(_items(datasets['train'], 2))
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    log_vars = model.train_step(batch, optim_wrapper)
    assert torch.isfinite(log_vars['loss'])
    if kind == 'student':
        assert torch.isfinite(log_vars['loss_consistency'])
    changed = [
        k for k, v in model.state_dict().items()
        if v.is_floating_point() and not torch.equal(v, before[k])
    ]
    assert changed, 'the optimizer step changed no weight'

    val = datasets['val']
    batch = pseudo_collate([val[i] for i in range(len(val))])
    model.eval()
    with torch.no_grad():
        outputs = model.val_step(batch)
    assert len(outputs) == len(val)
    for sample in outputs:
        pred = sample.pred_instances_3d
        assert isinstance(pred.bboxes_3d, LiDARInstance3DBoxes)
        assert len(pred.bboxes_3d) == len(pred.scores_3d) == len(
            pred.labels_3d)
        if kind == 'teacher':  # one box per annotated point, its class
            gt = sample.gt_instances_3d
            assert len(pred.bboxes_3d) == len(gt.points_3d)
            assert torch.equal(pred.labels_3d.cpu(), gt.labels_3d.cpu())

    metric = METRICS.build(cfg.val_evaluator)
    metric.dataset_meta = val.metainfo
    assert metric.dataset_meta['version'] == 'v1.0-mini'
    metric.process(batch, [s.to_dict() for s in outputs])
    results = metric.compute_metrics(metric.results)
    for key in METRIC_KEYS:
        assert key in results, (key, sorted(results))
        assert 0 <= results[key] <= 1


@pytest.mark.parametrize('box, teacher', TEACHER_PAIRS)
def test_teacher_lidar_branch_matches_box_config(box, teacher, nus):
    """fuse_checkpoints.py copies the box detector's ``pts_*`` tensors but
    ``pts_bbox_head.*`` into the teacher: same names, same shapes."""

    def lidar_branch(name):
        cfg = _load(name, nus['data_root'])
        model = MODELS.build(cfg.model)
        return {
            k: tuple(v.shape)
            for k, v in model.state_dict().items()
            if k.startswith('pts_') and not k.startswith('pts_bbox_head.')
        }

    box_branch, teacher_branch = lidar_branch(box), lidar_branch(teacher)
    assert box_branch
    assert box_branch == teacher_branch
