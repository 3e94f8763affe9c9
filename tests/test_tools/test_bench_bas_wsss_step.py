# Copyright (c) mmweak contributors.
"""Smoke run of tools/benchmarks/bench_bas_wsss_step.py at a toy size: it
runs end to end and prints every figure it promises (no timing asserted)."""
import os.path as osp
import re
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NUMBER = r'[0-9]+(\.[0-9]+)?'


def test_bench_bas_wsss_step_runs_and_prints_its_figures():
    proc = subprocess.run(
        [sys.executable,
         osp.join(ROOT, 'tools', 'benchmarks', 'bench_bas_wsss_step.py'),
         '--batch-size', '2', '--img-size', '48', '--iters', '1',
         '--width', '8'],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for pattern in (rf'\| CAM \| {NUMBER} \| 1\.00 \|',
                    rf'\| CAM \(all trainable\) \| {NUMBER}',
                    rf'\| BAS-WSSS \| {NUMBER}',
                    rf'\| BAS-WSSS \(no erase\) \| {NUMBER}',
                    rf'BAS-WSSS / CAM step ratio: {NUMBER}',
                    rf'BAS-WSSS / CAM \(all trainable\) step ratio: {NUMBER}',
                    rf'erase-branch overhead \(BAS-WSSS / no erase\): '
                    rf'{NUMBER}'):
        assert re.search(pattern, proc.stdout), (pattern, proc.stdout)
