# Copyright (c) mmweak contributors.
"""Smoke runs of the benchmark scripts at toy sizes.

The scripts' figures go into BENCHMARKS.md; here they only have to run end
to end and print every figure they promise. No timing is asserted.
"""
import os.path as osp
import re
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NUMBER = r'[0-9]+(\.[0-9]+)?'

CASES = {
    'bench_bas_step.py': (
        ['--batch-size', '2', '--img-size', '64', '--iters', '1',
         '--num-classes', '5'],
        [rf'\| CAM \| {NUMBER} \| 1\.00 \|', rf'\| CAM \(os8\) \| {NUMBER}',
         rf'\| BAS \(deepcopy erase\) \| {NUMBER}',
         rf'BAS / CAM step ratio: {NUMBER}',
         rf'BAS / CAM \(os8\) step ratio: {NUMBER}',
         rf'erase-branch overhead \(BAS / no erase\): {NUMBER}',
         rf'forward GMACs / image: CAM {NUMBER}, BAS {NUMBER}']),
    'bench_sat_throughput.py': (
        ['--arch', 'deit-tiny', '--batch-size', '2', '--img-size', '32',
         '--iters', '1'],
        [rf'train +SAT +{NUMBER} img/s +DeiT +{NUMBER} img/s',
         rf'inference +SAT +{NUMBER} img/s']),
    'bench_wsol_metric.py': (
        ['--num', '12', '--size', '32', '--with-masks'],
        [r'(maxboxacc_v2|boxacc_mean)=',
         r'\| WSOLMetric process\+compute_metrics \|']),
    'bench_point_detr3d.py': (
        ['--tiny'],
        [r'annotated points N = [1-9][0-9]*',
         rf'\| CenterPoint student \| {NUMBER} \| 1\.00 \| [0-9]+ \|',
         rf'\| Point-DETR3D teacher \| {NUMBER} \| {NUMBER} \| [1-9]',
         rf'\| Point-DETR3D teacher, no decoding \| {NUMBER} \| {NUMBER}',
         rf'teacher / student test-step ratio: {NUMBER}',
         rf'ratio without box decoding .*: {NUMBER}',
         rf'pseudo labelling .* = {NUMBER} scenes / s']),
    'bench_eigencam.py': (
        ['--batch', '2', '--repeats', '1', '--forward-batch', '1',
         '--forward-repeats', '1', '--skip-reference'],
        [r'mmweak EigenCAM \(forward \+ maps\)',
         r'mmweak maps alone']),
}


@pytest.mark.parametrize('script', sorted(CASES))
def test_benchmark_script_runs_and_prints_its_figures(script):
    args, patterns = CASES[script]
    proc = subprocess.run(
        [sys.executable,
         osp.join(ROOT, 'tools', 'benchmarks', script)] + args,
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{script} failed:\n{out[-3000:]}'
    for pattern in patterns:
        assert re.search(pattern, out), (
            f'{script}: no line matches {pattern!r} in:\n{proc.stdout}')
