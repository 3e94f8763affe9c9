# Copyright (c) mmweak contributors.
"""IRN's confident inter-pixel-relation labels from CAM packs (the training
targets of ``IRNet``; Ahn et al., CVPR 2019, Sec. 3.1).

    python tools/wsss/make_ir_labels.py --cam-dir CAMS \\
        --data-root data/VOCdevkit/VOC2012 --split trainaug \\
        --out-dir IR_LABELS [--fg-thr 0.30] [--bg-thr 0.05]

    # sharded over N processes
    torchrun --nproc_per_node=N tools/wsss/make_ir_labels.py ... \\
        --launcher pytorch

For every id of the list (``<data-root>/ImageSets/Segmentation/<split>.txt``,
``ImageSets/<split>.txt`` or a ``.txt`` path) the image
``<img-dir>/<id><img-suffix>`` (default ``<data-root>/JPEGImages/<id>.jpg``)
and the CAM pack ``<cam-dir>/<id>.npy`` give, through
:func:`mmweak.wsss.ir_label`, a map at the **full image resolution** (IRN's
data set downsamples it to the network's stride-4 grid after cropping):

- confident foreground: argmax over ``[--fg-thr, high_res CAMs]`` refined by
  the ``irn_label`` dense CRF;
- confident background: the same with ``--bg-thr``;
- label = the confident-foreground class where it is foreground, 0 where
  both are background, 255 (unsure) elsewhere.

Output: ``<out-dir>/<id>.png``, grey-level (L) uint8 PNGs with values 0,
``keys + 1`` and 255, as IRN writes them. Resumable (finished files are
skipped), atomic writes, stale temporary files removed at start; a listed
image without a CAM pack is an error naming the file.
"""
import argparse
import os
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
import torch

from mmweak.cam import load_cam_pack
from mmweak.datasets.cls_labels import load_id_list
from mmweak.utils.offline_job import (add_launcher_args, barrier,
                                      init_offline_dist, is_main_process,
                                      offline_device, pending,
                                      remove_stale_tmp, save_png_atomic, shard,
                                      track)
from mmweak.wsss import DenseCRF, ir_label
from mmweak.wsss.data_io import (add_cam_job_args, check_cams_exist, load_rgb,
                                 resolve_data_root, split_list_path)



def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='IRN confident fg/bg/unsure labels from CAM packs')
    add_cam_job_args(parser)
    parser.add_argument('--fg-thr',
                        type=float,
                        default=0.30,
                        help='background score of the confident-foreground '
                        'map (default: 0.30)')
    parser.add_argument('--bg-thr',
                        type=float,
                        default=0.05,
                        help='background score of the confident-background '
                        'map (default: 0.05)')
    add_launcher_args(parser)
    args = parser.parse_args(argv)
    if not 0 <= args.bg_thr <= args.fg_thr:
        parser.error(f'need 0 <= --bg-thr <= --fg-thr, got --bg-thr '
                     f'{args.bg_thr} --fg-thr {args.fg_thr}')
    return args


def main(argv: Optional[List[str]] = None) -> Dict[str, int]:
    args = parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    root = resolve_data_root(args.data_root)
    list_path = split_list_path(root, args.split)
    ids = load_id_list(list_path)
    img_dir = args.img_dir or osp.join(root, 'JPEGImages')
    if not osp.isdir(args.cam_dir):
        raise FileNotFoundError(f'--cam-dir "{args.cam_dir}" is not a folder')
    crf = DenseCRF('irn_label')

    rank, world_size = init_offline_dist(args.launcher)
    device = offline_device()
    todo = pending(ids, lambda i: osp.join(args.out_dir, i + '.png'))
    check_cams_exist(todo, args.cam_dir, list_path)
    if is_main_process():
        os.makedirs(args.out_dir, exist_ok=True)
        stale = remove_stale_tmp(args.out_dir, '.png')
        print(f'make_ir_labels: {len(ids)} images, {len(ids) - len(todo)} '
              f'already done, {len(todo)} to do -> {args.out_dir}' +
              (f' ({stale} stale temporary file(s) removed)' if stale else ''),
              flush=True)
    barrier()

    written = 0
    stats = np.zeros(3, np.int64)  # confident fg, confident bg, unsure px
    for img_id in track(shard(todo, rank, world_size),
                        f'IR labels (rank {rank}/{world_size})'):
        cam_path = osp.join(args.cam_dir, img_id + '.npy')
        img_path = osp.join(img_dir, img_id + args.img_suffix)
        pack = load_cam_pack(cam_path)
        img = load_rgb(img_path)
        size = np.asarray(pack['high_res']).shape[1:]
        if tuple(size) != img.shape[:2]:
            raise ValueError(f'{cam_path}: CAM size {tuple(size)} differs '
                             f'from the image size {img.shape[:2]} of '
                             f'{img_path}')
        label = ir_label(img,
                         pack,
                         fg_threshold=args.fg_thr,
                         bg_threshold=args.bg_thr,
                         crf=crf)
        save_png_atomic(osp.join(args.out_dir, img_id + '.png'), label)
        stats += [
            np.count_nonzero((label > 0) & (label < 255)),
            np.count_nonzero(label == 0),
            np.count_nonzero(label == 255)
        ]
        written += 1

    total = torch.tensor([written, *stats.tolist()],
                         dtype=torch.long,
                         device=device)
    if world_size > 1:
        torch.distributed.all_reduce(total)
    barrier()
    total = total.tolist()
    counts = dict(total=len(ids),
                  skipped=len(ids) - len(todo),
                  written=total[0])
    if is_main_process():
        pixels = max(sum(total[1:]), 1)
        print(
            f'make_ir_labels: wrote {counts["written"]} file(s) to '
            f'{args.out_dir}; pixels of the new files: '
            f'{100 * total[1] / pixels:.1f}% fg, '
            f'{100 * total[2] / pixels:.1f}% bg, '
            f'{100 * total[3] / pixels:.1f}% unsure',
            flush=True)
    return counts


if __name__ == '__main__':
    main()
