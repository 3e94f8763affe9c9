# Copyright (c) mmweak contributors.
"""End-to-end checks of tools/train.py, tools/test.py and dist_train.sh on a
tiny SyntheticWSOL run (CPU)."""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

from mmweak.utils import load_checkpoint_safely

CONFIG = 'configs/cam/cam_resnet50_synthetic.py'
# A few seconds of training: tiny data, one epoch of 2 iterations.
TINY = [
    'train_dataloader.dataset.num_samples=8',
    'val_dataloader.dataset.num_samples=4',
    'test_dataloader.dataset.num_samples=4',
    'train_dataloader.batch_size=4', 'val_dataloader.batch_size=4',
    'test_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
    'val_dataloader.num_workers=0', 'test_dataloader.num_workers=0',
    'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
    'model.backbone.depth=18', 'model.head.in_channels=128',
    'default_hooks.logger.interval=1'
]


def _run(cmd, env, cwd):
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (
        f'{" ".join(cmd)} failed:\n{proc.stdout[-3000:]}\n'
        f'{proc.stderr[-3000:]}')
    return proc.stdout + proc.stderr


def _ckpt_meta(path):
    return load_checkpoint_safely(path, map_location='cpu')['meta']


def test_train_checkpoint_test_round_trip(tmp_path, repo_root, tool_env):
    wd = str(tmp_path / 'run')
    _run([sys.executable, 'tools/train.py', CONFIG, '--work-dir', wd,
          '--cfg-options'] + TINY, tool_env, repo_root)
    ckpt = osp.join(wd, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    out = str(tmp_path / 'metrics.json')
    log = _run([
        sys.executable, 'tools/test.py', CONFIG, ckpt, '--work-dir', wd,
        '--out', out, '--show-dir', 'overlays', '--cfg-options'
    ] + TINY, tool_env, repo_root)
    with open(out) as f:
        metrics = json.load(f)
    for key in ('top1_cls', 'top5_cls', 'top1_loc', 'top5_loc',
                'gt_known_loc', 'maxboxacc_v2', 'best_thr'):
        assert f'wsol/{key}' in metrics, key
        assert 0 <= metrics[f'wsol/{key}'] <= 100
    # the checkpoint was loaded (no "missing keys" for the model weights)
    assert 'Load checkpoint from' in log
    overlays = [f for _, _, fs in os.walk(wd) for f in fs
                if f.endswith('.png')]
    assert len(overlays) == 4


def test_resume_continues_from_saved_iteration(tmp_path, repo_root,
                                               tool_env):
    wd = str(tmp_path / 'run')
    _run([sys.executable, 'tools/train.py', CONFIG, '--work-dir', wd,
          '--cfg-options'] + TINY, tool_env, repo_root)
    first = _ckpt_meta(osp.join(wd, 'epoch_1.pth'))
    assert first['epoch'] == 1 and first['iter'] == 2
    # "interrupted" after epoch 1 of 2: resume the same run
    log = _run([
        sys.executable, 'tools/train.py', CONFIG, '--work-dir', wd,
        '--resume', '--cfg-options'
    ] + TINY + ['train_cfg.max_epochs=2'], tool_env, repo_root)
    assert re.search(r'resumed epoch: 1, iter: 2', log), log[-2000:]
    second = _ckpt_meta(osp.join(wd, 'epoch_2.pth'))
    assert second['epoch'] == 2 and second['iter'] == 4


# each launch below takes a port the OS reports free (``free_port``); the
# group runs these launches one after another on one worker
@pytest.mark.xdist_group('dist_ports')
def test_two_process_cpu_distributed_training(tmp_path, repo_root,
                                              tool_env, free_port):
    if torch.cuda.is_available():
        pytest.skip('checks the CPU (gloo) path')
    wd = str(tmp_path / 'dist')
    env = dict(tool_env, PORT=free_port)
    log = _run(['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', wd,
                '--cfg-options'] + TINY, env, repo_root)
    assert re.search(r'world_size: 2|Distributed launcher: pytorch', log) \
        or 'Distributed training: True' in log, log[-2000:]
    meta = _ckpt_meta(osp.join(wd, 'epoch_1.pth'))
    # 8 samples, batch 4 per process, 2 processes -> 1 iteration per epoch
    assert meta['iter'] == 1


@pytest.mark.xdist_group('dist_ports')
@pytest.mark.parametrize('script', ['dist_train.sh', 'dist_test.sh'])
def test_dist_scripts_find_the_project_environment(repo_root, script,
                                                   free_port):
    """In a fresh shell (no virtualenv active, no project python on PATH)
    the dist scripts run the project environment's interpreter."""
    if not osp.exists(osp.join(repo_root, '.venv', 'bin', 'python')):
        pytest.skip('no .venv (made by `make env`)')
    env = {'PATH': '/usr/bin:/bin', 'HOME': os.environ.get('HOME', '/tmp'),
           'OMP_NUM_THREADS': '1', 'PORT': free_port}
    args = [CONFIG, 'CKPT'] if script == 'dist_test.sh' else [CONFIG]
    proc = subprocess.run(['bash', f'tools/{script}'] + args + ['1', '--help'],
                          cwd=repo_root, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'usage:' in proc.stdout
