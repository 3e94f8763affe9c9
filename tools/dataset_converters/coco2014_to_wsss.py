# Copyright (c) mmweak contributors.
"""Convert MS COCO 2014 instance annotations into WSSS label maps and tags.

    python tools/dataset_converters/coco2014_to_wsss.py data/coco2014 \\
        [--out-dir DIR] [--splits train2014 val2014] [--list-dir DIR] \\
        [--crowd-ignore] [--include-empty] [--check-images] \\
        [--launcher none|pytorch]

    # sharded over N processes (CPU or GPU machines alike)
    torchrun --nproc_per_node=N tools/dataset_converters/coco2014_to_wsss.py \\
        data/coco2014 --launcher pytorch

Reads the official ``<coco_root>/annotations/instances_<split>.json`` with
pycocotools and writes, per split (wsss-protocol spec, 2.3 and 2.4)::

    <out>/                                  (--out-dir, default: coco_root)
    ├── SegmentationClass/<split>/<stem>.png   81-class label maps
    ├── cls_labels_<split>.json                image tags (canonical JSON)
    ├── ImageSets/<split>.txt                  image stems (--list-dir)
    └── conversion_<split>.json                options and counts

which, with the official images in ``<coco_root>/<split>/<stem>.jpg``, is the
layout ``COCO2014WSSSDataset`` reads (``data_root = coco_root``,
``ann_file='ImageSets/<split>.txt'``,
``data_prefix=dict(img_path='<split>',
seg_map_path='SegmentationClass/<split>')``).

- **Label maps**: single-channel palette PNGs (the values are the labels),
  same stem as the image (``COCO_train2014_000000000009``). 0 is background;
  the 80 category ids (1..90 with gaps) take labels 1..80 in sorted-id order
  (:func:`mmweak.datasets.coco_cat_id_to_label`). Instances are painted in
  descending order of their ``area`` (ties: ascending annotation id), so a
  smaller object painted later stays visible on top of a larger one. Crowd
  regions (``iscrowd=1``) get their class, or 255 (ignore) with
  ``--crowd-ignore``.
- **Tags**: ``{"source": "coco", "skip_difficult": false, "classes": [80
  names], "labels": {stem: [0-based fg indices]}}`` for every listed image
  (``mmweak.datasets.cls_labels.save_cls_labels``, read back by
  ``load_cls_labels``);
  the categories of all its annotations, crowd ones included, count (even
  with ``--crowd-ignore``: the objects are in the image).
- **Lists**: by default only images with at least one annotation (crowd
  ones included); ``--include-empty`` lists (and paints) every image. The
  counts are printed and stored in ``conversion_<split>.json``. On the
  official release they should come out at 82,081 of 82,783 train and
  40,137 of 40,504 val images (figures recalled from WSSS list files, not
  re-checked here: compare with the baseline's own lists and record them).

The job is resumable: existing PNGs are kept (they are only ever created by
an atomic rename), while the tags, lists and counts are rebuilt from the
annotations on every run, and written last, by rank 0, once every PNG of the
split exists. A rerun with a different ``--crowd-ignore`` over existing PNGs
is refused (it would mix two conventions).
"""
import argparse
import contextlib
import io
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from mmweak.datasets.cls_labels import save_cls_labels
from mmweak.datasets.coco_wsss import (COCO_THING_CAT_IDS, COCO_WSSS_CLASSES,
                                       COCO_WSSS_PALETTE, coco_cat_id_to_label)
from mmweak.structures import IGNORE_INDEX
from mmweak.utils.offline_job import (atomic_path, barrier, init_offline_dist,
                                      is_main_process, pending,
                                      save_png_atomic, shard, track)

SPLITS = ('train2014', 'val2014')
# the label colours, then 255 (ignore) in VOC's light boundary colour
FLAT_PALETTE = [v for rgb in COCO_WSSS_PALETTE for v in rgb] + [0, 0, 0] * (
    IGNORE_INDEX - len(COCO_WSSS_PALETTE)) + [224, 224, 192]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='MS COCO 2014 instances -> 81-class WSSS label maps, '
        'image tags (JSON) and image lists')
    parser.add_argument(
        'coco_root',
        help='folder holding annotations/instances_<split>.json (and the '
        '<split>/ image folders)')
    parser.add_argument('--out-dir',
                        help='output root (default: coco_root, so the '
                        'dataset configs read it with data_root=coco_root)')
    parser.add_argument('--splits',
                        nargs='+',
                        default=list(SPLITS),
                        choices=SPLITS,
                        help='splits to convert (default: both)')
    parser.add_argument('--list-dir',
                        help='where <split>.txt goes (default: '
                        '<out-dir>/ImageSets)')
    parser.add_argument('--crowd-ignore',
                        action='store_true',
                        help='paint crowd regions 255 (ignore) instead of '
                        'their class')
    parser.add_argument('--include-empty',
                        action='store_true',
                        help='also list (and paint, all background) images '
                        'without any annotation')
    parser.add_argument('--check-images',
                        action='store_true',
                        help='fail unless every listed image exists in '
                        '<coco_root>/<split>/')
    parser.add_argument('--launcher',
                        default='none',
                        choices=['none', 'pytorch'],
                        help="'pytorch' shards the images over torchrun's "
                        'processes')
    return parser.parse_args(argv)


# --------------------------------------------------------------- reading
def load_instances(ann_file: str) -> COCO:
    """Load an official ``instances_*.json`` into a pycocotools ``COCO``
    index, checking what the conversion relies on."""
    if not osp.isfile(ann_file):
        raise FileNotFoundError(
            f'annotation file "{ann_file}" does not exist (expected the '
            'official COCO 2014 annotations/instances_<split>.json)')
    try:
        with open(ann_file, encoding='utf-8') as f:
            dataset = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'{ann_file} is not valid JSON: {e}') from None
    if not isinstance(dataset, dict):
        raise ValueError(f'{ann_file}: expected a JSON object with "images", '
                         '"annotations" and "categories"')
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(dataset.get(key), list):
            raise ValueError(f'{ann_file}: missing the "{key}" list of the '
                             'COCO instances format')
    _check_categories(dataset['categories'], ann_file)
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools' chatter
        coco.createIndex()
    _check_references(coco, ann_file)
    return coco


def _check_categories(categories: list, ann_file: str) -> None:
    ids = []
    for cat in categories:
        if not isinstance(cat, dict) or not isinstance(cat.get('id'), int):
            raise ValueError(f'{ann_file}: category {cat!r} has no integer '
                             '"id"')
        ids.append(cat['id'])
    if sorted(ids) != list(COCO_THING_CAT_IDS):
        extra = sorted(set(ids) - set(COCO_THING_CAT_IDS))
        missing = sorted(set(COCO_THING_CAT_IDS) - set(ids))
        raise ValueError(
            f'{ann_file}: "categories" must be the 80 COCO thing categories '
            f'(ids 1..90 with gaps), once each; unexpected ids {extra}, '
            f'missing ids {missing}, {len(ids)} entries')


def _check_references(coco: COCO, ann_file: str) -> None:
    if len(coco.imgs) != len(coco.dataset['images']):
        raise ValueError(f'{ann_file}: duplicate image ids in "images"')
    stems = {}
    for img in coco.dataset['images']:
        for key in ('id', 'file_name', 'height', 'width'):
            if key not in img:
                raise ValueError(f'{ann_file}: image {img.get("id", img)!r} '
                                 f'has no "{key}"')
        stem = image_stem(img)
        if stem in stems:
            raise ValueError(f'{ann_file}: images {stems[stem]} and '
                             f'{img["id"]} share the file stem "{stem}"')
        stems[stem] = img['id']
    for i, ann in enumerate(coco.dataset['annotations']):
        aid = ann.get('id', f'#{i}')
        if ann.get('image_id') not in coco.imgs:
            raise ValueError(
                f'{ann_file}: annotation {aid} refers to image_id '
                f'{ann.get("image_id")!r}, which is not in "images"')
        if ann.get('category_id') not in coco.cats:
            raise ValueError(
                f'{ann_file}: annotation {aid} refers to category_id '
                f'{ann.get("category_id")!r}, which is not in "categories"')
        if 'segmentation' not in ann:
            raise ValueError(f'{ann_file}: annotation {aid} has no '
                             '"segmentation"')


def image_stem(img: dict) -> str:
    """``COCO_train2014_000000000009`` for ``..._000000000009.jpg``."""
    return osp.splitext(osp.basename(img['file_name']))[0]


# ----------------------------------------------------------- conversion
def annotation_rle(ann: dict, height: int, width: int,
                   ann_file: str = '') -> Optional[dict]:
    """The annotation's region as one RLE at the image size (None when it
    has no area: no polygon of at least three points)."""
    segm = ann['segmentation']
    aid = ann.get('id')
    if isinstance(segm, list):  # polygons
        polys = []
        for poly in segm:
            if not isinstance(poly, list) or len(poly) % 2:
                raise ValueError(f'{ann_file}: annotation {aid} has a polygon'
                                 ' that is not a flat [x1, y1, x2, ...] list')
            if len(poly) >= 6:  # pycocotools reads 4 numbers as a box
                polys.append([float(v) for v in poly])
        if not polys:
            return None
        return mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
    if not isinstance(segm, dict) or 'counts' not in segm \
            or 'size' not in segm:
        raise ValueError(f'{ann_file}: annotation {aid} has a segmentation '
                         'that is neither polygons nor an RLE dict')
    if list(segm['size']) != [height, width]:
        raise ValueError(
            f'{ann_file}: annotation {aid} has an RLE of size {segm["size"]}'
            f' on an image of size [{height}, {width}]')
    if isinstance(segm['counts'], list):  # uncompressed RLE (crowds)
        return mask_utils.frPyObjects(segm, height, width)
    counts = segm['counts']
    return dict(size=[height, width],
                counts=counts.encode() if isinstance(counts, str) else counts)


def rasterize(anns: Sequence[dict],
              height: int,
              width: int,
              cat_to_label: Dict[int, int],
              crowd_ignore: bool = False,
              ann_file: str = '') -> np.ndarray:
    """Paint instances into an ``(H, W)`` uint8 label map, largest first.

    Args:
        anns: COCO annotations of one image.
        height, width: Image size.
        cat_to_label: ``{category_id: label}`` (1..80).
        crowd_ignore: Paint crowd regions 255 instead of their label.
        ann_file: Named in error messages.

    Returns:
        np.ndarray: ``(H, W)`` uint8 with values 0..80 (and 255).
    """
    label = np.zeros((height, width), np.uint8)
    items = []
    for ann in anns:
        rle = annotation_rle(ann, height, width, ann_file)
        if rle is None:
            continue
        area = ann.get('area')
        if not isinstance(area, (int, float)):
            area = float(mask_utils.area(rle))
        items.append((-float(area), ann.get('id', 0), rle, ann))
    items.sort(key=lambda t: t[:2])
    for _, _, rle, ann in items:
        mask = mask_utils.decode(rle)
        if mask.shape != (height, width):
            raise ValueError(f'{ann_file}: annotation {ann.get("id")} decodes '
                             f'to {mask.shape}, expected {(height, width)}')
        value = IGNORE_INDEX if crowd_ignore and ann.get('iscrowd') else \
            cat_to_label[ann['category_id']]
        np.copyto(label, value, where=mask.astype(bool, copy=False))
    return label


def split_index(coco: COCO, include_empty: bool = False) -> dict:
    """Images of a split, sorted by stem, with their tags and counts."""
    cat_to_label = coco_cat_id_to_label(coco.cats.keys())
    images = sorted(coco.dataset['images'], key=image_stem)
    listed, tags = [], {}
    for img in images:
        anns = coco.imgToAnns.get(img['id'], [])
        if not anns and not include_empty:
            continue
        stem = image_stem(img)
        listed.append(img)
        tags[stem] = sorted({cat_to_label[a['category_id']] - 1
                             for a in anns})
    anns = coco.dataset['annotations']
    counts = dict(
        num_images=len(images),
        num_images_with_annotations=len(
            {a['image_id'] for a in anns}),
        num_listed=len(listed),
        num_annotations=len(anns),
        num_crowd_annotations=sum(1 for a in anns if a.get('iscrowd')))
    return dict(cat_to_label=cat_to_label, listed=listed, tags=tags,
                counts=counts)


# -------------------------------------------------------------- writing
def write_text_atomic(path: str, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, 'w', encoding='utf-8', newline='\n') as f:
            f.write(text)


def _settings_guard(settings_file: str, seg_dir: str,
                    crowd_ignore: bool) -> None:
    """Refuse to resume over PNGs written with the other crowd setting."""
    if not osp.isfile(settings_file):
        return
    with open(settings_file, encoding='utf-8') as f:
        old = json.load(f).get('crowd_ignore')
    has_pngs = osp.isdir(seg_dir) and any(
        name.endswith('.png') for name in os.listdir(seg_dir))
    if old is not None and old != crowd_ignore and has_pngs:
        raise RuntimeError(
            f'{seg_dir} holds label maps written with crowd_ignore={old} '
            f'(see {settings_file}); this run has crowd_ignore={crowd_ignore}.'
            ' Use another --out-dir or delete those PNGs first.')


def convert_split(split: str, args: argparse.Namespace, rank: int,
                  world_size: int) -> dict:
    """Convert one split; returns its counts."""
    out_dir = args.out_dir or args.coco_root
    list_dir = args.list_dir or osp.join(out_dir, 'ImageSets')
    ann_file = osp.join(args.coco_root, 'annotations',
                        f'instances_{split}.json')
    seg_dir = osp.join(out_dir, 'SegmentationClass', split)
    settings_file = osp.join(out_dir, f'conversion_{split}.json')

    coco = load_instances(ann_file)
    index = split_index(coco, args.include_empty)
    listed = index['listed']
    if args.check_images:
        img_dir = osp.join(args.coco_root, split)
        missing = [osp.join(img_dir, img['file_name']) for img in listed
                   if not osp.isfile(osp.join(img_dir, img['file_name']))]
        if missing:
            raise FileNotFoundError(
                f'{len(missing)} image(s) of {ann_file} are missing, e.g. '
                f'"{missing[0]}"')
    _settings_guard(settings_file, seg_dir, args.crowd_ignore)
    counts = dict(index['counts'])
    record = dict(split=split,
                  annotation_file=osp.basename(ann_file),
                  crowd_ignore=args.crowd_ignore,
                  include_empty=args.include_empty,
                  num_classes=len(COCO_WSSS_CLASSES),
                  **counts)

    def png_path(img: dict) -> str:
        return osp.join(seg_dir, image_stem(img) + '.png')

    # every rank lists the pending PNGs before any rank writes one, so the
    # shards agree
    todo = shard(pending(listed, png_path), rank, world_size)
    barrier()
    if rank == 0:
        write_text_atomic(settings_file,
                          json.dumps(record, indent=2) + '\n')
    for img in track(todo, f'{split}: label maps'):
        label = rasterize(coco.imgToAnns.get(img['id'], []), img['height'],
                          img['width'], index['cat_to_label'],
                          args.crowd_ignore, ann_file)
        save_png_atomic(png_path(img), label, palette=FLAT_PALETTE)
    barrier()  # every PNG of the split exists

    if rank == 0:
        save_cls_labels(osp.join(out_dir, f'cls_labels_{split}.json'),
                        index['tags'], COCO_WSSS_CLASSES[1:], source='coco',
                        skip_difficult=False)
        write_text_atomic(osp.join(list_dir, f'{split}.txt'),
                          ''.join(image_stem(i) + '\n' for i in listed))
    if is_main_process():
        print(f'{split}: {counts["num_listed"]} images listed '
              f'({counts["num_images_with_annotations"]} of '
              f'{counts["num_images"]} have annotations; '
              f'{counts["num_annotations"]} annotations, '
              f'{counts["num_crowd_annotations"]} crowd)', flush=True)
    return record


def main(argv: Optional[List[str]] = None) -> Dict[str, dict]:
    """Run the conversion; returns ``{split: options and counts}``."""
    args = parse_args(argv)
    if not osp.isdir(args.coco_root):
        raise FileNotFoundError(f'COCO root "{args.coco_root}" does not '
                                'exist')
    rank, world_size = init_offline_dist(args.launcher)
    return {
        split: convert_split(split, args, rank, world_size)
        for split in dict.fromkeys(args.splits)
    }


if __name__ == '__main__':
    main()
