# Copyright (c) mmweak contributors.
"""RNGStateHook: a resumed deterministic run ends where the uninterrupted
one ends, bit for bit."""
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmweak.engine import RNGStateHook
from mmweak.engine.hooks.rng_state_hook import (CHECKPOINT_KEY,
                                                get_rng_state, set_rng_state)
from mmweak.utils import load_checkpoint_safely

_RUNS = iter(range(10**6))


def run_cfg(work_dir, *, max_epochs=2, max_iters=None, hook=True,
            num_workers=0, resume_from=None):
    """A tiny CAM run on SyntheticWSOL (16 images of 32 px, batch 8) whose
    every step draws random numbers: flip (numpy), crop (numpy), drop path
    (torch); validation runs after every epoch."""
    dataset = dict(
        type='SyntheticWSOL', num_classes=2, num_samples=16, img_size=32,
        num_distractors=1, seed=0)
    train_pipeline = [
        dict(type='WSOLRandomFlip', prob=0.5, direction='horizontal'),
        dict(type='WSOLRandomCrop', crop_size=28),
        dict(type='PackWSOLInputs'),
    ]
    by_epoch = max_iters is None
    cfg = dict(
        model=dict(
            type='WSOLClassifier',
            data_preprocessor=dict(
                type='mmpretrain.ClsDataPreprocessor', num_classes=2,
                mean=[128.] * 3, std=[64.] * 3, to_rgb=True),
            backbone=dict(
                type='mmpretrain.ResNet', depth=18, stem_channels=4,
                base_channels=4, strides=(1, 2, 2, 1), out_indices=(3, ),
                drop_path_rate=0.3),
            head=dict(type='CAMHead', num_classes=2, in_channels=32)),
        work_dir=str(work_dir),
        experiment_name=f'rng_state_hook_{next(_RUNS)}',
        train_dataloader=dict(
            batch_size=8,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
            sampler=dict(
                type='DefaultSampler' if by_epoch else 'InfiniteSampler',
                shuffle=True),
            dataset=dict(dataset, split='train', pipeline=train_pipeline)),
        val_dataloader=dict(
            batch_size=8,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(dataset, split='val', test_mode=True,
                         pipeline=[dict(type='PackWSOLInputs')])),
        val_cfg=dict(),
        val_evaluator=dict(type='mmpretrain.Accuracy'),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        # no schedule that depends on the run's length: a 1-epoch run then
        # resumed to 2 plans the same learning rates as a 2-epoch run
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
                 end=3)
        ],
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
        if by_epoch else dict(
            type='IterBasedTrainLoop', max_iters=max_iters, val_interval=2),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1 if by_epoch
                            else 2, by_epoch=by_epoch),
            logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0, deterministic=True),
        default_scope='mmweak',
        log_level='WARNING')
    if hook:
        cfg['default_hooks']['rng_state'] = dict(type='RNGStateHook')
    if resume_from is not None:
        cfg.update(resume=True, load_from=str(resume_from))
    return Config(cfg)


def train(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()
    state = runner.model.state_dict()
    return {k: v.detach().clone() for k, v in state.items()}


def max_abs_diff(a, b):
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def assert_bit_identical(a, b):
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, (
        f'{len(different)} tensors differ (max abs diff '
        f'{max_abs_diff(a, b):.3g}), e.g. {different[:3]}')


@pytest.mark.parametrize('num_workers', [0, 1])
def test_one_epoch_then_resume_equals_two_epochs(tmp_path, num_workers):
    straight = train(
        run_cfg(tmp_path / 'straight', num_workers=num_workers))
    if num_workers == 0:  # a 2-epoch run repeats itself exactly
        assert_bit_identical(straight,
                             train(run_cfg(tmp_path / 'again')))

    train(run_cfg(tmp_path / 'split', max_epochs=1, num_workers=num_workers))
    ckpt = tmp_path / 'split' / 'epoch_1.pth'
    resumed = train(
        run_cfg(tmp_path / 'resumed', num_workers=num_workers,
                resume_from=ckpt))
    assert_bit_identical(straight, resumed)


def test_without_the_hook_a_resumed_run_drifts(tmp_path):
    """The pipeline above is random enough for the test to mean something:
    the same resume with the hook switched off ends elsewhere."""
    straight = train(run_cfg(tmp_path / 'straight', hook=False))
    train(run_cfg(tmp_path / 'split', max_epochs=1, hook=False))
    resumed = train(
        run_cfg(tmp_path / 'resumed', hook=False,
                resume_from=tmp_path / 'split' / 'epoch_1.pth'))
    assert max_abs_diff(straight, resumed) > 0


def test_iteration_based_resume_equals_uninterrupted(tmp_path):
    # checkpoints at iterations 2 and 4 (validation after each); the resumed
    # loop re-reads the 2 batches already trained on before it continues
    straight = train(run_cfg(tmp_path / 'straight', max_iters=4))
    resumed = train(
        run_cfg(tmp_path / 'resumed', max_iters=4,
                resume_from=tmp_path / 'straight' / 'iter_2.pth'))
    assert_bit_identical(straight, resumed)


def test_checkpoint_state_loads_through_the_safe_loader(tmp_path):
    train(run_cfg(tmp_path / 'run', max_epochs=1))
    ckpt = load_checkpoint_safely(str(tmp_path / 'run' / 'epoch_1.pth'))
    state = ckpt[CHECKPOINT_KEY]
    assert set(state) >= {'python', 'numpy', 'torch', 'sampler_seed'}
    assert isinstance(state['torch'], torch.Tensor)
    assert state['sampler_seed'] == 0
    # the loaded state drives the generators: two restores draw alike
    set_rng_state(state)
    first = (random.random(), np.random.rand(), torch.rand(1))
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1)) == first


def test_get_and_set_rng_state_round_trip():
    random.gauss(0, 1)  # leaves a cached gaussian in `random`
    np.random.standard_normal()  # ... and in numpy
    state = get_rng_state()
    draws = (random.gauss(0, 1), np.random.standard_normal(),
             torch.randn(3))
    set_rng_state(state)
    again = (random.gauss(0, 1), np.random.standard_normal(), torch.randn(3))
    assert draws[:2] == again[:2]
    assert torch.equal(draws[2], again[2])


def test_load_from_without_resume_keeps_the_seeded_state():
    """`load_from` alone (fine-tuning) starts at epoch 0: nothing restored."""
    torch.manual_seed(123)
    saved = get_rng_state()
    torch.manual_seed(7)
    expected = torch.get_rng_state()
    hook = RNGStateHook()
    hook.after_load_checkpoint(
        None, dict(meta=dict(epoch=1, iter=2), rng_state=saved))
    runner = SimpleNamespace(epoch=0, iter=0, train_loop=object())
    hook.before_train_epoch(runner)
    assert torch.equal(torch.get_rng_state(), expected)
