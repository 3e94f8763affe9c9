# Copyright (c) mmweak contributors.
"""Turn IRN-format CAM packs into pseudo-mask PNGs (WSSS Stage B).

    # CAM seeds: argmax over [background plane, CAMs]
    python tools/wsss/make_pseudo_masks.py --method threshold \\
        --cam-dir CAMS --data-root data/VOCdevkit/VOC2012 --split trainaug \\
        --out-dir MASKS --bg-thr 0.15

    # seeds refined by a dense CRF (spec, section 6)
    python tools/wsss/make_pseudo_masks.py --method crf --crf-preset psa \\
        --cam-dir CAMS --data-root data/VOCdevkit/VOC2012 --out-dir MASKS \\
        --bg-thr 0.15

    # IRN: random walk over a trained IRNet's class boundaries
    python tools/wsss/make_pseudo_masks.py --method irn \\
        --irn-config configs/irn/CFG.py --irn-checkpoint CKPT \\
        --cam-dir CAMS --data-root data/VOCdevkit/VOC2012 --out-dir MASKS \\
        [--beta 10 --exp-times 8 --sem-bg-thr 0.25]

    # sharded over N processes (GPUs, or CPU processes with gloo)
    torchrun --nproc_per_node=N tools/wsss/make_pseudo_masks.py ... \\
        --launcher pytorch

Inputs: the image list ``<data-root>/ImageSets/Segmentation/<split>.txt``
(or ``<data-root>/ImageSets/<split>.txt``, or ``--split`` given as a
``.txt`` path), the images ``<img-dir>/<id><img-suffix>`` (default
``<data-root>/JPEGImages/<id>.jpg``) and the CAM packs ``<cam-dir>/<id>.npy``
(``{'keys', 'cam', 'high_res'}``, see ``tools/wsss/make_cams.py``). Output:
``<out-dir>/<id>.png``, single-channel label ids (0 background, ``keys +
1`` objects, 255 ignore), written as palette PNGs with the VOC palette when
``--num-classes`` is 21 and as grey-level (L) PNGs otherwise.

Methods:

- ``threshold``: :func:`mmweak.wsss.cams_to_label` on ``high_res`` with the
  constant background ``--bg-thr`` (or the power form ``--bg-power``);
  background wins ties. Use the threshold chosen on the train split by the
  seed evaluation (``tools/wsss/eval_seeds.py``): there is no default.
- ``crf``: the same background plane ``b`` (constant ``t`` or ``(1 -
  max_k cam_k)^alpha``) is stacked in front of the ``high_res`` CAMs and
  the stack is divided by its per-pixel sum, ``p = [b, cam_1, ..., cam_K] /
  (b + sum_k cam_k)``, which gives per-pixel probabilities (a per-pixel
  scale does not change the CRF's result, so this is PSA's use of the raw
  scores up to the ``1e-5`` clip of the unary). :class:`mmweak.wsss.DenseCRF`
  with ``--crf-preset`` (``psa`` by default, or ``deeplab``) refines ``p``
  on the image and the argmax of the marginals is the mask.
- ``irn``: the registered ``IRNet`` of ``--irn-config`` with
  ``--irn-checkpoint`` predicts the class-boundary map of each image at
  stride 4; :func:`mmweak.wsss.irn_pseudo_label` propagates the strided
  CAMs (``cam``) by the random walk (``--beta``, ``--exp-times``,
  ``--radius``) and puts the background plane ``--sem-bg-thr`` in front
  (IRN, Ahn et al., CVPR 2019, Sec. 4). Runs on :func:`offline_device`.
  With ``--save-maps DIR`` the propagated maps are also written as IRN
  packs (``keys``, ``high_res``), so that ``tools/wsss/eval_seeds.py
  --cam-dir DIR`` sweeps ``--sem-bg-thr`` on the train split in one pass
  and ``--method threshold --cam-dir DIR`` relabels them without a new
  walk.

Every listed image must have its CAM pack (checked before any work; the
error names the missing file). Finished PNGs are skipped on a rerun
(resume); files appear only by atomic rename, so an interrupted run never
leaves a partial PNG under its final name, and stale temporary files are
removed at start.
"""
import argparse
import os
import os.path as osp
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

from mmweak.cam import load_cam_pack
from mmweak.datasets.cls_labels import load_id_list
from mmweak.structures import check_label_values
from mmweak.utils.offline_job import (add_launcher_args, barrier,
                                      init_offline_dist, is_main_process,
                                      offline_device, pending,
                                      remove_stale_tmp, save_npy_atomic,
                                      save_png_atomic, shard, track)
from mmweak.wsss import DenseCRF, bg_plane, cams_to_label
from mmweak.wsss.data_io import (add_cam_job_args, check_cams_exist, load_rgb,
                                 resolve_data_root, split_list_path)

METHODS = ('threshold', 'crf', 'irn')
CRF_PRESETS = ('psa', 'deeplab')
VOC_NUM_CLASSES = 21


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Pseudo masks from CAM packs: threshold, dense CRF or '
        'IRN random walk')
    parser.add_argument('--method', required=True, choices=METHODS)
    add_cam_job_args(parser)
    parser.add_argument('--num-classes',
                        type=int,
                        default=VOC_NUM_CLASSES,
                        help='classes incl. background: 21 (VOC, palette '
                        'PNGs) or e.g. 81 (COCO, grey PNGs)')
    bg = parser.add_mutually_exclusive_group()
    bg.add_argument('--bg-thr',
                    type=float,
                    help='constant background score (threshold, crf); the '
                    'one chosen on the train split by the seed evaluation')
    bg.add_argument('--bg-power',
                    type=float,
                    help='alpha of the power background (1 - max cam)^alpha '
                    '(threshold, crf), instead of --bg-thr')
    parser.add_argument('--crf-preset',
                        default='psa',
                        choices=CRF_PRESETS,
                        help='DenseCRF preset of --method crf (default: psa)')
    parser.add_argument('--irn-config', help='IRNet config (--method irn)')
    parser.add_argument('--irn-checkpoint',
                        help='IRNet checkpoint (--method irn)')
    parser.add_argument('--beta',
                        type=float,
                        default=10.0,
                        help='affinity exponent of the walk (default: 10)')
    parser.add_argument('--exp-times',
                        type=int,
                        default=8,
                        help='the walk takes 2^exp_times steps (default: 8)')
    parser.add_argument('--sem-bg-thr',
                        type=float,
                        default=0.25,
                        help='background score after the walk '
                        '(default: 0.25)')
    parser.add_argument('--radius',
                        type=int,
                        default=5,
                        help='pair radius of the walk at stride 4 '
                        '(default: 5)')
    parser.add_argument(
        '--irn-scale',
        type=float,
        default=1.0,
        help='--method irn: resize the image by this factor for the '
        'boundary map and the walk (default: 1, IRN on VOC). IRN walks on '
        'a stride-4 grid; images far smaller than VOC\'s (~500 px) need a '
        'factor > 1 to keep objects several cells wide')
    parser.add_argument(
        '--save-maps',
        metavar='DIR',
        help='--method irn: also write the propagated maps as IRN packs '
        '(keys, high_res) to DIR, so that eval_seeds.py can sweep the '
        'background threshold over them')
    add_launcher_args(parser)
    args = parser.parse_args(argv)
    if args.method in ('threshold', 'crf') and args.bg_thr is None and \
            args.bg_power is None:
        parser.error(f'--method {args.method} needs --bg-thr (the threshold '
                     'chosen on the train split by the seed evaluation) or '
                     '--bg-power')
    if args.irn_scale <= 0:
        parser.error(f'--irn-scale must be > 0, got {args.irn_scale}')
    if args.save_maps and args.method != 'irn':
        parser.error('--save-maps is only for --method irn')
    if args.method == 'irn' and not (args.irn_config and args.irn_checkpoint):
        parser.error('--method irn needs --irn-config and --irn-checkpoint')
    if args.num_classes < 2 or args.num_classes > 254:
        parser.error(f'--num-classes must be in 2..254, got '
                     f'{args.num_classes}')
    return args


# --------------------------------------------------------------------- I/O
def voc_palette() -> List[int]:
    """Flat VOC palette (mmseg's ``PascalVOCDataset.METAINFO``)."""
    from mmseg.datasets import PascalVOCDataset
    return [c for rgb in PascalVOCDataset.METAINFO['palette'] for c in rgb]


def pack_tensors(pack: Dict, key: str, path: str):
    if key not in pack:
        raise ValueError(f'{path}: the CAM pack has no {key!r} maps')
    keys = torch.from_numpy(np.asarray(pack['keys']).astype(np.int64))
    cams = torch.from_numpy(np.ascontiguousarray(pack[key], np.float32))
    return keys.reshape(-1), cams


# ------------------------------------------------------------------ methods
def threshold_mask(cams: torch.Tensor, keys: torch.Tensor,
                   bg_thr: Optional[float],
                   bg_power: Optional[float]) -> np.ndarray:
    """Seed label ids: argmax over ``[background plane, cams]``."""
    label = cams_to_label(cams, keys, bg_threshold=bg_thr, bg_power=bg_power)
    return label.numpy().astype(np.uint8)


def crf_probs(cams: torch.Tensor,
              bg_thr: Optional[float],
              bg_power: Optional[float],
              eps: float = 1e-5) -> np.ndarray:
    """``[b, cam_1..K] / (b + sum_k cam_k)``: (K + 1, H, W) float32."""
    planes = torch.cat(
        [bg_plane(cams, bg_threshold=bg_thr, bg_power=bg_power), cams])
    planes = planes.clamp(min=0)
    return (planes / planes.sum(0, keepdim=True).clamp(min=eps)).numpy()


def crf_mask(img: np.ndarray, cams: torch.Tensor, keys: torch.Tensor,
             crf: DenseCRF, bg_thr: Optional[float],
             bg_power: Optional[float]) -> np.ndarray:
    """Label ids of the CRF-refined ``[background, cams]`` probabilities."""
    if keys.numel() == 0:
        return np.zeros(cams.shape[-2:], np.uint8)
    q = crf(img, crf_probs(cams, bg_thr, bg_power))
    lut = np.concatenate([[0], keys.numpy() + 1]).astype(np.uint8)
    return lut[q.argmax(0)]


def build_irn(config: str, checkpoint: str,
              device: torch.device) -> torch.nn.Module:
    """The registered ``IRNet`` of ``config`` with ``checkpoint`` loaded."""
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint

    from mmweak.registry import MODELS
    from mmweak.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(config)
    model = MODELS.build(cfg.model)
    load_checkpoint(model,
                    checkpoint,
                    map_location='cpu',
                    strict=True,
                    logger='silent')
    return model.to(device).eval()


def predict_edge(model: torch.nn.Module, img: np.ndarray,
                 device: torch.device) -> torch.Tensor:
    """Class-boundary probabilities (h, w) in [0, 1] on the stride-4 grid
    ``(ceil(H/4), ceil(W/4))`` of the uint8 RGB image ``img`` (H, W, 3).

    The image goes through the model's own data preprocessor (mean, std and
    channel order of the config; it receives BGR, as ``LoadImageFromFile``
    gives in training) at its original size, then
    :meth:`IRNet.predict_edge` with the horizontal flip (IRN's inference);
    any padding of the preprocessor is cropped away.
    """
    from mmseg.structures import SegDataSample
    height, width = img.shape[:2]
    bgr = torch.from_numpy(np.ascontiguousarray(img[..., ::-1]))
    data = model.data_preprocessor(dict(inputs=[bgr.permute(2, 0, 1)],
                                        data_samples=[SegDataSample()]),
                                   training=False)
    edge = model.predict_edge(data['inputs'].to(device), flip=True)[0, 0]
    h, w = -(-height // 4), -(-width // 4)
    if edge.shape[0] < h or edge.shape[1] < w:
        raise ValueError(f'IRNet gave a {tuple(edge.shape)} boundary map for '
                         f'a {height}x{width} image; expected at least the '
                         f'stride-4 grid {(h, w)}')
    return edge[:h, :w]


def irn_maps(model: torch.nn.Module, img: np.ndarray, pack: Dict,
             device: torch.device, args: argparse.Namespace) -> torch.Tensor:
    """IRN's propagated class maps ``(K, H, W)`` of one image (before the
    background plane), on ``device``.

    With ``--irn-scale s`` (not 1) the image is resized by ``s`` before the
    boundary prediction, the walk starts from the pack's ``high_res`` maps
    resized to the walk's stride-4 grid, and the propagated maps are
    resized back to the image.
    """
    from mmweak.wsss import irn_walk_maps
    height, width = img.shape[:2]
    keys = torch.from_numpy(np.asarray(pack['keys'], np.int64)).reshape(-1)
    scale = args.irn_scale
    with torch.no_grad():
        if scale == 1:
            size = (height, width)
            edge = predict_edge(model, img, device)
            # the walk runs where the boundary map is (the GPU if any)
            cams = torch.from_numpy(np.ascontiguousarray(
                pack['cam'], np.float32)).to(edge.device)
        else:
            import mmcv
            size = (max(1, round(height * scale)), max(1,
                                                       round(width * scale)))
            edge = predict_edge(
                model,
                mmcv.imresize(img, size[::-1], interpolation='bicubic'),
                device)
            high_res = torch.from_numpy(np.ascontiguousarray(
                pack['high_res'], np.float32)).to(edge.device)
            cams = F.interpolate(high_res[None], size=tuple(edge.shape),
                                 mode='bilinear', align_corners=False)[0] \
                if keys.numel() else high_res.new_zeros((0, ) + edge.shape)
        maps = irn_walk_maps(edge,
                             dict(keys=keys, cam=cams),
                             size,
                             beta=args.beta,
                             exp_times=args.exp_times,
                             radius=args.radius)
        if size != (height, width):
            maps = F.interpolate(maps[None], size=(height, width),
                                 mode='bilinear', align_corners=False)[0] \
                if keys.numel() else maps.new_zeros((0, height, width))
    return maps


def make_worker(
        args: argparse.Namespace,
        device: torch.device) -> Callable[[np.ndarray, Dict, str], np.ndarray]:
    """``worker(img, pack, cam_path) -> uint8 label ids`` of ``--method``."""
    if args.method == 'threshold':

        def worker(img, pack, path):
            keys, cams = pack_tensors(pack, 'high_res', path)
            return threshold_mask(cams, keys, args.bg_thr, args.bg_power)
    elif args.method == 'crf':
        crf = DenseCRF(args.crf_preset)

        def worker(img, pack, path):
            keys, cams = pack_tensors(pack, 'high_res', path)
            return crf_mask(img, cams, keys, crf, args.bg_thr, args.bg_power)
    else:
        model = build_irn(args.irn_config, args.irn_checkpoint, device)

        def worker(img, pack, path):
            if args.irn_scale == 1 and 'cam' not in pack:
                raise ValueError(f'{path}: the CAM pack has no strided '
                                 "'cam' maps (needed by --method irn)")
            maps = irn_maps(model, img, pack, device, args).cpu()
            keys = torch.from_numpy(np.asarray(pack['keys'], np.int64))
            if args.save_maps:
                img_id = osp.splitext(osp.basename(path))[0]
                save_npy_atomic(
                    osp.join(args.save_maps, img_id + '.npy'),
                    dict(keys=keys.numpy(), high_res=maps.numpy()))
            return threshold_mask(maps, keys.reshape(-1), args.sem_bg_thr,
                                  None)

    return worker


def main(argv: Optional[List[str]] = None) -> Dict[str, int]:
    args = parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    root = resolve_data_root(args.data_root)
    list_path = split_list_path(root, args.split)
    ids = load_id_list(list_path)
    img_dir = args.img_dir or osp.join(root, 'JPEGImages')
    if not osp.isdir(args.cam_dir):
        raise FileNotFoundError(f'--cam-dir "{args.cam_dir}" is not a folder')

    rank, world_size = init_offline_dist(args.launcher)
    device = offline_device()
    todo = pending(ids, lambda i: osp.join(args.out_dir, i + '.png'))
    if args.save_maps:  # an image is finished when both files exist
        undone = set(todo) | set(
            pending(ids, lambda i: osp.join(args.save_maps, i + '.npy')))
        todo = [i for i in ids if i in undone]
    check_cams_exist(todo, args.cam_dir, list_path)
    if is_main_process():
        os.makedirs(args.out_dir, exist_ok=True)
        stale = remove_stale_tmp(args.out_dir, '.png')
        if args.save_maps:
            os.makedirs(args.save_maps, exist_ok=True)
            stale += remove_stale_tmp(args.save_maps, '.npy')
        print(f'make_pseudo_masks ({args.method}): {len(ids)} images, '
              f'{len(ids) - len(todo)} already done, {len(todo)} to do -> '
              f'{args.out_dir}' + (f' ({stale} stale temporary file(s) '
                                   'removed)' if stale else ''),
              flush=True)
    barrier()

    palette = voc_palette() if args.num_classes == VOC_NUM_CLASSES else None
    worker = make_worker(args, device)
    written = 0
    for img_id in track(
            shard(todo, rank, world_size),
            f'pseudo masks ({args.method}, rank {rank}/'
            f'{world_size})'):
        cam_path = osp.join(args.cam_dir, img_id + '.npy')
        img_path = osp.join(img_dir, img_id + args.img_suffix)
        pack = load_cam_pack(cam_path)
        img = load_rgb(img_path)
        size = np.asarray(pack['high_res']).shape[1:]
        if tuple(size) != img.shape[:2]:
            raise ValueError(f'{cam_path}: CAM size {tuple(size)} differs '
                             f'from the image size {img.shape[:2]} of '
                             f'{img_path}')
        label = worker(img, pack, cam_path)
        check_label_values(label, args.num_classes, source=cam_path)
        save_png_atomic(osp.join(args.out_dir, img_id + '.png'), label,
                        palette)
        written += 1

    total = torch.tensor([written], dtype=torch.long, device=device)
    if world_size > 1:
        torch.distributed.all_reduce(total)
    barrier()
    counts = dict(total=len(ids),
                  skipped=len(ids) - len(todo),
                  written=int(total[0]))
    if is_main_process():
        print(
            f'make_pseudo_masks: wrote {counts["written"]} file(s) to '
            f'{args.out_dir}',
            flush=True)
    return counts


if __name__ == '__main__':
    main()
