# Copyright (c) mmweak contributors.
"""Convert official DeiT / SAT checkpoints (timm key names) to mmweak.

    python tools/model_converters/deit_to_sat.py SRC DST

``SRC`` is either

- an official DeiT checkpoint (e.g. ``deit_small_patch16_224-cd65a155.pth``,
  a ``{'model': state_dict}`` file with timm key names): the result is an
  ordinary mmpretrain DeiT checkpoint (``backbone.*`` and the linear head as
  ``head.layers.head.*``), which ``SATVisionTransformer`` loads with
  ``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone')``
  reporting only ``loc_token`` and ``loc_embed`` missing; or
- a released SAT checkpoint (same keys plus ``loc_token``, ``loc_embed``, the
  3x3 conv classifier ``head.*`` and the fixed Gaussian kernel ``weight``):
  the result loads into ``WSOLClassifier(SATVisionTransformer, SATHead)``
  (``tools/test.py CONFIG DST``); ``weight`` is dropped, as mmweak rebuilds
  the kernel as a buffer.

Distilled DeiT checkpoints lose their ``dist_token`` (and its positional
embedding) and ``head_dist``.
"""
import argparse
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict

import torch

# (timm pattern, mmpretrain replacement), applied in order to each key
KEY_RULES = (
    (r'^patch_embed\.proj\.', 'backbone.patch_embed.projection.'),
    (r'^blocks\.(\d+)\.norm1\.', r'backbone.layers.\1.ln1.'),
    (r'^blocks\.(\d+)\.norm2\.', r'backbone.layers.\1.ln2.'),
    (r'^blocks\.(\d+)\.attn\.qkv\.', r'backbone.layers.\1.attn.qkv.'),
    (r'^blocks\.(\d+)\.attn\.proj\.', r'backbone.layers.\1.attn.proj.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'backbone.layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'backbone.layers.\1.ffn.layers.1.'),
    (r'^norm\.', 'backbone.ln1.'),
    (r'^(cls_token|pos_embed|loc_token|loc_embed)$', r'backbone.\1'),
)
DROPPED_KEYS = ('weight', 'dist_token', 'head_dist.weight', 'head_dist.bias')


def convert_deit(src: Dict[str, torch.Tensor]) -> 'OrderedDict':
    """Map a timm-style DeiT/SAT state dict to mmpretrain/mmweak keys.

    Args:
        src (dict): State dict with timm key names (the ``model`` entry of an
            official checkpoint).

    Returns:
        OrderedDict: The converted state dict.

    Raises:
        KeyError: If a key matches no known rule (not a DeiT checkpoint).
    """
    if 'pos_embed' not in src or 'patch_embed.proj.weight' not in src:
        raise KeyError('not a timm-style DeiT checkpoint: expected keys '
                       '"pos_embed" and "patch_embed.proj.weight", got '
                       f'{sorted(src)[:8]} ...')
    dst = OrderedDict()
    for key, value in src.items():
        if key in DROPPED_KEYS:
            continue
        if key in ('head.weight', 'head.bias'):
            # linear DeiT head (2-D weight) or SAT's 3x3 conv (4-D weight)
            is_conv = src['head.weight'].dim() == 4
            new = ('head.conv.' if is_conv else 'head.layers.head.') + \
                key.split('.')[-1]
            dst[new] = value
            continue
        if key == 'pos_embed' and 'dist_token' in src:
            # distilled DeiT: drop the distillation token's embedding
            value = torch.cat([value[:, :1], value[:, 2:]], dim=1)
        for pattern, repl in KEY_RULES:
            new, n = re.subn(pattern, repl, key)
            if n:
                dst[new] = value
                break
        else:
            raise KeyError(f'unexpected key "{key}" in the DeiT checkpoint')
    return dst


def main() -> None:
    parser = argparse.ArgumentParser(
        description='Convert a timm-style DeiT or SAT checkpoint to the '
        'mmpretrain/mmweak key names.')
    parser.add_argument('src', help='official checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    args = parser.parse_args()

    ckpt = torch.load(args.src, map_location='cpu', weights_only=True)
    if not isinstance(ckpt, dict):
        raise TypeError(f'{args.src}: expected a dict checkpoint, got '
                        f'{type(ckpt).__name__}')
    state = ckpt.get('model', ckpt.get('state_dict', ckpt))
    converted = convert_deit(state)
    if osp.dirname(args.dst):
        os.makedirs(osp.dirname(args.dst), exist_ok=True)
    torch.save(
        dict(state_dict=converted, meta=dict(converted_from=args.src)),
        args.dst)
    print(f'{len(converted)} tensors -> {args.dst}')


if __name__ == '__main__':
    main()
