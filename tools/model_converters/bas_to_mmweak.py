# Copyright (c) mmweak contributors.
"""Convert checkpoints of the BAS reference code to mmweak BAS models.

    python tools/model_converters/bas_to_mmweak.py SRC DST \\
        --arch {vgg16,resnet50,inceptionv3,mobilenetv1} [--config CONFIG]

``SRC`` is a checkpoint written by the authors' code, in any of the layouts
their scripts produce:

- BAS, CVPR 2022 (``wpy1999/BAS``): a plain ``state_dict``; the ILSVRC
  scripts wrap the model in ``nn.DataParallel``, so every key starts with
  ``module.``, and their models also hold persistent copies of the erase
  branch (see "Dropped" below);
- BAS-Extension, IJCV 2023 (``wpy1999/BAS-Extension``):
  ``{'model': state_dict, 'best_thr': ..., 'epoch': ...}``, with ``module.``
  keys when trained with DDP (ILSVRC);
- ``{'state_dict': state_dict, ...}`` (e.g. a re-saved file).

``DST`` is ``{'state_dict': ..., 'meta': ...}`` for a :class:`BASClassifier`
built from ``configs/bas/bas_<arch>_*.py``; ``tools/test.py CONFIG DST``
(mmengine ``load_checkpoint``) loads it with no missing or unexpected keys.
The number of classes is read from the checkpoint (``classifier_loc``), so
CUB (200), ILSVRC (1000) and OpenImages (100) weights all convert.

**Pick the matching config.** The CVPR models end ``classifier_cls`` with a
ReLU, the extension's do not (it rectifies the scores in the loss). The
weights are the same tensors either way, but the logits differ: evaluate
CVPR weights with the ``*_cvpr`` configs (``final_relu=True``) and
extension weights with the default ones.

Key mapping (reference name -> mmweak name), by backbone:

- all: ``classifier_cls.<i>.*`` -> ``head.classifier_cls.<i>.*`` (3x3, 3x3,
  1x1 convolutions at indices 0, 2, 4) and ``classifier_loc.0.*`` ->
  ``head.classifier_loc.0.*`` (the generator);
- ``resnet50``: torchvision names, which mmpretrain's ResNet keeps:
  ``conv1``, ``bn1``, ``layer<s>.<b>.{conv,bn}<k>``,
  ``layer<s>.<b>.downsample.{0,1}`` -> ``backbone.<same>``;
- ``vgg16``: the reference names every convolution, ``conv<s>_<j>``; they go
  to mmpretrain's flat ``features`` (max-pools included, no ``pool5``):
  ``conv1_1, conv1_2 -> 0, 1``; ``conv2_* -> 3, 4``; ``conv3_* -> 6, 7, 8``;
  ``conv4_* -> 10, 11, 12``; ``conv5_* -> 14, 15, 16`` as
  ``backbone.features.<i>.conv.{weight,bias}``;
- ``inceptionv3``: torchvision names (``Conv2d_1a_3x3`` ... ``Mixed_7c``,
  ``<block>[.<branch>].{conv,bn}.*``) -> ``backbone.<same>``; the CVPR CUB
  model calls its head ``classifier`` instead of ``classifier_cls``, which is
  accepted for this backbone only;
- ``mobilenetv1``: ``model.<i>.<j>.*`` -> ``backbone.layers.<i>.<j>.*`` (the
  same positional layout; the names are known, so unlike
  ``mobilenet_v1_to_mmweak.py`` nothing is matched by order).

Dropped, and only these:

- the persistent erase-branch copies of the CVPR ILSVRC models
  (``classifier_cls_copy.*`` and ``layer4_copy.*`` / ``conv_copy_5_<j>.*`` /
  ``Mixed_7{a,b,c}_copy.*`` / ``erase_branch.{0,1}.*``). mmweak's erase
  branch reuses the real modules; each copy must shadow an existing tensor
  of the same shape, otherwise the conversion fails.

BatchNorm ``num_batches_tracked`` counters are carried over when present and
set to 0 when absent (old checkpoints); they do not affect evaluation. Every
other mmweak key must be filled, every other source tensor used, and each
shape must equal the one of the mmweak model built from the config; anything
else raises :class:`ValueError` naming the keys.

The released weights cannot be downloaded in the test environment, so
``tests/test_tools/test_bas_to_mmweak.py`` checks the conversion on synthetic
checkpoints with the reference key names and random values, including an
output-level comparison against independently built (torchvision) trunks.
"""
import argparse
import os
import os.path as osp
import re
import tempfile
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import torch

ARCHS = ('vgg16', 'resnet50', 'inceptionv3', 'mobilenetv1')
CONFIG_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
    'bas')
WRAPPER_KEYS = ('model', 'state_dict')
NUM_CLASSES_KEY = 'classifier_loc.0.weight'

# mmpretrain ``VGG(depth=16, with_last_pool=False).features`` index -> name
# of the convolution in the reference VGG16 (max-pools sit at 2, 5, 9, 13).
VGG16_CONVS = {
    0: 'conv1_1', 1: 'conv1_2',
    3: 'conv2_1', 4: 'conv2_2',
    6: 'conv3_1', 7: 'conv3_2', 8: 'conv3_3',
    10: 'conv4_1', 11: 'conv4_2', 12: 'conv4_3',
    14: 'conv5_1', 15: 'conv5_2', 16: 'conv5_3',
}  # yapf: disable
MOBILENET_LAYERS = 14

Repl = Union[str, Callable[['re.Match'], str]]

# mmweak key pattern -> reference key (template for ``Match.expand`` or a
# function of the match). ``{head}`` is the reference name of the classifier.
HEAD_RULES: Tuple[Tuple[str, Repl], ...] = (
    (r'^head\.classifier_cls\.(\d+)\.(weight|bias)$', r'{head}.\1.\2'),
    (r'^head\.classifier_loc\.0\.(weight|bias)$', r'classifier_loc.0.\1'),
)
_BN = r'(?:weight|bias|running_mean|running_var|num_batches_tracked)'
BACKBONE_RULES: Dict[str, Tuple[Tuple[str, Repl], ...]] = {
    'resnet50': (
        (r'^backbone\.(conv1\.weight)$', r'\1'),
        (rf'^backbone\.(bn1\.{_BN})$', r'\1'),
        (r'^backbone\.(layer[1-4]\.\d+\.(?:conv[1-3]|downsample\.0)\.weight)$',
         r'\1'),
        (rf'^backbone\.(layer[1-4]\.\d+\.(?:bn[1-3]|downsample\.1)\.{_BN})$',
         r'\1'),
    ),
    'vgg16': ((r'^backbone\.features\.(\d+)\.conv\.(weight|bias)$',
               lambda m: f'{VGG16_CONVS[int(m[1])]}.{m[2]}'
               if int(m[1]) in VGG16_CONVS else ''), ),
    'inceptionv3': (
        (r'^backbone\.((?:Conv2d_\d[ab]_\dx\d|Mixed_[5-7][a-e](?:\.branch\w+))'
         r'\.conv\.weight)$', r'\1'),
        (r'^backbone\.((?:Conv2d_\d[ab]_\dx\d|Mixed_[5-7][a-e](?:\.branch\w+))'
         rf'\.bn\.{_BN})$', r'\1'),
    ),
    'mobilenetv1': ((r'^backbone\.layers\.(\d+\.\d+\.(?:weight|bias|'
                     r'running_mean|running_var|num_batches_tracked))$',
                     r'model.\1'), ),
}

# Reference keys that are dropped: pattern -> the key the tensor shadows.
DROP_RULES: Dict[str, Tuple[Tuple[str, Repl], ...]] = {
    'resnet50': ((r'^layer4_copy\.(.+)$', r'layer4.\1'), ),
    'vgg16': ((r'^conv_copy_5_([1-3])\.(weight|bias)$', r'conv5_\1.\2'), ),
    'inceptionv3': ((r'^(Mixed_7[abc])_copy\.(.+)$', r'\1.\2'), ),
    'mobilenetv1': ((r'^erase_branch\.([01])\.(.+)$', lambda m:
                     f'model.{MOBILENET_LAYERS - 2 + int(m[1])}.{m[2]}'), ),
}
COMMON_DROP_RULES: Tuple[Tuple[str, Repl], ...] = (
    (r'^classifier_cls_copy\.(.+)$', r'classifier_cls.\1'), )


def _apply(rules: Tuple[Tuple[str, Repl], ...], key: str,
           **fmt: str) -> Optional[str]:
    """Return the image of ``key`` under the first matching rule."""
    for pattern, repl in rules:
        match = re.match(pattern, key)
        if match:
            if callable(repl):
                return repl(match) or None
            return match.expand(repl).format(**fmt)
    return None


def _listing(keys: List[str], limit: int = 12) -> str:
    shown = ', '.join(keys[:limit])
    return shown + (f', ... ({len(keys)} in total)'
                    if len(keys) > limit else '')


def unwrap(checkpoint: Mapping) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Strip the wrappers the reference scripts write around a state dict.

    Accepts a plain state dict, ``{'model': state_dict, ...}``
    (BAS-Extension) or ``{'state_dict': state_dict, ...}``, with or without
    the ``module.`` prefix of ``DataParallel`` / ``DistributedDataParallel``.

    Args:
        checkpoint (Mapping): The object loaded from the source file.

    Returns:
        tuple: The bare state dict, and a dict describing the source
        (``wrapper``, ``module_prefix`` and the wrapper's other scalar
        entries as ``extra``, e.g. ``epoch`` and ``best_thr``).
    """
    if not isinstance(checkpoint, Mapping):
        raise ValueError('expected a checkpoint dict, got '
                         f'{type(checkpoint).__name__}')
    wrapper, state, extra = None, checkpoint, {}
    for key in WRAPPER_KEYS:
        if isinstance(checkpoint.get(key), Mapping):
            wrapper, state = key, checkpoint[key]
            for name, value in checkpoint.items():
                if name == key:
                    continue
                if isinstance(value, torch.Tensor) and value.numel() == 1:
                    value = value.item()
                extra[name] = (value if isinstance(
                    value, (bool, int, float, str, type(None))) else
                               repr(value))
            break
    not_tensors = [k for k, v in state.items() if not torch.is_tensor(v)]
    if not_tensors:
        raise ValueError('the checkpoint is not a state dict (or one wrapped '
                         f'in {WRAPPER_KEYS}): non-tensor entries '
                         f'{_listing(not_tensors)}')
    prefixed = 0
    while state and all(k.startswith('module.') for k in state):
        state = OrderedDict((k[len('module.'):], v) for k, v in state.items())
        prefixed += 1
    mixed = [k for k in state if k.startswith('module.')]
    if mixed:
        raise ValueError('only some keys carry the DataParallel prefix: '
                         f'{_listing(mixed)}')
    info = dict(wrapper=wrapper, module_prefix=bool(prefixed), extra=extra)
    return OrderedDict(state), info


def build_target(arch: str,
                 num_classes: int,
                 config: Optional[str] = None) -> Dict[str, torch.Tensor]:
    """State dict of the mmweak BAS model (for its key names and shapes).

    Args:
        arch (str): One of :data:`ARCHS`.
        num_classes (int): Number of classes of the head.
        config (str, optional): Config file. Defaults to
            ``configs/bas/bas_<arch>_cub.py`` with ``num_classes`` replaced.

    Returns:
        dict: ``model.state_dict()`` of a freshly built, uninitialised model.
    """
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmweak.registry import MODELS
    from mmweak.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(config or osp.join(CONFIG_DIR, f'bas_{arch}_cub.py'))
    cfg.model.backbone.init_cfg = None
    cfg.model.head.num_classes = num_classes
    if cfg.model.get('data_preprocessor') is not None:
        cfg.model.data_preprocessor.num_classes = num_classes
    with DefaultScope.overwrite_default_scope('mmweak'):
        return MODELS.build(cfg.model).state_dict()


def convert(checkpoint: Mapping,
            arch: str,
            target: Optional[Mapping[str, torch.Tensor]] = None,
            config: Optional[str] = None) -> Dict[str, Any]:
    """Convert a BAS / BAS-Extension checkpoint to an mmweak checkpoint.

    Args:
        checkpoint (Mapping): The loaded source checkpoint, in any layout
            :func:`unwrap` accepts.
        arch (str): Backbone, one of :data:`ARCHS`.
        target (Mapping, optional): State dict of the mmweak model to fill
            (names and shapes). Defaults to :func:`build_target` with the
            number of classes of the checkpoint.
        config (str, optional): Config for :func:`build_target`.

    Returns:
        dict: ``{'state_dict': OrderedDict, 'meta': dict}``; the state dict
        follows the key order of ``target``.

    Raises:
        ValueError: On missing, unexpected or misshapen tensors, or a
            dropped copy without the tensor it shadows.
    """
    if arch not in ARCHS:
        raise ValueError(f'arch must be one of {ARCHS}, got {arch!r}')
    src, info = unwrap(checkpoint)

    head = 'classifier_cls'
    if arch == 'inceptionv3' and any(k.startswith('classifier.') for k in src):
        head = 'classifier'  # the CVPR CUB InceptionV3
        both = [k for k in src if k.startswith('classifier_cls.')]
        if both:
            raise ValueError('the checkpoint holds both `classifier.*` and '
                             f'`classifier_cls.*` heads: {_listing(both)}')
    if NUM_CLASSES_KEY not in src:
        raise ValueError(f'missing key {NUM_CLASSES_KEY!r} (the generator) '
                         f'in the source checkpoint; a BAS {arch} checkpoint '
                         f'has it. Source keys: {_listing(list(src))}')
    num_classes = int(src[NUM_CLASSES_KEY].shape[0])
    if target is None:
        target = build_target(arch, num_classes, config)

    # mmweak key -> reference key, from the explicit rules
    rules = BACKBONE_RULES[arch] + HEAD_RULES
    table, no_rule = OrderedDict(), []
    for key in target:
        name = _apply(rules, key, head=head)
        if name is None:
            no_rule.append(key)
        else:
            table[key] = name
    if no_rule:
        raise ValueError(f'no {arch} conversion rule for the mmweak keys '
                         f'{_listing(no_rule)}; the model does not have the '
                         'expected BAS layout')

    sources = set(table.values())
    dropped, bad_drops, unexpected = [], [], []
    drop_rules = DROP_RULES[arch] + COMMON_DROP_RULES
    for key in src:
        if key in sources:
            continue
        original = _apply(drop_rules, key, head=head)
        if original is None:
            unexpected.append(key)
        elif (original not in sources or original not in src
              or src[original].shape != src[key].shape):
            bad_drops.append(f'{key} (shadows {original})')
        else:
            dropped.append(key)

    missing, filled, mismatched = [], [], []
    state_dict = OrderedDict()
    for key, name in table.items():
        if name not in src:
            if key.endswith('num_batches_tracked'):
                state_dict[key] = torch.zeros_like(target[key], device='cpu')
                filled.append(key)
            else:
                missing.append(f'{name} (for {key})')
            continue
        value = src[name]
        if tuple(value.shape) != tuple(target[key].shape):
            mismatched.append(f'{name} {tuple(value.shape)} vs {key} '
                              f'{tuple(target[key].shape)}')
            continue
        state_dict[key] = value.detach().clone().contiguous()

    problems = []
    if missing:
        problems.append(f'missing source keys: {_listing(missing)}')
    if unexpected:
        problems.append(
            f'unexpected source keys: {_listing(unexpected)} (a {arch} BAS '
            'checkpoint holds only the backbone, `classifier_cls.*`, '
            '`classifier_loc.*` and, from the CVPR ILSVRC code, the '
            'erase-branch copies)')
    if bad_drops:
        problems.append('erase-branch copies without a matching tensor: '
                        f'{_listing(bad_drops)}')
    if mismatched:
        problems.append(f'shape mismatches: {_listing(mismatched)}')
    if problems:
        raise ValueError(f'cannot convert the checkpoint to mmweak BAS '
                         f'{arch}: ' + '; '.join(problems))

    meta = dict(
        converter='tools/model_converters/bas_to_mmweak.py',
        arch=arch,
        num_classes=num_classes,
        source_wrapper=info['wrapper'],
        source_module_prefix=info['module_prefix'],
        source_extra=info['extra'],
        source_head=head,
        dropped_keys=dropped,
        filled_keys=filled)
    return dict(state_dict=state_dict, meta=meta)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='checkpoint of the BAS reference code')
    parser.add_argument('dst', help='output mmweak checkpoint')
    parser.add_argument('--arch', required=True, choices=ARCHS)
    parser.add_argument(
        '--config',
        help='mmweak config giving the target names and shapes (default: '
        'configs/bas/bas_<arch>_cub.py with the checkpoint\'s num_classes)')
    parser.add_argument(
        '--allow-pickle',
        action='store_true',
        help='load SRC with torch.load(weights_only=False); only for files '
        'you trust')
    args = parser.parse_args()
    from mmweak.utils.offline_job import file_sha256

    checkpoint = torch.load(
        args.src, map_location='cpu', weights_only=not args.allow_pickle)
    out = convert(checkpoint, args.arch, config=args.config)
    out['meta'].update(
        converted_from=osp.basename(args.src),
        source_sha256=file_sha256(args.src))

    dst_dir = osp.dirname(osp.abspath(args.dst))
    os.makedirs(dst_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst_dir, suffix='.tmp')
    os.close(fd)
    try:
        torch.save(out, tmp)
        os.replace(tmp, args.dst)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    meta = out['meta']
    print(f'{len(out["state_dict"])} tensors ({meta["num_classes"]} classes) '
          f'-> {args.dst}; dropped {len(meta["dropped_keys"])} erase-branch '
          'copy tensors')
    layout = {
        None: 'plain state dict, as the CVPR 2022 code saves',
        'model': "{'model': ...}, as the BAS-Extension code saves"
    }.get(meta['source_wrapper'], f"{{'{meta['source_wrapper']}': ...}}")
    print(f'source layout: {layout}. Evaluate CVPR 2022 weights with a '
          '`*_cvpr` config (final ReLU in the head) and BAS-Extension '
          'weights with the default config.')


if __name__ == '__main__':
    main()
