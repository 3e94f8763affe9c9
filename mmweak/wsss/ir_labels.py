# Copyright (c) mmweak contributors.
"""IRN's confident inter-pixel-relation labels from CAMs (Ahn, Cho and
Kwak, CVPR 2019, Sec. 3.1 "Inter-pixel relation mining from CAMs").

Two seeds are cut from the tagged-class CAMs with a constant background
plane (:func:`~mmweak.wsss.seeds.cams_to_label`, background wins ties):

- with a high background score (``fg_threshold``, 0.30) only strong CAM
  responses stay foreground: the *confident foreground*;
- with a low one (``bg_threshold``, 0.05) only pixels that no class
  activates become background: the *confident background*.

Each seed is refined by the hard-label dense CRF (``irn_label`` preset,
``gt_prob`` 0.7, :class:`~mmweak.wsss.crf.DenseCRF`). The label of a pixel
is the confident-foreground class where that map says foreground, 0 where
both maps say background, and 255 (unsure, ignored by IRN's losses)
elsewhere.

Resolution: like IRN, the labels are computed at the **full image
resolution** from the ``high_res`` CAMs and the image; IRN's training data
set downsamples them to the stride-4 grid of the network after cropping
(nearest neighbour). That keeps the CRF on the real image, where its
colour kernel is meaningful.
"""
from typing import Dict, Optional, Union

import numpy as np
import torch

from mmweak.structures import IGNORE_INDEX
from .crf import DenseCRF
from .seeds import cams_to_label

CRFLike = Union[str, DenseCRF, None]


def _pack_arrays(cam_pack: Dict, key: str):
    if not isinstance(cam_pack, dict) or 'keys' not in cam_pack or \
            key not in cam_pack:
        raise ValueError(f"cam_pack must be an IRN CAM pack: a dict with "
                         f"'keys' (K,) and {key!r} (K, H, W)")
    keys = np.asarray(cam_pack['keys']).astype(np.int64).reshape(-1)
    cams = np.asarray(cam_pack[key], dtype=np.float32)
    if cams.ndim != 3 or cams.shape[0] != keys.size:
        raise ValueError(f'cam_pack[{key!r}] has shape {cams.shape}, '
                         f'expected ({keys.size}, H, W) for keys '
                         f'{keys.tolist()}')
    if keys.size and (keys.min() < 0 or keys.max() > 253):
        raise ValueError(f"cam_pack['keys'] {keys.tolist()} must be 0-based "
                         'foreground indices (label ids keys + 1 < 254)')
    return keys, cams


def confident_seed(cams: np.ndarray,
                   threshold: float,
                   img: Optional[np.ndarray] = None,
                   crf: Optional[DenseCRF] = None) -> np.ndarray:
    """Plane index (0 = background, ``k + 1`` = k-th CAM) of the argmax over
    ``[threshold, cams]``, optionally refined by a hard-label CRF.

    Args:
        cams (np.ndarray): float (K, H, W) CAMs in [0, 1].
        threshold (float): Constant background score.
        img (np.ndarray, optional): uint8 RGB (H, W, 3); needed with ``crf``.
        crf (DenseCRF, optional): Refines the seed with
            :meth:`DenseCRF.refine_labels` over K + 1 labels.

    Returns:
        np.ndarray: int64 (H, W) plane indices in ``0..K``.
    """
    num = cams.shape[0]
    # keys 0..K-1 make cams_to_label return plane indices 0..K directly
    index = cams_to_label(torch.from_numpy(np.ascontiguousarray(cams)),
                          torch.arange(num, dtype=torch.long),
                          bg_threshold=threshold).numpy()
    if crf is not None and num > 0:
        index = crf.refine_labels(img, index, num + 1)
    return index


def combine_confident(fg_label: np.ndarray,
                      bg_label: np.ndarray) -> np.ndarray:
    """IRN's label from the two confident maps (label ids, 0 background):
    the foreground map's class where it is foreground, 0 where both are
    background, 255 (unsure) elsewhere.

    Returns:
        np.ndarray: uint8 (H, W) with values 0, the class ids and 255.
    """
    if fg_label.shape != bg_label.shape:
        raise ValueError(f'fg_label {fg_label.shape} and bg_label '
                         f'{bg_label.shape} differ in shape')
    out = np.full(fg_label.shape, IGNORE_INDEX, np.uint8)
    fg = fg_label != 0
    out[fg] = fg_label[fg]
    out[~fg & (bg_label == 0)] = 0
    return out


def ir_label(img: Optional[np.ndarray],
             cam_pack: Dict[str, np.ndarray],
             fg_threshold: float = 0.30,
             bg_threshold: float = 0.05,
             crf: CRFLike = 'irn_label') -> np.ndarray:
    """IRN's confident inter-pixel-relation label map of one image.

    Args:
        img (np.ndarray | None): uint8 RGB image (H, W, 3) at the size of
            ``cam_pack['high_res']``; may be None when ``crf`` is None.
        cam_pack (dict): IRN CAM pack: ``keys`` (K,) 0-based foreground
            indices, ``high_res`` float (K, H, W) in [0, 1].
        fg_threshold (float): Background score of the confident-foreground
            seed. Defaults to 0.30 (IRN's ``conf_fg_thres``).
        bg_threshold (float): Background score of the confident-background
            seed. Defaults to 0.05 (IRN's ``conf_bg_thres``).
        crf (str | DenseCRF | None): CRF refining both seeds: a
            :class:`DenseCRF` preset name, an instance, or None for no
            refinement. Defaults to ``'irn_label'``.

    Returns:
        np.ndarray: uint8 (H, W): 0 confident background, ``keys + 1``
        confident foreground, 255 unsure.
    """
    keys, cams = _pack_arrays(cam_pack, 'high_res')
    if not bg_threshold <= fg_threshold:
        raise ValueError(f'bg_threshold ({bg_threshold}) must not exceed '
                         f'fg_threshold ({fg_threshold})')
    if isinstance(crf, str):
        crf = DenseCRF(crf)
    if crf is not None:
        if img is None:
            raise ValueError('ir_label needs the image for the CRF')
        img = np.asarray(img)
        if img.shape[:2] != cams.shape[1:]:
            raise ValueError(f'image size {img.shape[:2]} differs from the '
                             f"CAM size {cams.shape[1:]} of 'high_res'")
    lut = np.concatenate([[0], keys + 1]).astype(np.uint8)
    fg_label = lut[confident_seed(cams, fg_threshold, img, crf)]
    bg_label = lut[confident_seed(cams, bg_threshold, img, crf)]
    return combine_confident(fg_label, bg_label)


__all__ = ['ir_label', 'confident_seed', 'combine_confident']
