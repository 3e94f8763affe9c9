# Copyright (c) mmweak contributors.
"""Ground-truth checks shared by the WSOL datasets.

Every box a WSOL dataset emits goes through :class:`BoxGTChecker`, which

- rejects inverted (``x1 < x0`` or ``y1 < y0``) and empty (zero width or
  height) boxes with an error naming the annotation file and line / object;
- reads the size of the image from its file header (PIL opens files lazily,
  so no pixel data is decoded) and compares it with the annotated size, if
  any: a uniformly resized copy of the image gets its boxes rescaled
  (``size_mismatch='rescale'``), anything else is an error;
- clips boxes that extend outside the image to the image borders;
- reports the rescaled images, clipped boxes and images carrying an EXIF
  orientation tag in ONE warning each per dataset load (:meth:`finish`).
"""
import io
import logging
import warnings
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmengine.fileio.backends import LocalBackend
from mmengine.logging import print_log
from PIL import Image, UnidentifiedImageError

SIZE_MISMATCH_MODES = ('rescale', 'error')
# EXIF tag 0x0112 (Orientation); 1 = stored pixels are upright
_EXIF_ORIENTATION = 0x0112


def check_size_mismatch_mode(mode: str, owner: str) -> str:
    """Validate a ``size_mismatch`` argument."""
    if mode not in SIZE_MISMATCH_MODES:
        raise ValueError(f'{owner}: size_mismatch must be one of '
                         f'{SIZE_MISMATCH_MODES}, got {mode!r}.')
    return mode


def read_image_header(path: str, backend=None) -> Tuple[int, int, int]:
    """Read the stored pixel size of an image from its file header.

    Args:
        path (str): Image file.
        backend (optional): mmengine file backend; None or a local backend
            opens ``path`` directly so only the header is read.

    Returns:
        tuple[int, int, int]: ``(width, height, orientation)`` of the stored
        pixels; ``orientation`` is the EXIF orientation tag (1 when absent).

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is not a readable image (the message names it).
    """
    try:
        if backend is None or isinstance(backend, LocalBackend):
            src = path
        else:
            src = io.BytesIO(backend.get(path))
        with Image.open(src) as img:
            width, height = img.size
            orientation = 1
            if 'exif' in img.info:
                orientation = int(img.getexif().get(_EXIF_ORIENTATION, 1))
    except FileNotFoundError:
        raise FileNotFoundError(
            f'The image file "{path}" does not exist.') from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            TypeError) as e:
        raise ValueError(f'Cannot read the image file "{path}" (corrupt or '
                         f'not an image): {e}') from None
    if width <= 0 or height <= 0:
        raise ValueError(f'The image file "{path}" has an empty size '
                         f'{width}x{height}.')
    return width, height, orientation


def is_uniform_resize(ann_size: Tuple[int, int], img_size: Tuple[int,
                                                                 int]) -> bool:
    """Whether ``img_size`` is ``ann_size`` scaled by one factor.

    Both are ``(width, height)``. Each side of the copy may be off by less
    than one pixel from the exact scaled size (rounding of the resizer).
    """
    (wa, ha), (wi, hi) = ann_size, img_size
    if min(wa, ha, wi, hi) <= 0:
        return False
    low = max((wi - 1) / wa, (hi - 1) / ha)
    high = min((wi + 1) / wa, (hi + 1) / ha)
    return low < high


def _fmt_box(box: Sequence[float]) -> str:
    return '[' + ', '.join(f'{v:g}' for v in box) + ']'


def validate_boxes(boxes: np.ndarray, where: Sequence[str]) -> None:
    """Reject non-finite, inverted and empty boxes.

    Args:
        boxes (np.ndarray): (N, 4) ``x0, y0, x1, y1``.
        where (Sequence[str]): For each box, the text naming its source
            (file and line or object) used in the error message.

    Raises:
        ValueError: For the first bad box.
    """
    for box, src in zip(boxes, where):
        x0, y0, x1, y1 = (float(v) for v in box)
        if not np.all(np.isfinite(box)):
            raise ValueError(f'{src}: box {_fmt_box(box)} has a non-finite '
                             'coordinate.')
        if x1 < x0 or y1 < y0:
            raise ValueError(
                f'{src}: box {_fmt_box(box)} is inverted (x1 < x0 or '
                'y1 < y0); boxes must be x0, y0, x1, y1 with x1 >= x0 and '
                'y1 >= y0.')
        if x1 == x0 or y1 == y0:
            raise ValueError(f'{src}: box {_fmt_box(box)} is empty (zero '
                             'width or height).')


class BoxGTChecker:
    """Check and repair the boxes of one dataset load.

    Create one per ``load_data_list`` call, pass every image through
    :meth:`check`, then call :meth:`finish` once to emit the warnings.

    Args:
        owner (str): Dataset name used in messages (e.g. ``'CUBWSOL'``).
        size_mismatch (str): What to do when the annotated image size
            differs from the image file: ``'rescale'`` rescales the boxes
            of a uniformly resized copy (other mismatches are errors),
            ``'error'`` makes every mismatch an error.
            Defaults to 'rescale'.
        backend (optional): mmengine file backend used to read headers.
            Defaults to None (local files).
    """

    def __init__(self,
                 owner: str,
                 size_mismatch: str = 'rescale',
                 backend=None) -> None:
        self.owner = owner
        self.size_mismatch = check_size_mismatch_mode(size_mismatch, owner)
        self.backend = backend
        self.num_boxes = 0
        self.num_clipped = 0
        self.num_images = 0
        self.rescaled: List[str] = []
        self.first_clipped: Optional[str] = None
        self.oriented: List[str] = []

    def image_size(self, img_path: str) -> Tuple[int, int]:
        """``(width, height)`` of the stored pixels of ``img_path``."""
        width, height, orientation = read_image_header(img_path, self.backend)
        self.num_images += 1
        if orientation != 1:
            self.oriented.append(f'"{img_path}" (orientation {orientation})')
        return width, height

    def check(self,
              boxes: np.ndarray,
              img_path: str,
              where: Sequence[str],
              ann_size: Optional[Tuple[int, int]] = None,
              ann_file: str = '',
              rescalable: bool = True) -> Tuple[np.ndarray, Tuple[int, int]]:
        """Validate, rescale and clip the boxes of one image.

        Args:
            boxes (np.ndarray): (N, 4) boxes as annotated (N may be 0).
            img_path (str): The image file.
            where (Sequence[str]): Source of each box for error messages.
            ann_size (tuple[int, int], optional): Annotated ``(width,
                height)``; None skips the size comparison.
            ann_file (str): File holding ``ann_size``, for messages.
            rescalable (bool): Whether a uniformly resized copy may be
                handled by rescaling (False for mask annotations).
                Defaults to True.

        Returns:
            tuple: float32 (N, 4) boxes in the pixels of the image file and
            the image shape ``(height, width)``.
        """
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        validate_boxes(boxes, where)
        width, height = self.image_size(img_path)
        if ann_size is not None and tuple(ann_size) != (width, height):
            uniform = is_uniform_resize(ann_size, (width, height))
            if self.size_mismatch == 'error' or not uniform or not rescalable:
                why = ('size_mismatch="error"' if uniform and rescalable else
                       'mask annotations are not rescaled' if uniform else
                       'the image is not a uniformly resized copy')
                raise ValueError(
                    f'{self.owner}: the annotation "{ann_file}" gives image '
                    f'size {ann_size[0]}x{ann_size[1]} (width x height) but '
                    f'the image file "{img_path}" is {width}x{height} ({why}).'
                    ' Use the images the annotations were made for.')
            sx, sy = width / ann_size[0], height / ann_size[1]
            boxes = boxes * np.array([sx, sy, sx, sy])
            self.rescaled.append(
                f'"{ann_file}" says {ann_size[0]}x{ann_size[1]}, '
                f'"{img_path}" is {width}x{height}')
        clipped = boxes.copy()
        clipped[:, 0::2] = clipped[:, 0::2].clip(0, width)
        clipped[:, 1::2] = clipped[:, 1::2].clip(0, height)
        changed = np.any(clipped != boxes, axis=1)
        for box, new, src, moved in zip(boxes, clipped, where, changed):
            if moved and (new[2] <= new[0] or new[3] <= new[1]):
                raise ValueError(
                    f'{src}: box {_fmt_box(box)} lies outside its image '
                    f'"{img_path}" of size {width}x{height}.')
        self.num_boxes += len(boxes)
        if changed.any():
            self.num_clipped += int(changed.sum())
            if self.first_clipped is None:
                i = int(np.argmax(changed))
                self.first_clipped = (f'{where[i]}: {_fmt_box(boxes[i])} in '
                                      f'{width}x{height}')
        return clipped.astype(np.float32), (height, width)

    def _warn(self, msg: str) -> None:
        print_log(msg, logger='current', level=logging.WARNING)
        warnings.warn(msg, UserWarning, stacklevel=3)

    def finish(self) -> None:
        """Emit one warning per kind of repair made during the load."""
        if self.rescaled:
            self._warn(
                f'{self.owner}: {len(self.rescaled)} of {self.num_images} '
                'image(s) are uniformly resized copies of the annotated '
                'size; their boxes were rescaled to the image files (first: '
                f'{self.rescaled[0]}). Pass size_mismatch="error" to refuse '
                'such images.')
        if self.num_clipped:
            self._warn(
                f'{self.owner}: clipped {self.num_clipped} of '
                f'{self.num_boxes} box(es) extending outside their image to '
                f'the image borders (first: {self.first_clipped}).')
        if self.oriented:
            self._warn(
                f'{self.owner}: {len(self.oriented)} image(s) carry an EXIF '
                'orientation tag (first: '
                f'{self.oriented[0]}). Their boxes refer to the stored '
                "pixels; decode them with LoadImageFromFile(color_type="
                "'color_ignore_orientation') (as PIL-based loaders do), "
                "since OpenCV's default rotates them.")
