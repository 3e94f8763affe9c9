# Copyright (c) mmweak contributors.
from .wsol_visualizer import WSOLVisualizer, overlay_map

__all__ = ['WSOLVisualizer', 'overlay_map']
