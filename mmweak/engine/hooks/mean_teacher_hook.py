# Copyright (c) mmweak contributors.
"""Exponential moving average (EMA) teacher of a student-teacher model."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmweak.registry import HOOKS

DATA_BATCH = Optional[dict]


def _teacher_student(model: nn.Module) -> tuple:
    """``(teacher, student)`` of a (possibly wrapped) model, or an error."""
    if is_model_wrapper(model):
        model = model.module
    missing = [
        name for name in ('teacher', 'student')
        if not isinstance(getattr(model, name, None), nn.Module)
    ]
    if missing:
        raise AttributeError(
            f'MeanTeacherHook needs a model with `teacher` and `student` '
            f'sub-modules (e.g. MARSEncoderDecoder); '
            f'{type(model).__name__} has no {" / ".join(missing)}')
    return model.teacher, model.student


@torch.no_grad()
def ema_update(teacher: nn.Module,
               student: nn.Module,
               momentum: float,
               skip_buffers: bool = True) -> None:
    """``teacher <- (1 - m) * teacher + m * student``, in place.

    Parameters are averaged (``momentum=1`` copies). Floating-point
    buffers (BN running statistics) are copied from the student with
    ``skip_buffers=True`` and averaged like the parameters otherwise;
    integer buffers (``num_batches_tracked``) are always copied.

    Raises ``KeyError`` / ``ValueError`` when the two models differ in
    parameter or buffer names or shapes.
    """
    for kind, t_items, s_items in (
            ('parameter', teacher.named_parameters(),
             student.named_parameters()),
            ('buffer', teacher.named_buffers(), student.named_buffers())):
        t_dict, s_dict = dict(t_items), dict(s_items)
        if t_dict.keys() != s_dict.keys():
            diff = sorted(set(t_dict) ^ set(s_dict))
            raise KeyError(f'MeanTeacherHook: teacher and student differ in '
                           f'{kind}s {diff[:5]}; they must share one '
                           'architecture')
        for name, t in t_dict.items():
            s = s_dict[name]
            if t.shape != s.shape:
                raise ValueError(
                    f'MeanTeacherHook: {kind} {name} has shape '
                    f'{tuple(t.shape)} in the teacher and {tuple(s.shape)} '
                    'in the student')
            s = s.detach().to(device=t.device)
            average = t.is_floating_point() and (
                kind == 'parameter' or not skip_buffers)
            if average and momentum < 1:
                t.lerp_(s.to(t.dtype), momentum)
            else:
                t.copy_(s)


@HOOKS.register_module()
class MeanTeacherHook(Hook):
    """Keep ``model.teacher`` an exponential moving average of
    ``model.student``.

    After every ``interval``-th training iteration (after the optimizer
    step), ``teacher = (1 - momentum) * teacher + momentum * student``
    (the EMA teacher of MARS, Jo et al., ICCV 2023, Step 4 / Eq. 6, with
    decay ``1 - momentum = 0.999``, the value of DHR's code). Works with
    any model that has ``teacher`` and ``student`` sub-modules of one
    architecture (:class:`~mmweak.models.MARSEncoderDecoder`); DDP and
    other mmengine wrappers are unwrapped. mmweak's own minimal hook, so
    segmentation needs no mmdet.

    **Start.** At ``before_train`` the teacher becomes a copy of the student
    (weights and buffers), so it starts from the initialised or ``load_from``
    weights; this is skipped when the run resumes (iteration > 0) or when
    the loaded checkpoint already holds ``teacher.*`` weights (resuming, or
    ``load_from`` a MARS checkpoint whose teacher is kept).

    **Buffers.** With ``skip_buffers=True`` (default) buffers such as BN
    running statistics are *copied* from the student at every update rather
    than averaged (the student's running statistics are already averages;
    the teacher runs in eval mode and never updates its own). With
    ``skip_buffers=False`` floating-point buffers are averaged like the
    parameters. Integer buffers (``num_batches_tracked``) are always copied.
    (mmdet's hook of the same name leaves the teacher's buffers untouched
    with ``skip_buffers=True``.)

    Args:
        momentum (float): EMA momentum ``m`` in ``(0, 1]``; the weight of the
            student. Defaults to 0.001.
        interval (int): Update every ``interval`` iterations. Defaults to 1.
        skip_buffers (bool): Copy buffers instead of averaging them.
            Defaults to True.
    """

    priority = 'NORMAL'

    def __init__(self,
                 momentum: float = 0.001,
                 interval: int = 1,
                 skip_buffers: bool = True) -> None:
        if not 0 < momentum <= 1:
            raise ValueError(
                f'MeanTeacherHook: momentum must be in (0, 1], got '
                f'{momentum}')
        if int(interval) != interval or interval < 1:
            raise ValueError(
                f'MeanTeacherHook: interval must be a positive integer, got '
                f'{interval}')
        self.momentum = float(momentum)
        self.interval = int(interval)
        self.skip_buffers = bool(skip_buffers)
        self._loaded_teacher = False

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('state_dict', checkpoint)
        self._loaded_teacher = any(
            str(key).startswith(('teacher.', 'module.teacher.'))
            for key in state)

    def before_train(self, runner) -> None:
        teacher, student = _teacher_student(runner.model)
        if runner.iter > 0 or self._loaded_teacher:
            print_log(
                'MeanTeacherHook: keeping the teacher of the loaded '
                'checkpoint.',
                logger='current')
            return
        ema_update(teacher, student, 1.0, self.skip_buffers)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
        if not self.every_n_train_iters(runner, self.interval):
            return
        teacher, student = _teacher_student(runner.model)
        ema_update(teacher, student, self.momentum, self.skip_buffers)
