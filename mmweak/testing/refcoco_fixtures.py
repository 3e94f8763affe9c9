# Copyright (c) mmweak contributors.
"""A tiny RefCOCO-style dataset in the official on-disk format (tests)."""
import json
import os
import os.path as osp
import pickle
from typing import Dict, Optional

import numpy as np

#: (image_id, [(ann_id, category_id, [x, y, w, h])], [(ref_id, ann_id,
#: split, [sentences])]) of the fixture
FIXTURE_IMAGES = [
    (11, [(101, 1, [2., 4., 10., 20.]), (102, 1, [30., 4., 10., 20.]),
          (103, 3, [14., 30., 20., 10.])],
     [(1, 101, 'train', ['man left of car', 'left man']),
      (2, 103, 'train', ['red car'])]),
    (12, [(104, 18, [5., 5., 12., 9.]), (105, 18, [40., 20., 6., 5.])],
     [(3, 104, 'train', ['biggest dog'])]),
    (13, [(106, 1, [3., 3., 8., 16.]), (107, 44, [20., 8., 5., 12.])],
     [(4, 106, 'val', ['person next to bottle']),
      (5, 107, 'testA', ['bottle'])]),
]


def make_refcoco_root(root: str,
                      split_by: str = 'unc',
                      size: int = 48,
                      drop: Optional[str] = None) -> Dict[str, str]:
    """Write ``root/refcoco/{instances.json, refs(<split_by>).p}`` and
    ``root/images/train2014/COCO_train2014_%012d.jpg``.

    Args:
        root: Output folder.
        split_by: Refs file suffix.
        size: Image side.
        drop: Break the fixture: ``'annotation'`` (a ref's annotation is
            missing from instances.json), ``'image'`` (an image file is
            missing) or ``'refs'`` (no refs file).

    Returns:
        dict: ``data_root`` and ``img_prefix`` for the dataset.
    """
    from PIL import Image
    data_root = osp.join(root, 'refcoco')
    img_dir = osp.join(root, 'images', 'train2014')
    os.makedirs(data_root, exist_ok=True)
    os.makedirs(img_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    images, anns, refs, sent_id = [], [], [], 1
    for img_id, objs, img_refs in FIXTURE_IMAGES:
        name = 'COCO_train2014_%012d.jpg' % img_id
        images.append(dict(id=img_id, file_name=name, width=size,
                           height=size))
        if not (drop == 'image' and img_id == FIXTURE_IMAGES[-1][0]):
            Image.fromarray(rng.integers(0, 255, (size, size, 3),
                                         dtype=np.uint8)).save(
                osp.join(img_dir, name))
        for ann_id, cat, bbox in objs:
            if drop == 'annotation' and ann_id == 106:
                continue
            anns.append(dict(id=ann_id, image_id=img_id, category_id=cat,
                             bbox=bbox, area=bbox[2] * bbox[3], iscrowd=0,
                             segmentation=[[]]))
        for ref_id, ann_id, split, sents in img_refs:
            cat = next(c for a, c, _ in objs if a == ann_id)
            sentences = []
            for raw in sents:
                sentences.append(dict(raw=raw, sent=raw, tokens=raw.split(),
                                      sent_id=sent_id))
                sent_id += 1
            refs.append(dict(ref_id=ref_id, ann_id=ann_id, image_id=img_id,
                             category_id=cat, split=split,
                             sentences=sentences,
                             sent_ids=[s['sent_id'] for s in sentences]))
    cats = [dict(id=i, name=n) for i, n in ((1, 'person'), (3, 'car'),
                                            (18, 'dog'), (44, 'bottle'))]
    with open(osp.join(data_root, 'instances.json'), 'w') as f:
        json.dump(dict(images=images, annotations=anns, categories=cats), f)
    if drop != 'refs':
        with open(osp.join(data_root, f'refs({split_by}).p'), 'wb') as f:
            pickle.dump(refs, f, protocol=2)
    return dict(data_root=data_root, img_prefix='../images/train2014')


def write_random_region_features(cache_dir: str, data_root: str,
                                 dim: int = 8, seed: int = 0) -> None:
    """Random ``<img_id>.npz`` feature files for every image of a
    fixture's ``instances.json`` (what the feature tool would write)."""
    with open(osp.join(data_root, 'instances.json')) as f:
        coco = json.load(f)
    os.makedirs(cache_dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    for img in coco['images']:
        anns = sorted((a for a in coco['annotations']
                       if a['image_id'] == img['id']), key=lambda a: a['id'])
        boxes = np.asarray([[a['bbox'][0], a['bbox'][1],
                             a['bbox'][0] + a['bbox'][2],
                             a['bbox'][1] + a['bbox'][3]] for a in anns],
                           dtype=np.float32).reshape(-1, 4)
        np.savez(osp.join(cache_dir, f'{img["id"]}.npz'),
                 ann_ids=np.asarray([a['id'] for a in anns], dtype=np.int64),
                 boxes=boxes,
                 feats=rng.normal(size=(len(anns), dim)).astype(np.float32))
