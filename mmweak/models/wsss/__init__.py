# Copyright (c) mmweak contributors.
"""WSSS Stage B models: IRN's inter-pixel relation network."""
from .irnet import IRNet

__all__ = ['IRNet']
