# Copyright (c) mmweak contributors.
"""mmweak: weakly supervised perception for OpenMMLab 2.0."""
import mmcv
import mmengine
import mmpretrain
from mmengine.utils import digit_version

from .version import __version__, version_info

mmcv_minimum_version = '2.0.0'
mmcv_maximum_version = '2.2.0'
mmengine_minimum_version = '0.10.0'
mmengine_maximum_version = '1.0.0'
mmpretrain_minimum_version = '1.2.0'
mmpretrain_maximum_version = '2.0.0'


def _check(name: str, installed: str, low: str, high: str) -> None:
    version = digit_version(installed)
    assert digit_version(low) <= version < digit_version(high), (
        f'{name}=={installed} is used but incompatible with mmweak. '
        f'Please install {name}>={low}, <{high}.')


_check('mmcv', mmcv.__version__, mmcv_minimum_version, mmcv_maximum_version)
_check('mmengine', mmengine.__version__, mmengine_minimum_version,
       mmengine_maximum_version)
_check('mmpretrain', mmpretrain.__version__, mmpretrain_minimum_version,
       mmpretrain_maximum_version)

# torch >= 2.6 loads checkpoints with weights_only=True: allowlist the few
# types mmengine checkpoints hold instead of turning safe loading off.
from .utils.checkpoint import register_safe_checkpoint_loader  # noqa: E402

register_safe_checkpoint_loader()

__all__ = ['__version__', 'version_info']
