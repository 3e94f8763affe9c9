# Copyright (c) mmweak contributors.
"""Helpers for tests: tiny datasets in the official on-disk formats."""
from .wsol_fixtures import make_cub_root, make_ilsvrc_root

__all__ = ['make_cub_root', 'make_ilsvrc_root']
