# Copyright (c) mmweak contributors.
from .eigencam_hook import EigenCAMHook  # noqa: F401
from .rng_state_hook import RNGStateHook  # noqa: F401
from .wsol_visualization_hook import WSOLVisualizationHook  # noqa: F401
from .mean_teacher_hook import MeanTeacherHook  # noqa: F401
