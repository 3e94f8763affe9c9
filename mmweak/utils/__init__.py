# Copyright (c) mmweak contributors.
from .checkpoint import (SAFE_CHECKPOINT_GLOBALS, load_checkpoint_safely,
                         register_safe_checkpoint_loader)
from .distributed import init_cpu_distributed
from .setup_env import register_all_modules

__all__ = [
    'register_all_modules', 'SAFE_CHECKPOINT_GLOBALS',
    'load_checkpoint_safely', 'register_safe_checkpoint_loader',
    'init_cpu_distributed'
]
