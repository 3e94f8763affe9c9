# Copyright (c) mmweak contributors.
"""Fuse a LiDAR and an image checkpoint into the Point-DETR3D teacher's
initialisation (Point-DETR3D, AAAI 2024, arXiv 2403.15317; spec section 3,
pipeline step 2).

    python tools/point_detr3d/fuse_checkpoints.py \\
        --lidar work_dirs/centerpoint_pillar02_r05/epoch_20.pth \\
        --image checkpoints/fcos3d_r50_caffe_dcn.pth \\
        --out work_dirs/point_detr3d/fused_init.pth \\
        [--lidar-prefix pts_] [--lidar-exclude pts_bbox_head.] \\
        [--image-prefix img_] [--image-modules backbone neck] \\
        [--map SRC=DST ...]

* **LiDAR** (a CenterPoint checkpoint of step 1): the tensors whose names
  start with ``--lidar-prefix`` (``pts_``: ``pts_voxel_encoder``,
  ``pts_middle_encoder``, ``pts_backbone``, ``pts_neck``), except those
  starting with an ``--lidar-exclude`` prefix (default ``pts_bbox_head.``:
  the CenterPoint head does not fit the DETR head), keep their names.
* **Image** (an FCOS3D / mmdet ResNet-FPN checkpoint): its ``backbone.*``
  and ``neck.*`` tensors (``--image-modules``) become ``img_backbone.*`` and
  ``img_neck.*`` (``--image-prefix``); names already starting with the
  prefix (``img_backbone.``, e.g. a multi-modal checkpoint) are kept. Its
  head is skipped.
* ``--map SRC=DST`` (repeatable) then renames the prefix ``SRC`` of the
  fused names to ``DST`` (first matching rule wins), for a teacher whose
  modules are named differently; a rule that matches nothing is an error.

A leading ``module.`` (DDP) is stripped from every name. The output
``{'state_dict': ..., 'meta': {...}}`` records both sources with their
sha256, the tensors taken and skipped, and the rules; it is written
atomically. Load it with ``load_from`` or ``init_cfg`` (non-strict: the
teacher's query encoder, D-RoI attention and head start from scratch).
"""
import argparse
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from mmweak.utils import load_checkpoint_safely
from mmweak.utils.offline_job import atomic_path, file_sha256

TOOL = 'tools/point_detr3d/fuse_checkpoints.py'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='LiDAR + image checkpoints -> Point-DETR3D teacher init')
    parser.add_argument('--lidar',
                        required=True,
                        help='LiDAR detector checkpoint (CenterPoint)')
    parser.add_argument('--image',
                        default=None,
                        help='image detector checkpoint (FCOS3D / ResNet); '
                        'omit it for a LiDAR-only teacher')
    parser.add_argument('--out', required=True, help='fused checkpoint')
    parser.add_argument('--lidar-prefix',
                        default='pts_',
                        help='prefix of the LiDAR tensors taken (pts_)')
    parser.add_argument(
        '--lidar-exclude',
        nargs='*',
        default=['pts_bbox_head.'],
        help='prefixes of LiDAR tensors skipped (pts_bbox_head.)')
    parser.add_argument('--image-prefix',
                        default='img_',
                        help='prefix given to the image modules (img_)')
    parser.add_argument('--image-modules',
                        nargs='+',
                        default=['backbone', 'neck'],
                        help='image modules taken (backbone neck)')
    parser.add_argument(
        '--map',
        action='append',
        default=[],
        metavar='SRC=DST',
        help='rename the prefix SRC of fused names to DST (repeatable)')
    args = parser.parse_args(argv)
    args.map = [parse_map(rule, parser) for rule in args.map]
    return args


def parse_map(rule: str, parser=None) -> Tuple[str, str]:
    """``'SRC=DST'`` -> ``(SRC, DST)``."""
    src, sep, dst = rule.partition('=')
    if not sep or not src:
        msg = f'--map expects SRC=DST with a non-empty SRC, got {rule!r}'
        if parser is not None:
            parser.error(msg)
        raise ValueError(msg)
    return src, dst


def read_state_dict(path: str) -> 'OrderedDict[str, torch.Tensor]':
    """The tensors of a checkpoint (``state_dict`` / ``model`` entry or a
    bare state dict), ``module.`` stripped, read with the safe loader."""
    ckpt = load_checkpoint_safely(path, map_location='cpu')
    if isinstance(ckpt, dict):
        for key in ('state_dict', 'model'):
            if isinstance(ckpt.get(key), dict):
                ckpt = ckpt[key]
                break
    if not isinstance(ckpt, dict) or not ckpt or not all(
            isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise ValueError(f'{path}: expected a checkpoint with a state_dict '
                         '(name -> tensor)')
    return OrderedDict(
        (k[len('module.'):] if k.startswith('module.') else k, v)
        for k, v in ckpt.items())


def _groups(names: Sequence[str]) -> Dict[str, int]:
    """Tensor counts per top-level module."""
    out: Dict[str, int] = OrderedDict()
    for name in names:
        top = name.split('.', 1)[0]
        out[top] = out.get(top, 0) + 1
    return out


def select_lidar(state: Dict[str, torch.Tensor], prefix: str,
                 exclude: Sequence[str]) -> Tuple[Dict, List[str]]:
    """LiDAR tensors taken (names kept) and the names skipped."""
    taken, skipped = OrderedDict(), []
    for name, value in state.items():
        if name.startswith(prefix) and not any(
                name.startswith(e) for e in exclude if e):
            taken[name] = value
        else:
            skipped.append(name)
    return taken, skipped


def select_image(state: Dict[str, torch.Tensor], prefix: str,
                 modules: Sequence[str]) -> Tuple[Dict, List[str]]:
    """Image tensors taken (``<module>.x`` -> ``<prefix><module>.x``) and
    the names skipped."""
    taken, skipped = OrderedDict(), []
    for name, value in state.items():
        bare = name[len(prefix):] if prefix and name.startswith(prefix) \
            else name
        if bare.split('.', 1)[0] in modules:
            taken[prefix + bare] = value
        else:
            skipped.append(name)
    return taken, skipped


def apply_maps(state: Dict[str, torch.Tensor],
               rules: Sequence[Tuple[str, str]]) -> Dict[str, torch.Tensor]:
    """Rename prefixes (first matching rule); every rule must match."""
    used = [0] * len(rules)
    out = OrderedDict()
    for name, value in state.items():
        for i, (src, dst) in enumerate(rules):
            if name.startswith(src):
                name = dst + name[len(src):]
                used[i] += 1
                break
        if name in out:
            raise ValueError(f'--map makes two tensors named {name}')
        out[name] = value
    unused = [f'{s}={d}' for (s, d), n in zip(rules, used) if n == 0]
    if unused:
        raise ValueError(f'--map rule(s) {unused} match no fused tensor name '
                         f'(names start with {sorted(_groups(state))})')
    return out


def fuse(
    lidar: str,
    image: Optional[str] = None,
    lidar_prefix: str = 'pts_',
    lidar_exclude: Sequence[str] = ('pts_bbox_head.', ),
    image_prefix: str = 'img_',
    image_modules: Sequence[str] = ('backbone', 'neck'),
    maps: Sequence[Tuple[str, str]] = ()
) -> dict:
    """The fused checkpoint ``{'state_dict', 'meta'}`` (see the module
    docstring); raises when a source gives no tensor or names collide.
    Without ``image`` (a LiDAR-only teacher) only the LiDAR tensors are
    taken."""
    lidar_state = read_state_dict(lidar)
    image_state = read_state_dict(image) if image else OrderedDict()
    lidar_taken, lidar_skipped = select_lidar(lidar_state, lidar_prefix,
                                              lidar_exclude)
    image_taken, image_skipped = select_image(image_state, image_prefix,
                                              image_modules)
    for path, taken, state, what in ((lidar, lidar_taken, lidar_state,
                                      f'names starting with {lidar_prefix!r}'),
                                     (image, image_taken, image_state,
                                      f'modules {list(image_modules)}')):
        if path and not taken:
            raise ValueError(
                f'{path}: no tensor taken ({what}); its names start with '
                f'{sorted(_groups(state))}')
    both = sorted(set(lidar_taken) & set(image_taken))
    if both:
        raise ValueError(f'{lidar} and {image} both give {both[:5]}')
    state_dict = apply_maps(
        OrderedDict(list(lidar_taken.items()) + list(image_taken.items())),
        maps)
    meta = dict(fused_by=TOOL,
                sources=dict(lidar=dict(path=osp.abspath(lidar),
                                        sha256=file_sha256(lidar),
                                        taken=list(lidar_taken),
                                        skipped=lidar_skipped),
                             image=dict(path=osp.abspath(image),
                                        sha256=file_sha256(image),
                                        taken=list(image_taken),
                                        skipped=image_skipped)
                             if image else None),
                rules=dict(lidar_prefix=lidar_prefix,
                           lidar_exclude=list(lidar_exclude),
                           image_prefix=image_prefix,
                           image_modules=list(image_modules),
                           maps=[f'{s}={d}' for s, d in maps]))
    return dict(state_dict=state_dict, meta=meta)


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    fused = fuse(args.lidar, args.image, args.lidar_prefix, args.lidar_exclude,
                 args.image_prefix, args.image_modules, args.map)
    with atomic_path(args.out) as tmp:
        torch.save(fused, tmp)
    for source in ('lidar', 'image'):
        info = fused['meta']['sources'][source]
        if info is None:
            print(f'fuse_checkpoints: no {source} checkpoint', flush=True)
            continue
        print(
            f'fuse_checkpoints: {source} {info["path"]}\n'
            f'  took    {dict(_groups(info["taken"]))}\n'
            f'  skipped {dict(_groups(info["skipped"]))}',
            flush=True)
    print(
        f'fuse_checkpoints: {len(fused["state_dict"])} tensors -> '
        f'{args.out}',
        flush=True)
    return fused


if __name__ == '__main__':
    main()
