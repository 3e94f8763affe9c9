# Copyright (c) mmweak contributors.
"""A procedurally generated WSOL dataset that needs no files."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmpretrain.datasets import BaseDataset

from mmweak.registry import DATASETS
from .transforms.builder import build_wsol_pipeline

# RGB colours of the class parts, in [0, 1].
PART_COLOURS = (
    ('red', (0.92, 0.08, 0.08)),
    ('blue', (0.10, 0.25, 0.95)),
    ('green', (0.08, 0.70, 0.15)),
    ('yellow', (0.95, 0.85, 0.05)),
    ('magenta', (0.85, 0.10, 0.85)),
    ('cyan', (0.05, 0.85, 0.90)),
    ('orange', (1.00, 0.50, 0.00)),
    ('purple', (0.45, 0.10, 0.70)),
)
# Motifs drawn inside the part square, in the part's own [-1, 1] frame.
PART_PATTERNS = ('disk', 'checker', 'half', 'frame')
PartScale = Union[float, Tuple[float, float]]
SPLIT_STREAMS = {'train': 0, 'val': 1, 'test': 2}
# Super-ellipse exponents of the bodies: diamond, ellipse, rounded square.
SHAPE_POWERS = (1.0, 2.0, 4.0)
MAX_CLASSES = len(PART_COLOURS) * len(PART_PATTERNS)


def synthetic_class_names(num_classes: int) -> tuple:
    """Names of the synthetic classes, e.g. ``('red_disk', ...)``.

    Class ``k`` has the motif ``PART_PATTERNS[k % 4]`` in the colour
    ``PART_COLOURS[k // 4]``.
    """
    return tuple(f'{PART_COLOURS[k // len(PART_PATTERNS)][0]}_'
                 f'{PART_PATTERNS[k % len(PART_PATTERNS)]}'
                 for k in range(num_classes))


def _interp_matrix(size: int, grid: int) -> np.ndarray:
    """(size, grid) matrix that linearly upsamples ``grid`` knots."""
    t = (np.arange(size) + 0.5) / size * (grid - 1)
    lo = np.clip(np.floor(t).astype(int), 0, grid - 2)
    frac = t - lo
    mat = np.zeros((size, grid), dtype=np.float32)
    mat[np.arange(size), lo] = 1 - frac
    mat[np.arange(size), lo + 1] = frac
    return mat


def _abs_pow(x: np.ndarray, p: float) -> np.ndarray:
    """``|x| ** p`` for an exponent in ``SHAPE_POWERS`` (no ``np.power``)."""
    if p == 1:
        return np.abs(x)
    sq = x * x
    return sq if p == 2 else sq * sq


def _body_value_points(xs, ys, cx, cy, a, b, theta, p):
    """Super-ellipse value ``|u/a|^p + |v/b|^p`` (<= 1 inside) of points.

    All arguments broadcast together; ``p`` takes values in
    ``SHAPE_POWERS``; ``u``, ``v`` are the point's coordinates in the body
    frame (rotated by ``theta`` about the centre ``cx``, ``cy``).
    """
    cos, sin = np.cos(theta), np.sin(theta)
    dx, dy = xs - cx, ys - cy
    un = (dx * cos + dy * sin) / a
    vn = (dy * cos - dx * sin) / b
    val = np.zeros(np.broadcast_shapes(un.shape, p.shape), un.dtype)
    for power in SHAPE_POWERS:
        val = np.where(p == power,
                       _abs_pow(un, power) + _abs_pow(vn, power), val)
    return val


def _body_value_rows(xs, ys, cx, cy, a, b, theta, p) -> np.ndarray:
    """Super-ellipse value of every pixel for n bodies, shape (n, S, S).

    ``xs`` (1, 1, S) and ``ys`` (1, S, 1) are pixel centres; body parameters
    have shape (n,). Images are grouped by exponent so each pixel is
    evaluated with one formula, and the rotation enters through (n, 1, S) /
    (n, S, 1) rows so ``u / a`` and ``v / b`` cost one grid pass each.
    """
    n = cx.shape[0]
    cos, sin = np.cos(theta), np.sin(theta)
    cx, cy, a, b, cos, sin = _expand(cx, cy, a, b, cos, sin)
    dx, dy = xs - cx, ys - cy
    val = np.empty((n, ys.shape[1], xs.shape[2]), np.float32)
    for power in SHAPE_POWERS:
        idx = np.flatnonzero(p == power)
        if idx.size == 0:
            continue
        un = dx[idx] * (cos[idx] / a[idx]) + dy[idx] * (sin[idx] / a[idx])
        vn = dy[idx] * (cos[idx] / b[idx]) - dx[idx] * (sin[idx] / b[idx])
        val[idx] = _abs_pow(un, power) + _abs_pow(vn, power)
    return val


def _expand(*arrays):
    return [np.asarray(arr, dtype=np.float32)[:, None, None] for arr in arrays]


def _render_chunk(rng: np.random.Generator,
                  labels: np.ndarray,
                  size: int,
                  num_distractors: int,
                  part_scale: PartScale = 0.045) -> Dict[str, np.ndarray]:
    """Render ``len(labels)`` images at once; see :class:`SyntheticWSOL`.

    Layers are composited as an integer map of palette indices plus a depth
    map for shading, both (n, S, S); colours are gathered once at the end,
    so the per-layer work never touches the (n, S, S, 3) image. Per-image
    shape parameters enter as (n, 1, S) / (n, S, 1) rows, so most per-layer
    operations cost one pass over the (n, S, S) grid.
    """
    n = len(labels)
    f32 = np.float32
    coords = np.arange(size, dtype=f32) + 0.5
    ys = coords[None, :, None]
    xs = coords[None, None, :]
    num_blobs = 10
    slots = 1 + num_distractors
    # palette per image: 0 = background field, then blobs, two colours per
    # body, then the part's motif and backing colours.
    palette = np.zeros((n, 1 + num_blobs + 2 * slots + 2, 3), f32)
    layer = np.zeros((n, size, size), np.int16)
    depth = np.zeros((n, size, size), f32)  # shading of the bodies

    # 1. Background: smooth colour field + oriented stripes + clutter blobs.
    grid = 4
    knots = rng.uniform(0.15, 0.85, (n, grid, grid * 3)).astype(f32)
    interp = _interp_matrix(size, grid)
    field = (interp @ knots).reshape(n, size, grid, 3)  # rows upsampled
    field = (field.transpose(0, 1, 3, 2) @ interp.T).transpose(0, 1, 3, 2)
    freq, ang, phase, amp = _expand(rng.uniform(3, 10, n),
                                    rng.uniform(0, np.pi, n),
                                    rng.uniform(0, 2 * np.pi, n),
                                    rng.uniform(0.03, 0.12, n))
    k = 2 * np.pi * freq / size
    # sin(a + b) from separable terms: only (n, 1, S)/(n, S, 1) rows
    ax, bx = k * xs * np.cos(ang) + phase, k * ys * np.sin(ang)
    field += (amp * (np.sin(ax) * np.cos(bx) + np.cos(ax) * np.sin(bx)))[...,
                                                                         None]
    for i in range(1, num_blobs + 1):
        # axis-aligned ellipses (odd i) / rectangles (even i): separable
        bx0, by0, ra = _expand(rng.uniform(0, size, n),
                               rng.uniform(0, size, n),
                               rng.uniform(0.03, 0.09, n) * size)
        rb = ra * _expand(rng.uniform(0.6, 1.4, n))[0]
        tx, ty = np.abs(xs - bx0) / ra, np.abs(ys - by0) / rb
        if i % 2:
            inside = (tx * tx + ty * ty) <= 1
        else:
            inside = (tx <= 1) & (ty <= 1)
        palette[:, i] = rng.uniform(0, 1, (n, 3))
        np.copyto(layer, np.int16(i), where=inside)

    # 2. Bodies: slot 0 is the object, the others are distractors that share
    # the object's shape/texture distribution but carry no part.
    half_a = np.empty((n, slots), f32)
    half_b = np.empty((n, slots), f32)
    half_a[:, 0] = rng.uniform(0.18, 0.30, n) * size
    half_b[:, 0] = half_a[:, 0] * rng.uniform(0.65, 1.0, n)
    half_a[:, 1:] = rng.uniform(0.12, 0.26, (n, slots - 1)) * size
    half_b[:, 1:] = half_a[:, 1:] * rng.uniform(0.65, 1.0, (n, slots - 1))
    theta = rng.uniform(0, np.pi, (n, slots))
    power = rng.choice(SHAPE_POWERS, (n, slots))
    # bounding radius: a super-ellipse with p > 2 reaches 2^(1/2 - 1/p)
    # times its half axis along the diagonal
    radius = np.maximum(half_a, half_b) * np.where(
        power > 2, 2**(0.5 - 1 / power), 1).astype(f32)
    cx = np.empty((n, slots), f32)
    cy = np.empty((n, slots), f32)
    cx[:, 0] = rng.uniform(radius[:, 0] + 1, size - radius[:, 0] - 1)
    cy[:, 0] = rng.uniform(radius[:, 0] + 1, size - radius[:, 0] - 1)
    # distractor centres: first of several candidates whose bounding circle
    # clears the object's; slots beyond the image's count stay empty.
    cand = 12
    cand_x = rng.uniform(0, size, (n, slots - 1, cand))
    cand_y = rng.uniform(0, size, (n, slots - 1, cand))
    dist = np.hypot(cand_x - cx[:, :1, None], cand_y - cy[:, :1, None])
    clear = dist > (radius[:, :1, None] + radius[:, 1:, None] + 2)
    first = clear.argmax(-1)
    cx[:, 1:] = np.take_along_axis(cand_x, first[..., None], -1)[..., 0]
    cy[:, 1:] = np.take_along_axis(cand_y, first[..., None], -1)[..., 0]
    count = rng.integers(1, num_distractors + 1, (n, 1)) \
        if num_distractors else np.zeros((n, 1), int)
    active = clear.any(-1) & (np.arange(1, slots)[None] <= count)
    # body texture: stripes of random period and orientation
    tex_freq = 2 * np.pi / rng.uniform(4, 10, (n, slots))
    tex_ang = rng.uniform(0, np.pi, (n, slots))
    tex_phase = rng.uniform(0, 2 * np.pi, (n, slots))
    col1 = rng.uniform(0.1, 0.95, (n, slots, 3))
    col2 = col1 * rng.uniform(0.3, 0.7, (n, slots, 1))
    base = 1 + num_blobs
    palette[:, base:base + 2 * slots:2] = col1
    palette[:, base + 1:base + 2 * slots:2] = col2

    obj_mask = None
    for s in list(range(1, slots)) + [0]:  # object drawn last, on top
        val = _body_value_rows(xs, ys, cx[:, s], cy[:, s], half_a[:, s],
                               half_b[:, s], theta[:, s], power[:, s])
        inside = val <= 1
        if s > 0:
            inside &= active[:, s - 1, None, None]
        fx, fy, ph = _expand(tex_freq[:, s] * np.cos(tex_ang[:, s]),
                             tex_freq[:, s] * np.sin(tex_ang[:, s]),
                             tex_phase[:, s])
        dark = np.sin((xs - cx[:, s, None, None]) * fx + ph +
                      (ys - cy[:, s, None, None]) * fy) > 0
        np.copyto(layer, (base + 2 * s) + dark.view(np.int8), where=inside)
        np.copyto(depth, val, where=inside)
        if s == 0:
            obj_mask = inside

    # 3. The class part: a small square motif inside the object, placed at
    # the first of several random spots where it fits entirely.
    if isinstance(part_scale, (tuple, list)):
        # one part size per image; the fixed-size default draws nothing
        # here, so its random stream (and data) stay as they were
        half = np.maximum(3, np.round(
            rng.uniform(part_scale[0], part_scale[1], (n, 1)) * size))
    else:
        half = np.full((n, 1), max(3, int(round(part_scale * size))))
    half = half.astype(f32)
    cand = 8
    off_u = rng.uniform(-0.6, 0.6, (n, cand))
    off_v = rng.uniform(-0.6, 0.6, (n, cand))
    off_u[:, -1] = off_v[:, -1] = 0  # the object's centre always fits
    cos0, sin0 = np.cos(theta[:, :1]), np.sin(theta[:, :1])
    pcx = cx[:, :1] + off_u * half_a[:, :1] * cos0 - \
        off_v * half_b[:, :1] * sin0
    pcy = cy[:, :1] + off_u * half_a[:, :1] * sin0 + \
        off_v * half_b[:, :1] * cos0
    px0 = np.round(pcx - half)
    py0 = np.round(pcy - half)
    corners_x = px0[..., None] + half[..., None] * np.array([0, 2, 0, 2])
    corners_y = py0[..., None] + half[..., None] * np.array([0, 0, 2, 2])
    corner_val = _body_value_points(
        corners_x, corners_y,
        *[arr[:, :1, None] for arr in (cx, cy, half_a, half_b, theta, power)])
    fits = (corner_val <= 0.95).all(-1)
    fits[:, -1] = True
    pick = fits.argmax(-1)
    px0 = px0[np.arange(n), pick].astype(f32)
    py0 = py0[np.arange(n), pick].astype(f32)
    px0_, py0_, half_ = _expand(px0, py0, half[:, 0])
    in_part = ((xs >= px0_) & (xs < px0_ + 2 * half_)) & \
        ((ys >= py0_) & (ys < py0_ + 2 * half_))
    ps = (xs - px0_ - half_) / half_  # [-1, 1] across the part
    pt = (ys - py0_ - half_) / half_
    pattern = _expand(labels % len(PART_PATTERNS))[0]
    motif = np.select([pattern == 0, pattern == 1, pattern == 2], [
        ps * ps + pt * pt <= 0.5, (ps < 0) ^ (pt < 0),
        np.broadcast_to(pt < 0, (n, size, 1))
    ],
                      np.maximum(np.abs(ps), np.abs(pt)) >= 0.5)
    colours = np.array([c for _, c in PART_COLOURS], dtype=f32)
    palette[:, -2] = colours[labels // len(PART_PATTERNS)]
    palette[:, -1] = 0.97
    np.copyto(layer, (palette.shape[1] - 2) + (~motif).view(np.int8),
              where=in_part)
    np.copyto(depth, f32(0), where=in_part)
    obj_mask = obj_mask | in_part

    # 4. Gather colours (palette entries or the background field) in one
    # take, shade, add sensor noise, quantise; channels are stored BGR like
    # the output of LoadImageFromFile.
    num_colours = palette.shape[1]
    source = np.concatenate(
        [palette[..., ::-1].reshape(-1, 3), field[..., ::-1].reshape(-1, 3)])
    flat = layer.astype(np.int32)
    flat += (np.arange(n, dtype=np.int32) * num_colours)[:, None, None]
    pixel = np.arange(n * size * size, dtype=np.int32).reshape(flat.shape)
    flat = np.where(layer == 0, n * num_colours + pixel, flat)
    img = np.take(source, flat.ravel(), axis=0).reshape(n, size, size, 3)
    img *= (255 * (1 - 0.25 * np.minimum(depth, 1)))[..., None]
    noise = rng.random((n, size, size), dtype=f32)
    img += (20 * noise - 9.5)[..., None]  # uniform +-10 grey levels
    img = np.clip(img, 0, 255, out=img).astype(np.uint8)

    cols = obj_mask.any(1)
    rows = obj_mask.any(2)
    boxes = np.stack([
        cols.argmax(1),
        rows.argmax(1), size - cols[:, ::-1].argmax(1),
        size - rows[:, ::-1].argmax(1)
    ], 1).astype(f32)
    side = 2 * half[:, 0]
    part_boxes = np.stack([px0, py0, px0 + side, py0 + side],
                          1).astype(f32)
    return dict(imgs=np.ascontiguousarray(img),
                masks=obj_mask.astype(np.uint8),
                boxes=boxes,
                part_boxes=part_boxes,
                distractors=active.sum(1).astype(np.int64))


def generate_synthetic_wsol(num_samples: int,
                            num_classes: int = 8,
                            img_size: int = 96,
                            split: str = 'train',
                            seed: int = 0,
                            num_distractors: int = 3,
                            chunk_size: int = 256,
                            part_scale: PartScale = 0.045
                            ) -> Dict[str, np.ndarray]:
    """Generate the arrays of :class:`SyntheticWSOL` (vectorised numpy).

    Args:
        num_samples (int): Number of images.
        num_classes (int): Number of classes (2..32). Defaults to 8.
        img_size (int): Square image side. Defaults to 96.
        split (str): ``'train'``, ``'val'`` or ``'test'``; each selects an
            independent random stream. Defaults to 'train'.
        seed (int): Random seed. Defaults to 0.
        num_distractors (int): Maximum distractor bodies per image.
            Defaults to 3.
        chunk_size (int): Images rendered per vectorised batch (bounds the
            memory). Defaults to 256.
        part_scale (float | tuple): Half side of the class part as a
            fraction of ``img_size`` (at least 3 px), or a ``(low, high)``
            range to draw it from per image. Defaults to 0.045 (an 8 x 8 px
            part at 96 px).

    Returns:
        dict: ``imgs`` (N, S, S, 3) uint8 BGR, ``labels`` (N,) int64,
        ``boxes`` (N, 4) float32 object boxes (x2/y2 one past the last
        object pixel), ``masks`` (N, S, S) uint8 0/1 object masks and
        ``part_boxes`` (N, 4) float32 boxes of the class parts and
        ``distractors`` (N,) int64 number of distractor bodies drawn.
    """
    if split not in SPLIT_STREAMS:
        raise ValueError(f'SyntheticWSOL: split must be one of '
                         f'{list(SPLIT_STREAMS)}, got "{split}".')
    if not 2 <= num_classes <= MAX_CLASSES:
        raise ValueError(f'SyntheticWSOL: num_classes must be in '
                         f'2..{MAX_CLASSES}, got {num_classes}.')
    if img_size < 32:
        raise ValueError(f'SyntheticWSOL: img_size must be >= 32, got '
                         f'{img_size}.')
    if num_samples < 1:
        raise ValueError(f'SyntheticWSOL: num_samples must be >= 1, got '
                         f'{num_samples}.')
    scales = part_scale if isinstance(part_scale,
                                      (tuple, list)) else (part_scale, )
    if len(scales) not in (1, 2) or not all(
            isinstance(v, (int, float)) and 0 < v <= 0.15 for v in scales) \
            or list(scales) != sorted(scales):
        raise ValueError('SyntheticWSOL: part_scale must be a number in '
                         '(0, 0.15] or a (low, high) pair of them, got '
                         f'{part_scale!r}.')
    stream = SPLIT_STREAMS[split]
    labels = np.random.default_rng([seed, stream]).permutation(
        np.arange(num_samples) % num_classes)
    chunks = []
    for start in range(0, num_samples, chunk_size):
        rng = np.random.default_rng([seed, stream, start // chunk_size + 1])
        chunk_labels = labels[start:start + chunk_size]
        chunks.append(
            _render_chunk(rng, chunk_labels, img_size, num_distractors,
                          part_scale))
    out = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    out['labels'] = labels.astype(np.int64)
    return out


@DATASETS.register_module()
class SyntheticWSOL(BaseDataset):
    """Procedural WSOL dataset generated in memory from a seed.

    It reproduces the core difficulty of weakly supervised object
    localization (the classifier's evidence covers only a discriminative
    part of the object, cf. Choe et al., CVPR 2020): every image holds one
    object, a textured super-ellipse body (diamond, ellipse or rounded
    rectangle; random size, aspect, rotation and position), on a cluttered
    background (smooth colour field, stripes, random blobs) that also holds
    up to ``num_distractors`` *distractor bodies* drawn from the same shape
    and texture distribution as objects. The class is decided only by a
    small square *part* on the object (8x8 px at 96 px, on a white backing:
    a motif ``disk``/``checker``/``half``/``frame`` in one of eight colours;
    class ``k`` = motif ``k % 4``, colour ``k // 4``), while ``gt_bboxes`` and
    ``gt_seg_map`` cover the whole body. A classifier therefore needs only
    the part (a plain CAM tends to light up just the part) and texture alone
    does not tell object from distractor.

    Generation is deterministic: the same ``seed``, ``split`` and sizes give
    identical data; each split uses its own stream. 2,000 96-px images take
    about 3 s of CPU time (vectorised numpy). Labels are balanced.

    Each data info holds ``img`` (S, S, 3) uint8 BGR (so pipelines need no
    ``LoadImageFromFile``), ``img_path`` (a virtual name for logs),
    ``img_shape``, ``ori_shape``, ``gt_label``, ``gt_bboxes`` float32
    (1, 4) (x2/y2 one past the last object pixel, like CUB's ``x + w``),
    ``gt_seg_map`` (S, S) uint8 0/1 when ``with_mask`` and ``part_bbox``
    float32 (4,) (the class part in original pixels; not moved by
    transforms, for analysis only).

    Args:
        num_classes (int): Number of classes, 2..32. Defaults to 8.
        num_samples (int): Number of images. Defaults to 2000.
        img_size (int): Square image side in pixels. Defaults to 96.
        split (str): ``'train'``, ``'val'`` or ``'test'``. Defaults to
            'train'.
        seed (int): Random seed. Defaults to 0.
        with_mask (bool): Add ``gt_seg_map``. Defaults to True.
        num_distractors (int): Maximum distractor bodies per image.
            Defaults to 3.
        part_scale (float | tuple): Half side of the class part as a
            fraction of ``img_size``, or a ``(low, high)`` range drawn per
            image. Defaults to 0.045 (8 x 8 px at 96 px). Larger parts make
            the classes easier to learn (the synthetic DeiT pretraining of
            SAT uses them).
        pipeline (Sequence[dict | Callable]): Transforms, built with
            mmweak's registry. Defaults to ().
        test_mode (bool): Test mode of mmengine datasets.
            Defaults to False.
        metainfo (dict, optional): Meta information; ``classes`` defaults to
            :func:`synthetic_class_names`. Defaults to None.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset`
            (``indices``, ``serialize_data``, ``lazy_init`` ...).
    """

    def __init__(self,
                 num_classes: int = 8,
                 num_samples: int = 2000,
                 img_size: int = 96,
                 split: str = 'train',
                 seed: int = 0,
                 with_mask: bool = True,
                 num_distractors: int = 3,
                 part_scale: PartScale = 0.045,
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        if split not in SPLIT_STREAMS:
            raise ValueError(f'SyntheticWSOL: split must be one of '
                             f'{list(SPLIT_STREAMS)}, got "{split}".')
        if not 2 <= num_classes <= MAX_CLASSES:
            raise ValueError(f'SyntheticWSOL: num_classes must be in '
                             f'2..{MAX_CLASSES}, got {num_classes}.')
        self.num_classes = num_classes
        self.num_samples = num_samples
        self.img_size = img_size
        self.split = split
        self.seed = seed
        self.with_mask = with_mask
        self.num_distractors = num_distractors
        self.part_scale = part_scale
        meta = dict(classes=synthetic_class_names(num_classes))
        meta.update(metainfo or {})
        super().__init__(ann_file='',
                         metainfo=meta,
                         pipeline=build_wsol_pipeline(pipeline),
                         test_mode=test_mode,
                         **kwargs)

    def load_data_list(self) -> List[dict]:
        """Generate the samples."""
        data = generate_synthetic_wsol(self.num_samples,
                                       num_classes=self.num_classes,
                                       img_size=self.img_size,
                                       split=self.split,
                                       seed=self.seed,
                                       num_distractors=self.num_distractors,
                                       part_scale=self.part_scale)
        shape = (self.img_size, self.img_size)
        data_list = []
        for i in range(self.num_samples):
            info = dict(img=data['imgs'][i],
                        img_path=f'synthetic_wsol/{self.split}/{i:06d}.png',
                        img_shape=shape,
                        ori_shape=shape,
                        gt_label=int(data['labels'][i]),
                        gt_bboxes=data['boxes'][i:i + 1],
                        part_bbox=data['part_boxes'][i])
            if self.with_mask:
                info['gt_seg_map'] = data['masks'][i]
            data_list.append(info)
        return data_list

    def extra_repr(self) -> List[str]:
        """Extra repr information of the dataset."""
        return [
            f'Split: \t{self.split}',
            f'Image size: \t{self.img_size}',
            f'Seed: \t{self.seed}',
        ]
