# Copyright (c) mmweak contributors.
"""Write a small synthetic RefCOCO look-alike in the official format.

    python tools/dataset_converters/make_synthetic_refcoco.py --out-dir DIR \\
        [--seed 0] [--num-train 600] [--num-val 150] [--num-testa 100] \\
        [--num-testb 100] [--size 112] [--overwrite]

Output (the layout of ``refer``'s RefCOCO after download)::

    DIR/
    ├── synthetic_meta.json        arguments and counts (written last)
    ├── images/train2014/COCO_train2014_%012d.jpg
    └── refcoco/
        ├── instances.json         COCO style: images, annotations (bbox
        │                          [x, y, w, h], area, category_id, a box
        │                          polygon as segmentation), categories
        └── refs(unc).p            pickled list of refs (ref_id, ann_id,
                                   image_id, category_id, split, sentences
                                   [{raw, sent, tokens, sent_id}], sent_ids)

What is planted. Every image holds four to seven objects of five real COCO
categories (person 1, car 3, dog 18, bottle 44, chair 62), each category a
silhouette of its own (a person is a head on a tall body, a car a wide body
with a cabin and wheels, ...) in a colour of its family, at a random size,
on a noisy background. Each image has at least two objects of the
category of every referent, so **the subject alone is ambiguous**; an
expression "subject relation object" (``"man left of the car"``, ``"dog
above a bottle"``, ``"person next to the chair"``, ``"biggest car"``) is
kept only if exactly one object of the subject's category satisfies it
(strictly left/right/above/below: disjoint extents; next to: gap under
8 % of the image side; biggest/smallest: area 1.4 times the runner-up's).
Subjects use COCO synonyms (man, woman, guy, auto, puppy, seat, ...) and
sometimes (relational expressions only) a colour adjective that does not
single out the referent.
Splits are per image as in UNC's: ``testA`` images refer to people,
``testB`` images to other objects, ``train`` and ``val`` to both.

Deterministic: image ``i`` is drawn from the random stream ``(seed, i)``;
two runs with the same arguments write byte-identical files. The tree is
written into a temporary folder and renamed into place.
"""
import argparse
import json
import os
import os.path as osp
import pickle
import shutil
import tempfile
from typing import Dict, List, Optional, Tuple

import numpy as np
from PIL import Image, ImageDraw

CATEGORIES = [(1, 'person'), (3, 'car'), (18, 'dog'), (44, 'bottle'),
              (62, 'chair')]
#: subject words per category (synonyms of the built-in table)
NOUNS = {
    'person': ['person', 'man', 'woman', 'guy', 'lady', 'kid'],
    'car': ['car', 'auto', 'vehicle'],
    'dog': ['dog', 'puppy'],
    'bottle': ['bottle', 'jar'],
    'chair': ['chair', 'seat'],
}
#: width / height of each category's box
ASPECT = {'person': 0.55, 'car': 1.7, 'dog': 1.35, 'bottle': 0.42,
          'chair': 0.85}
#: colour families (name, rgb) per category
COLOURS = {
    'person': [('red', (200, 40, 40)), ('blue', (40, 60, 200)),
               ('green', (40, 160, 60))],
    'car': [('red', (220, 30, 30)), ('white', (235, 235, 235)),
            ('black', (30, 30, 30)), ('blue', (30, 80, 220))],
    'dog': [('brown', (130, 80, 40)), ('black', (35, 30, 30)),
            ('white', (230, 225, 215))],
    'bottle': [('green', (30, 150, 70)), ('brown', (120, 70, 30)),
               ('blue', (60, 120, 220))],
    'chair': [('brown', (140, 90, 50)), ('black', (40, 40, 40)),
              ('white', (220, 220, 220))],
}
RELATIONS = {
    'left': ['{s} left of {o}', '{s} to the left of the {o}',
             '{s} at the left of a {o}'],
    'right': ['{s} right of {o}', '{s} to the right of the {o}'],
    'above': ['{s} above {o}', '{s} above the {o}'],
    'below': ['{s} below {o}', '{s} under the {o}', '{s} below a {o}'],
    'next': ['{s} next to {o}', '{s} next to the {o}', '{s} beside the {o}'],
}
SIZE_TEMPLATES = {'biggest': ['biggest {s}', 'largest {s}', 'the big {s}'],
                  'smallest': ['smallest {s}', 'the small {s}',
                               'tiniest {s}']}
SPLITS = ('train', 'val', 'testA', 'testB')


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out-dir', required=True)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--num-train', type=int, default=600)
    p.add_argument('--num-val', type=int, default=150)
    p.add_argument('--num-testa', type=int, default=100)
    p.add_argument('--num-testb', type=int, default=100)
    p.add_argument('--size', type=int, default=112, help='image side (px)')
    p.add_argument('--overwrite', action='store_true')
    return p.parse_args(argv)


def _place(rng: np.random.Generator, cats: List[str],
           size: int) -> Optional[List[Tuple[float, float, float, float]]]:
    """Non-overlapping boxes (x1, y1, x2, y2) for the categories."""
    boxes: List[Tuple[float, float, float, float]] = []
    for cat in cats:
        for _ in range(60):
            area = rng.uniform(0.012, 0.06) * size * size
            w = float(np.sqrt(area * ASPECT[cat]))
            h = area / w
            if w >= size - 4 or h >= size - 4:
                continue
            x1 = float(rng.uniform(2, size - w - 2))
            y1 = float(rng.uniform(2, size - h - 2))
            box = (round(x1, 1), round(y1, 1), round(x1 + w, 1),
                   round(y1 + h, 1))
            if all(box[0] > b[2] + 2 or box[2] < b[0] - 2 or
                   box[1] > b[3] + 2 or box[3] < b[1] - 2 for b in boxes):
                boxes.append(box)
                break
        else:
            return None
    return boxes


def _draw(draw: ImageDraw.ImageDraw, cat: str, box, rgb) -> None:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    dark = tuple(int(c * 0.5) for c in rgb)
    if cat == 'person':
        r = w * 0.32
        cx = (x1 + x2) / 2
        draw.ellipse([cx - r, y1, cx + r, y1 + 2 * r], fill=(230, 190, 150))
        draw.rectangle([x1 + w * 0.1, y1 + 2 * r, x2 - w * 0.1,
                        y1 + h * 0.68], fill=rgb)
        draw.rectangle([x1 + w * 0.18, y1 + h * 0.68, cx - w * 0.05, y2],
                       fill=(40, 40, 70))
        draw.rectangle([cx + w * 0.05, y1 + h * 0.68, x2 - w * 0.18, y2],
                       fill=(40, 40, 70))
    elif cat == 'car':
        draw.rectangle([x1, y1 + h * 0.35, x2, y2 - h * 0.2], fill=rgb)
        draw.rectangle([x1 + w * 0.22, y1, x2 - w * 0.25, y1 + h * 0.4],
                       fill=dark)
        draw.rectangle([x1 + w * 0.3, y1 + h * 0.08, x2 - w * 0.33,
                        y1 + h * 0.33], fill=(170, 210, 240))
        for cx in (x1 + w * 0.22, x2 - w * 0.22):
            r = h * 0.2
            draw.ellipse([cx - r, y2 - 2 * r, cx + r, y2], fill=(15, 15, 15))
    elif cat == 'dog':
        draw.ellipse([x1, y1 + h * 0.25, x2 - w * 0.2, y1 + h * 0.75],
                     fill=rgb)
        draw.ellipse([x2 - w * 0.38, y1, x2, y1 + h * 0.45], fill=rgb)
        draw.polygon([(x2 - w * 0.3, y1), (x2 - w * 0.2, y1 + h * 0.2),
                      (x2 - w * 0.38, y1 + h * 0.15)], fill=dark)
        for lx in (x1 + w * 0.1, x1 + w * 0.28, x2 - w * 0.45,
                   x2 - w * 0.33):
            draw.rectangle([lx, y1 + h * 0.65, lx + w * 0.08, y2], fill=dark)
    elif cat == 'bottle':
        draw.rectangle([x1 + w * 0.35, y1, x2 - w * 0.35, y1 + h * 0.3],
                       fill=rgb)
        draw.rectangle([x1, y1 + h * 0.3, x2, y2], fill=rgb)
        draw.rectangle([x1 + w * 0.1, y1 + h * 0.5, x2 - w * 0.1,
                        y1 + h * 0.7], fill=(240, 240, 220))
    else:  # chair
        draw.rectangle([x1, y1, x1 + w * 0.18, y2], fill=rgb)
        draw.rectangle([x1, y1 + h * 0.5, x2, y1 + h * 0.62], fill=rgb)
        draw.rectangle([x2 - w * 0.15, y1 + h * 0.5, x2, y2], fill=dark)
        draw.rectangle([x1, y1, x1 + w * 0.5, y1 + h * 0.12], fill=dark)


def _relation_holds(rel: str, a, b, size: int) -> bool:
    if rel == 'left':
        return a[2] < b[0]
    if rel == 'right':
        return a[0] > b[2]
    if rel == 'above':
        return a[3] < b[1]
    if rel == 'below':
        return a[1] > b[3]
    gap_x = max(b[0] - a[2], a[0] - b[2], 0)
    gap_y = max(b[1] - a[3], a[1] - b[3], 0)
    return max(gap_x, gap_y) < 0.08 * size  # next to


def _expressions(cats: List[str], boxes, size: int) -> Dict[int, List]:
    """Unique triads per referent index: ``{i: [(sub_cat, rel, obj_cat)]}``
    (``obj_cat`` None for biggest/smallest)."""
    out: Dict[int, List] = {}
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    for sub in sorted(set(cats)):
        members = [i for i, c in enumerate(cats) if c == sub]
        if len(members) < 2:
            continue
        for obj in sorted(set(cats)):
            for rel in RELATIONS:
                hits = [i for i in members if any(
                    cats[j] == obj and j != i and
                    _relation_holds(rel, boxes[i], boxes[j], size)
                    for j in range(len(cats)))]
                if len(hits) == 1:
                    out.setdefault(hits[0], []).append((sub, rel, obj))
        order = sorted(members, key=lambda i: areas[i])
        if areas[order[-1]] > 1.4 * areas[order[-2]]:
            out.setdefault(order[-1], []).append((sub, 'biggest', None))
        if areas[order[1]] > 1.4 * areas[order[0]]:
            out.setdefault(order[0], []).append((sub, 'smallest', None))
    return out


def _sentence(rng: np.random.Generator, triad, colour: str) -> str:
    sub, rel, obj = triad
    s = str(rng.choice(NOUNS[sub]))
    if obj is None:  # no colour here: the rules take a colour first
        return str(rng.choice(SIZE_TEMPLATES[rel])).format(s=s)
    if rng.random() < 0.25:
        s = f'{colour} {s}'
    o = str(rng.choice(NOUNS[obj]))
    return str(rng.choice(RELATIONS[rel])).format(s=s, o=o)


def make_image(seed: int, index: int, split: str, size: int):
    """One image with its objects and refs (None when the draw fails)."""
    rng = np.random.default_rng([seed, index])
    names = [c[1] for c in CATEGORIES]
    for _ in range(50):
        n = int(rng.integers(4, 8))
        main = rng.choice(names, size=2, replace=False).tolist()
        if split == 'testA':
            main[0] = 'person'
        elif split == 'testB' and 'person' in main:
            main = [c for c in main if c != 'person'] + \
                [str(rng.choice([c for c in names if c not in main]))]
        cats = [main[0], main[0], main[1]]
        cats += rng.choice(names, size=n - 3).tolist()
        rng.shuffle(cats)
        boxes = _place(rng, cats, size)
        if boxes is None:
            continue
        exprs = _expressions(cats, boxes, size)
        if split == 'testA':
            exprs = {i: t for i, t in exprs.items() if cats[i] == 'person'}
        elif split == 'testB':
            exprs = {i: t for i, t in exprs.items() if cats[i] != 'person'}
        if exprs:
            break
    else:
        return None
    colours = [COLOURS[c][int(rng.integers(len(COLOURS[c])))] for c in cats]
    base = rng.uniform(90, 200, size=3)
    img = np.clip(base + rng.normal(0, 18, size=(size, size, 3)), 0, 255)
    pil = Image.fromarray(img.astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    for cat, box, (_, rgb) in zip(cats, boxes, colours):
        jitter = tuple(int(np.clip(c + rng.integers(-20, 21), 0, 255))
                       for c in rgb)
        _draw(draw, cat, box, jitter)
    refs = []
    referents = sorted(exprs)
    rng.shuffle(referents)
    for i in referents[:3]:
        triads = exprs[i]
        picks = rng.choice(len(triads), size=min(2, len(triads)),
                           replace=False)
        sents = [_sentence(rng, triads[int(k)], colours[i][0]) for k in picks]
        refs.append((i, sents))
    return pil, cats, boxes, refs


def generate(args: argparse.Namespace, root: str) -> Dict:
    """Write the whole set under ``root``; return the counts."""
    img_dir = osp.join(root, 'images', 'train2014')
    os.makedirs(img_dir)
    os.makedirs(osp.join(root, 'refcoco'))
    cat_id = {name: cid for cid, name in CATEGORIES}
    images, anns, refs = [], [], []
    plan = [('train', args.num_train), ('val', args.num_val),
            ('testA', args.num_testa), ('testB', args.num_testb)]
    index, ann_id, sent_id = 0, 1, 1
    for split, count in plan:
        made = 0
        while made < count:
            index += 1
            out = make_image(args.seed, index, split, args.size)
            if out is None:
                continue
            pil, cats, boxes, img_refs = out
            image_id = 100000 + index
            name = 'COCO_train2014_%012d.jpg' % image_id
            pil.save(osp.join(img_dir, name), quality=95)
            images.append(dict(id=image_id, file_name=name, width=args.size,
                               height=args.size))
            first_ann = ann_id
            for cat, b in zip(cats, boxes):
                w, h = round(b[2] - b[0], 1), round(b[3] - b[1], 1)
                anns.append(dict(
                    id=ann_id, image_id=image_id, category_id=cat_id[cat],
                    bbox=[b[0], b[1], w, h], area=round(w * h, 2),
                    iscrowd=0,
                    segmentation=[[b[0], b[1], b[2], b[1], b[2], b[3], b[0],
                                   b[3]]]))
                ann_id += 1
            for i, sents in img_refs:
                sentences = []
                for raw in sents:
                    tokens = raw.lower().split()
                    sentences.append(dict(raw=raw, sent=' '.join(tokens),
                                          tokens=tokens, sent_id=sent_id))
                    sent_id += 1
                refs.append(dict(
                    ref_id=len(refs) + 1, ann_id=first_ann + i,
                    image_id=image_id, category_id=cat_id[cats[i]],
                    split=split, sentences=sentences,
                    sent_ids=[s['sent_id'] for s in sentences],
                    file_name=name))
            made += 1
    categories = [dict(id=cid, name=name, supercategory='synthetic')
                  for cid, name in CATEGORIES]
    with open(osp.join(root, 'refcoco', 'instances.json'), 'w') as f:
        json.dump(dict(images=images, annotations=anns,
                       categories=categories), f)
    with open(osp.join(root, 'refcoco', 'refs(unc).p'), 'wb') as f:
        pickle.dump(refs, f, protocol=2)
    counts = {s: sum(len(r['sentences']) for r in refs if r['split'] == s)
              for s in SPLITS}
    return dict(images=len(images), objects=len(anns), refs=len(refs),
                expressions_per_split=counts)


def main(argv=None) -> None:
    args = parse_args(argv)
    meta_path = osp.join(args.out_dir, 'synthetic_meta.json')
    wanted = {k: v for k, v in vars(args).items()
              if k not in ('out_dir', 'overwrite')}
    if osp.isfile(meta_path):
        with open(meta_path) as f:
            old = json.load(f)
        if old.get('args') == wanted and not args.overwrite:
            print(f'{args.out_dir}: already generated with these arguments')
            return
        if not args.overwrite:
            raise SystemExit(f'{args.out_dir} holds a set made with other '
                             'arguments; pass --overwrite to replace it')
    os.makedirs(args.out_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.synthetic_refcoco.', dir=args.out_dir)
    try:
        counts = generate(args, tmp)
        for sub in ('images', 'refcoco'):
            dst = osp.join(args.out_dir, sub)
            if osp.exists(dst):
                shutil.rmtree(dst)
            os.replace(osp.join(tmp, sub), dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open(meta_path + '.tmp', 'w') as f:
        json.dump(dict(args=wanted, **counts), f, indent=1)
    os.replace(meta_path + '.tmp', meta_path)
    print(json.dumps(counts))


if __name__ == '__main__':
    main()
