# Copyright (c) mmweak contributors.
"""MeanTeacherHook: teacher = (1 - m) teacher + m student after training
iterations, a copy at the start, none on resume."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from mmweak.engine import MeanTeacherHook
from mmweak.engine.hooks import mean_teacher_hook
from mmweak.engine.hooks.mean_teacher_hook import ema_update
from mmweak.registry import HOOKS


def _net(value: float) -> nn.Module:
    net = nn.Sequential(nn.Linear(2, 1), nn.BatchNorm1d(1))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(value)
        net[1].running_mean.fill_(value)
        net[1].running_var.fill_(value)
        net[1].num_batches_tracked.fill_(int(value))
    return net


class TeacherStudent(nn.Module):

    def __init__(self, teacher_value: float = 1., student_value: float = 3.):
        super().__init__()
        self.teacher = _net(teacher_value)
        self.student = _net(student_value)


def _values(net: nn.Module) -> dict:
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_ema_arithmetic_against_hand_values():
    model = TeacherStudent(1., 3.)
    ema_update(model.teacher, model.student, 0.25, skip_buffers=True)
    # parameters: 0.75 * 1 + 0.25 * 3 = 1.5
    for p in model.teacher.parameters():
        assert torch.all(p == 1.5)
    # buffers copied
    bn = model.teacher[1]
    assert bn.running_mean.item() == 3. and bn.running_var.item() == 3.
    assert bn.num_batches_tracked.item() == 3
    # a second update: 0.75 * 1.5 + 0.25 * 3 = 1.875
    ema_update(model.teacher, model.student, 0.25)
    assert torch.all(model.teacher[0].weight == 1.875)
    # the student is untouched
    for p in model.student.parameters():
        assert torch.all(p == 3.)


def test_buffers_averaged_without_skip_buffers():
    model = TeacherStudent(1., 3.)
    ema_update(model.teacher, model.student, 0.25, skip_buffers=False)
    bn = model.teacher[1]
    assert bn.running_mean.item() == 1.5 and bn.running_var.item() == 1.5
    # integer buffers cannot be averaged: copied
    assert bn.num_batches_tracked.item() == 3


def _runner(model, it=0):
    return SimpleNamespace(model=model, iter=it)


def test_hook_updates_every_interval():
    model = TeacherStudent(1., 3.)
    hook = HOOKS.build(
        dict(type='MeanTeacherHook', momentum=0.5, interval=2))
    assert isinstance(hook, MeanTeacherHook)
    hook.after_train_iter(_runner(model, 0), 0)  # iteration 1: no update
    assert torch.all(model.teacher[0].weight == 1.)
    hook.after_train_iter(_runner(model, 1), 1)  # iteration 2: update
    assert torch.all(model.teacher[0].weight == 2.)


def test_default_momentum_is_dhr_decay():
    model = TeacherStudent(1., 3.)
    hook = MeanTeacherHook()
    assert hook.momentum == 0.001 and hook.interval == 1
    hook.after_train_iter(_runner(model, 0), 0)
    torch.testing.assert_close(model.teacher[0].weight,
                               torch.full((1, 2), 0.999 * 1 + 0.001 * 3))


def test_before_train_copies_student_unless_resumed():
    model = TeacherStudent(1., 3.)
    MeanTeacherHook().before_train(_runner(model))
    for key, value in _values(model.teacher).items():
        assert torch.equal(value, model.student.state_dict()[key])

    # resumed: iteration > 0
    model = TeacherStudent(1., 3.)
    MeanTeacherHook().before_train(_runner(model, it=5))
    assert torch.all(model.teacher[0].weight == 1.)

    # loaded a checkpoint that holds the teacher (load_from a MARS model)
    model = TeacherStudent(1., 3.)
    hook = MeanTeacherHook()
    hook.after_load_checkpoint(
        _runner(model), dict(state_dict={'teacher.0.weight': 0}))
    hook.before_train(_runner(model))
    assert torch.all(model.teacher[0].weight == 1.)

    # a plain checkpoint (no teacher keys): copied
    hook = MeanTeacherHook()
    hook.after_load_checkpoint(_runner(model),
                               dict(state_dict={'backbone.w': 0}))
    hook.before_train(_runner(model))
    assert torch.all(model.teacher[0].weight == 3.)


def test_wrapped_models_are_unwrapped(monkeypatch):

    class Wrapper(nn.Module):

        def __init__(self, module):
            super().__init__()
            self.module = module

    monkeypatch.setattr(mean_teacher_hook, 'is_model_wrapper',
                        lambda m: isinstance(m, Wrapper))
    model = TeacherStudent(1., 3.)
    MeanTeacherHook(momentum=0.5).after_train_iter(
        _runner(Wrapper(model)), 0)
    assert torch.all(model.teacher[0].weight == 2.)


def test_errors():
    with pytest.raises(AttributeError, match='teacher'):
        MeanTeacherHook().before_train(_runner(nn.Linear(2, 2)))
    only_student = nn.Module()
    only_student.student = nn.Linear(2, 2)
    with pytest.raises(AttributeError, match='no teacher'):
        MeanTeacherHook().after_train_iter(_runner(only_student), 0)
    mismatch = nn.Module()
    mismatch.teacher = nn.Linear(2, 2)
    mismatch.student = nn.Linear(2, 3)
    with pytest.raises(ValueError, match='shape'):
        MeanTeacherHook().after_train_iter(_runner(mismatch), 0)
    renamed = nn.Module()
    renamed.teacher = nn.Sequential(nn.Linear(2, 2))
    renamed.student = nn.Sequential(nn.Identity(), nn.Linear(2, 2))
    with pytest.raises(KeyError, match='differ'):
        MeanTeacherHook().after_train_iter(_runner(renamed), 0)
    with pytest.raises(ValueError, match='momentum'):
        MeanTeacherHook(momentum=0)
    with pytest.raises(ValueError, match='interval'):
        MeanTeacherHook(interval=0)
