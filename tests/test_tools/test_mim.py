# Copyright (c) mmweak contributors.
"""`mim train/test mmweak` after the editable install made by
tools/setup_env.sh and after a regular (wheel) install."""
import os
import os.path as osp
import subprocess
import sys
import zipfile

import pytest

from test_train_test_tools import CONFIG, TINY  # same folder (rootdir import)

MIM = osp.join(osp.dirname(sys.executable), 'mim')
pytestmark = [
    pytest.mark.skipif(
        not osp.isfile(MIM), reason='openmim is not installed in this venv'),
    # the wheel build writes build/ and mmweak.egg-info in the checkout:
    # keep both mim tests on one pytest-xdist worker
    pytest.mark.xdist_group('mim'),
]


def _run(cmd, env, cwd):
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (f'{" ".join(cmd)}:\n{proc.stdout[-3000:]}'
                                  f'\n{proc.stderr[-3000:]}')
    return proc.stdout + proc.stderr


def test_mim_train_and_test_with_editable_install(tmp_path, repo_root,
                                                  tool_env):
    wd = str(tmp_path / 'wd')
    config = osp.join(repo_root, CONFIG)
    log = _run([MIM, 'train', 'mmweak', config, '--work-dir', wd,
                '--cfg-options'] + TINY, tool_env, str(tmp_path))
    assert osp.join('mmweak', '.mim', 'tools', 'train.py') in log
    ckpt = osp.join(wd, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    log = _run([MIM, 'test', 'mmweak', config, '--checkpoint', ckpt,
                '--work-dir', wd, '--cfg-options'] + TINY, tool_env,
               str(tmp_path))
    assert 'wsol/gt_known_loc' in log


def test_mim_train_with_regular_install(tmp_path, repo_root):
    dist = tmp_path / 'dist'
    subprocess.run([
        sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
        '--no-build-isolation', '-w',
        str(dist), repo_root
    ], check=True, capture_output=True, timeout=600)
    wheel = next(dist.glob('mmweak-*.whl'))
    names = set(zipfile.ZipFile(wheel).namelist())
    for member in ('mmweak/.mim/tools/train.py', 'mmweak/.mim/tools/test.py',
                   'mmweak/.mim/configs/cam/cam_resnet50_synthetic.py',
                   'mmweak/.mim/configs/_base_/default_runtime.py',
                   'mmweak/.mim/model-index.yml'):
        assert member in names, member
    site = tmp_path / 'site'
    subprocess.run([
        sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
        '--target',
        str(site),
        str(wheel)
    ], check=True, capture_output=True, timeout=600)
    env = dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS='1')
    installed = site / 'mmweak' / '.mim'
    config = str(installed / CONFIG.replace('configs/', 'configs/', 1))
    wd = str(tmp_path / 'wd')
    log = _run([MIM, 'train', 'mmweak', config, '--work-dir', wd,
                '--cfg-options'] + TINY, env, str(tmp_path))
    assert str(installed / 'tools' / 'train.py') in log
    assert osp.isfile(osp.join(wd, 'epoch_1.pth'))
