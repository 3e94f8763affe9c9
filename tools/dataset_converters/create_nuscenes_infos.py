# Copyright (c) mmweak contributors.
"""Run mmdet3d 1.4's own nuScenes converter on a nuScenes-layout root.

    python tools/dataset_converters/create_nuscenes_infos.py ROOT \\
        --version v1.0-mini [--out-dir ROOT] [--max-sweeps 0] \\
        [--extra-tag nuscenes] [--skip-gt-database]

Produces, exactly as mmdet3d's ``tools/create_data.py nuscenes`` does for
real nuScenes (used by the Point-DETR3D, AAAI 2024, arXiv 2403.15317,
pipelines for both real and synthetic data)::

    OUT_DIR/nuscenes_infos_train.pkl     v2 infos ({metainfo, data_list})
    OUT_DIR/nuscenes_infos_val.pkl       (trainval/mini; test: _test.pkl)
    OUT_DIR/nuscenes_dbinfos_train.pkl   GT database index (not for test)
    OUT_DIR/nuscenes_gt_database/*.bin   points of every GT box

The steps are those of ``nuscenes_data_prep`` in mmdet3d's
``tools/create_data.py``: ``nuscenes_converter.create_nuscenes_infos``,
then ``update_infos_to_v2.update_pkl_infos('nuscenes', ...)`` on each pkl,
then ``create_gt_database.create_groundtruth_database('NuScenesDataset',
...)``. The three modules are imported from the installed wheel
(``mmdet3d/.mim/tools/dataset_converters/``), not copied.

Work-arounds for the pinned versions (mmdet3d 1.4.0, nuscenes-devkit
1.2.0), applied only while this tool runs, site-packages untouched:

1. ``update_nuscenes_infos`` opens ``NuScenes(dataroot='./data/nuscenes')``
   (hard-coded, relative to the working directory): the module's
   ``NuScenes`` is replaced by one that opens ``ROOT``.
2. ``get_nuscenes_2d_boxes`` (the ``cam_instances`` of the v2 infos) clips
   projected boxes to a hard-coded 1600x900 canvas: when the camera
   sample_data have another size (the synthetic set's 320x180 images),
   ``convert_utils.post_process_coords`` gets that size as its default.
3. mmdet3d's converter writes its intermediate (v1) pkls and the GT
   database into the data root. Everything is written into a staging
   folder (symlinks to ROOT's ``v1.0-*``, ``samples``, ``sweeps``,
   ``maps``) beside OUT_DIR and the outputs are renamed into OUT_DIR at the
   end, so an interrupted run leaves no half-written file and ROOT only
   receives the final files (when OUT_DIR is ROOT).
4. The GT database builds ``NuScenesDataset`` with bare type names: it runs
   under ``DefaultScope.overwrite_default_scope('mmdet3d')``.
5. The GT database loads points with ``LoadPointsFromMultiSweeps(
   sweeps_num=10, pad_empty_sweeps=True)``, and the v2 infos drop an empty
   ``lidar_sweeps`` list, so on sweep-less infos (``--max-sweeps 0``, or
   data without sweeps) every frame is padded with 10 copies of itself and
   each database object holds 11 copies of its points
   (``num_points_in_gt`` = 11 x ``num_lidar_pts``). With ``--max-sweeps 0``
   the wrapper builds that dataset with ``pad_empty_sweeps=False``, so the
   database holds each point once (other values: mmdet3d's behaviour).

The paths in ``nuscenes_dbinfos_train.pkl`` are relative to OUT_DIR (as
mmdet3d's are to its data root). Training pipelines on sweep-less infos
should likewise not pad (``pad_empty_sweeps=False`` or no
``LoadPointsFromMultiSweeps``); the 5th point column is the ring index as
stored, which ``LoadPointsFromMultiSweeps`` overwrites with the time lag.
"""
import argparse
import contextlib
import importlib.util
import os
import os.path as osp
import shutil
import sys
import tempfile
import time
from types import ModuleType
from typing import Dict, Iterator, Optional

VERSIONS = ('v1.0-trainval', 'v1.0-test', 'v1.0-mini')
LINKED = ('samples', 'sweeps', 'maps', 'lidarseg', 'panoptic')


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('root', help='nuScenes-layout data root')
    p.add_argument('--version', default='v1.0-mini', choices=VERSIONS)
    p.add_argument('--out-dir',
                   default=None,
                   help='where the pkls and GT database go (default: ROOT)')
    p.add_argument('--max-sweeps',
                   type=int,
                   default=0,
                   help='previous LiDAR frames per info (mmdet3d default '
                   '10; 0 for the synthetic set, which has no sweeps)')
    p.add_argument('--extra-tag',
                   default='nuscenes',
                   help='file name prefix, as create_data.py --extra-tag')
    p.add_argument('--skip-gt-database', action='store_true')
    return p.parse_args(argv)


def mmdet3d_tool_module(name: str) -> ModuleType:
    """Import ``mmdet3d/.mim/tools/dataset_converters/<name>.py`` from the
    installed mmdet3d wheel."""
    import mmdet3d
    path = osp.join(osp.dirname(mmdet3d.__file__), '.mim', 'tools',
                    'dataset_converters', f'{name}.py')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} not found: this tool needs mmdet3d >= 1.1 installed '
            'from its wheel (which ships tools/ under mmdet3d/.mim)')
    mod_name = f'_mmdet3d_tools_{name}'
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module


def _camera_size(root: str, version: str) -> Optional[tuple]:
    """(width, height) of the camera sample_data, if one size only."""
    import json
    with open(osp.join(root, version, 'sample_data.json')) as f:
        rows = json.load(f)
    sizes = {(r['width'], r['height'])
             for r in rows if r.get('fileformat') == 'jpg' and r.get('width')}
    return sizes.pop() if len(sizes) == 1 else None


class _NoSweepPadding:
    """Stands for mmdet3d's ``DATASETS`` in ``create_gt_database``: builds
    the dataset with ``LoadPointsFromMultiSweeps(pad_empty_sweeps=False)``
    (work-around 5)."""

    def __init__(self, registry) -> None:
        self.registry = registry

    def build(self, cfg: dict):
        cfg = dict(cfg)
        cfg['pipeline'] = [
            dict(t, pad_empty_sweeps=False)
            if t.get('type') == 'LoadPointsFromMultiSweeps' else t
            for t in cfg.get('pipeline', [])
        ]
        return self.registry.build(cfg)


@contextlib.contextmanager
def patched_converters(
        data_root: str,
        cam_size: Optional[tuple],
        pad_empty_sweeps: bool = True) -> Iterator[Dict[str, ModuleType]]:
    """The three mmdet3d converter modules with work-arounds 1, 2, 4 and
    (``pad_empty_sweeps=False``) 5 applied for the duration of the
    block."""
    from mmengine.registry import DefaultScope
    from nuscenes.nuscenes import NuScenes

    import mmdet3d.datasets  # noqa: F401 (registers NuScenesDataset)
    from mmdet3d.datasets import convert_utils
    mods = {
        n: mmdet3d_tool_module(n)
        for n in ('nuscenes_converter', 'update_infos_to_v2',
                  'create_gt_database')
    }
    upd = mods['update_infos_to_v2']

    def nuscenes_at_root(version: str, dataroot: str = '', verbose=True):
        return NuScenes(version=version, dataroot=data_root, verbose=verbose)

    gtdb = mods['create_gt_database']
    old_nusc, old_datasets = upd.NuScenes, gtdb.DATASETS
    old_defaults = convert_utils.post_process_coords.__defaults__
    upd.NuScenes = nuscenes_at_root
    if not pad_empty_sweeps:
        gtdb.DATASETS = _NoSweepPadding(old_datasets)
    if cam_size is not None:
        convert_utils.post_process_coords.__defaults__ = (tuple(cam_size), )
    try:
        with DefaultScope.overwrite_default_scope('mmdet3d'):
            yield mods
    finally:
        upd.NuScenes, gtdb.DATASETS = old_nusc, old_datasets
        convert_utils.post_process_coords.__defaults__ = old_defaults


def create_nuscenes_infos(root: str,
                          version: str = 'v1.0-mini',
                          out_dir: Optional[str] = None,
                          max_sweeps: int = 0,
                          extra_tag: str = 'nuscenes',
                          gt_database: bool = True) -> Dict[str, str]:
    """Convert a nuScenes-layout ``root`` with mmdet3d's converter.

    Returns:
        dict: paths of the written files (``train``, ``val`` or ``test``,
        ``dbinfos``, ``gt_database``).
    """
    root = osp.abspath(root)
    out_dir = osp.abspath(out_dir or root)
    if not osp.isfile(osp.join(root, version, 'sample.json')):
        raise FileNotFoundError(
            f'{root}/{version}/sample.json not found: ROOT must hold the '
            f'nuScenes tables of {version}')
    test = version == 'v1.0-test'
    splits = ('test', ) if test else ('train', 'val')
    os.makedirs(out_dir, exist_ok=True)
    stage = tempfile.mkdtemp(prefix=f'.{extra_tag}_infos.', dir=out_dir)
    outputs: Dict[str, str] = {}
    try:
        os.symlink(osp.join(root, version), osp.join(stage, version))
        for name in LINKED:
            if osp.exists(osp.join(root, name)):
                os.symlink(osp.join(root, name), osp.join(stage, name))
        with patched_converters(stage,
                                _camera_size(root, version),
                                pad_empty_sweeps=max_sweeps > 0) as mods:
            mods['nuscenes_converter'].create_nuscenes_infos(
                stage, extra_tag, version=version, max_sweeps=max_sweeps)
            for split in splits:
                pkl = osp.join(stage, f'{extra_tag}_infos_{split}.pkl')
                mods['update_infos_to_v2'].update_pkl_infos('nuscenes',
                                                            out_dir=stage,
                                                            pkl_path=pkl)
                outputs[split] = f'{extra_tag}_infos_{split}.pkl'
            if gt_database and not test:
                mods['create_gt_database'].create_groundtruth_database(
                    'NuScenesDataset', stage, extra_tag,
                    f'{extra_tag}_infos_train.pkl')
                outputs['dbinfos'] = f'{extra_tag}_dbinfos_train.pkl'
                outputs['gt_database'] = f'{extra_tag}_gt_database'
        for key, name in outputs.items():
            dst = osp.join(out_dir, name)
            if osp.isdir(dst) and not osp.islink(dst):
                shutil.rmtree(dst)
            os.replace(osp.join(stage, name), dst)
            outputs[key] = dst
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return outputs


def main(argv=None) -> Dict[str, str]:
    args = parse_args(argv)
    start = time.time()
    outputs = create_nuscenes_infos(args.root,
                                    args.version,
                                    args.out_dir,
                                    args.max_sweeps,
                                    args.extra_tag,
                                    gt_database=not args.skip_gt_database)
    print(f'nuScenes infos ({args.version}) in {time.time() - start:.1f} s:')
    for key, path in outputs.items():
        print(f'  {key}: {path}')
    return outputs


if __name__ == '__main__':
    main()
