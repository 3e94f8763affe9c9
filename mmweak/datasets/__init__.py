# Copyright (c) mmweak contributors.
from .cub_wsol import CUBWSOL
from .imagenet_wsol import ImageNetWSOL
from .synthetic_wsol import (SyntheticWSOL, generate_synthetic_wsol,
                             synthetic_class_names)
from .transforms import *  # noqa: F401,F403

__all__ = [
    'CUBWSOL', 'ImageNetWSOL', 'SyntheticWSOL', 'generate_synthetic_wsol',
    'synthetic_class_names'
]
