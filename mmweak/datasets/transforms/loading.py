# Copyright (c) mmweak contributors.
"""Loading of images and WSOL annotations (boxes and foreground masks)."""
from typing import Optional, Sequence, Union

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile
from mmengine import fileio

from mmweak.registry import TRANSFORMS

# the ``gt_seg_map`` / ``gt_mask`` value of pixels left out of PxAP
MASK_IGNORE_VALUE = 255


@TRANSFORMS.register_module()
class LoadImageFromFile(MMCVLoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` with explicit errors naming the file.

    Registered in mmweak's scope under the same name, so every
    ``dict(type='LoadImageFromFile')`` of an mmweak pipeline uses it. It
    behaves like mmcv's transform (same arguments and outputs) except that
    a missing file raises ``FileNotFoundError`` and an undecodable
    (corrupt, truncated or non-image) file raises ``ValueError``, both
    naming the file, where mmcv uses an ``assert`` (which ``python -O``
    removes). With ``ignore_empty=True`` both return None as in mmcv.
    """

    def transform(self, results: dict) -> Optional[dict]:
        """Load the image of ``results['img_path']``."""
        filename = results['img_path']
        try:
            if self.file_client_args is not None:
                client = fileio.FileClient.infer_client(
                    self.file_client_args, filename)
                img_bytes = client.get(filename)
            else:
                img_bytes = fileio.get(filename,
                                       backend_args=self.backend_args)
        except Exception as e:  # noqa: BLE001 - re-raised with the file name
            if self.ignore_empty:
                return None
            if isinstance(e, FileNotFoundError):
                raise FileNotFoundError(
                    f'The image file "{filename}" does not exist.') from e
            raise OSError(
                f'Cannot read the image file "{filename}": {e}') from e
        error = None
        try:
            img = mmcv.imfrombytes(img_bytes,
                                   flag=self.color_type,
                                   backend=self.imdecode_backend)
        except Exception as e:  # noqa: BLE001 - re-raised with the file name
            img, error = None, e
        if img is None:
            if self.ignore_empty:
                return None
            detail = f': {error}' if error is not None else ''
            raise ValueError(
                f'failed to load image "{filename}": its {len(img_bytes)} '
                f'bytes are not a decodable image (corrupt, truncated or not '
                f'an image file){detail}')
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results


def as_box_array(boxes, where: str = '') -> np.ndarray:
    """Convert boxes to a ``float32`` array of shape (N, 4).

    Args:
        boxes (array-like): Boxes as ``x1, y1, x2, y2`` rows. An empty
            sequence gives an array of shape (0, 4).
        where (str): Text naming the sample, used in the error message.
            Defaults to ''.

    Returns:
        np.ndarray: ``float32`` array of shape (N, 4).
    """
    arr = np.asarray(boxes, dtype=np.float32)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float32)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f'`gt_bboxes` of {where or "the sample"} must have '
                         f'shape (N, 4) as x1, y1, x2, y2, got shape '
                         f'{tuple(arr.shape)}.')
    return np.ascontiguousarray(arr)


def ensure_box_array(results: dict) -> None:
    """Normalise ``results['gt_bboxes']`` in place when present."""
    if results.get('gt_bboxes', None) is not None:
        results['gt_bboxes'] = as_box_array(results['gt_bboxes'],
                                            results.get('img_path', ''))


@TRANSFORMS.register_module()
class LoadWSOLAnnotations(BaseTransform):
    """Load the WSOL annotations of a sample: boxes and foreground mask.

    Run it after ``LoadImageFromFile``. It

    - turns ``gt_bboxes`` into a ``float32`` array of shape (N, 4)
      (x1, y1, x2, y2 in pixels of the loaded image);
    - when ``with_mask`` is True and the sample has a ``mask_path`` (e.g.
      ``CUBWSOL(with_mask=True)``), reads that grey-level PNG and stores the
      binary foreground ``gt_seg_map`` = (value > ``mask_thr``) as ``uint8``
      0/1 of shape (H, W). ``mask_path`` may also be a list of PNGs (several
      masks of one image, as in wsolevaluation's OpenImages metadata): the
      foreground is their union. Samples without ``mask_path`` are left
      unchanged, so one pipeline serves datasets with and without masks; a
      sample that already holds ``gt_seg_map`` (e.g. ``SyntheticWSOL``) is
      kept.
    - when the sample also has an ``ignore_path`` (wsolevaluation's ignore
      masks), its pixels above ``mask_thr`` are set to 255 in
      ``gt_seg_map`` and ``seg_ignore_index`` = 255 is added, which
      ``PackWSOLInputs`` turns into the ``gt_mask`` value that
      ``WSOLMetric`` leaves out of PxAP.

    Required keys: ``img_path`` (for messages), optional ``gt_bboxes``,
    ``mask_path``, ``ignore_path``, ``img``. Added/modified keys:
    ``gt_bboxes``, ``gt_seg_map``, ``seg_ignore_index``.

    Args:
        with_mask (bool): Whether to read ``mask_path`` into ``gt_seg_map``.
            Defaults to True.
        mask_thr (int): Grey values strictly above it are foreground. The
            CUB segmentations are grey-level, not binary; the WSOL protocol
            uses 127. Defaults to 127.
        imdecode_backend (str): Backend of ``mmcv.imfrombytes``.
            Defaults to 'cv2'.
        backend_args (dict, optional): Arguments of the mmengine file
            backend. Defaults to None.
    """

    def __init__(self,
                 with_mask: bool = True,
                 mask_thr: int = 127,
                 imdecode_backend: str = 'cv2',
                 backend_args: Optional[dict] = None) -> None:
        self.with_mask = with_mask
        self.mask_thr = mask_thr
        self.imdecode_backend = imdecode_backend
        self.backend_args = backend_args

    def _read_mask(self, mask_path: str, results: dict) -> np.ndarray:
        try:
            mask_bytes = fileio.get(mask_path, backend_args=self.backend_args)
        except Exception as e:  # noqa: BLE001 - re-raised with the file name
            raise FileNotFoundError(
                f'Cannot read the foreground mask file "{mask_path}" of image '
                f'"{results.get("img_path")}": {e}') from e
        mask = mmcv.imfrombytes(mask_bytes,
                                flag='grayscale',
                                backend=self.imdecode_backend)
        if mask is None:
            raise ValueError(
                f'The foreground mask file "{mask_path}" is not a readable '
                'image (expected a grey-level PNG).')
        img = results.get('img', None)
        if img is not None and tuple(mask.shape[:2]) != tuple(img.shape[:2]):
            raise ValueError(
                f'The mask "{mask_path}" has shape {tuple(mask.shape[:2])} '
                f'but its image "{results.get("img_path")}" has shape '
                f'{tuple(img.shape[:2])}; they must be equal.')
        return mask > self.mask_thr

    def _load_mask(self, results: dict) -> None:
        paths: Union[str, Sequence[str]] = results['mask_path']
        if isinstance(paths, str):
            paths = [paths]
        masks = [self._read_mask(p, results) for p in paths]
        for path, mask in zip(paths[1:], masks[1:]):
            if mask.shape != masks[0].shape:
                raise ValueError(
                    f'The masks "{paths[0]}" and "{path}" of image '
                    f'"{results.get("img_path")}" differ in shape '
                    f'({masks[0].shape} vs {mask.shape}).')
        seg_map = np.logical_or.reduce(masks).astype(np.uint8)
        if results.get('ignore_path', None):
            ignore = self._read_mask(results['ignore_path'], results)
            if ignore.shape != seg_map.shape:
                raise ValueError(
                    f'The ignore mask "{results["ignore_path"]}" of image '
                    f'"{results.get("img_path")}" has shape {ignore.shape} '
                    f'but its masks have {seg_map.shape}.')
            seg_map[ignore] = MASK_IGNORE_VALUE
            results['seg_ignore_index'] = MASK_IGNORE_VALUE
        results['gt_seg_map'] = seg_map

    def transform(self, results: dict) -> dict:
        """Load boxes and mask into ``results``."""
        ensure_box_array(results)
        if self.with_mask and results.get('mask_path', None):
            self._load_mask(results)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(with_mask={self.with_mask}, '
                f'mask_thr={self.mask_thr}, '
                f"imdecode_backend='{self.imdecode_backend}', "
                f'backend_args={self.backend_args})')
