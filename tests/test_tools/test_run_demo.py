# Copyright (c) mmweak contributors.
"""Smoke run of the main job (tools/run_demo.py) on a tiny SyntheticWSOL."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from test_train_test_tools import TINY  # same folder (rootdir import)


@pytest.mark.heavy
def test_demo_trains_tests_and_prints_table(tmp_path, repo_root, tool_env):
    wd = str(tmp_path / 'demo')
    cmd = [sys.executable, 'tools/run_demo.py', '--tasks', 'wsol',
           '--work-dir', wd, '--only',
           'CAM', 'Eigen-CAM', '--train-options'] + [
               o for o in TINY if not o.startswith('model.')
           ] + ['--test-options', 'test_dataloader.dataset.num_samples=4',
                'val_dataloader.dataset.num_samples=4']
    proc = subprocess.run(cmd, cwd=repo_root, env=tool_env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert '| CAM |' in proc.stdout and '| Eigen-CAM |' in proc.stdout
    with open(osp.join(wd, 'results.md')) as f:
        table = f.read()
    assert 'GT-known' in table and 'MaxBoxAccV2' in table
    assert osp.isdir(osp.join(wd, 'overlays', 'CAM'))
    # tau chosen on val in the run, then used by the test step
    with open(osp.join(wd, 'CAM', 'thr.json')) as f:
        calib = json.load(f)
    assert calib['split'] == 'val'
    with open(osp.join(wd, 'CAM', 'test_metrics.json')) as f:
        metrics = json.load(f)
    assert metrics['wsol/loc_thr'] == pytest.approx(calib['loc_thr'])
    # progress lines name the run
    assert '[CAM train]' in proc.stdout and '[CAM test]' in proc.stdout


def test_table_shows_mean_and_half_range():
    sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..', 'tools'))
    try:
        import run_demo
    finally:
        sys.path.pop(0)
    assert run_demo.fmt_spread([40.0]) == '40.00'
    assert run_demo.fmt_spread([40.0, 44.0]) == '42.00 ±2.00'
    assert run_demo.fmt_spread([None, None]) == '-'
    table = run_demo.make_table([
        dict(name='CAM', backbone='R50',
             metrics=[{'wsol/top1_cls': 90.0}, {'wsol/top1_cls': 92.0}],
             train_s=[10.0, 12.0])
    ])
    assert '| CAM | R50 | 91.00 ±1.00 |' in table and '| 11 |' in table


def test_lanes_put_the_longest_task_alone():
    sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..', 'tools'))
    try:
        import run_demo
    finally:
        sys.path.pop(0)
    assert run_demo.assign_lanes(['wsol', 'wsss', 'dtmr'], 2) == [
        ['wsss'], ['wsol', 'dtmr']]
    assert run_demo.assign_lanes(['wsol', 'wsss', 'dtmr'], 1) == [
        ['wsol', 'wsss', 'dtmr']]
    assert run_demo.assign_lanes(['dtmr'], 2) == [['dtmr']]
    assert run_demo.assign_lanes(['wsol', 'dtmr'], 3) == [['wsol'], ['dtmr']]
