# Copyright (c) mmweak contributors.
"""Smoke run of tools/benchmarks/bench_esol_step.py at a toy size (--tiny):
it runs end to end and prints every figure it promises (no timing
asserted)."""
import os.path as osp
import re
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NUMBER = r'[0-9]+(\.[0-9]+)?'


def test_bench_esol_step_runs_and_prints_its_figures():
    proc = subprocess.run(
        [sys.executable,
         osp.join(ROOT, 'tools', 'benchmarks', 'bench_esol_step.py'),
         '--tiny', '--backends', 'torchvision', 'grid_sample'],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for pattern in (rf'\| CAM \| {NUMBER} \| 1\.00 \|',
                    rf'\| ESOL stage 1 \(torchvision\) \| {NUMBER}',
                    rf'\| ESOL stage 2 \(torchvision\) \| {NUMBER}',
                    rf'\| ESOL stage 2 \(grid_sample\) \| {NUMBER}'):
        assert re.search(pattern, proc.stdout), (pattern, proc.stdout)
