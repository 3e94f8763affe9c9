# Copyright (c) mmweak contributors.
"""Helpers for tests: tiny datasets in the official on-disk formats, tiny
model overrides and imports of the tool scripts."""
from .nuscenes_fixtures import make_nuscenes_root
from .refcoco_fixtures import make_refcoco_root, write_random_region_features
from .tiny_models_3d import tiny_pillar_options
from .tool_scripts import load_tool_script
from .wsol_fixtures import (make_cub_root, make_ilsvrc_root,
                            make_wsoleval_root)
from .wsss_fixtures import make_voc_root

__all__ = [
    'load_tool_script', 'make_cub_root', 'make_ilsvrc_root', 'make_voc_root',
    'make_wsoleval_root', 'make_refcoco_root', 'write_random_region_features',
    'make_nuscenes_root', 'tiny_pillar_options'
]
