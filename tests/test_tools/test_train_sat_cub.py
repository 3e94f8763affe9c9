# Copyright (c) mmweak contributors.
"""`python tools/train.py configs/sat/sat_deit_cub.py` on a tiny CUB tree in
the official CUB_200_2011 layout (CPU, 2 training iterations)."""
import json
import os.path as osp
import subprocess
import sys

from mmweak.testing import make_cub_root

CONFIG = 'configs/sat/sat_deit_cub.py'


def _tiny_options(root):
    opts = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [
            f'{loader}.dataset.data_root={root}', f'{loader}.batch_size=3',
            f'{loader}.num_workers=0', f'{loader}.persistent_workers=False'
        ]
    return opts + [
        # DeiT-Tiny at random init keeps the CPU test short; the rest of
        # the SAT recipe (tokens, gating, head, losses, schedule) is kept
        'model.backbone.arch=deit-tiny',
        'model.backbone.init_cfg=None',
        'model.head.in_channels=192',
        'train_cfg.max_epochs=1',
        'train_cfg.val_interval=1',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1',
    ]


def test_sat_cub_config_trains_two_iterations_and_evaluates(
        tmp_path, repo_root, tool_env):
    # 3 classes x 4 images: 6 train images = 2 iterations of batch 3
    root = make_cub_root(tmp_path, num_classes=3, images_per_class=4,
                         with_masks=False)
    wd = str(tmp_path / 'run')
    cmd = [sys.executable, 'tools/train.py', CONFIG, '--work-dir', wd,
           '--cfg-options'] + _tiny_options(root)
    proc = subprocess.run(cmd, cwd=repo_root, env=tool_env,
                          capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    # two iterations with all three SAT losses
    assert 'Epoch(train) [1][2/2]' in log, log[-3000:]
    for key in ('loss_cls', 'loss_area', 'loss_norm'):
        assert key in log
    assert osp.isfile(osp.join(wd, 'epoch_1.pth'))
    # evaluation on the test split with the config's threshold
    with open(osp.join(wd, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('epoch_1.pth')
    scalars = [
        json.loads(line) for line in open(
            next(p for p in _find(wd, 'scalars.json')))
    ]
    val = [s for s in scalars if 'wsol/gt_known_loc' in s]
    assert val, scalars
    # paper preset: fixed-tau BoxAcc, never named MaxBoxAccV2
    assert not [k for k in val[-1] if 'maxboxacc' in k]
    for key in ('top1_cls', 'top1_loc', 'gt_known_loc', 'boxacc_mean'):
        assert 0 <= val[-1][f'wsol/{key}'] <= 100


def _find(root, name):
    import os
    for dirpath, _, files in os.walk(root):
        if name in files:
            yield osp.join(dirpath, name)
