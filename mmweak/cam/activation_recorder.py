# Copyright (c) mmweak contributors.
"""Scoped forward hooks that record what named modules produce."""
from typing import Any, Dict, Sequence, Tuple

import torch
from torch import nn

INPUT_SUFFIX = ':input'


def resolve_module(model: nn.Module, path: str) -> nn.Module:
    """Return the sub-module of ``model`` at the dotted ``path``.

    Args:
        model (nn.Module): The root module.
        path (str): Dotted path such as ``'backbone.layer4'`` or
            ``'backbone.layers.10'``; ``''`` is the root itself (so
            ``':input'`` records the model's own input).

    Raises:
        ValueError: If no module lives at ``path``; the message lists the
            children of the deepest module found.
    """
    module = model
    walked = []
    for part in path.split('.') if path else []:
        children = dict(module.named_children())
        if part not in children:
            where = '.'.join(walked) or 'the model'
            raise ValueError(
                f'target layer {path!r}: {where} has no sub-module {part!r}; '
                f'its children are {sorted(children)}.')
        module = children[part]
        walked.append(part)
    return module


def _detach(value: Any) -> Any:
    """Detach every tensor in a (nested) tuple / list / dict."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, tuple) and hasattr(value, '_fields'):
        return type(value)(*[_detach(v) for v in value])  # namedtuple
    if isinstance(value, (tuple, list)):
        return type(value)([_detach(v) for v in value])
    if isinstance(value, dict):
        return {k: _detach(v) for k, v in value.items()}
    return value


class ActivationRecorder:
    """Record the outputs (or inputs) of named modules with forward hooks
    that live only inside a scope.

    Hooks are registered by :meth:`open` (or ``with recorder:``) and removed
    by :meth:`close`, also when the block raises, so nothing stays attached
    to the model. Only forward hooks are used; the records are detached
    tensors of the latest forward call and are dropped by :meth:`pop`,
    :meth:`clear` and :meth:`close`. A module that runs several times in one
    forward keeps its last record.

    Args:
        model (nn.Module): The model to watch.
        layers (Sequence[str]): Dotted module paths, e.g.
            ``['backbone.layer4', 'neck']``. A path ending in ``':input'``
            records the first positional input of the module instead (a
            forward pre-hook), e.g. ``'decode_head.conv_seg:input'`` for the
            features entering an mmseg classifier layer.
    """

    def __init__(self, model: nn.Module, layers: Sequence[str]) -> None:
        if isinstance(layers, str):
            layers = [layers]
        self.layers = list(dict.fromkeys(layers))
        self._targets: Dict[str, Tuple[nn.Module, bool]] = {}
        for name in self.layers:
            if not isinstance(name, str):
                raise TypeError('target layers must be dotted module paths '
                                f'(str), got {name!r}.')
            is_input = name.endswith(INPUT_SUFFIX)
            path = name[:-len(INPUT_SUFFIX)] if is_input else name
            self._targets[name] = (resolve_module(model, path), is_input)
        self._handles = []
        self._records: Dict[str, Any] = {}

    @property
    def is_open(self) -> bool:
        """Whether the hooks are currently registered."""
        return bool(self._handles)

    def _output_hook(self, name: str):

        def hook(module, args, output):
            self._records[name] = _detach(output)

        return hook

    def _input_hook(self, name: str):

        def hook(module, args, kwargs):
            if args:
                value = args[0]
            else:  # mmengine calls models as ``model(inputs=..., ...)``
                value = kwargs.get('inputs', next(iter(kwargs.values()), None))
            self._records[name] = _detach(value)

        return hook

    def open(self) -> 'ActivationRecorder':
        """Register the hooks (no-op if they already are)."""
        if self.is_open:
            return self
        try:
            for name, (module, is_input) in self._targets.items():
                if is_input:
                    handle = module.register_forward_pre_hook(
                        self._input_hook(name), with_kwargs=True)
                else:
                    handle = module.register_forward_hook(
                        self._output_hook(name))
                self._handles.append(handle)
        except Exception:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Remove the hooks and drop the records."""
        while self._handles:
            self._handles.pop().remove()
        self._records.clear()

    def clear(self) -> None:
        """Drop the records of the previous forward call."""
        self._records.clear()

    def pop(self) -> Dict[str, Any]:
        """Return the records of the latest forward and forget them.

        Raises:
            RuntimeError: If a target layer did not run.
        """
        missing = [n for n in self.layers if n not in self._records]
        records = dict(self._records)
        self._records.clear()
        if missing:
            raise RuntimeError(
                f'target layers {missing} did not run in the forward pass; '
                'check that they are used by the model in this mode.')
        return records

    def __enter__(self) -> 'ActivationRecorder':
        return self.open()

    def __exit__(self, *exc_info) -> bool:
        self.close()
        return False
