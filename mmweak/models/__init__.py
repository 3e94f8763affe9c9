# Copyright (c) mmweak contributors.
from .backbones import *  # noqa: F401,F403
from .classifiers import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .localizers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .wsss import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .segmentors import *  # noqa: F401,F403
from .language import *  # noqa: F401,F403
from .grounders import *  # noqa: F401,F403
