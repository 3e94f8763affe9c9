# Copyright (c) mmweak contributors.
"""Write a small synthetic PASCAL VOC 2012 (+ SBD) look-alike to disk.

    python tools/dataset_converters/make_synthetic_voc.py --out-dir DIR \\
        [--seed 0] [--num-train 200] [--num-aug 400] [--num-val 150] \\
        [--width-range 112 144] [--height-range 88 112] \\
        [--difficult-prob 0.1] [--overwrite]

The output is exactly the on-disk layout of the real data after mmseg's
``voc_aug`` converter, so every WSSS tool and config runs on it unchanged::

    DIR/
    ├── synthetic_meta.json          seed, counts, biased classes, structures
    └── VOCdevkit/VOC2012/           (data_root)
        ├── JPEGImages/<id>.jpg      quality 95
        ├── Annotations/<id>.xml     VOC XML: size, segmented, objects with
        │                            name/pose/truncated/occluded/difficult and
        │                            a 1-based inclusive bndbox of the
        │                            visible pixels
        ├── SegmentationClass/<id>.png     train + val ids; palette PNG with
        │                                  a 255 band (~2 px) on every edge
        │                                  between labels and 255 over
        │                                  difficult objects
        ├── SegmentationClassAug/<id>.png  trainaug + val ids; no band,
        │                                  difficult objects keep their class
        └── ImageSets/Segmentation/{train,val,trainaug,aug}.txt

Ids look like VOC's (``2007_000001`` ...), so IRN's integer id encoding
(``2007000001``) round-trips. ``trainaug`` = ``train`` + ``aug``; ``val`` is
disjoint from both. Masks use VOC's 21 label ids and palette (mmseg's
``PascalVOCDataset.METAINFO``).

What is planted, and why:

* **Objects.** One to three objects per image from six VOC classes
  (``SYNTHETIC_CLASSES``: bird, boat, car, cat, person, train). Each class
  has its own silhouette made of a few parts (e.g. a car is a rounded body,
  a cabin with windows and two wheels; a person a head, torso, arms and
  legs) and its own colour and texture scheme (speckled birds, tabby cats,
  glossy cars, plaid shirts, liveried trains with a window row, white
  sails), jittered per instance in size, aspect, colour, position and
  facing direction. So the class evidence is *local and partial* (wheels,
  heads, windows): a classifier's CAM lights up the most discriminative
  parts, the classic WSSS under-activation problem that seed refinement
  (IRN, CRF) and the WSSS methods address. Objects may overlap; the object
  painted later wins, and masks cover whole visible objects. Placement is
  rejected when it would hide more than 60 % of an earlier object.
* **Biased objects (MARS).** Two classes always co-occur with a
  class-correlated background structure that is *not* part of their mask
  (label 0 everywhere): every ``train`` stands on **rails** (a ballast band
  with a steel rail line and sleepers crossing the whole image width under
  its wheels) and every ``boat`` floats on a **water** band (blue, rippled,
  crossing the image). A classifier trained on tags cannot tell rails from
  train, so CAMs of ``train``/``boat`` spill onto these structures, the
  "biased object" false positives that MARS removes. As in VOC, where water
  is also seen under birds and beside people, a structure also appears in
  images without its class with probability ``--stray-structure-prob``
  (there it is plain background of the other classes): the structure is
  correlated with its class, not exclusive to it, which is what MARS's
  second observation (a biased cluster lies close to other images'
  background clusters) rests on. The extents are recorded per image in
  ``synthetic_meta.json`` (``structures``; ``class`` is the class the
  structure belongs to, ``stray`` tells whether that class is absent).
* **Difficult objects.** With probability ``--difficult-prob`` an image gets
  one extra tiny object (a few pixels) marked ``<difficult>1</difficult>``.
  As in VOC, it is void (255) in ``SegmentationClass`` but keeps its class in
  ``SegmentationClassAug``, so tags from XML (with or without
  ``skip_difficult``) and tags from masks can disagree, as on the real data.
  By construction, XML tags with ``skip_difficult=True`` equal the tags of
  ``SegmentationClass`` and XML tags with difficult objects equal the tags
  of ``SegmentationClassAug``.
* **Backgrounds.** A smooth random colour field with a stripe or speckle
  texture and two to five random clutter shapes (rectangles, ellipses,
  bars), plus sensor noise, so objects cannot be found by colour alone.

Generation is deterministic: image ``i`` is drawn from its own random stream
``(seed, i)``, and the split assignment from ``(seed, 7919)``; two runs with
the same arguments write byte-identical files. Drawing is vectorised numpy
on each object's window (no per-pixel Python loops); the default set (750
images) takes a few seconds on one core.

The tree is written into a temporary folder in ``DIR`` and renamed into
place when complete; ``synthetic_meta.json`` is written last. If
``DIR/VOCdevkit`` already holds a set generated with the same arguments, the
tool does nothing; a different existing set is replaced only with
``--overwrite`` (and only if ``DIR/synthetic_meta.json`` shows it is
synthetic).
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

# VOC 2012 label ids and names (identical to mmseg's
# ``PascalVOCDataset.METAINFO['classes']``; kept here so the generator only
# needs numpy, OpenCV and Pillow).
VOC_CLASSES = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle',
               'bus', 'car', 'cat', 'chair', 'cow', 'diningtable', 'dog',
               'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa',
               'train', 'tvmonitor')
SYNTHETIC_CLASSES = ('bird', 'boat', 'car', 'cat', 'person', 'train')
# class -> background structure it always stands on (label 0)
BIASED_STRUCTURES = {'boat': 'water', 'train': 'rails'}
IGNORE_INDEX = 255
META_FILE = 'synthetic_meta.json'
SPLIT_STREAM = 7919
JPEG_QUALITY = 95

# Per class: scale range (object unit ``s`` as a fraction of min(H, W), or
# of W for trains) and the silhouette extent (u0, u1, v0, v1) in units of
# ``s`` around the object centre (u to the object's front, v down).
CLASS_SPECS = {
    'bird': dict(scale=(0.17, 0.26), extent=(-1.0, 1.0, -0.56, 0.6)),
    'boat': dict(scale=(0.2, 0.28), extent=(-0.82, 1.0, -1.06, 0.5)),
    'car': dict(scale=(0.2, 0.3), extent=(-1.0, 1.0, -0.5, 0.64)),
    'cat': dict(scale=(0.17, 0.25), extent=(-1.0, 1.0, -0.76, 0.75)),
    'person': dict(scale=(0.26, 0.38), extent=(-0.52, 0.52, -1.0, 1.0)),
    'train': dict(scale=(0.28, 0.42), extent=(-1.0, 1.0, -0.38, 0.39)),
}
TINY_SCALE = (0.05, 0.07)  # scale range of difficult objects
TINY_CLASSES = ('bird', 'car', 'cat', 'person')


def voc_palette() -> List[int]:
    """The flat 256-entry VOC colour map ``[r, g, b, ...]``.

    Entry ``i`` spreads the bits of ``i`` over the channels, most significant
    first (bit 0 -> red, bit 1 -> green, bit 2 -> blue, three bits per
    level): 1 -> (128, 0, 0), 8 -> (64, 0, 0), 255 -> (224, 224, 192).
    """
    idx = np.arange(256)
    rgb = np.zeros((256, 3), np.int64)
    for level in range(8):
        for ch in range(3):
            bit = (idx >> (3 * level + ch)) & 1
            rgb[:, ch] |= bit << (7 - level)
    return rgb.reshape(-1).tolist()


# --------------------------------------------------------------------------
# Shape primitives. ``u`` has shape (1, w) and ``v`` (h, 1); results
# broadcast to (h, w) boolean masks.
# --------------------------------------------------------------------------
def _ellipse(u, v, cu, cv, ru, rv):
    return ((u - cu) / ru)**2 + ((v - cv) / rv)**2 <= 1


def _superellipse(u, v, cu, cv, ru, rv):
    """Rounded rectangle ``|du/ru|^4 + |dv/rv|^4 <= 1``."""
    return ((u - cu) / ru)**4 + ((v - cv) / rv)**4 <= 1


def _rect(u, v, u0, u1, v0, v1):
    return (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)


def _triangle(u, v, p0, p1, p2):
    """Inside test by the signs of the three edge functions."""

    def edge(a, b):
        return (b[0] - a[0]) * (v - a[1]) - (b[1] - a[1]) * (u - a[0])

    e0, e1, e2 = edge(p0, p1), edge(p1, p2), edge(p2, p0)
    return ((e0 >= 0) & (e1 >= 0) & (e2 >= 0)) | ((e0 <= 0) & (e1 <= 0) &
                                                  (e2 <= 0))


def _segment(u, v, a, b, r):
    """Capsule of radius ``r`` around the segment ``a``-``b``."""
    du, dv = b[0] - a[0], b[1] - a[1]
    t = np.clip(((u - a[0]) * du + (v - a[1]) * dv) / (du * du + dv * dv), 0,
                1)
    return (u - a[0] - t * du)**2 + (v - a[1] - t * dv)**2 <= r * r


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """RGB (0..255 float) of a hue in [0, 1), saturation and value."""
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array(rgb, np.float32) * 255


def _jitter(rng, rgb, amount=18.0) -> np.ndarray:
    return np.clip(
        np.asarray(rgb, np.float32) + rng.uniform(-amount, amount, 3), 0,
        255).astype(np.float32)


def _paint(canvas: np.ndarray, mask: np.ndarray, rgb) -> None:
    """Set ``canvas[mask] = rgb`` for a colour or a per-pixel colour map."""
    mask = np.broadcast_to(mask, canvas.shape[:2])
    rgb = np.asarray(rgb, np.float32)
    if rgb.ndim == 1:
        canvas[mask] = rgb
    else:
        canvas[mask] = np.broadcast_to(rgb, canvas.shape)[mask]


# --------------------------------------------------------------------------
# Class silhouettes and colour schemes: each returns (mask, rgb) on the
# object's window, facing +u.
# --------------------------------------------------------------------------
def _draw_bird(u, v, rng, shape):
    body = _ellipse(u, v, 0.0, 0.05, 0.6, 0.36)
    head = _ellipse(u, v, 0.58, -0.32, 0.24, 0.24)
    beak = _triangle(u, v, (0.76, -0.4), (1.0, -0.3), (0.76, -0.24))
    tail = _triangle(u, v, (-0.45, -0.05), (-1.0, -0.32), (-1.0, 0.12))
    legs = _segment(u, v, (0.0, 0.35), (0.05, 0.6), 0.04) | \
        _segment(u, v, (0.18, 0.35), (0.23, 0.6), 0.04)
    mask = body | head | beak | tail | legs
    base = _hsv(rng.uniform(0.07, 0.16), rng.uniform(0.5, 0.9),
                rng.uniform(0.55, 0.9))
    rgb = np.empty(shape + (3, ), np.float32)
    rgb[:] = base
    speck = rng.random(shape) < 0.2
    _paint(rgb, speck & body, base * 0.55)
    _paint(rgb,
           _ellipse(u, v, -0.12, -0.02, 0.4, 0.18) & body, base * 0.6)  # wing
    _paint(rgb,
           _ellipse(u, v, 0.2, 0.2, 0.3, 0.14) & body,
           np.minimum(base * 1.35, 255))  # breast
    _paint(rgb, head, _jitter(rng, base * 0.8))
    _paint(rgb, tail, base * 0.5)
    _paint(rgb, beak | legs, _jitter(rng, (235, 140, 30)))
    _paint(rgb, _ellipse(u, v, 0.66, -0.36, 0.05, 0.05), (15, 15, 15))
    return mask, rgb


def _draw_boat(u, v, rng, shape):
    half = 1.0 - (v - 0.15) / 0.35 * 0.25
    hull = (v >= 0.15) & (v <= 0.5) & (np.abs(u) <= half)
    mast = _rect(u, v, -0.03, 0.03, -1.06, 0.15)
    sail = _triangle(u, v, (-0.02, -1.0), (-0.02, 0.08), (-0.82, 0.08))
    jib = _triangle(u, v, (0.06, -0.86), (0.06, 0.08), (0.62, 0.08))
    mask = hull | mast | sail | jib
    hull_rgb = _jitter(rng, [(180, 30, 30), (30, 40, 110), (230, 230, 225),
                             (30, 100, 60)][rng.integers(4)])
    rgb = np.empty(shape + (3, ), np.float32)
    rgb[:] = hull_rgb
    _paint(rgb, hull & (v <= 0.22), _jitter(rng, (240, 220, 120)))
    cloth = _jitter(rng, (238, 232, 212), 10)
    seams = (np.mod(u * 8, 1.0) < 0.12) | (np.mod(v * 8, 1.0) < 0.1)
    sails = sail | jib
    _paint(rgb, sails, cloth)
    _paint(rgb, sails & seams, cloth * 0.8)
    _paint(rgb, mast, (110, 75, 40))
    return mask, rgb


def _draw_car(u, v, rng, shape):
    body = _superellipse(u, v, 0.0, 0.16, 1.0, 0.27)
    centre = -0.1 + (v + 0.5) * 0.25
    half = 0.375 + (v + 0.5) / 0.42 * 0.275
    cabin = (v >= -0.5) & (v <= -0.06) & (np.abs(u - centre) <= half)
    windows = (v >= -0.42) & (v <= -0.12) & \
        (np.abs(u - centre) <= half - 0.08) & (np.abs(u + 0.08) >= 0.04)
    wheels = _ellipse(u, v, -0.6, 0.42, 0.22, 0.22) | \
        _ellipse(u, v, 0.6, 0.42, 0.22, 0.22)
    hubs = _ellipse(u, v, -0.6, 0.42, 0.09, 0.09) | \
        _ellipse(u, v, 0.6, 0.42, 0.09, 0.09)
    mask = body | cabin | wheels
    paint = _hsv(rng.random(), rng.uniform(0.7, 1.0), rng.uniform(0.6, 0.9))
    gloss = np.clip(1.25 - 0.6 * (v + 0.5), 0.6, 1.3)[..., None]
    rgb = np.clip(np.broadcast_to(paint * gloss, shape + (3, )), 0,
                  255).astype(np.float32)
    glass = _jitter(rng, (150, 185, 210), 10)
    _paint(rgb, windows, glass)
    _paint(rgb, windows & (np.abs(u + v * 0.8 - 0.1) < 0.06),
           np.minimum(glass + 60, 255))
    _paint(rgb, wheels, (25, 25, 28))
    _paint(rgb, hubs, (170, 170, 175))
    _paint(rgb, _ellipse(u, v, 0.93, 0.06, 0.07, 0.06), (255, 230, 120))
    return mask, rgb


def _draw_cat(u, v, rng, shape):
    body = _ellipse(u, v, -0.05, 0.1, 0.62, 0.3)
    head = _ellipse(u, v, 0.62, -0.3, 0.27, 0.25)
    ears = _triangle(u, v, (0.4, -0.42), (0.48, -0.76), (0.62, -0.5)) | \
        _triangle(u, v, (0.66, -0.5), (0.8, -0.76), (0.86, -0.4))
    legs = _rect(u, v, 0.28, 0.4, 0.2, 0.75) | \
        _rect(u, v, 0.1, 0.22, 0.2, 0.75) | \
        _rect(u, v, -0.55, -0.43, 0.2, 0.75) | \
        _rect(u, v, -0.37, -0.25, 0.2, 0.75)
    tail = _segment(u, v, (-0.6, 0.0), (-0.88, -0.3), 0.07) | \
        _segment(u, v, (-0.88, -0.3), (-0.85, -0.66), 0.07)
    mask = body | head | ears | legs | tail
    fur = _jitter(rng, [(215, 130, 55), (125, 125, 130), (110, 80, 55),
                        (225, 205, 170)][rng.integers(4)])
    rgb = np.empty(shape + (3, ), np.float32)
    rgb[:] = fur
    phase = rng.uniform(0, 2 * np.pi)
    stripes = np.sin(u * 16 + 2.0 * np.sin(v * 7) + phase) > 0.35
    _paint(rgb, stripes & (body | tail | legs | head), fur * 0.5)
    _paint(
        rgb,
        _ellipse(u, v, 0.7, -0.34, 0.05, 0.045)
        | _ellipse(u, v, 0.55, -0.34, 0.05, 0.045), (60, 200, 80))
    _paint(rgb, _ellipse(u, v, 0.84, -0.22, 0.04, 0.03), (230, 120, 140))
    return mask, rgb


def _draw_person(u, v, rng, shape):
    head = _ellipse(u, v, 0.0, -0.8, 0.16, 0.19)
    neck = _rect(u, v, -0.06, 0.06, -0.66, -0.55)
    torso = _superellipse(u, v, 0.0, -0.22, 0.3, 0.38)
    swing = rng.uniform(-0.1, 0.1, 2)
    arms = _segment(u, v, (-0.3, -0.5), (-0.42 + swing[0], 0.1), 0.07) | \
        _segment(u, v, (0.3, -0.5), (0.42 + swing[1], 0.1), 0.07)
    legs = _rect(u, v, -0.26, -0.03, 0.1, 1.0) | \
        _rect(u, v, 0.03, 0.26, 0.1, 1.0)
    mask = head | neck | torso | arms | legs
    skin = _jitter(rng, [(240, 200, 170), (200, 150, 110),
                         (140, 95, 60)][rng.integers(3)], 10)
    shirt = _hsv(rng.random(), rng.uniform(0.4, 0.9), rng.uniform(0.5, 0.95))
    trousers = _jitter(rng, [(40, 50, 90), (30, 30, 35),
                             (170, 150, 110)][rng.integers(3)])
    rgb = np.empty(shape + (3, ), np.float32)
    rgb[:] = skin
    plaid = (np.sin(u * 30) > 0.6) | (np.sin(v * 30) > 0.6)
    _paint(rgb, torso | arms, shirt)
    _paint(rgb, (torso | arms) & plaid, shirt * 0.55)
    _paint(rgb, legs, trousers)
    _paint(rgb, legs & (v > 0.92), (20, 20, 20))
    _paint(rgb, head & (v < -0.86), _jitter(rng, (50, 35, 25)))
    return mask, rgb


def _draw_train(u, v, rng, shape):
    body = _rect(u, v, -1.0, 0.85, -0.38, 0.26)
    nose = _rect(u, v, 0.85, 1.0, -0.38, 0.26) & \
        (v >= -0.38 + (u - 0.85) * 2.2)
    frame = _rect(u, v, -0.98, 0.96, 0.24, 0.32)
    wheel_u = np.arange(-0.84, 0.8, 0.24)
    dist = np.min(np.abs(u[..., None] - wheel_u), axis=-1)
    wheels = dist**2 + (v - 0.3)**2 <= 0.09**2
    mask = body | nose | frame | wheels
    livery = _jitter(rng, [(190, 30, 30), (30, 120, 60), (30, 60, 160),
                           (230, 190, 40), (225, 225, 225)][rng.integers(5)])
    rgb = np.empty(shape + (3, ), np.float32)
    rgb[:] = livery
    stripe = _jitter(rng, [(245, 245, 245), (250, 210, 40)][rng.integers(2)])
    _paint(rgb, (body | nose) & (v >= 0.03) & (v <= 0.1), stripe)
    windows = (v >= -0.25) & (v <= -0.05) & (u < 0.8) & \
        (np.mod(u + 1.0, 0.22) >= 0.04) & (np.mod(u + 1.0, 0.22) <= 0.17)
    _paint(rgb, windows | (nose & (v >= -0.25) & (v <= -0.05)), (40, 55, 70))
    _paint(rgb, body & (np.abs(np.mod(u + 1.0, 0.66) - 0.33) < 0.012),
           livery * 0.5)  # car joints
    _paint(rgb, frame, (45, 45, 45))
    _paint(rgb, wheels, (20, 20, 20))
    _paint(rgb, _ellipse(u, v, 0.95, 0.16, 0.03, 0.04), (255, 245, 200))
    return mask, rgb


DRAWERS = {
    'bird': _draw_bird,
    'boat': _draw_boat,
    'car': _draw_car,
    'cat': _draw_cat,
    'person': _draw_person,
    'train': _draw_train,
}


# --------------------------------------------------------------------------
# Backgrounds and biased structures.
# --------------------------------------------------------------------------
def _smooth_field(rng,
                  h: int,
                  w: int,
                  cells: Tuple[int, int],
                  low: float,
                  high: float,
                  channels: int = 3) -> np.ndarray:
    grid = rng.uniform(low, high, (cells[0], cells[1], channels))
    field = cv2.resize(grid.astype(np.float32), (w, h),
                       interpolation=cv2.INTER_CUBIC)
    return field.reshape(h, w, channels)


def _draw_background(rng, h: int, w: int) -> np.ndarray:
    """Smooth colour field + stripes or speckle + random clutter shapes."""
    cells = (int(rng.integers(2, 5)), int(rng.integers(2, 6)))
    grid = rng.uniform(50, 210, cells + (3, )).astype(np.float32)
    grid = 0.5 * grid + 0.5 * grid.mean(-1, keepdims=True)  # muted colours
    img = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    ys = np.arange(h, dtype=np.float32)[:, None]
    xs = np.arange(w, dtype=np.float32)[None]
    if rng.random() < 0.5:
        ang = rng.uniform(0, np.pi)
        freq = 2 * np.pi / rng.uniform(4, 12)
        tex = np.sin((xs * np.float32(np.cos(ang) * freq) +
                      ys * np.float32(np.sin(ang) * freq)))
        img += (np.float32(rng.uniform(6, 16)) * tex)[..., None]
    else:
        img += np.float32(rng.uniform(5, 12)) * rng.standard_normal(
            (h, w, 1), dtype=np.float32)
    side = min(h, w)
    for _ in range(int(rng.integers(2, 6))):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(0.05, 0.25, 2) * side
        kind = rng.integers(3)
        if kind == 0:
            mask = (np.abs(xs - cx) <= rx) & (np.abs(ys - cy) <= ry)
        elif kind == 1:
            mask = ((xs - cx) / rx)**2 + ((ys - cy) / ry)**2 <= 1
        else:  # a long bar at a random angle
            ang = rng.uniform(0, np.pi)
            d = np.abs((xs - cx) * np.sin(ang) - (ys - cy) * np.cos(ang))
            mask = d <= max(1.0, 0.15 * ry)
        colour = rng.uniform(30, 230, 3).astype(np.float32)
        alpha = np.float32(rng.uniform(0.5, 0.9))
        fx, fy = rng.uniform(0.3, 1.2, 2)
        py, px = np.nonzero(mask)
        shade = 1 + 0.15 * np.sin(px * fx + py * fy).astype(np.float32)
        img[py, px] = alpha * colour * shade[:, None] + \
            (1 - alpha) * img[py, px]
    return img


def _draw_rails(rng, img: np.ndarray, top: int) -> np.ndarray:
    """Ballast band with one steel rail line on top and sleepers below,
    across the whole width, starting at row ``top - 1``. Returns its mask."""
    h, w = img.shape[:2]
    band = max(3, int(round(rng.uniform(0.09, 0.14) * h)))
    y0, y1 = max(0, top - 1), min(h, top + band)
    xs = np.arange(w)[None]
    ys = np.arange(y0, y1)[:, None]
    period = max(4, int(round(rng.uniform(0.04, 0.06) * w)))
    phase = int(rng.integers(period))
    gravel = _jitter(rng, (125, 115, 100), 15) + 18 * rng.standard_normal(
        (y1 - y0, w, 1), dtype=np.float32)
    sleepers = (np.mod(xs + phase, period) < max(2, period * 0.45)) & \
        (ys >= top + 1)
    region = np.where(sleepers[..., None], _jitter(rng, (95, 62, 38), 10),
                      gravel)
    steel = ys <= top + max(0, band // 5)
    region = np.where(
        np.broadcast_to(steel, (y1 - y0, w))[..., None],
        _jitter(rng, (200, 200, 208), 10) + 8 * np.sin(xs * 0.9)[..., None],
        region)
    img[y0:y1] = region
    mask = np.zeros((h, w), bool)
    mask[y0:y1] = True
    return mask


def _draw_water(rng, img: np.ndarray, line: int) -> np.ndarray:
    """Rippled blue band from a wavy waterline near row ``line`` down,
    across the whole width. Returns its mask."""
    h, w = img.shape[:2]
    depth = max(4, int(round(rng.uniform(0.2, 0.35) * h)))
    xs = np.arange(w, dtype=np.float32)[None]
    ys = np.arange(h, dtype=np.float32)[:, None]
    wave = line + 1.2 * np.sin(xs * rng.uniform(0.2, 0.4) +
                               rng.uniform(0, 2 * np.pi))
    mask = (ys >= wave) & (ys < line + depth)
    blue = _jitter(rng, (40, 95, 155), 20)
    deep = np.clip(1.1 - 0.4 * (ys - line) / depth, 0.6, 1.1)
    ripple = np.sin(ys * 1.3 + 1.6 * np.sin(xs * 0.27 + rng.uniform(0, 6)) +
                    xs * 0.05)
    water = blue * deep[..., None] + (40 * (ripple > 0.75) - 25 *
                                      (ripple < -0.8))[..., None]
    img[:] = np.where(mask[..., None], water, img)
    return mask


# --------------------------------------------------------------------------
# One image.
# --------------------------------------------------------------------------
def _choose_classes(rng) -> List[str]:
    num = int(rng.choice([1, 2, 3], p=[0.45, 0.35, 0.2]))
    chosen: List[str] = []
    for _ in range(num):
        allowed = [
            c for c in SYNTHETIC_CLASSES
            if not (c in BIASED_STRUCTURES and any(b in BIASED_STRUCTURES
                                                   for b in chosen))
        ]
        chosen.append(allowed[int(rng.integers(len(allowed)))])
    # biased (large, ground-bound) objects first, so others may stand in
    # front of them
    return sorted(chosen, key=lambda c: c not in BIASED_STRUCTURES)


def _object_geometry(rng, name: str, h: int, w: int, tiny: bool,
                     anchor: Optional[float]) -> dict:
    spec = CLASS_SPECS[name]
    side = min(h, w)
    lo, hi = TINY_SCALE if tiny else spec['scale']
    base = w if (name == 'train' and not tiny) else side
    s = max(rng.uniform(lo, hi) * base, 3.5 if tiny else 5.0)
    aspect = rng.uniform(0.9, 1.1)
    u0, u1, v0, v1 = spec['extent']
    half_w = s * max(-u0, u1)
    if name == 'train':
        cx = rng.uniform(0.3 * w, 0.7 * w)
    else:
        cx = rng.uniform(0.6 * half_w, w - 0.6 * half_w) if w > 1.2 * half_w \
            else w / 2
    sv = s * aspect
    if anchor is not None:  # bottom of the object on a structure line
        cy = anchor - v1 * sv + (0.12 * sv if name == 'boat' else 0.0)
    else:
        top, bottom = -v0 * sv * 0.7, h - v1 * sv * 0.7
        cy = rng.uniform(top, bottom) if bottom > top else h / 2
    flip = bool(rng.random() < 0.5)
    return dict(name=name, s=s, sv=sv, cx=cx, cy=cy, flip=flip)


def _rasterise(rng, geo: dict, h: int, w: int):
    """Full-canvas mask and colours of one object, plus its truncation."""
    u0, u1, v0, v1 = CLASS_SPECS[geo['name']]['extent']
    if geo['flip']:
        u0, u1 = -u1, -u0
    s, sv, cx, cy = geo['s'], geo['sv'], geo['cx'], geo['cy']
    x0, x1 = cx + u0 * s, cx + u1 * s
    y0, y1 = cy + v0 * sv, cy + v1 * sv
    truncated = x0 < -0.5 or y0 < -0.5 or x1 > w - 0.5 or y1 > h - 0.5
    wx0, wx1 = max(0, int(np.floor(x0))), min(w, int(np.ceil(x1)) + 1)
    wy0, wy1 = max(0, int(np.floor(y0))), min(h, int(np.ceil(y1)) + 1)
    mask = np.zeros((h, w), bool)
    rgb = np.zeros((h, w, 3), np.float32)
    if wx1 <= wx0 or wy1 <= wy0:
        return mask, rgb, truncated
    sign = -1.0 if geo['flip'] else 1.0
    u = (sign * (np.arange(wx0, wx1, dtype=np.float32) - cx) / s)[None]
    v = ((np.arange(wy0, wy1, dtype=np.float32) - cy) / sv)[:, None]
    shape = (wy1 - wy0, wx1 - wx0)
    m, c = DRAWERS[geo['name']](u, v, rng, shape)
    mask[wy0:wy1, wx0:wx1] = np.broadcast_to(m, shape)
    rgb[wy0:wy1, wx0:wx1] = c
    return mask, rgb, truncated


def _boundary_band(label: np.ndarray) -> np.ndarray:
    """Pixels with an 8-neighbour of another label: a ~2 px band on every
    edge between labels (1 px on each side)."""
    pad = np.pad(label, 1, mode='edge')
    h, w = label.shape
    band = np.zeros((h, w), bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            if dy == 1 and dx == 1:
                continue
            band |= pad[dy:dy + h, dx:dx + w] != label
    return band


def render_image(rng: np.random.Generator,
                 width_range: Tuple[int, int],
                 height_range: Tuple[int, int],
                 difficult_prob: float = 0.1,
                 stray_structure_prob: float = 0.0) -> dict:
    """Draw one synthetic image and its annotations.

    Args:
        rng: The image's own random stream.
        width_range: Inclusive ``(min, max)`` image width.
        height_range: Inclusive ``(min, max)`` image height.
        difficult_prob: Probability of an extra tiny difficult object.
        stray_structure_prob: Probability of each biased structure in an
            image without its class (drawn after the owned structures).

    Returns:
        dict: ``img`` (H, W, 3) uint8 RGB; ``label_aug`` (H, W) uint8 (no
        band, difficult objects keep their class); ``label`` (H, W) uint8
        (255 band and 255 over difficult objects); ``objects`` (list of
        dicts with ``name``, ``pose``, ``truncated``, ``occluded``,
        ``difficult`` and 1-based inclusive ``bbox``); ``structures`` (list
        of dicts with ``kind``, ``class``, ``bbox`` (0-based, end
        exclusive)) and ``structure_mask`` (H, W) bool.
    """
    w = int(rng.integers(width_range[0], width_range[1] + 1))
    h = int(rng.integers(height_range[0], height_range[1] + 1))
    img = _draw_background(rng, h, w)
    names = _choose_classes(rng)
    if rng.random() < difficult_prob:
        names.append(TINY_CLASSES[int(rng.integers(len(TINY_CLASSES)))])
        num_tiny = 1
    else:
        num_tiny = 0

    structures, structure_mask = [], np.zeros((h, w), bool)
    anchors: Dict[str, float] = {}
    owners = [n for n in names[:len(names) - num_tiny]
              if n in BIASED_STRUCTURES]
    # one draw per structure and image, whether it is used or not, so the
    # probability does not shift the rest of the image's random stream
    stray_draws = {c: rng.random() for c in sorted(BIASED_STRUCTURES)}
    strays = [c for c in sorted(BIASED_STRUCTURES)
              if c not in owners and stray_draws[c] < stray_structure_prob]
    for name in owners + strays:
        kind = BIASED_STRUCTURES[name]
        if name in anchors:
            continue
        if kind == 'rails':
            line = int(rng.integers(int(0.6 * h), int(0.86 * h) + 1))
            smask = _draw_rails(rng, img, line)
        else:
            line = int(rng.integers(int(0.55 * h), int(0.78 * h) + 1))
            smask = _draw_water(rng, img, line)
        anchors[name] = float(line)
        rows = np.flatnonzero(smask.any(1))
        structures.append(
            dict(kind=kind,
                 **{'class': name},
                 stray=name in strays,
                 bbox=[0, int(rows[0]), w,
                       int(rows[-1]) + 1]))
        structure_mask |= smask

    label = np.zeros((h, w), np.uint8)
    visible: List[np.ndarray] = []
    areas: List[int] = []
    objects: List[dict] = []
    for k, name in enumerate(names):
        tiny = k >= len(names) - num_tiny
        min_px = 4 if tiny else 12
        for _ in range(10):
            geo = _object_geometry(rng, name, h, w, tiny,
                                   None if tiny or name not in owners else
                                   anchors.get(name))
            mask, rgb, truncated = _rasterise(rng, geo, h, w)
            area = int(mask.sum())
            if area < min_px:
                continue
            if all((vis & ~mask).sum() >= max(12, 0.4 * a)
                   for vis, a in zip(visible, areas)):
                break
        else:
            continue  # no placement keeps the earlier objects visible
        for vis in visible:
            vis &= ~mask
        visible.append(mask)
        areas.append(area)
        img[mask] = rgb[mask]
        label[mask] = VOC_CLASSES.index(name)
        pose = 'Frontal' if name == 'person' else \
            ('Left' if geo['flip'] else 'Right')
        objects.append(
            dict(name=name,
                 pose=pose,
                 truncated=int(truncated),
                 difficult=int(tiny)))

    for obj, vis, area in zip(objects, visible, areas):
        ys, xs = np.nonzero(vis)
        obj['occluded'] = int(vis.sum() < 0.85 * area)
        obj['bbox'] = [
            int(xs.min()) + 1,
            int(ys.min()) + 1,
            int(xs.max()) + 1,
            int(ys.max()) + 1
        ]

    img += 3.0 * rng.standard_normal(img.shape, dtype=np.float32)
    img = np.clip(np.round(img), 0, 255).astype(np.uint8)

    band = _boundary_band(label)
    for obj, vis in zip(objects, visible):
        if not obj['difficult'] and not (vis & ~band).any():
            band &= ~vis  # never erase a thin object entirely
    seg = label.copy()
    seg[band] = IGNORE_INDEX
    for obj, vis in zip(objects, visible):
        if obj['difficult']:
            seg[vis] = IGNORE_INDEX
    return dict(img=img,
                label=seg,
                label_aug=label,
                objects=objects,
                structures=structures,
                structure_mask=structure_mask)


# --------------------------------------------------------------------------
# Files.
# --------------------------------------------------------------------------
def _xml_text(img_id: str, width: int, height: int, segmented: bool,
              objects: Sequence[dict]) -> str:
    root = ET.Element('annotation')
    ET.SubElement(root, 'folder').text = 'VOC2012'
    ET.SubElement(root, 'filename').text = f'{img_id}.jpg'
    source = ET.SubElement(root, 'source')
    ET.SubElement(source, 'database').text = 'mmweak synthetic VOC'
    ET.SubElement(source, 'annotation').text = 'PASCAL VOC2012 layout'
    ET.SubElement(source, 'image').text = 'synthetic'
    size = ET.SubElement(root, 'size')
    for key, val in (('width', width), ('height', height), ('depth', 3)):
        ET.SubElement(size, key).text = str(val)
    ET.SubElement(root, 'segmented').text = str(int(segmented))
    for obj in objects:
        node = ET.SubElement(root, 'object')
        ET.SubElement(node, 'name').text = obj['name']
        ET.SubElement(node, 'pose').text = obj['pose']
        for key in ('truncated', 'occluded', 'difficult'):
            ET.SubElement(node, key).text = str(obj[key])
        box = ET.SubElement(node, 'bndbox')
        for key, val in zip(('xmin', 'ymin', 'xmax', 'ymax'), obj['bbox']):
            ET.SubElement(box, key).text = str(val)
    ET.indent(root, space='\t')
    return ET.tostring(root, encoding='unicode') + '\n'


def _save_png(path: str, label: np.ndarray, palette: List[int]) -> None:
    png = Image.fromarray(label, mode='P')
    png.putpalette(palette)
    png.save(path, format='PNG')


def split_ids(num_train: int, num_aug: int, num_val: int,
              seed: int) -> Dict[str, List[str]]:
    """Ids of every split: ``train``, ``aug``, ``trainaug``, ``val``
    (sorted), assigned by a seeded permutation of ``2007_000001`` ..."""
    total = num_train + num_aug + num_val
    ids = [f'2007_{i + 1:06d}' for i in range(total)]
    perm = np.random.default_rng([seed, SPLIT_STREAM]).permutation(total)
    val = sorted(ids[i] for i in perm[:num_val])
    train = sorted(ids[i] for i in perm[num_val:num_val + num_train])
    aug = sorted(ids[i] for i in perm[num_val + num_train:])
    return dict(train=train, aug=aug, trainaug=sorted(train + aug), val=val)


def generate(out_dir: str,
             seed: int = 0,
             num_train: int = 200,
             num_aug: int = 400,
             num_val: int = 150,
             width_range: Tuple[int, int] = (112, 144),
             height_range: Tuple[int, int] = (88, 112),
             difficult_prob: float = 0.1,
             stray_structure_prob: float = 0.1,
             overwrite: bool = False,
             verbose: bool = True) -> str:
    """Write the synthetic set and return its ``.../VOCdevkit/VOC2012``.

    Args:
        out_dir: Output folder (``DIR``); created if needed.
        seed: Random seed. Defaults to 0.
        num_train: Ids in ``train`` (with ``SegmentationClass``).
        num_aug: Ids in ``aug`` (``trainaug`` minus ``train``).
        num_val: Ids in ``val``.
        width_range: Inclusive image width range. Defaults to (112, 144).
        height_range: Inclusive image height range. Defaults to (88, 112).
        difficult_prob: Probability that an image gets a tiny difficult
            object. Defaults to 0.1.
        stray_structure_prob: Probability that a biased structure (water,
            rails) also appears in an image without its class. Defaults
            to 0.1.
        overwrite: Replace an existing synthetic set made with other
            arguments. Defaults to False.
        verbose: Print a summary. Defaults to True.
    """
    for name, val in (('num_train', num_train), ('num_aug', num_aug),
                      ('num_val', num_val)):
        if val < 0:
            raise ValueError(f'{name} must be >= 0, got {val}')
    if num_train + num_aug + num_val < 1:
        raise ValueError('at least one image is needed')
    if num_train + num_aug + num_val > 999999:
        raise ValueError('at most 999999 images (VOC-style 6-digit ids)')
    for name, rng_ in (('width_range', width_range), ('height_range',
                                                      height_range)):
        if len(rng_) != 2 or not 24 <= rng_[0] <= rng_[1]:
            raise ValueError(f'{name} must be (min, max) with 24 <= min <= '
                             f'max, got {tuple(rng_)}')
    if not 0 <= difficult_prob <= 1:
        raise ValueError(f'difficult_prob must be in [0, 1], got '
                         f'{difficult_prob}')
    if not 0 <= stray_structure_prob <= 1:
        raise ValueError(f'stray_structure_prob must be in [0, 1], got '
                         f'{stray_structure_prob}')
    params = dict(seed=int(seed),
                  num_train=int(num_train),
                  num_aug=int(num_aug),
                  num_val=int(num_val),
                  width_range=[int(v) for v in width_range],
                  height_range=[int(v) for v in height_range],
                  difficult_prob=float(difficult_prob),
                  stray_structure_prob=float(stray_structure_prob))
    out_dir = osp.abspath(osp.expanduser(out_dir))
    devkit = osp.join(out_dir, 'VOCdevkit')
    data_root = osp.join(devkit, 'VOC2012')
    meta_path = osp.join(out_dir, META_FILE)
    if osp.exists(devkit):
        old = None
        if osp.isfile(meta_path):
            with open(meta_path) as f:
                old = json.load(f)
        if old is not None and old.get('params') == params:
            if verbose:
                print(f'{data_root} already holds this synthetic set '
                      f'({meta_path}); nothing to do.')
            return data_root
        if old is None:
            raise FileExistsError(
                f'{devkit} exists and {meta_path} does not: refusing to touch '
                'a dataset this tool did not write. Choose another --out-dir.')
        if not overwrite:
            raise FileExistsError(
                f'{devkit} holds a synthetic set made with other arguments '
                f'({meta_path}: {old.get("params")}); pass --overwrite to '
                'replace it or choose another --out-dir.')

    start = time.perf_counter()
    splits = split_ids(num_train, num_aug, num_val, seed)
    with_seg = set(splits['train']) | set(splits['val'])
    all_ids = sorted(splits['trainaug'] + splits['val'])
    palette = voc_palette()
    os.makedirs(out_dir, exist_ok=True)
    tmp_root = tempfile.mkdtemp(prefix='.synthetic_voc.', dir=out_dir)
    try:
        tmp_data = osp.join(tmp_root, 'VOCdevkit', 'VOC2012')
        dirs = {
            key: osp.join(tmp_data, sub)
            for key, sub in (('img', 'JPEGImages'), ('xml', 'Annotations'),
                             ('seg', 'SegmentationClass'),
                             ('aug', 'SegmentationClassAug'),
                             ('sets', 'ImageSets/Segmentation'))
        }
        for path in dirs.values():
            os.makedirs(path)
        structures: Dict[str, list] = {}
        counts = {c: 0 for c in SYNTHETIC_CLASSES}
        num_difficult = 0
        for img_id in all_ids:
            index = int(img_id[5:])
            out = render_image(np.random.default_rng([seed, index]),
                               width_range, height_range, difficult_prob,
                               stray_structure_prob)
            h, w = out['label'].shape
            ok = cv2.imwrite(osp.join(dirs['img'],
                                      f'{img_id}.jpg'), out['img'][..., ::-1],
                             [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise IOError(f'could not write {img_id}.jpg in '
                              f'{dirs["img"]}')
            segmented = img_id in with_seg
            with open(osp.join(dirs['xml'], f'{img_id}.xml'), 'w') as f:
                f.write(_xml_text(img_id, w, h, segmented, out['objects']))
            if segmented:
                _save_png(osp.join(dirs['seg'], f'{img_id}.png'), out['label'],
                          palette)
            _save_png(osp.join(dirs['aug'], f'{img_id}.png'), out['label_aug'],
                      palette)
            if out['structures']:
                structures[img_id] = out['structures']
            for obj in out['objects']:
                counts[obj['name']] += 1
                num_difficult += obj['difficult']
        for name in ('train', 'val', 'trainaug', 'aug'):
            with open(osp.join(dirs['sets'], f'{name}.txt'), 'w') as f:
                f.write(''.join(f'{i}\n' for i in splits[name]))
        if osp.exists(devkit):  # overwrite=True, checked above
            shutil.rmtree(devkit)
            os.remove(meta_path)
        os.replace(osp.join(tmp_root, 'VOCdevkit'), devkit)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)

    meta = dict(generator='tools/dataset_converters/make_synthetic_voc.py',
                params=params,
                data_root='VOCdevkit/VOC2012',
                classes=list(SYNTHETIC_CLASSES),
                biased_classes=dict(sorted(BIASED_STRUCTURES.items())),
                splits={
                    k: len(v)
                    for k, v in splits.items()
                },
                objects=counts,
                difficult_objects=num_difficult,
                structures=structures)
    fd, tmp_meta = tempfile.mkstemp(prefix=f'.{META_FILE}.', dir=out_dir)
    with os.fdopen(fd, 'w') as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write('\n')
    os.replace(tmp_meta, meta_path)
    if verbose:
        print(f'wrote {len(all_ids)} images to {data_root} in '
              f'{time.perf_counter() - start:.1f} s: ' +
              ', '.join(f'{k} {len(v)}' for k, v in splits.items()) +
              f'; objects {counts}, {num_difficult} difficult')
    return data_root


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write a synthetic PASCAL VOC 2012 + SBD look-alike '
        '(DIR/VOCdevkit/VOC2012) for the WSSS demo and tests')
    parser.add_argument('--out-dir', required=True, help='output folder DIR')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-train',
                        type=int,
                        default=200,
                        help='ids in train (with SegmentationClass)')
    parser.add_argument('--num-aug',
                        type=int,
                        default=400,
                        help='ids in aug (trainaug = train + aug)')
    parser.add_argument('--num-val', type=int, default=150)
    parser.add_argument('--width-range',
                        type=int,
                        nargs=2,
                        default=[112, 144],
                        metavar=('MIN', 'MAX'))
    parser.add_argument('--height-range',
                        type=int,
                        nargs=2,
                        default=[88, 112],
                        metavar=('MIN', 'MAX'))
    parser.add_argument('--difficult-prob',
                        type=float,
                        default=0.1,
                        help='probability of a tiny difficult object')
    parser.add_argument('--stray-structure-prob',
                        type=float,
                        default=0.1,
                        help='probability of a biased structure (water, '
                        'rails) in an image without its class')
    parser.add_argument('--overwrite',
                        action='store_true',
                        help='replace a synthetic set made with other '
                        'arguments')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> str:
    args = parse_args(argv)
    return generate(args.out_dir,
                    seed=args.seed,
                    num_train=args.num_train,
                    num_aug=args.num_aug,
                    num_val=args.num_val,
                    width_range=tuple(args.width_range),
                    height_range=tuple(args.height_range),
                    difficult_prob=args.difficult_prob,
                    stray_structure_prob=args.stray_structure_prob,
                    overwrite=args.overwrite)


if __name__ == '__main__':
    sys.exit(0 if main() else 1)
