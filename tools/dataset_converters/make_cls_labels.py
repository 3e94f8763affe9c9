# Copyright (c) mmweak contributors.
"""Write the image-level tags (``cls_labels``) of a VOC-layout dataset, or
convert a tag file between IRN's ``.npy`` and mmweak's canonical JSON.

    # tags of trainaug from the XML annotations (IRN convention)
    python tools/dataset_converters/make_cls_labels.py \\
        --data-root data/VOCdevkit/VOC2012 --split trainaug --source xml \\
        [--skip-difficult] --out data/VOCdevkit/VOC2012/cls_labels.json

    # tags from the masks (SegmentationClassAug by default)
    python tools/dataset_converters/make_cls_labels.py \\
        --data-root data/VOCdevkit/VOC2012 --split trainaug --source mask \\
        --out cls_labels_mask.npy

    # IRN cls_labels.npy <-> canonical JSON
    python tools/dataset_converters/make_cls_labels.py \\
        --convert irn/voc12/cls_labels.npy cls_labels.json

Tags are 0-based foreground indices (no background); the output format
follows the extension of ``--out`` (``.json``: canonical JSON with the
source, ``skip_difficult`` and class names; ``.npy``: IRN's dict of
``int(id.replace('_', ''))`` -> float32 multi-hot). See
:mod:`mmweak.datasets.cls_labels`.

``--split`` is an ``ImageSets/Segmentation`` list name (``train``,
``trainaug``, ``val`` ...) or the path of a list file. ``--source xml``
reads ``Annotations/<id>.xml``; ``--source mask`` reads
``<mask-dir>/<id>.png`` (default ``SegmentationClassAug``, which covers
trainaug and val; use ``SegmentationClass`` for train/val only). When
converting from ``.npy`` (which stores no header), ``--source`` and
``--skip-difficult`` give the header written to the JSON (defaults ``xml``
and False: IRN's file comes from the XML with difficult objects kept).

An existing output is left alone (resume) unless ``--overwrite``; outputs
are written atomically. ``--launcher pytorch`` (torchrun) splits the images
over processes.
"""
import argparse
import os.path as osp
from collections import Counter
from typing import Dict, List, Optional

from mmweak.datasets.cls_labels import (TAG_SOURCES, VOC_FG_CLASSES,
                                        load_cls_labels, load_id_list,
                                        save_cls_labels, tags_from_mask,
                                        tags_from_voc_xml)
from mmweak.utils.offline_job import (barrier, init_offline_dist,
                                      is_main_process, shard, track)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write cls_labels (image tags) of a VOC-layout dataset '
        'or convert between IRN .npy and canonical JSON')
    parser.add_argument('--data-root', help='VOCdevkit/VOC2012 folder')
    parser.add_argument('--split',
                        default='trainaug',
                        help='ImageSets/Segmentation list name or list path')
    parser.add_argument('--source',
                        default='xml',
                        choices=TAG_SOURCES,
                        help='tags from the XML or from the masks (coco: '
                        'only as the JSON header of a conversion)')
    parser.add_argument('--skip-difficult',
                        action='store_true',
                        help='drop objects marked difficult (XML source)')
    parser.add_argument('--ann-dir',
                        default='Annotations',
                        help='XML folder relative to --data-root')
    parser.add_argument('--mask-dir',
                        default='SegmentationClassAug',
                        help='mask folder relative to --data-root')
    parser.add_argument('--classes',
                        default='voc',
                        help="'voc' (the 20 VOC classes) or a file with one "
                        'foreground class name per line')
    parser.add_argument('--out', help='cls_labels.json or cls_labels.npy')
    parser.add_argument('--convert',
                        nargs=2,
                        metavar=('IN', 'OUT'),
                        help='convert a tag file (.npy <-> .json)')
    parser.add_argument('--overwrite',
                        action='store_true',
                        help='replace an existing output')
    parser.add_argument('--launcher',
                        default='none',
                        choices=['none', 'pytorch'])
    args = parser.parse_args(argv)
    if args.convert is None and (args.data_root is None or args.out is None):
        parser.error('give --data-root and --out, or --convert IN OUT')
    if args.convert is not None and args.out is not None:
        parser.error('--out and --convert are exclusive')
    if args.convert is None and args.source == 'mask' and \
            args.skip_difficult:
        parser.error('--skip-difficult applies to --source xml only (masks '
                     'carry no difficult flag)')
    if args.convert is None and args.source == 'coco':
        parser.error("--source coco is only a header for --convert; use "
                     "tools/dataset_converters' COCO converter for COCO tags")
    return args


def _classes(spec: str) -> tuple:
    if spec == 'voc':
        return VOC_FG_CLASSES
    if not osp.isfile(spec):
        raise FileNotFoundError(f"--classes: '{spec}' is neither 'voc' nor "
                                'an existing file of class names')
    with open(spec) as f:
        names = tuple(line.strip() for line in f if line.strip())
    if not names:
        raise ValueError(f'--classes: {spec} lists no class names')
    return names


def _summary(labels: Dict[str, List[int]], classes: tuple) -> str:
    counts = Counter(k for tags in labels.values() for k in tags)
    empty = sum(1 for tags in labels.values() if not tags)
    per_class = ', '.join(f'{classes[k]} {counts[k]}'
                          for k in range(len(classes)) if counts[k])
    return (f'{len(labels)} images, {sum(counts.values())} tags, '
            f'{empty} without tags; images per class: {per_class}')


def convert(src: str, dst: str, classes: tuple, source: str,
            skip_difficult: bool) -> Dict[str, List[int]]:
    """Read ``src`` (.json/.npy) and write ``dst`` (.json/.npy)."""
    labels = load_cls_labels(src, classes)
    if src.lower().endswith('.json'):
        import json
        with open(src) as f:
            header = json.load(f)
        if isinstance(header, dict) and isinstance(header.get('labels'), dict):
            source = header.get('source', source)
            skip_difficult = header.get('skip_difficult', skip_difficult)
    save_cls_labels(dst, labels, classes, source, skip_difficult)
    return labels


def main(argv: Optional[List[str]] = None) -> Optional[str]:
    args = parse_args(argv)
    classes = _classes(args.classes)
    out = args.convert[1] if args.convert else args.out
    if osp.exists(out) and not args.overwrite:
        print(f'{out} exists; skipping (pass --overwrite to replace it)')
        return out
    if args.convert:
        labels = convert(args.convert[0], out, classes, args.source,
                         args.skip_difficult)
        print(f'converted {args.convert[0]} -> {out}: '
              f'{_summary(labels, classes)}')
        return out

    rank, world = init_offline_dist(args.launcher)
    root = args.data_root
    if not osp.isdir(root):
        raise FileNotFoundError(f'--data-root "{root}" is not a folder')
    list_path = args.split if args.split.endswith('.txt') or osp.isfile(
        args.split) else osp.join(root, 'ImageSets', 'Segmentation',
                                  f'{args.split}.txt')
    ids = load_id_list(list_path)
    if args.source == 'xml':
        folder, ext = osp.join(root, args.ann_dir), '.xml'
    else:
        folder, ext = osp.join(root, args.mask_dir), '.png'
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{args.source} folder "{folder}" does not '
                                'exist')
    mine = {}
    for img_id in track(shard(ids, rank, world),
                        f'tags from {args.source} ({folder})'):
        path = osp.join(folder, img_id + ext)
        if args.source == 'xml':
            mine[img_id] = tags_from_voc_xml(path, classes,
                                             args.skip_difficult)
        else:
            mine[img_id] = tags_from_mask(path, len(classes))
    labels = mine
    if world > 1:
        import torch.distributed as dist
        parts = [None] * world
        dist.all_gather_object(parts, mine)
        labels = {k: v for part in parts for k, v in part.items()}
    if is_main_process():
        save_cls_labels(out, labels, classes, args.source, args.skip_difficult)
        print(f'wrote {out} ({args.source}, skip_difficult='
              f'{args.skip_difficult}, list {list_path}): '
              f'{_summary(labels, classes)}')
    barrier()
    return out


if __name__ == '__main__':
    main()
