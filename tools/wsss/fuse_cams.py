# Copyright (c) mmweak contributors.
"""Fuse BAS seed maps with a separately trained CAM (BAS-WSSS "+CAM" seeds).

    python tools/wsss/fuse_cams.py BAS_CAM_DIR CAM_DIR OUT_DIR \\
        [--split LIST.txt] [--launcher none|pytorch]

    # sharded over N processes
    torchrun --nproc_per_node=N tools/wsss/fuse_cams.py ... --launcher pytorch

Zhai et al., IJCV 2023 (arXiv 2309.12943), Sec. 5 / shared/specs/bas.md,
section 7 "Seeds": the multi-scale BAS maps, max-normalised, are added to
the maps of an IRN-style CAM network, also max-normalised, and the sum is
max-normalised again. Both inputs are IRN CAM packs as written by
``tools/wsss/make_cams.py`` (``np.save`` of ``{'keys', 'cam', 'high_res'}``,
each map already divided by its max + 1e-5), e.g. of
``configs/bas/bas_resnet50_voc12aug.py`` and
``configs/wsss/cam_resnet50_voc12aug.py``; for every ``<id>.npy`` of
``BAS_CAM_DIR`` (or of the ``--split`` list) the tool writes
``OUT_DIR/<id>.npy`` in the same format with, for ``cam`` and ``high_res``,
``(M_bas + M_cam) / (max(M_bas + M_cam) + 1e-5)`` per class.

The two packs of an image must hold the same classes (``keys``, any order;
the output follows the BAS pack's order) and maps of the same sizes; a
``cam`` map present in only one of them is dropped. Resumable (finished
files are skipped), atomic writes, stale temporary files removed at start,
progress bar on rank 0.

Importable: :func:`fuse_packs` fuses two loaded packs.
"""
import argparse
import glob
import os
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
import torch

from mmweak.cam import load_cam_pack, normalize_by_max
from mmweak.datasets.cls_labels import load_id_list
from mmweak.utils.offline_job import (add_launcher_args, barrier,
                                      init_offline_dist, is_main_process,
                                      offline_device, pending,
                                      remove_stale_tmp, save_npy_atomic, shard,
                                      track)
from mmweak.wsss.data_io import check_cams_exist

MAP_KEYS = ('cam', 'high_res')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='BAS seeds + CAM: sum of the max-normalised maps, '
        'renormalised (IRN .npy packs)')
    parser.add_argument('bas_cam_dir', help='CAM packs of the BAS model')
    parser.add_argument('cam_dir', help='CAM packs of the CAM network')
    parser.add_argument('out_dir', help='output folder of <id>.npy')
    parser.add_argument(
        '--split',
        help='id list (.txt) to fuse (default: every <id>.npy of '
        'BAS_CAM_DIR)')
    add_launcher_args(parser)
    args = parser.parse_args(argv)
    for name in ('bas_cam_dir', 'cam_dir'):
        if not osp.isdir(getattr(args, name)):
            parser.error(f'{name.upper()} "{getattr(args, name)}" is not a '
                         'folder')
    if osp.abspath(args.out_dir) in (osp.abspath(args.bas_cam_dir),
                                     osp.abspath(args.cam_dir)):
        parser.error('OUT_DIR must differ from the input folders')
    return args


def fuse_packs(bas: Dict[str, np.ndarray], cam: Dict[str, np.ndarray],
               where: str = 'pack') -> Dict[str, np.ndarray]:
    """Fuse two IRN packs of one image.

    Args:
        bas (dict): BAS pack (``keys`` (K,), ``cam`` (K, h, w), ``high_res``
            (K, H, W)), maps max-normalised.
        cam (dict): CAM pack of the same image and classes.
        where (str): Name of the image in the errors.

    Returns:
        dict: ``keys`` (the BAS order), and ``high_res`` (and ``cam`` when
        both packs have it): per class ``normalize_by_max(M_bas + M_cam)``.
    """
    keys = np.asarray(bas['keys']).astype(np.int64).reshape(-1)
    other = np.asarray(cam['keys']).astype(np.int64).reshape(-1)
    if sorted(keys.tolist()) != sorted(other.tolist()) or \
            len(set(keys.tolist())) != keys.size:
        raise ValueError(f'{where}: the BAS pack has classes {keys.tolist()}, '
                         f'the CAM pack {other.tolist()}; both must be made '
                         'for the same image tags')
    rows = np.argsort(other)[np.searchsorted(np.sort(other), keys)]
    fused = dict(keys=keys)
    for name in MAP_KEYS:
        if name not in bas or name not in cam:
            if name == 'high_res':
                raise ValueError(f'{where}: a pack has no high_res maps')
            continue
        a = torch.from_numpy(np.asarray(bas[name], dtype=np.float32))
        b = torch.from_numpy(np.asarray(cam[name], dtype=np.float32)[rows])
        if a.shape != b.shape:
            raise ValueError(f'{where}: {name!r} maps of shape '
                             f'{tuple(a.shape)} (BAS) and {tuple(b.shape)} '
                             '(CAM) differ; make both at the original image '
                             'size with the same stride')
        fused[name] = normalize_by_max(a + b).numpy().astype(np.float32)
    return fused


def list_ids(args: argparse.Namespace) -> List[str]:
    """Ids to fuse: the ``--split`` list, else the packs of BAS_CAM_DIR."""
    if args.split:
        return load_id_list(args.split)
    paths = sorted(glob.glob(osp.join(args.bas_cam_dir, '*.npy')))
    return [osp.splitext(osp.basename(p))[0] for p in paths]


def main(argv: Optional[List[str]] = None) -> Dict[str, int]:
    args = parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    ids = list_ids(args)
    if not ids:
        raise FileNotFoundError(f'no CAM packs (<id>.npy) to fuse in '
                                f'{args.bas_cam_dir}')
    rank, world_size = init_offline_dist(args.launcher)
    device = offline_device()
    todo = pending(ids, lambda i: osp.join(args.out_dir, i + '.npy'))
    source = args.split or args.bas_cam_dir
    check_cams_exist(todo, args.bas_cam_dir, source)
    check_cams_exist(todo, args.cam_dir, source)
    if is_main_process():
        os.makedirs(args.out_dir, exist_ok=True)
        stale = remove_stale_tmp(args.out_dir, '.npy')
        print(f'fuse_cams: {len(ids)} images, {len(ids) - len(todo)} already '
              f'done, {len(todo)} to do -> {args.out_dir}' +
              (f' ({stale} stale temporary file(s) removed)' if stale else ''),
              flush=True)
    barrier()

    written = 0
    for img_id in track(shard(todo, rank, world_size),
                        f'fuse BAS + CAM (rank {rank}/{world_size})'):
        bas_path = osp.join(args.bas_cam_dir, img_id + '.npy')
        cam_path = osp.join(args.cam_dir, img_id + '.npy')
        pack = fuse_packs(load_cam_pack(bas_path), load_cam_pack(cam_path),
                          where=f'{bas_path} + {cam_path}')
        save_npy_atomic(osp.join(args.out_dir, img_id + '.npy'), pack)
        written += 1

    total = torch.tensor([written], dtype=torch.long, device=device)
    if world_size > 1:
        torch.distributed.all_reduce(total)
    barrier()
    counts = dict(total=len(ids), skipped=len(ids) - len(todo),
                  written=int(total[0]))
    if is_main_process():
        print(f'fuse_cams: wrote {counts["written"]} file(s) to '
              f'{args.out_dir}', flush=True)
    return counts


if __name__ == '__main__':
    main()
