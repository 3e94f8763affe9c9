# Copyright (c) mmweak contributors.
from .bas_optim_wrapper_constructor import BASOptimWrapperConstructor

__all__ = ['BASOptimWrapperConstructor']
