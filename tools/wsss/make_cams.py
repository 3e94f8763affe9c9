# Copyright (c) mmweak contributors.
"""Export multi-scale + flip CAMs of the tagged classes in IRN's format.

    python tools/wsss/make_cams.py CONFIG CHECKPOINT [--out-dir DIR] \\
        [--split trainaug] [--data-root DIR] [--scales 1.0 0.5 1.5 2.0] \\
        [--no-flip] [--batch-size 1] [--num-workers N] \\
        [--cfg-options k=v ...] [--launcher none|pytorch]

    # sharded over N processes (GPUs, or CPU processes with gloo)
    torchrun --nproc_per_node=N tools/wsss/make_cams.py CONFIG CKPT \\
        --launcher pytorch

For every image of the dataset (the config's ``cam_dataloader``, else its
``test_dataloader``; ``--split`` swaps the list file, e.g. ``trainaug`` ->
``ImageSets/Segmentation/trainaug.txt``) the model's ``forward_cam`` is run
at every scale on the image and its horizontal flip, and the tagged classes
(``gt_label``, 0-based foreground indices) are written to
``<out-dir>/<img_id>.npy`` as ``np.save`` of ``{'keys': int64 (K,), 'cam':
float32 (K, ceil(H/4), ceil(W/4)), 'high_res': float32 (K, H, W)}`` at the
original image size, each map summed over the views and divided by its max
+ 1e-5 (wsss-protocol spec, section 4; :func:`mmweak.cam.multiscale_cams`).
Images without tags get an empty pack (K = 0) and are counted.

The dataset pipeline must load the image at its original size
(``LoadImageFromFile`` + ``mmpretrain.PackInputs``); the model's data
preprocessor normalises it, so the config's mean/std are used.

Batching: with ``--batch-size B > 1`` the images are grouped by size (read
from the image file headers) and each group is cut into chunks of up to B
images, which go through one forward per scale together with their flips;
with B = 1 each image is a chunk (4 forwards of 2 views). A chunk is the
unit of work and of resume, and the chunks depend only on the image list:
a rerun skips chunks whose files all exist and recomputes the others whole,
so an interrupted run, resumed, writes byte-identical files. Files appear
only by atomic rename; stale temporary files of a killed run are removed.
"""
import argparse
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.runner import load_checkpoint

from mmweak.cam import cam_pack_to_numpy, multiscale_cams
from mmweak.registry import DATASETS, MODELS
from mmweak.utils import register_all_modules
from mmweak.utils.offline_job import (add_launcher_args, barrier,
                                      init_offline_dist, is_main_process,
                                      offline_device, remove_stale_tmp,
                                      save_npy_atomic, shard, track)

DEFAULT_SCALES = (1.0, 0.5, 1.5, 2.0)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Multi-scale + flip CAMs of the tagged classes (IRN .npy)')
    parser.add_argument('config', help='config of a model with forward_cam')
    parser.add_argument('checkpoint', help='checkpoint of that model')
    parser.add_argument(
        '--out-dir',
        help='output folder of <img_id>.npy (default: '
        'work_dirs/<config name>/cams)')
    parser.add_argument(
        '--split',
        help='image list to use: a name (e.g. trainaug, train) replaces the '
        'stem of the dataset\'s ann_file; a path ending in .txt replaces it '
        'whole (default: the config\'s list)')
    parser.add_argument('--data-root', help='override the dataset data_root')
    parser.add_argument(
        '--scales',
        type=float,
        nargs='+',
        default=list(DEFAULT_SCALES),
        help='image scales (default: 1.0 0.5 1.5 2.0)')
    parser.add_argument(
        '--no-flip', action='store_true', help='no horizontal-flip views')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=1,
        help='images of one size per chunk, sharing each forward '
        '(default: 1, i.e. one forward of the 2 flips per scale)')
    parser.add_argument(
        '--num-workers',
        type=int,
        help='data loading workers (default: the config dataloader\'s)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. model.backbone.depth=50')
    add_launcher_args(parser)
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    if any(s <= 0 for s in args.scales):
        parser.error(f'--scales must be positive, got {args.scales}')
    return args


def cam_loader_cfg(cfg: Config) -> ConfigDict:
    """The dataloader config whose dataset the CAMs are made for."""
    for key in ('cam_dataloader', 'test_dataloader'):
        if cfg.get(key) and cfg[key].get('dataset'):
            return cfg[key]
    raise KeyError(f'{cfg.filename}: needs a `cam_dataloader` or '
                   '`test_dataloader` with a dataset')


def apply_split(dataset_cfg: ConfigDict, split: str) -> ConfigDict:
    """Point the dataset config at another image list."""
    if 'ann_file' in dataset_cfg and dataset_cfg['ann_file']:
        ann_file = dataset_cfg['ann_file']
        if split.endswith('.txt') or '/' in split:
            dataset_cfg['ann_file'] = split
        else:
            ext = osp.splitext(ann_file)[1] or '.txt'
            dataset_cfg['ann_file'] = osp.join(
                osp.dirname(ann_file), split + ext)
    elif 'split' in dataset_cfg:
        dataset_cfg['split'] = split
    else:
        raise KeyError(
            f'dataset {dataset_cfg.get("type")} has neither `ann_file` nor '
            '`split`: cannot apply --split')
    return dataset_cfg


def image_id(dataset, index: int) -> str:
    """``img_id`` of a data info (else the image file stem)."""
    info = dataset.get_data_info(index)
    img_id = info.get('img_id')
    if img_id is None:
        img_path = info.get('img_path')
        if img_path is None:
            raise KeyError(f'data info {index} of {type(dataset).__name__} '
                           'has neither img_id nor img_path')
        img_id = osp.splitext(osp.basename(img_path))[0]
    return str(img_id)


def header_size(path: str) -> Optional[tuple]:
    """``(W, H)`` from an image file header (None if it cannot be read)."""
    try:
        from PIL import Image
        with Image.open(path) as img:
            return tuple(img.size)
    except Exception:  # non-local backends, unreadable headers
        return None


def plan_chunks(dataset, batch_size: int) -> List[List[int]]:
    """Fixed chunks of dataset indices: images of one size (from the file
    headers), up to ``batch_size`` per chunk, in list order within a size.

    The plan depends only on the image list, never on what is already done,
    so a resumed run batches every image exactly as the first run did.
    """
    if batch_size == 1:
        return [[i] for i in range(len(dataset))]
    groups: Dict[tuple, List[int]] = OrderedDict()
    for i in range(len(dataset)):
        size = header_size(dataset.get_data_info(i).get('img_path', ''))
        groups.setdefault(size if size is not None else ('?', i),
                          []).append(i)
    return [members[j:j + batch_size] for members in groups.values()
            for j in range(0, len(members), batch_size)]


def sample_tags(sample, img_id: str) -> np.ndarray:
    if 'gt_label' not in sample:
        raise KeyError(f'{img_id}: the packed sample has no gt_label (image '
                       'tags); the CAM dataset must provide them')
    return sample.gt_label.cpu().numpy().astype(np.int64).reshape(-1)


def check_original_size(sample, img: torch.Tensor, img_id: str) -> None:
    ori = sample.metainfo.get('ori_shape')
    if ori is not None and tuple(ori[:2]) != tuple(img.shape[-2:]):
        raise ValueError(
            f'{img_id}: the CAM pipeline changed the image size from '
            f'{tuple(ori[:2])} to {tuple(img.shape[-2:])}; CAM packs are at '
            'the original size, so use LoadImageFromFile + PackInputs only')


def run_chunk(model, data: Dict, ids: Sequence[str], out_dir: str,
              scales: Sequence[float], flip: bool) -> Dict[str, int]:
    """CAMs of one chunk (grouped by image size) written atomically."""
    groups: Dict[tuple, List[int]] = OrderedDict()
    for i, img in enumerate(data['inputs']):
        check_original_size(data['data_samples'][i], img, ids[i])
        groups.setdefault(tuple(img.shape), []).append(i)
    counts = dict(written=0, empty=0)
    for members in groups.values():
        imgs = torch.stack([data['inputs'][i] for i in members])
        tags = [sample_tags(data['data_samples'][i], ids[i])
                for i in members]
        packs = multiscale_cams(model, imgs, tags, scales=scales, flip=flip)
        for i, pack in zip(members, packs):
            save_npy_atomic(osp.join(out_dir, ids[i] + '.npy'),
                            cam_pack_to_numpy(pack))
            counts['written'] += 1
            counts['empty'] += int(pack['keys'].numel() == 0)
    return counts


def main(argv: Optional[List[str]] = None) -> Dict[str, int]:
    args = parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    out_dir = args.out_dir or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0], 'cams')

    loader_cfg = cam_loader_cfg(cfg)
    dataset_cfg = loader_cfg['dataset']
    if args.data_root:
        dataset_cfg['data_root'] = args.data_root
    if args.split:
        apply_split(dataset_cfg, args.split)
    dataset = DATASETS.build(dataset_cfg)
    num_workers = args.num_workers if args.num_workers is not None else \
        loader_cfg.get('num_workers', 0)

    rank, world_size = init_offline_dist(args.launcher)
    device = offline_device()
    model = MODELS.build(cfg.model)
    if not hasattr(model, 'forward_cam'):
        raise TypeError(f'{args.config}: {type(model).__name__} has no '
                        'forward_cam(inputs); make_cams needs a CAM model')
    load_checkpoint(model, args.checkpoint, map_location='cpu', strict=True,
                    logger='silent')
    model.to(device).eval()

    # fixed chunks over the whole list: the unit of work and of resume
    ids = [image_id(dataset, i) for i in range(len(dataset))]
    if len(set(ids)) != len(ids):
        raise ValueError(f'{dataset_cfg.get("ann_file")}: duplicate image '
                         'ids in the list')
    chunks = plan_chunks(dataset, args.batch_size)
    todo = [c for c in chunks if not all(
        osp.exists(osp.join(out_dir, ids[i] + '.npy')) for i in c)]
    if is_main_process():
        os.makedirs(out_dir, exist_ok=True)
        stale = remove_stale_tmp(out_dir, '.npy')
        done = len(ids) - sum(len(c) for c in todo)
        print(f'make_cams: {len(ids)} images, {done} already done, '
              f'{len(ids) - done} to do -> {out_dir}'
              + (f' ({stale} stale temporary file(s) removed)'
                 if stale else ''), flush=True)
    barrier()

    mine = shard(todo, rank, world_size)
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=mine, num_workers=num_workers,
        collate_fn=pseudo_collate)
    counts = dict(written=0, empty=0)
    batches = iter(loader)
    for chunk in track(mine, f'CAMs (rank {rank}/{world_size}, batches of '
                       f'up to {args.batch_size} image(s))'):
        data = next(batches)
        result = run_chunk(model, data, [ids[i] for i in chunk], out_dir,
                           args.scales, not args.no_flip)
        for key in counts:
            counts[key] += result[key]

    totals = torch.tensor([counts['written'], counts['empty']],
                          dtype=torch.long, device=device)
    if world_size > 1:
        torch.distributed.all_reduce(totals)
    barrier()
    counts = dict(written=int(totals[0]), empty=int(totals[1]),
                  total=len(ids))
    if is_main_process():
        print(f'make_cams: wrote {counts["written"]} file(s) to {out_dir}',
              flush=True)
        if counts['empty']:
            print(f'make_cams: WARNING {counts["empty"]} image(s) without '
                  'tags got empty packs (keys of length 0)', flush=True)
    return counts


if __name__ == '__main__':
    main()
