# Copyright (c) mmweak contributors.
"""Build dataset pipelines from mmweak's transform registry."""
from typing import Callable, List, Sequence, Union

from mmweak.registry import TRANSFORMS


def build_wsol_pipeline(
        pipeline: Sequence[Union[dict, Callable]]) -> List[Callable]:
    """Build the transforms of a pipeline with mmweak's ``TRANSFORMS``.

    mmpretrain's datasets build dict configs with mmpretrain's registry,
    where mmweak's transforms only resolve when the default scope is
    ``'mmweak'``. mmweak's datasets build them here first so bare names such
    as ``'WSOLResize'`` work in any scope; host transforms are found through
    the parent registry (``'LoadImageFromFile'``) or a scope prefix
    (``'mmpretrain.ColorJitter'``).

    Args:
        pipeline (Sequence[dict | Callable]): Transform configs or objects.

    Returns:
        list[Callable]: The built transforms.
    """
    built = []
    for transform in pipeline:
        if isinstance(transform, dict):
            built.append(TRANSFORMS.build(transform))
        elif callable(transform):
            built.append(transform)
        else:
            raise TypeError('Each pipeline entry must be a dict config or a '
                            f'callable, got {type(transform)}.')
    return built
