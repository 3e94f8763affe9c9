# Copyright (c) mmweak contributors.
"""Pretrain the backbones of the WSOL main job once and export them.

    python tools/misc/pretrain_demo_backbones.py [--only NAME ...]
        [--work-dir work_dirs/demo_pretrain] [--out-dir checkpoints/demo]

The papers fine-tune from ImageNet weights; the embedded SyntheticWSOL rows
fine-tune from these instead. Each backbone is trained as a classifier by
``tools/train.py`` on a separately seeded SyntheticWSOL (seed 1, disjoint
from the seed-0 WSOL splits), then the weights the rows start from
(``backbone.*``; for the DeiT also its ``head.*``, whose shape the SAT and
DeiT-CAM heads share) are written to ``OUT_DIR/<name>.pth`` (atomically)
as ``{'state_dict', 'meta'}`` with the config, the validation accuracy and
the command in ``meta``. The SHA-256 of every exported file goes to
``OUT_DIR/SHA256SUMS``, which the tests check against the committed files.

The ResNet-50 rows load theirs with
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone')``,
the DeiT rows with ``load_from=...`` (backbone and classifier).
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, List, Sequence, Tuple

import torch

from mmweak.utils.checkpoint import load_checkpoint_safely
from mmweak.utils.offline_job import atomic_path, file_sha256

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# name -> (pretraining config, prefixes of the exported weights)
BACKBONES: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    'resnet50-w16_synthetic-cls':
    ('configs/cam/resnet50-w16_pretrain_synthetic.py', ('backbone.', )),
    'deit-tiny-d64_synthetic-cls':
    ('configs/sat/deit-tiny_pretrain_synthetic.py', ('backbone.', 'head.')),
}


def read_sums(path: str) -> Dict[str, str]:
    """``{file name: sha256}`` of a ``sha256sum``-style file."""
    sums: Dict[str, str] = {}
    if osp.isfile(path):
        with open(path) as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                parts = line.split()
                if len(parts) != 2:
                    raise ValueError(f'{path}:{line_no}: expected '
                                     f'"<sha256>  <file>", got {line!r}')
                sums[parts[1]] = parts[0]
    return sums


def write_sums(path: str, sums: Dict[str, str]) -> None:
    """Write ``sums`` sorted by file name, atomically."""
    text = ''.join(f'{digest}  {name}\n'
                   for name, digest in sorted(sums.items()))
    with atomic_path(path) as tmp:
        with open(tmp, 'w') as f:
            f.write(text)
        os.chmod(tmp, 0o644)


def last_val_accuracy(work_dir: str) -> float:
    """Top-1 accuracy of the last validation in the run's scalar log."""
    logs = sorted(
        osp.join(dirpath, name)
        for dirpath, _, names in os.walk(work_dir) for name in names
        if name == 'scalars.json')
    if not logs:
        raise FileNotFoundError(f'no scalars.json under {work_dir}')
    acc = None
    with open(logs[-1]) as f:
        for line in f:
            record = json.loads(line)
            if 'accuracy/top1' in record:
                acc = float(record['accuracy/top1'])
    if acc is None:
        raise KeyError(f'{logs[-1]} holds no accuracy/top1 record')
    return acc


def export_weights(ckpt_path: str, out_path: str, meta: dict,
                   prefixes: Sequence[str] = ('backbone.', )) -> str:
    """Keep the tensors of a training checkpoint whose names start with one
    of ``prefixes``; returns the SHA-256 of the written file."""
    ckpt = load_checkpoint_safely(ckpt_path, map_location='cpu')
    state = {
        k: v.clone()
        for k, v in ckpt['state_dict'].items()
        if k.startswith(tuple(prefixes))
    }
    for prefix in prefixes:
        if not any(k.startswith(prefix) for k in state):
            raise KeyError(f'{ckpt_path} has no {prefix}* weights')
    with atomic_path(out_path) as tmp:
        torch.save({'state_dict': state, 'meta': meta}, tmp)
        os.chmod(tmp, 0o644)
    return file_sha256(out_path)


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--only', nargs='+', choices=sorted(BACKBONES),
                        help='pretrain only these backbones')
    parser.add_argument('--work-dir', default='work_dirs/demo_pretrain')
    parser.add_argument('--out-dir', default='checkpoints/demo')
    parser.add_argument('--export-only', action='store_true',
                        help='export the finished trainings of --work-dir '
                        'again without training')
    args = parser.parse_args(argv)

    os.makedirs(args.out_dir, exist_ok=True)
    sums_path = osp.join(args.out_dir, 'SHA256SUMS')
    sums = read_sums(sums_path)
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    for name in args.only or sorted(BACKBONES):
        config, prefixes = BACKBONES[name]
        work_dir = osp.join(args.work_dir, name)
        cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'),
               config, '--work-dir', work_dir]
        if not args.export_only:
            print(f'[{name}] $ {" ".join(cmd)}', flush=True)
            subprocess.run(cmd, cwd=ROOT, env=env, check=True)
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            ckpt = f.read().strip()
        acc = last_val_accuracy(work_dir)
        out = osp.join(args.out_dir, f'{name}.pth')
        meta = dict(
            config=config,
            val_top1=acc,
            weights=[p + '*' for p in prefixes],
            command='python tools/misc/pretrain_demo_backbones.py '
            f'--only {name}',
            torch=str(torch.__version__))
        digest = export_weights(ckpt, out, meta, prefixes)
        sums[f'{name}.pth'] = digest
        write_sums(sums_path, sums)
        print(f'[{name}] val top-1 {acc:.2f} -> {out} '
              f'({osp.getsize(out) / 2**20:.1f} MiB, sha256 {digest})',
              flush=True)


if __name__ == '__main__':
    main()
