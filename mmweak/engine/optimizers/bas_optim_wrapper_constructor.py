# Copyright (c) mmweak contributors.
from typing import Dict, List

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper

from mmweak.registry import (OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS,
                             OPTIMIZERS)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class BASOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Four parameter groups with the learning-rate multipliers of BAS.

    Wu, Zhai, Cao, CVPR 2022 (arXiv 2112.00580), training recipe: backbone
    weights at ``lr``, backbone biases at ``2 * lr``, weights of the new
    layers (names containing ``"classifier"``: the classifier head and the
    generator) at ``10 * lr`` and their biases at ``20 * lr``; every group
    uses the optimizer's weight decay. A bias is any parameter whose name
    ends with ``bias``, batch-norm shifts included, as in the reference.
    mmengine's ``custom_keys`` cannot combine a name match with a bias rule
    (the first matching key wins and ``bias_lr_mult`` skips norm layers),
    hence this constructor.

    Use it with
    ``optim_wrapper = dict(constructor='BASOptimWrapperConstructor',
    optimizer=dict(type='SGD', lr=1e-3, ...), paramwise_cfg=dict(...))``.

    Args:
        optim_wrapper_cfg (dict): The optim wrapper config (``optimizer``,
            optional ``type`` and wrapper arguments).
        paramwise_cfg (dict, optional): Any of
            ``head_keys`` (tuple[str]): substrings marking the new layers,
            default ``('classifier', )``;
            ``bias_lr_mult`` (float): backbone biases, default 2;
            ``head_lr_mult`` (float): new-layer weights, default 10;
            ``head_bias_lr_mult`` (float): new-layer biases, default 20.
            Defaults to None (all defaults).
    """

    defaults = dict(
        head_keys=('classifier', ),
        bias_lr_mult=2.0,
        head_lr_mult=10.0,
        head_bias_lr_mult=20.0)

    def __init__(self, optim_wrapper_cfg: dict,
                 paramwise_cfg: dict = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        unknown = set(paramwise_cfg) - set(self.defaults)
        if unknown:
            raise ValueError(
                f'BASOptimWrapperConstructor: unknown paramwise_cfg keys '
                f'{sorted(unknown)}; accepted: {sorted(self.defaults)}')
        super().__init__(optim_wrapper_cfg, None)
        if self.base_lr is None:
            raise ValueError('BASOptimWrapperConstructor: optimizer.lr must '
                             'be set')
        self.bas_cfg = {**self.defaults, **paramwise_cfg}
        if isinstance(self.bas_cfg['head_keys'], str):
            self.bas_cfg['head_keys'] = (self.bas_cfg['head_keys'], )

    def param_groups(self, model: nn.Module) -> List[Dict]:
        """The (up to four) parameter groups of ``model``."""
        cfg = self.bas_cfg
        mults = dict(
            weight=1.0,
            bias=cfg['bias_lr_mult'],
            head_weight=cfg['head_lr_mult'],
            head_bias=cfg['head_bias_lr_mult'])
        groups: Dict[str, List[nn.Parameter]] = {k: [] for k in mults}
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            kind = 'bias' if name.endswith('bias') else 'weight'
            if any(key in name for key in cfg['head_keys']):
                kind = 'head_' + kind
            groups[kind].append(param)
        if not groups['head_weight']:
            raise ValueError(
                'BASOptimWrapperConstructor: no parameter name contains any '
                f'of head_keys={tuple(cfg["head_keys"])}')
        return [
            dict(params=params, lr=self.base_lr * mults[kind])
            for kind, params in groups.items() if params
        ]

    def __call__(self, model: nn.Module) -> OptimWrapper:
        if hasattr(model, 'module'):
            model = model.module
        optimizer_cfg = self.optimizer_cfg.copy()
        optimizer_cfg['params'] = self.param_groups(model)
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        optim_wrapper_cfg = self.optim_wrapper_cfg.copy()
        optim_wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(
            optim_wrapper_cfg, default_args=dict(optimizer=optimizer))
