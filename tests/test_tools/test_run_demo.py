# Copyright (c) mmweak contributors.
"""Smoke run of the main job (tools/run_demo.py) on a tiny SyntheticWSOL."""
import argparse
import json
import os
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
    # every task: the 3D pipeline joins WSOL and DTMR beside WSSS
    assert run_demo.assign_lanes(['wsol', 'wsss', 'dtmr', 'det3d'], 2) == [
        ['wsss'], ['wsol', 'dtmr', 'det3d']]


def test_det3d_task_runs_the_point_detr3d_pipeline(tmp_path, monkeypatch):
    """``--tasks det3d`` runs the runner on the embedded-set pipeline
    config, its tools in process, and returns the runner's results.md."""
    sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..', 'tools'))
    try:
        import run_demo
    finally:
        sys.path.pop(0)
    calls = []

    def fake_run(cmd, cwd, env, check):
        calls.append((cmd, env))
        wd = cmd[cmd.index('--work-dir') + 1]
        os.makedirs(wd, exist_ok=True)
        with open(osp.join(wd, 'results.md'), 'w') as f:
            f.write('| Row | mAP |\n')

    monkeypatch.setattr(run_demo.subprocess, 'run', fake_run)
    args = argparse.Namespace(work_dir=str(tmp_path), retrain=True,
                              det3d_options=['student.options.x=1'])
    text = run_demo.run_det3d(args)
    (cmd, env), = calls
    assert cmd[1:4] == ['tools/point_detr3d/run_pipeline.py',
                        'configs/point_detr3d/pipeline_synthetic-nus-r05.py',
                        '--work-dir']
    assert cmd[4] == osp.join(str(tmp_path), 'det3d')
    assert cmd[5:] == ['--retrain', '--cfg-options', 'student.options.x=1']
    assert env['MMWEAK_STAGE_INPROCESS'] == '1'
    assert text.startswith('## Point-DETR3D') and '| Row | mAP |' in text
    assert osp.isfile(osp.join(run_demo.ROOT, cmd[2]))
