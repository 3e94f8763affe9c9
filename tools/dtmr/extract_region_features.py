# Copyright (c) mmweak contributors.
"""Cache the region features of every candidate box for DTMR.

    python tools/dtmr/extract_region_features.py CONFIG \\
        [--checkpoint DET.pth] [--out-dir DIR] [--splits train val ...] \\
        [--data-root DIR] [--minus-refer] [--cfg-options k=v ...] \\
        [--launcher none|pytorch]

    # sharded over N processes (GPUs, or CPU processes with gloo)
    torchrun --nproc_per_node=N tools/dtmr/extract_region_features.py \\
        CONFIG --checkpoint DET.pth --launcher pytorch

CONFIG holds an mmdet two-stage detector (``detector``, else ``model``; C4
with ``roi_head.shared_head`` or FPN) and ``feature_extraction = dict(
dataset=..., out_dir=..., img_scale_factor=1.0, minus_refer=False,
vis_head=None)``. For every image of the dataset the image is read,
resized by ``img_scale_factor``, normalised by the detector's data
preprocessor, run through ``extract_feat``, and the candidate (ground-truth
annotation) boxes are RoIAligned with ``roi_head.bbox_roi_extractor``; a C4
model then applies its ``shared_head`` (stage 4: 2048 x 7 x 7 for
ResNet-101). Each 7 x 7 cell is L2-normalised over channels and the grid is
averaged (DTMR, spec section 5; the learnable scale is in the model). With
``vis_head='shared_fcs'`` an FPN model's flattened RoI feature goes through
``bbox_head.shared_fcs`` (1024-d) instead, L2-normalised.

Output: ``<out_dir>/<img_id>.npz`` with ``ann_ids`` (N,) int64, ``boxes``
(N, 4) float32 (x1, y1, x2, y2 of the original image) and ``feats`` (N, D)
float32 -- what ``LoadRegionFeatures`` reads. Finished files are skipped on
a rerun (resume), every file appears by atomic rename, a progress bar runs
on rank 0, and under torchrun each rank takes its shard.

The detector checkpoint is loaded through mmweak's safe loader
(``load_checkpoint_safely``: weights only, an allowlist of mmengine types).
Without ``--checkpoint`` the config's ``init_cfg`` initialises the model.
COCO ``train2014`` holds the RefCOCO val/test images, so a detector trained
on plain COCO has seen them: a warning is printed unless the checkpoint
meta has ``minus_refer=True``, the config declares ``minus_refer=True`` or
``--minus-refer`` is passed (MAttNet's ``coco_minus_refer`` detectors).
"""
import argparse
import os.path as osp
import warnings
from typing import List, Optional

import mmcv
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config, DictAction
from mmengine.registry import DefaultScope

from mmweak.datasets.transforms.region_features import region_feature_path
from mmweak.registry import DATASETS
from mmweak.utils import register_all_modules
from mmweak.utils.checkpoint import load_checkpoint_safely
from mmweak.utils.offline_job import (add_launcher_args, barrier,
                                      init_offline_dist, offline_device,
                                      pending, remove_stale_tmp, shard, track)
from mmweak.utils.offline_job import atomic_path

MINUS_REFER_WARNING = (
    'the feature detector is not declared "minus-refer": a detector trained '
    'on COCO train2014 has seen the RefCOCO val/test images, which inflates '
    'the test accuracy. Use a coco_minus_refer checkpoint (MAttNet) and '
    'declare it (checkpoint meta minus_refer=True, config '
    'feature_extraction.minus_refer=True or --minus-refer).')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description='Cache RoI features of the candidate boxes (DTMR)')
    p.add_argument('config', help='feature-extraction config')
    p.add_argument('--checkpoint', help='mmdet detector checkpoint')
    p.add_argument('--out-dir', help='override feature_extraction.out_dir')
    p.add_argument('--splits', nargs='+', help='override the dataset splits')
    p.add_argument('--data-root', help='override the dataset data_root')
    p.add_argument('--minus-refer', action='store_true',
                   help='declare that the detector never saw RefCOCO '
                   'val/test images')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    add_launcher_args(p)
    return p.parse_args(argv)


def build_detector(cfg: Config, checkpoint: Optional[str]):
    """The mmdet detector of the config, weights loaded, in eval mode;
    returns ``(detector, checkpoint_meta)``."""
    import mmdet.utils
    from mmdet.registry import MODELS as DET_MODELS
    mmdet.utils.register_all_modules(init_default_scope=False)
    det_cfg = cfg.get('detector') or cfg.get('model')
    if det_cfg is None:
        raise KeyError(f'{cfg.filename}: no `detector` (or `model`) config')
    with DefaultScope.overwrite_default_scope('mmdet'):
        det = DET_MODELS.build(det_cfg)
    meta = {}
    if checkpoint:
        ckpt = load_checkpoint_safely(checkpoint, map_location='cpu')
        meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
        state = ckpt.get('state_dict', ckpt)
        missing, _ = det.load_state_dict(state, strict=False)
        used = [k for k in missing if k.startswith(('backbone', 'neck',
                                                    'roi_head.shared_head'))]
        if used:
            raise KeyError(f'{checkpoint}: no weights for {len(used)} '
                           f'feature layers, e.g. {used[:3]}')
    else:
        det.init_weights()
    if not hasattr(det, 'roi_head') or \
            not hasattr(det.roi_head, 'bbox_roi_extractor'):
        raise TypeError(f'{cfg.filename}: the detector needs '
                        'roi_head.bbox_roi_extractor (a two-stage model)')
    return det.eval(), meta


@torch.no_grad()
def region_features(det, img: np.ndarray, boxes: np.ndarray,
                    scale: float = 1.0,
                    vis_head: Optional[str] = None) -> np.ndarray:
    """(N, D) features of ``boxes`` (x1, y1, x2, y2, original image) in a
    BGR uint8 image."""
    from mmdet.structures.bbox import bbox2roi
    device = next(det.parameters()).device
    if scale != 1.0:
        img = mmcv.imrescale(img, scale, backend='cv2')
    x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
    data = det.data_preprocessor(dict(inputs=[x.to(device)]), False)
    feats = det.extract_feat(data['inputs'])
    rois = bbox2roi([torch.as_tensor(boxes, dtype=torch.float32,
                                     device=device) * scale])
    ext = det.roi_head.bbox_roi_extractor
    roi_feats = ext(feats[:ext.num_inputs], rois)
    if getattr(det.roi_head, 'with_shared_head', False):
        roi_feats = det.roi_head.shared_head(roi_feats)
    if vis_head == 'shared_fcs':
        out = roi_feats.flatten(1)
        for fc in det.roi_head.bbox_head.shared_fcs:
            out = F.relu(fc(out))
        return F.normalize(out, dim=1).cpu().numpy()
    cells = F.normalize(roi_feats, dim=1)  # per cell over channels
    return cells.mean(dim=(2, 3)).cpu().numpy()


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    fx = cfg.get('feature_extraction')
    if fx is None:
        raise KeyError(f'{args.config}: no `feature_extraction` dict')
    ds_cfg = fx['dataset'].copy()
    ds_cfg['pipeline'] = []
    if args.splits:
        ds_cfg['split'] = args.splits
    if args.data_root:
        ds_cfg['data_root'] = args.data_root
    out_dir = args.out_dir or fx.get('out_dir')
    if not out_dir:
        raise KeyError(f'{args.config}: no feature_extraction.out_dir and '
                       'no --out-dir')
    rank, world = init_offline_dist(args.launcher)
    dataset = DATASETS.build(ds_cfg)
    det, meta = build_detector(cfg, args.checkpoint)
    det.to(offline_device())
    if not (meta.get('minus_refer') or fx.get('minus_refer') or
            args.minus_refer):
        warnings.warn(MINUS_REFER_WARNING)
    if rank == 0:
        remove_stale_tmp(out_dir, '.npz')
    infos = {}
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        infos.setdefault(info['img_id'], info)  # one file per image
    todo = pending(sorted(infos), lambda k: region_feature_path(out_dir, k))
    scale = float(fx.get('img_scale_factor', 1.0))
    for img_id in track(shard(todo, rank, world), 'region features'):
        info = infos[img_id]
        img = mmcv.imread(info['img_path'])
        if img is None:
            raise FileNotFoundError(f'{info["img_path"]}: cannot read image')
        boxes = np.asarray([x['bbox'] for x in info['instances']],
                           dtype=np.float32).reshape(-1, 4)
        feats = region_features(det, img, boxes, scale,
                                fx.get('vis_head')).astype(np.float32)
        ann_ids = np.asarray([x['ann_id'] for x in info['instances']],
                             dtype=np.int64)
        with atomic_path(region_feature_path(out_dir, img_id)) as tmp:
            np.savez(tmp, ann_ids=ann_ids, boxes=boxes, feats=feats)
    barrier()
    if rank == 0:
        print(f'{len(infos)} images, {len(todo)} written to {out_dir}')


if __name__ == '__main__':
    main()
