# Copyright (c) mmweak contributors.
"""Convert a PyTorch MobileNetV1 ImageNet checkpoint (e.g. the ReLU
MobileNetV1 ``mobilenet_v1_with_relu_69_5.pth`` used by BAS) to mmweak's
:class:`MobileNetV1` / ``BASMobileNetV1`` key names.

    python tools/model_converters/mobilenet_v1_to_mmweak.py SRC DST

The source models hold the 14 layers in the paper's order
(conv-bn per layer 0, dw conv-bn / pw conv-bn per layer 1-13), followed by a
1000-way fully connected layer. Their key names vary between ports (BAS maps
them by position too), so tensors are matched **by order and shape** onto
``layers.<i>.<j>.*``; ``num_batches_tracked`` counters and the classifier are
dropped. Any shape mismatch aborts with the offending keys. The output is a
plain ``state_dict`` for ``init_cfg=dict(type='Pretrained', checkpoint=DST)``
on the backbone.
"""
import argparse
from collections import OrderedDict
from typing import Dict

import torch

from mmweak.models.backbones import MobileNetV1


def convert(src: Dict[str, torch.Tensor],
            widen_factor: float = 1.0) -> 'OrderedDict[str, torch.Tensor]':
    """Map the tensors of ``src`` onto mmweak's MobileNetV1 keys by order.

    Args:
        src (dict): Source state dict (optionally wrapped in ``state_dict``).
        widen_factor (float): Width of the target model. Defaults to 1.0.

    Returns:
        OrderedDict: State dict with ``layers.*`` keys.
    """
    if 'state_dict' in src and isinstance(src['state_dict'], dict):
        src = src['state_dict']
    # fully connected layers: every tensor of a module with a 2-D weight
    linear = {k.rsplit('.', 1)[0] for k, v in src.items() if v.dim() == 2}
    source = [(k, v) for k, v in src.items()
              if not k.endswith('num_batches_tracked')
              and k.rsplit('.', 1)[0] not in linear]
    target = [(k, v) for k, v in MobileNetV1(
        widen_factor=widen_factor).state_dict().items()
              if not k.endswith('num_batches_tracked')]
    if len(source) != len(target):
        raise ValueError(
            f'expected {len(target)} convolution / batch-norm tensors, found '
            f'{len(source)} in the source checkpoint (after dropping the '
            'fully connected layer and num_batches_tracked)')
    out = OrderedDict()
    for (src_key, value), (dst_key, ref) in zip(source, target):
        if value.shape != ref.shape:
            raise ValueError(f'shape mismatch: source {src_key} '
                             f'{tuple(value.shape)} vs {dst_key} '
                             f'{tuple(ref.shape)}')
        out[dst_key] = value.clone()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='source checkpoint')
    parser.add_argument('dst', help='output path')
    parser.add_argument('--widen-factor', type=float, default=1.0)
    args = parser.parse_args()
    src = torch.load(args.src, map_location='cpu', weights_only=True)
    torch.save(convert(src, args.widen_factor), args.dst)
    print(f'saved {args.dst}')


if __name__ == '__main__':
    main()
