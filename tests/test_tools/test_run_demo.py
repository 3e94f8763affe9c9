# Copyright (c) mmweak contributors.
"""Smoke run of the main job (tools/run_demo.py) on a tiny SyntheticWSOL."""
import os.path as osp
import subprocess
import sys

from test_train_test_tools import TINY  # same folder (rootdir import)


def test_demo_trains_tests_and_prints_table(tmp_path, repo_root, tool_env):
    wd = str(tmp_path / 'demo')
    cmd = [sys.executable, 'tools/run_demo.py', '--tasks', 'wsol',
           '--work-dir', wd, '--only',
           'CAM', 'Eigen-CAM', '--train-options'] + [
               o for o in TINY if not o.startswith('model.')
           ] + ['--test-options', 'test_dataloader.dataset.num_samples=4']
    proc = subprocess.run(cmd, cwd=repo_root, env=tool_env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert '| CAM |' in proc.stdout and '| Eigen-CAM |' in proc.stdout
    with open(osp.join(wd, 'results.md')) as f:
        table = f.read()
    assert 'GT-known' in table and 'MaxBoxAccV2' in table
    assert osp.isdir(osp.join(wd, 'overlays', 'CAM'))
