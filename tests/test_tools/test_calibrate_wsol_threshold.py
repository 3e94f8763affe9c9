# Copyright (c) mmweak contributors.
"""tools/analysis_tools/calibrate_wsol_threshold.py: tau chosen on `val`,
reused by tools/test.py through ``test_evaluator.thr_file``."""
import argparse
import json
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config

from mmweak.registry import MODELS
from mmweak.testing import load_tool_script

CAM = 'configs/cam/cam_resnet50_synthetic.py'
EIGENCAM = 'configs/eigencam/eigencam_resnet50_synthetic.py'
ROWS = [
    CAM, EIGENCAM, 'configs/bas/bas_resnet50_synthetic.py',
    'configs/sat/cam_deit-tiny_synthetic.py',
    'configs/sat/sat_deit-tiny_synthetic.py'
]
DATA = [
    'val_dataloader.dataset.num_samples=4',
    'test_dataloader.dataset.num_samples=4', 'val_dataloader.batch_size=4',
    'test_dataloader.batch_size=4', 'default_hooks.logger.interval=1'
]
SMALL_CAM = ['model.backbone.depth=18', 'model.head.in_channels=128']
SMALL_EIGENCAM = [
    'model.classifier.backbone.depth=18',
    'model.classifier.head.in_channels=128'
]


@pytest.fixture(scope='module')
def tool(repo_root):
    return load_tool_script(
        repo_root, 'tools/analysis_tools/calibrate_wsol_threshold.py')


@pytest.fixture(scope='module')
def test_tool(repo_root):
    return load_tool_script(repo_root, 'tools/test.py')


@pytest.fixture(scope='module')
def cam_checkpoint(repo_root, tmp_path_factory):
    """A randomly initialised small CAM network, saved like a training."""
    cfg = Config.fromfile(osp.join(repo_root, CAM))
    cfg.model.backbone.depth = 18  # as SMALL_CAM
    cfg.model.head.in_channels = 128
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    path = tmp_path_factory.mktemp('ckpt') / 'cam.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, str(path))
    return str(path)


def _args(config, out='thr.json', options=()):
    return argparse.Namespace(
        config=config,
        checkpoint='ckpt.pth',
        out=out,
        work_dir=None,
        cfg_options=dict(o.split('=', 1) for o in options) or None,
        launcher='none')


@pytest.mark.parametrize('config', ROWS)
def test_every_row_calibrates_on_its_val_split(tool, repo_root, config):
    cfg = tool.prepare_cfg(Config.fromfile(osp.join(repo_root, config)),
                           _args(config))
    metric = cfg.val_evaluator
    assert metric.thr_out == 'thr.json'
    assert metric.calib_info['split'] == 'val'
    assert metric.calib_info['dataset'] == 'SyntheticWSOL'
    assert metric.calib_info['checkpoint'] == 'ckpt.pth'
    assert cfg.load_from == 'ckpt.pth'
    assert 'thr_out' not in cfg.test_evaluator


def test_test_split_and_missing_metric_are_refused(tool, repo_root):
    with pytest.raises(ValueError, match="split is 'test'"):
        tool.prepare_cfg(
            Config.fromfile(osp.join(repo_root, CAM)),
            _args(CAM, options=['val_dataloader.dataset.split=test']))
    cfg = Config.fromfile(osp.join(repo_root, CAM))
    cfg.test_dataloader.dataset.split = 'val'  # "tested" on val
    cfg.val_dataloader = cfg.test_dataloader
    with pytest.raises(ValueError, match='identical'):
        tool.prepare_cfg(cfg, _args(CAM))
    cfg = Config.fromfile(osp.join(repo_root, CAM))
    cfg.val_evaluator = dict(type='mmpretrain.Accuracy')
    with pytest.raises(ValueError, match='WSOLMetric'):
        tool.prepare_cfg(cfg, _args(CAM))


@pytest.mark.parametrize('config,small', [(CAM, SMALL_CAM),
                                          (EIGENCAM, SMALL_EIGENCAM)])
def test_calibrate_then_test_with_the_file(tool, test_tool, cam_checkpoint,
                                           config, small, tmp_path,
                                           monkeypatch):
    thr_file = str(tmp_path / 'thr.json')
    options = DATA + small
    content = tool.main([
        config, cam_checkpoint, '--out', thr_file, '--work-dir',
        str(tmp_path / 'calib'), '--cfg-options'
    ] + options)
    with open(thr_file) as f:
        saved = json.load(f)
    assert saved == content
    assert saved['split'] == 'val' and saved['num_samples'] == 4
    assert saved['dataset'] == 'SyntheticWSOL'
    assert saved['preset'] == 'choe'
    assert saved['checkpoint'] == cam_checkpoint
    assert 0 <= saved['loc_thr'] < 1
    assert set(saved['maxboxacc_v2_thr']) == {'iou30', 'iou50', 'iou70'}

    metrics_file = str(tmp_path / 'metrics.json')
    monkeypatch.setattr(sys, 'argv', [
        'test.py', config, cam_checkpoint, '--work-dir',
        str(tmp_path / 'test'), '--out', metrics_file, '--cfg-options'
    ] + options + [f'test_evaluator.thr_file={thr_file}'])
    test_tool.main()
    with open(metrics_file) as f:
        metrics = json.load(f)
    assert metrics['wsol/loc_thr'] == saved['loc_thr']
    assert 'wsol/maxboxacc_v2' in metrics
