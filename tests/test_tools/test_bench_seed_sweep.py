# Copyright (c) mmweak contributors.
"""Smoke run of tools/benchmarks/bench_seed_sweep.py at a toy size.

Its figures go into BENCHMARKS.md; here it only has to run end to end,
find the sweep equal to the reference and print every figure it promises.
No timing is asserted.
"""
import os.path as osp
import re
import subprocess
import sys

NUMBER = r'[0-9]+(\.[0-9]+)?'
PATTERNS = [
    rf'\(a\) single-threshold pass \(t=0\.33\): {NUMBER} s wall',
    rf'\(b\) one-pass sweep \(56 thresholds\): {NUMBER} s wall',
    rf'\(c\) reference, matrix rebuilt per threshold: {NUMBER} s wall, '
    rf'{NUMBER} s CPU, measured on 2 maps .* extrapolated linearly to 5',
    rf'sweep / single: {NUMBER} \(goal <= 2\)',
    rf'reference / sweep: {NUMBER} \(goal >= 20\)',
    r'sweep == reference on 2 maps x 56 thresholds: yes; '
    r'sweep == single pass at t=0\.33: yes',
    r'\| seed sweep \(sweep_confusion\) \| 5 maps 48x40, 56 thresholds',
]


def test_bench_seed_sweep_runs_and_prints_its_figures(repo_root):
    proc = subprocess.run([
        sys.executable,
        osp.join(repo_root, 'tools', 'benchmarks',
                 'bench_seed_sweep.py'), '--num-images', '5', '--size', '48',
        '40', '--reference-images', '2', '--num-threads', '1'
    ],
                          cwd=repo_root,
                          capture_output=True,
                          text=True,
                          timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'benchmark failed:\n{out[-3000:]}'
    for pattern in PATTERNS:
        assert re.search(
            pattern,
            proc.stdout), (f'no line matches {pattern!r} in:\n{proc.stdout}')
