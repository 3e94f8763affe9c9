# Copyright (c) mmweak contributors.
from .eigencam_localizer import EigenCAMLocalizer

__all__ = ['EigenCAMLocalizer']
