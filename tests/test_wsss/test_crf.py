# Copyright (c) mmweak contributors.
"""DenseCRF: sharpening on a toy image, presets and overrides, hard labels,
C-contiguity, batches, and the error without ``pydensecrf``."""
import importlib.util
import sys

import numpy as np
import pytest
import torch

from mmweak.wsss.crf import DenseCRF

HAS_CRF = importlib.util.find_spec('pydensecrf') is not None
needs_crf = pytest.mark.skipif(
    not HAS_CRF, reason='pydensecrf (pip pydensecrf2) is not installed')

H, W, EDGE = 24, 32, 16  # two colour regions: columns < 16 and >= 16


def toy_image() -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    img[:, :EDGE] = (200, 40, 30)
    img[:, EDGE:] = (30, 60, 210)
    return img


def truth() -> np.ndarray:
    return np.broadcast_to(np.arange(W) >= EDGE, (H, W)).astype(np.int64)


def blurry_probs(center: float = 11.0) -> np.ndarray:
    """A soft two-class map whose 0.5 crossing is at column ``center``
    (off the true edge at 16), so its argmax is wrong on 5 columns."""
    x = np.arange(W, dtype=np.float32)
    p1 = 1 / (1 + np.exp(-(x - center) / 3.0))
    p1 = np.broadcast_to(p1, (H, W))
    return np.stack([1 - p1, p1]).astype(np.float32)


@needs_crf
@pytest.mark.parametrize('preset', ['deeplab', 'psa', 'irn_label'])
def test_crf_sharpens_to_colour_regions(preset):
    probs = blurry_probs()
    assert (probs.argmax(0) == truth()).mean() < 0.9
    q = DenseCRF(preset)(toy_image(), probs)
    assert q.shape == probs.shape and q.dtype == np.float32
    np.testing.assert_allclose(q.sum(0), 1, atol=1e-4)
    assert (q.argmax(0) == truth()).all()
    # sharper than the input away from the edge
    assert q[1, :, EDGE + 2:].min() > probs[1, :, EDGE + 2:].min()


@needs_crf
def test_presets_and_overrides():
    assert DenseCRF('deeplab').params == dict(iters=10,
                                              gaussian_sxy=1,
                                              gaussian_compat=3,
                                              bilateral_sxy=67,
                                              bilateral_srgb=3,
                                              bilateral_compat=4,
                                              gt_prob=0.7)
    psa = DenseCRF('psa')
    assert (psa.gaussian_sxy, psa.gaussian_compat, psa.bilateral_sxy,
            psa.bilateral_srgb, psa.bilateral_compat,
            psa.iters) == (3, 3, 80, 13, 10, 10)
    irn = DenseCRF('irn_label')
    assert (irn.gaussian_sxy, irn.gaussian_compat, irn.bilateral_sxy,
            irn.bilateral_srgb, irn.bilateral_compat, irn.iters,
            irn.gt_prob) == (3, 3, 50, 5, 10, 10, 0.7)
    crf = DenseCRF('psa', iters=0, bilateral_srgb=5)
    assert crf.iters == 0 and crf.bilateral_srgb == 5 and \
        crf.bilateral_sxy == 80
    assert 'iters=0' in repr(crf)
    # zero iterations: the marginals are the normalised input
    probs = blurry_probs()
    np.testing.assert_allclose(crf(toy_image(), probs), probs, atol=1e-5)
    with pytest.raises(ValueError, match='unknown DenseCRF preset'):
        DenseCRF('fancy')
    with pytest.raises(TypeError, match='bilateral_rgb'):
        DenseCRF('psa', bilateral_rgb=3)
    with pytest.raises(ValueError, match='gt_prob'):
        DenseCRF('irn_label', gt_prob=1.0)


@needs_crf
def test_refine_labels_snaps_to_regions():
    crf = DenseCRF('irn_label')
    labels = np.broadcast_to(np.arange(W) >= 20, (H, W)).astype(np.uint8)
    out = crf.refine_labels(toy_image(), labels, n_labels=2)
    assert out.shape == (H, W) and out.dtype == np.int64
    assert (out == truth()).all()
    # one label: nothing to refine
    assert not crf.refine_labels(toy_image(), np.zeros((H, W), int), 1).any()
    with pytest.raises(ValueError, match=r'expected 0..1'):
        crf.refine_labels(toy_image(), labels + 1, n_labels=2)
    with pytest.raises(ValueError, match='integer'):
        crf.refine_labels(toy_image(), labels.astype(np.float32), 2)


@needs_crf
def test_non_contiguous_inputs_and_tensors():
    crf = DenseCRF('psa')
    img = toy_image()
    probs = blurry_probs()
    ref = crf(img, probs)
    # views with negative / transposed strides, and Fortran order
    img_view = np.ascontiguousarray(img[:, ::-1])[:, ::-1]
    probs_f = np.asfortranarray(probs)
    assert not img_view.flags.c_contiguous
    assert not probs_f.flags.c_contiguous
    np.testing.assert_allclose(crf(img_view, probs_f), ref, atol=1e-6)
    np.testing.assert_allclose(crf(torch.from_numpy(img),
                                   torch.from_numpy(probs).double()),
                               ref,
                               atol=1e-6)
    labels = np.asfortranarray(truth())
    assert (crf.refine_labels(img_view, labels, 2) == truth()).all()


@needs_crf
def test_batches_equal_single_images():
    crf = DenseCRF('deeplab')
    imgs = np.stack([toy_image(), toy_image()[:, ::-1]])
    probs = np.stack([blurry_probs(11.0), blurry_probs(20.0)[:, :, ::-1]])
    out = crf(imgs, probs)
    assert out.shape == probs.shape
    for i in range(2):
        np.testing.assert_allclose(out[i], crf(imgs[i], probs[i]), atol=1e-6)
    labels = np.stack([truth(), 1 - truth()])
    refined = DenseCRF('irn_label').refine_labels(imgs, labels, 2)
    assert refined.shape == (2, H, W)
    with pytest.raises(ValueError, match='differ'):
        crf(imgs, probs[:1])


@needs_crf
def test_bad_inputs_name_the_problem():
    crf = DenseCRF('psa')
    with pytest.raises(ValueError, match='uint8'):
        crf(toy_image().astype(np.float32), blurry_probs())
    with pytest.raises(ValueError, match=r'\(H, W, 3\)'):
        crf(toy_image()[..., 0], blurry_probs())
    with pytest.raises(ValueError, match='differ'):
        crf(toy_image(), blurry_probs()[:, :-1])


def test_missing_package_raises_clear_import_error(monkeypatch):
    # a None entry in sys.modules makes the import fail
    monkeypatch.setitem(sys.modules, 'pydensecrf', None)
    monkeypatch.setitem(sys.modules, 'pydensecrf.densecrf', None)
    with pytest.raises(ImportError, match=r'pip install .*pydensecrf2==1\.1'):
        DenseCRF('psa')
