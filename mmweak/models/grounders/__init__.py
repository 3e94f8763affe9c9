# Copyright (c) mmweak contributors.
from .triad_grounder import TriadGrounder, location_features

__all__ = ['TriadGrounder', 'location_features']
