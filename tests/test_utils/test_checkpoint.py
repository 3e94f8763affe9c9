# Copyright (c) mmweak contributors.
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

from mmweak.utils import load_checkpoint_safely


class _RunsCode:
    """An object whose unpickling would run a command."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f'touch {self.path}', ))


def _mmengine_like_checkpoint():
    buffer = HistoryBuffer()
    buffer.update(0.5)
    return {
        'meta': {
            'epoch': 3,
            'iter': 30,
            'seed': np.int64(7),
            'dataset_meta': {
                'classes': ('a', 'b')
            },
        },
        'state_dict': {
            'w': torch.ones(2)
        },
        'message_hub': {
            'log_scalars': {
                'train/loss': buffer
            },
            'runtime_info': {
                'arr': np.arange(3.0)
            }
        },
    }


def test_mmengine_checkpoint_loads_with_weights_only(tmp_path):
    path = tmp_path / 'ok.pth'
    torch.save(_mmengine_like_checkpoint(), path)
    ckpt = load_checkpoint_safely(str(path), map_location='cpu')
    assert ckpt['meta']['iter'] == 30
    assert isinstance(ckpt['message_hub']['log_scalars']['train/loss'],
                      HistoryBuffer)
    np.testing.assert_array_equal(ckpt['message_hub']['runtime_info']['arr'],
                                  np.arange(3.0))
    # mmengine's own loader goes through the registered safe scheme
    ckpt2 = _load_checkpoint(str(path), map_location='cpu')
    assert torch.equal(ckpt2['state_dict']['w'], torch.ones(2))


def test_checkpoint_that_runs_code_is_rejected(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': _RunsCode(marker)}, path)
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_checkpoint_safely(str(tmp_path / 'nope.pth'))


class _Attr:
    """Unpickles to ``getattr(np.ndarray, 'tofile')``-style lookups."""

    def __reduce__(self):
        return (getattr, (np.ndarray, 'tofile'))


def test_getattr_is_limited_to_history_buffer_methods(tmp_path):
    path = tmp_path / 'attr.pth'
    torch.save({'meta': _Attr()}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint_safely(str(path))


def test_fresh_process_loads_a_real_training_checkpoint(tmp_path, tool_env):
    """The statistics-method allowlist must not depend on a HistoryBuffer
    having been created in the loading process."""
    import subprocess
    import sys
    path = tmp_path / 'hub.pth'
    torch.save(_mmengine_like_checkpoint(), path)
    code = ('import sys, mmweak; from mmengine.runner.checkpoint import '
            '_load_checkpoint; c = _load_checkpoint(sys.argv[1]); '
            'print(c["meta"]["iter"])')
    out = subprocess.run([sys.executable, '-c', code, str(path)],
                         env=tool_env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith('30')
