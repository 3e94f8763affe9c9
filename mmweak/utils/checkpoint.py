# Copyright (c) mmweak contributors.
"""Safe loading of mmengine checkpoints under torch's ``weights_only`` mode.

torch >= 2.6 loads with ``weights_only=True`` by default, which rejects the
few non-tensor objects that mmengine writes into its checkpoints (message hub
buffers, numpy scalars and arrays). Instead of switching safe loading off
(``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``), mmweak allowlists exactly those
types: a checkpoint holding anything else still fails to load, so a file from
a stranger cannot run code just by being loaded.
"""
import os.path as osp
import pickle
from typing import Any, Callable, List, Optional, Union

import numpy as np
import torch
from mmengine.runner import CheckpointLoader


def _numpy_globals() -> List[Any]:
    """Numpy objects that pickled arrays, dtypes and scalars refer to."""
    try:  # numpy >= 2 moved the private modules
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [
        type(np.dtype(name)) for name in (
            'bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16',
            'uint32', 'uint64', 'float16', 'float32', 'float64', 'U', 'O')
    ]
    return [_reconstruct, scalar, np.ndarray, np.dtype, *dtype_classes]


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """A ``getattr`` that only resolves HistoryBuffer statistics methods.

    Pickled ``HistoryBuffer`` objects refer to their statistics methods as
    ``getattr(HistoryBuffer, 'mean')``. Allowing the real ``getattr`` would
    let a crafted file reach any attribute of any allowlisted object, so this
    stand-in is registered under the name ``getattr`` instead.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    allowed = {'min', 'max', 'current', 'mean'}
    allowed.update(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint: '
        'only HistoryBuffer statistics methods are allowed')


def _mmengine_globals() -> List[Any]:
    """mmengine objects stored in the ``message_hub`` of a checkpoint."""
    from mmengine.logging.history_buffer import HistoryBuffer
    return [
        HistoryBuffer, (_history_buffer_getattr, '__builtin__.getattr'),
        (_history_buffer_getattr, 'builtins.getattr')
    ]


SAFE_CHECKPOINT_GLOBALS: List[Any] = _numpy_globals() + _mmengine_globals()


def load_checkpoint_safely(filename: str,
                           map_location: Optional[Union[str,
                                                        Callable]] = None
                           ) -> Any:
    """Load a local checkpoint with ``weights_only=True`` and the allowlist.

    Args:
        filename (str): Path of the checkpoint file.
        map_location (str | Callable, optional): Passed to ``torch.load``.

    Returns:
        The loaded object (usually a dict with ``state_dict`` and ``meta``).

    Raises:
        FileNotFoundError: If ``filename`` does not exist.
        pickle.UnpicklingError: If the file holds a type outside the
            allowlist (torch's message names the offending global).
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    with torch.serialization.safe_globals(SAFE_CHECKPOINT_GLOBALS):
        return torch.load(
            filename, map_location=map_location, weights_only=True)


_REGISTERED = False


def register_safe_checkpoint_loader() -> None:
    """Make mmengine load local checkpoints through
    :func:`load_checkpoint_safely` (``load_from``, ``--resume`` and
    ``tools/test.py CKPT``). Idempotent."""
    global _REGISTERED
    if _REGISTERED:
        return

    @CheckpointLoader.register_scheme(prefixes='', force=True)
    def load_from_local(filename: str, map_location=None):  # noqa: ANN001
        return load_checkpoint_safely(filename, map_location)

    _REGISTERED = True
