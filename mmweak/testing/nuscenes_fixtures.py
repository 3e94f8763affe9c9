# Copyright (c) mmweak contributors.
"""A tiny synthetic nuScenes (v1.0-mini layout) with mmdet3d v2 infos.

:func:`make_nuscenes_root` runs the generator
``tools/dataset_converters/make_synthetic_nuscenes.py`` and the converter
wrapper ``tools/dataset_converters/create_nuscenes_infos.py`` (mmdet3d's
own nuScenes converter; found through the ``mmweak/.mim/tools`` link, so it
works in source and regular installs). Importing this module does not
import mmdet3d; calling the function needs mmdet3d and nuscenes-devkit.
"""
import os
import os.path as osp
from typing import Dict, Optional, Sequence, Union

from .tool_scripts import load_tool_script

PathLike = Union[str, 'os.PathLike[str]']
GENERATOR = 'tools/dataset_converters/make_synthetic_nuscenes.py'
CONVERTER = 'tools/dataset_converters/create_nuscenes_infos.py'
#: one train and one val scene of the devkit's v1.0-mini split
DEFAULT_SCENES = ('scene-0061', 'scene-0103')


def _tools_root() -> str:
    pkg = osp.dirname(osp.dirname(osp.abspath(__file__)))
    mim = osp.join(pkg, '.mim')
    if osp.isfile(osp.join(mim, GENERATOR)):
        return mim
    return osp.dirname(pkg)  # a source checkout without the .mim links


def make_nuscenes_root(tmp_dir: PathLike,
                       num_samples_per_scene: int = 2,
                       scenes: Optional[Sequence[str]] = DEFAULT_SCENES,
                       seed: int = 0,
                       ground_points: int = 3000,
                       with_camera: bool = False,
                       image_size: Sequence[int] = (320, 180),
                       gt_database: bool = True,
                       max_sweeps: int = 0,
                       num_scenes: Optional[Sequence[int]] = None
                       ) -> Dict[str, str]:
    """Write ``tmp_dir/nuscenes`` (synthetic nuScenes, v1.0-mini layout) and
    its mmdet3d info pkls.

    The defaults (one train and one val scene, 2 keyframes each, 3000
    ground points per sweep, no images) take a few seconds once mmdet3d
    is imported; ``scenes=None`` writes all ten mini scenes.

    Args:
        tmp_dir: Parent folder; ``nuscenes`` is created inside it.
        num_samples_per_scene: Keyframes per scene (>= 2 gives velocities).
        scenes: v1.0-mini scene names, None for all ten.
        seed: Generator seed.
        ground_points: Ground points per LiDAR sweep.
        with_camera: Also write the camera JPEGs.
        image_size: Camera image (width, height).
        gt_database: Also build ``nuscenes_dbinfos_train.pkl`` and
            ``nuscenes_gt_database`` (needs a numba compile, ~3 s).
        max_sweeps: ``--max-sweeps`` of the converter.
        num_scenes: ``(train, val)`` scene counts for a v1.0-trainval set
            named as the devkit's first train / val scenes (``scenes`` is
            then ignored); None for the v1.0-mini layout.

    Returns:
        dict: ``data_root``, ``train_pkl``, ``val_pkl``, ``dbinfos``
        (None without the GT database), ``gt_database`` and ``summary``
        (the generator's ``synthetic_nuscenes.json`` content).
    """
    data_root = osp.join(str(tmp_dir), 'nuscenes')
    root = _tools_root()
    gen = load_tool_script(root, GENERATOR)
    argv = [
        data_root, '--num-samples-per-scene',
        str(num_samples_per_scene), '--seed',
        str(seed), '--ground-points',
        str(ground_points), '--image-size',
        str(image_size[0]),
        str(image_size[1])
    ]
    version = 'v1.0-mini'
    if num_scenes is not None:
        version = 'v1.0-trainval'
        argv += ['--version', version, '--num-scenes'] + [
            str(n) for n in num_scenes
        ]
    elif scenes is not None:
        argv += ['--scenes', *scenes]
    if with_camera:
        argv.append('--with-camera')
    summary = gen.main(argv)
    conv = load_tool_script(root, CONVERTER)
    out = conv.create_nuscenes_infos(data_root,
                                     version,
                                     max_sweeps=max_sweeps,
                                     gt_database=gt_database)
    return dict(data_root=data_root,
                train_pkl=out['train'],
                val_pkl=out['val'],
                dbinfos=out.get('dbinfos'),
                gt_database=out.get('gt_database'),
                summary=summary)
