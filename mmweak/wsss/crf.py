# Copyright (c) mmweak contributors.
"""Fully connected CRF (Krähenbühl and Koltun, NeurIPS 2011) through
``pydensecrf``, with the presets of the WSSS protocol (spec, section 6).

The energy of a labelling ``x`` is ``sum_i psi_u(x_i) + sum_{i<j}
mu(x_i, x_j) k(f_i, f_j)`` with Potts compatibility ``mu`` (scaled by
``compat``) and two kernels (Eq. 3 of the paper): an appearance
(bilateral) kernel ``exp(-|p_i - p_j|^2 / 2 sxy^2 - |I_i - I_j|^2 / 2
srgb^2)`` and a smoothness (Gaussian) kernel ``exp(-|p_i - p_j|^2 / 2
sxy^2)``. Mean-field inference returns the marginals ``Q`` (C, H, W).

Presets (``DenseCRF.PRESETS``):

- ``deeplab``: final segmenter outputs (DeepLab, RS+EPM, MARS): Gaussian
  sxy 1 compat 3; bilateral sxy 67 srgb 3 compat 4; 10 iterations.
- ``psa``: CAM probability refinement (PSA / AffinityNet): Gaussian 3/3;
  bilateral sxy 80 srgb 13 compat 10; 10 iterations.
- ``irn_label``: hard-label CRF of IRN's confident labels (Ahn et al., CVPR
  2019, Sec. 3.1): unary from labels with ``gt_prob`` 0.7; Gaussian 3/3;
  bilateral 50/5/10; 10 iterations.

``pydensecrf`` is optional (pip package ``pydensecrf2==1.1``, pinned in
``requirements/lock.txt``); it is imported when a :class:`DenseCRF` is
built, and a clear ``ImportError`` is raised when it is missing.
"""
import copy
from typing import Any, Dict, Optional, Union

import numpy as np
import torch

PIP_PACKAGE = 'pydensecrf2==1.1'
PROB_CLIP = 1e-5  # probabilities are clipped to [PROB_CLIP, 1] before -log

ArrayLike = Union[np.ndarray, torch.Tensor]


def import_densecrf():
    """Import ``pydensecrf.densecrf`` or raise an ``ImportError`` telling
    how to install it."""
    try:
        import pydensecrf.densecrf as dcrf
    except ImportError as exc:
        raise ImportError(
            'DenseCRF needs the optional dependency `pydensecrf`, which is '
            f'not installed: run `pip install --no-deps {PIP_PACKAGE}` (a '
            'source archive; pip builds it with Cython in about a minute) '
            'or `tools/setup_env.sh`, which installs requirements/lock.txt'
        ) from exc
    return dcrf


def _to_numpy(x: ArrayLike, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray):
        raise TypeError(f'{name} must be an np.ndarray or a Tensor, got '
                        f'{type(x).__name__}')
    return x


def _check_image(img: np.ndarray, batched: bool) -> np.ndarray:
    want = 4 if batched else 3
    if img.ndim != want or img.shape[-1] != 3:
        shape = '(B, H, W, 3)' if batched else '(H, W, 3)'
        raise ValueError(f'img must be a {shape} RGB image, got shape '
                         f'{img.shape}')
    if img.dtype != np.uint8:
        raise ValueError(f'img must be uint8 (0..255), got {img.dtype}')
    return np.ascontiguousarray(img)


class DenseCRF:
    """Dense CRF with Gaussian + bilateral pairwise terms (``pydensecrf``).

    Mean-field inference of the fully connected CRF of Krähenbühl and
    Koltun (NeurIPS 2011, Eq. 3 kernels, Potts compatibility), with the
    presets of the WSSS protocol (spec, section 6). Keyword overrides take
    precedence over the preset, e.g. ``DenseCRF('psa', iters=5)``.

    Args:
        preset (str): ``'deeplab'``, ``'psa'`` or ``'irn_label'``.
            Defaults to ``'deeplab'``.
        iters (int): Mean-field iterations. Preset: 10.
        gaussian_sxy (float): Spatial std (px) of the smoothness kernel.
            Preset: 1 (deeplab), 3 (psa, irn_label).
        gaussian_compat (float): Potts weight of the smoothness kernel.
            Preset: 3.
        bilateral_sxy (float): Spatial std (px) of the appearance kernel.
            Preset: 67 (deeplab), 80 (psa), 50 (irn_label).
        bilateral_srgb (float): Colour std of the appearance kernel.
            Preset: 3 (deeplab), 13 (psa), 5 (irn_label).
        bilateral_compat (float): Potts weight of the appearance kernel.
            Preset: 4 (deeplab), 10 (psa, irn_label).
        gt_prob (float): Probability given to the input label by
            :meth:`refine_labels` (the rest is spread evenly over the other
            labels). Preset: 0.7.

    Example:
        >>> crf = DenseCRF('psa')
        >>> q = crf(img, probs)          # (C, H, W) marginals
        >>> lab = DenseCRF('irn_label').refine_labels(img, labels, 3)
    """

    PRESETS: Dict[str, Dict[str, Any]] = {
        'deeplab':
        dict(iters=10,
             gaussian_sxy=1,
             gaussian_compat=3,
             bilateral_sxy=67,
             bilateral_srgb=3,
             bilateral_compat=4,
             gt_prob=0.7),
        'psa':
        dict(iters=10,
             gaussian_sxy=3,
             gaussian_compat=3,
             bilateral_sxy=80,
             bilateral_srgb=13,
             bilateral_compat=10,
             gt_prob=0.7),
        'irn_label':
        dict(iters=10,
             gaussian_sxy=3,
             gaussian_compat=3,
             bilateral_sxy=50,
             bilateral_srgb=5,
             bilateral_compat=10,
             gt_prob=0.7),
    }

    def __init__(self, preset: str = 'deeplab', **overrides: Any) -> None:
        if preset not in self.PRESETS:
            raise ValueError(f'unknown DenseCRF preset {preset!r}; choose '
                             f'one of {sorted(self.PRESETS)}')
        params = copy.deepcopy(self.PRESETS[preset])
        unknown = set(overrides) - set(params)
        if unknown:
            raise TypeError(f'unknown DenseCRF parameter(s) {sorted(unknown)}'
                            f'; valid ones are {sorted(params)}')
        params.update(overrides)
        if int(params['iters']) < 0:
            raise ValueError(f'iters must be >= 0, got {params["iters"]}')
        if not 0 < float(params['gt_prob']) < 1:
            raise ValueError(
                f'gt_prob must be in (0, 1), got {params["gt_prob"]}')
        self._dcrf = import_densecrf()
        self.preset = preset
        self.iters = int(params['iters'])
        self.gaussian_sxy = float(params['gaussian_sxy'])
        self.gaussian_compat = float(params['gaussian_compat'])
        self.bilateral_sxy = float(params['bilateral_sxy'])
        self.bilateral_srgb = float(params['bilateral_srgb'])
        self.bilateral_compat = float(params['bilateral_compat'])
        self.gt_prob = float(params['gt_prob'])

    @property
    def params(self) -> Dict[str, Any]:
        """The effective parameters (preset plus overrides)."""
        return {key: getattr(self, key) for key in self.PRESETS[self.preset]}

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v}' for k, v in self.params.items())
        return f'{type(self).__name__}(preset={self.preset!r}, {args})'

    # ----------------------------------------------------------- inference
    def _infer(self, img: np.ndarray, unary: np.ndarray) -> np.ndarray:
        """Mean-field marginals (C, H, W) float32 for a C-contiguous uint8
        image (H, W, 3) and a unary energy (C, H*W)."""
        height, width = img.shape[:2]
        num_labels = unary.shape[0]
        crf = self._dcrf.DenseCRF2D(width, height, num_labels)
        # pydensecrf's typed memoryviews need C-contiguous float32 arrays
        crf.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
        crf.addPairwiseGaussian(sxy=self.gaussian_sxy,
                                compat=self.gaussian_compat)
        crf.addPairwiseBilateral(sxy=self.bilateral_sxy,
                                 srgb=self.bilateral_srgb,
                                 rgbim=img,
                                 compat=self.bilateral_compat)
        q = np.asarray(crf.inference(self.iters), dtype=np.float32)
        return q.reshape(num_labels, height, width)

    def __call__(self, img: ArrayLike, probs: ArrayLike) -> np.ndarray:
        """Refine per-pixel class probabilities.

        The unary is ``-log(clip(p, 1e-5, 1))``; probabilities need not sum
        to one (a per-pixel scale only shifts every label's unary by the
        same amount, which mean-field inference ignores, up to the clip).

        Args:
            img (np.ndarray | Tensor): uint8 RGB image (H, W, 3), or a batch
                (B, H, W, 3).
            probs (np.ndarray | Tensor): Probabilities (C, H, W), or a batch
                (B, C, H, W) matching ``img``.

        Returns:
            np.ndarray: float32 marginals, same shape as ``probs``.
        """
        probs = _to_numpy(probs, 'probs')
        img = _to_numpy(img, 'img')
        batched = probs.ndim == 4
        if probs.ndim not in (3, 4):
            raise ValueError('probs must be (C, H, W) or (B, C, H, W), got '
                             f'shape {probs.shape}')
        img = _check_image(img, batched)
        if img.shape[:-1] != probs.shape[:-3] + probs.shape[-2:]:
            raise ValueError(f'img {img.shape} and probs {probs.shape} '
                             'differ in batch or spatial size')
        if probs.shape[-3] < 1:
            raise ValueError('probs must have at least one class plane')
        unary = -np.log(np.clip(probs.astype(np.float32), PROB_CLIP, 1.0))
        if not batched:
            return self._infer(img, unary.reshape(unary.shape[0], -1))
        return np.stack([
            self._infer(img[i], unary[i].reshape(unary.shape[1], -1))
            for i in range(unary.shape[0])
        ])

    def label_unary(self, labels: np.ndarray, n_labels: int,
                    gt_prob: float) -> np.ndarray:
        """Unary (n_labels, H*W) of hard labels: ``-log(gt_prob)`` for the
        given label and ``-log((1 - gt_prob) / (n_labels - 1))`` for every
        other one."""
        flat = labels.reshape(-1)
        unary = np.full((n_labels, flat.size),
                        -np.log((1.0 - gt_prob) / (n_labels - 1)),
                        dtype=np.float32)
        unary[flat, np.arange(flat.size)] = -np.log(gt_prob)
        return unary

    def refine_labels(self,
                      img: ArrayLike,
                      labels: ArrayLike,
                      n_labels: int,
                      gt_prob: Optional[float] = None) -> np.ndarray:
        """CRF on hard labels (IRN's ``irn_label`` use): the argmax of the
        marginals of a unary that trusts each label with ``gt_prob``.

        Args:
            img (np.ndarray | Tensor): uint8 RGB image (H, W, 3), or a batch
                (B, H, W, 3).
            labels (np.ndarray | Tensor): Integer labels in ``0 ..
                n_labels - 1``, (H, W) (or (B, H, W)).
            n_labels (int): Number of labels.
            gt_prob (float, optional): Confidence in the input labels.
                Defaults to the preset's (0.7).

        Returns:
            np.ndarray: int64 refined labels, same shape as ``labels``.
        """
        labels = _to_numpy(labels, 'labels')
        img = _to_numpy(img, 'img')
        gt_prob = self.gt_prob if gt_prob is None else float(gt_prob)
        if not 0 < gt_prob < 1:
            raise ValueError(f'gt_prob must be in (0, 1), got {gt_prob}')
        n_labels = int(n_labels)
        if n_labels < 1:
            raise ValueError(f'n_labels must be >= 1, got {n_labels}')
        if labels.ndim not in (2, 3) or not np.issubdtype(
                labels.dtype, np.integer):
            raise ValueError('labels must be an integer (H, W) or (B, H, W) '
                             f'array, got {labels.dtype} {labels.shape}')
        batched = labels.ndim == 3
        img = _check_image(img, batched)
        if img.shape[:-1] != labels.shape:
            raise ValueError(f'img {img.shape} and labels {labels.shape} '
                             'differ in batch or spatial size')
        if labels.size and (labels.min() < 0 or labels.max() >= n_labels):
            raise ValueError(
                f'labels hold values {int(labels.min())}..'
                f'{int(labels.max())}, expected 0..{n_labels - 1}')
        labels = labels.astype(np.int64)
        if n_labels == 1:
            return np.zeros_like(labels)
        if not batched:
            unary = self.label_unary(labels, n_labels, gt_prob)
            return self._infer(img, unary).argmax(0)
        return np.stack([
            self._infer(img[i], self.label_unary(labels[i], n_labels,
                                                 gt_prob)).argmax(0)
            for i in range(labels.shape[0])
        ])


__all__ = ['DenseCRF', 'import_densecrf', 'PIP_PACKAGE']
