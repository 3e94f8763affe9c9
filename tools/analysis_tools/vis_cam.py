# Copyright (c) mmweak contributors.
"""Draw Eigen-CAM overlays for an image or a directory of images.

    python tools/analysis_tools/vis_cam.py CONFIG CHECKPOINT IMAGE_OR_DIR \\
        --target-layers backbone.layer4 [--out-dir DIR] [--center] \\
        [--sign channel_mean|max_abs|none] [--solver gram|svd|lowrank] \\
        [--fpn-mode per_level|concat] [--prefix-tokens N] \\
        [--suffix-tokens N] [--img-size H W] [--device cpu] \\
        [--cfg-options ...]

Works with any model an mmweak / mmpretrain / mmdet / mmseg config builds
(classifiers, detectors, segmentors). Each image goes through the config's
test pipeline with its annotation loaders removed (or, with ``--img-size``,
is just resized), through the model's data preprocessor and a forward pass;
the overlay of the Eigen-CAM map on the network's view of the image is
written to ``OUT_DIR/<image name>.png``. ``CHECKPOINT`` may be ``none`` to
keep the config's initialisation.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

import mmcv
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config, DictAction
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from mmengine.runner import load_state_dict
from mmengine.utils import ProgressBar

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Visualize Eigen-CAM maps of any mmengine model')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file, or "none"')
    parser.add_argument('img', help='an image file or a directory of images')
    parser.add_argument(
        '--target-layers',
        nargs='+',
        required=True,
        help='dotted module paths, e.g. backbone.layer4, neck, '
        'backbone.layers.10, decode_head.conv_seg:input')
    parser.add_argument(
        '--out-dir', default='vis_cam', help='where to write the overlays')
    parser.add_argument(
        '--center',
        action='store_true',
        help='centre channels first (pytorch-grad-cam EigenCAM)')
    parser.add_argument(
        '--sign',
        default='channel_mean',
        choices=['channel_mean', 'max_abs', 'max', 'none'],
        help='sign rule of the principal direction')
    parser.add_argument(
        '--solver', default='gram', choices=['gram', 'svd', 'lowrank'])
    parser.add_argument(
        '--fpn-mode', default='per_level', choices=['per_level', 'concat'])
    parser.add_argument(
        '--prefix-tokens',
        type=int,
        default=None,
        help='leading extra tokens of ViT targets (default: the '
        "backbone's num_extra_tokens)")
    parser.add_argument(
        '--suffix-tokens',
        type=int,
        default=0,
        help='trailing extra tokens of ViT targets')
    parser.add_argument(
        '--img-size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='resize to H x W instead of using the test pipeline')
    parser.add_argument(
        '--alpha', type=float, default=0.5, help='heatmap opacity')
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='device to run on')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. model.backbone.depth=18')
    return parser.parse_args(argv)


def list_images(path: str) -> List[str]:
    """The image itself, or the images of a directory (sorted)."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f'{path} is neither an image nor a directory.')
    files = sorted(
        osp.join(path, f) for f in os.listdir(path)
        if f.lower().endswith(IMG_EXTENSIONS))
    if not files:
        raise FileNotFoundError(
            f'no image ({", ".join(IMG_EXTENSIONS)}) in directory {path}.')
    return files


def test_pipeline(cfg: Config, img_size: Optional[List[int]]) -> Compose:
    """The config's test pipeline without annotation loaders, or a plain
    load + resize + pack pipeline when ``img_size`` is given."""
    if img_size is not None:
        return Compose([
            dict(type='mmcv.LoadImageFromFile'),
            dict(
                type='mmcv.Resize',
                scale=(img_size[1], img_size[0]),
                keep_ratio=False),
            dict(
                type='mmpretrain.PackInputs',
                meta_keys=('img_path', 'ori_shape', 'img_shape')),
        ])
    pipeline = cfg.get('test_pipeline')
    if pipeline is None:
        loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
        dataset = (loader or {}).get('dataset', {})
        while 'pipeline' not in dataset and 'dataset' in dataset:
            dataset = dataset['dataset']  # dataset wrappers
        pipeline = dataset.get('pipeline')
    if not pipeline:
        raise ValueError(
            'the config has no test pipeline (`test_pipeline` or '
            '`test_dataloader.dataset.pipeline`); pass --img-size H W.')
    steps = [
        dict(step) for step in pipeline
        if 'Annotation' not in str(step.get('type', ''))
    ]
    return Compose(steps)


def build_model(cfg: Config, checkpoint: str, device: str) -> torch.nn.Module:
    """Build the config's model and load ``checkpoint`` (unless 'none')."""
    from mmweak.registry import MODELS
    model = MODELS.build(cfg.model)
    if checkpoint.lower() != 'none':
        from mmweak.utils import load_checkpoint_safely
        ckpt = load_checkpoint_safely(checkpoint, map_location='cpu')
        state_dict = ckpt.get('state_dict', ckpt)
        state_dict = {
            k[len('module.'):] if k.startswith('module.') else k: v
            for k, v in state_dict.items()
        }
        load_state_dict(model, state_dict, strict=False, logger='current')
    return model.to(device).eval()


def overlay(image: torch.Tensor, cam: torch.Tensor,
            alpha: float) -> np.ndarray:
    """Overlay of ``cam`` (H, W) on a packed (C, H, W) BGR image, as BGR."""
    from mmweak.visualization.wsol_visualizer import overlay_map
    rgb = image.detach().cpu().permute(1, 2, 0).numpy()[..., 2::-1]
    rgb = np.ascontiguousarray(rgb.astype(np.uint8))
    if rgb.shape[:2] != tuple(cam.shape):
        cam = F.interpolate(
            cam[None, None], size=rgb.shape[:2], mode='bilinear',
            align_corners=False)[0, 0]
    drawn = overlay_map(rgb, cam.float().cpu().numpy(), alpha)
    return np.ascontiguousarray(drawn[..., ::-1])


def main(argv: Optional[List[str]] = None) -> List[str]:
    args = parse_args(argv)
    from mmweak.cam import EigenCAM
    from mmweak.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmweak'))

    files = list_images(args.img)
    pipeline = test_pipeline(cfg, args.img_size)
    model = build_model(cfg, args.checkpoint, args.device)
    cam = EigenCAM(
        model,
        args.target_layers,
        center=args.center,
        sign=args.sign,
        solver=args.solver,
        fpn_mode=args.fpn_mode,
        reshape=dict(
            prefix_tokens=args.prefix_tokens,
            suffix_tokens=args.suffix_tokens))
    os.makedirs(args.out_dir, exist_ok=True)

    written = []
    progress = ProgressBar(
        len(files), file=sys.stdout) if len(files) > 1 else None
    with cam:
        for path in files:
            packed = pipeline(dict(img_path=path))
            if packed is None:
                raise ValueError(f'the test pipeline dropped {path}.')
            samples = packed.get('data_samples')
            data = model.data_preprocessor(
                dict(
                    inputs=[packed['inputs']],
                    data_samples=None if samples is None else [samples]),
                False)
            maps = cam(data['inputs'], data.get('data_samples'))
            cam_map = maps[0]
            if samples is not None and 'img_shape' in samples.metainfo:
                img_h, img_w = samples.metainfo['img_shape'][:2]
                cam_map = cam_map[:img_h, :img_w]
            out_file = osp.join(
                args.out_dir,
                osp.splitext(osp.basename(path))[0] + '.png')
            mmcv.imwrite(overlay(packed['inputs'], cam_map, args.alpha),
                         out_file)
            written.append(out_file)
            if progress is not None:
                progress.update()
    if progress is not None:
        sys.stdout.write('\n')
    print(f'wrote {len(written)} overlay(s) to {args.out_dir}')
    return written


if __name__ == '__main__':
    main()
