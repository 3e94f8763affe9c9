# Copyright (c) mmweak contributors.
import sys

import numpy as np
import pytest
import torch

from mmweak.cam import eigen_cam, eigen_projection, normalize_cams
from mmweak.cam.eigen_cam import (_ITERATIVE_MIN_SIZE, _leading_eigenpair,
                                  _orientation)


def structured_activations(batch=4, chans=32, height=7, width=7, seed=0,
                           dtype=torch.float64):
    """Post-ReLU activations with a clear leading component (a blob whose
    channel profile differs per image) plus noise."""
    gen = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=dtype),
        torch.arange(width, dtype=dtype),
        indexing='ij')
    centres = torch.rand(batch, 2, generator=gen, dtype=dtype)
    cy = centres[:, 0, None, None] * (height - 1)
    cx = centres[:, 1, None, None] * (width - 1)
    blob = torch.exp(-((ys - cy)**2 + (xs - cx)**2) / 4.0)  # (B, H, W)
    profile = torch.rand(batch, chans, generator=gen, dtype=dtype)
    noise = 0.1 * torch.rand(
        batch, chans, height, width, generator=gen, dtype=dtype)
    return (3 * profile[:, :, None, None] * blob[:, None] + noise).relu()


def test_eigen_cam_returns_unit_range_maps_of_batch_shape():
    feats = structured_activations(batch=3, chans=16, height=5, width=6)
    maps = eigen_cam(feats.float())
    assert maps.shape == (3, 5, 6)
    assert maps.dtype == torch.float32
    assert torch.all(maps >= 0) and torch.all(maps <= 1)
    assert torch.allclose(maps.amax(dim=(1, 2)), torch.ones(3), atol=1e-6)


@pytest.mark.parametrize('center', [False, True])
def test_eigen_cam_highlights_the_structured_blob(center):
    feats = structured_activations(batch=4)
    maps = eigen_cam(feats, center=center)
    blob = feats.mean(dim=1)
    for cam, ref in zip(maps, blob):
        assert cam.flatten().argmax() == ref.flatten().argmax()


@pytest.mark.parametrize('center', [False, True])
@pytest.mark.parametrize('solver', ['svd', 'lowrank'])
def test_solvers_agree_with_gram_after_the_sign_rule(center, solver):
    feats = structured_activations(batch=5, chans=48, height=6, width=9)
    ref = eigen_projection(feats, center=center, solver='gram')
    out = eigen_projection(feats, center=center, solver=solver)
    scale = ref.abs().amax(dim=(1, 2), keepdim=True)
    assert torch.all((out - ref).abs() / scale <= 1e-4)


def test_gram_solver_handles_more_positions_than_channels():
    # C < HW takes the C x C Gram branch, C > HW the HW x HW branch
    for chans, size in [(4, 8), (80, 3)]:
        feats = structured_activations(batch=2, chans=chans, height=size,
                                       width=size)
        gram = eigen_projection(feats, center=True, solver='gram')
        svd = eigen_projection(feats, center=True, solver='svd')
        assert torch.allclose(gram, svd, atol=1e-8)


@pytest.mark.parametrize('sign', ['channel_mean', 'max_abs'])
def test_sign_rule_ignores_the_solver_orientation(sign):
    feats = structured_activations(batch=6, chans=16)
    mat = feats.flatten(2).transpose(1, 2)
    mat = mat - mat.mean(dim=1, keepdim=True)
    proj = (mat @ torch.linalg.svd(mat).Vh[:, 0, :, None]).squeeze(-1)
    flips = torch.tensor([1., -1., 1., -1., -1., 1.], dtype=mat.dtype)
    a = proj * _orientation(proj, mat, sign, None)[:, None]
    flipped = proj * flips[:, None]
    b = flipped * _orientation(flipped, mat, sign, None)[:, None]
    assert torch.equal(a, b)


def test_channel_mean_rule_correlates_map_with_mean_activation():
    feats = structured_activations(batch=8, chans=24)
    for center in (False, True):
        proj = eigen_projection(feats, center=center)
        mat = feats.flatten(2)
        if center:
            mat = mat - mat.mean(dim=2, keepdim=True)
        mean_map = mat.mean(dim=1)  # (B, HW)
        assert torch.all((proj.flatten(1) * mean_map).sum(dim=1) >= 0)


def test_channel_mean_falls_back_to_max_abs_when_v1_sums_to_zero():
    # two channels x and -x: v1 = (1, -1) / sqrt(2) sums to 0
    signal = torch.tensor([0., 0., 1., 0., 0., 0., -0.2, 0., 0.],
                          dtype=torch.float64)
    feats = torch.stack([signal, -signal]).reshape(1, 2, 3, 3)
    proj = eigen_projection(feats, sign='channel_mean')
    ref = eigen_projection(feats, sign='max_abs')
    assert torch.equal(proj, ref)
    assert proj.max() > proj.min().abs()


def test_max_alias_is_the_max_abs_rule():
    feats = structured_activations(batch=3)
    assert torch.equal(
        eigen_cam(feats, center=True, sign='max'),
        eigen_cam(feats, center=True, sign='max_abs'))


@pytest.mark.parametrize('center', [False, True])
def test_large_grams_take_the_lanczos_iteration_and_match_eigh(center):
    # 14 x 14 positions (> _ITERATIVE_MIN_SIZE) and fewer than 196 channels
    feats = structured_activations(batch=5, chans=240, height=14, width=14,
                                   dtype=torch.float32)
    assert 14 * 14 >= _ITERATIVE_MIN_SIZE
    mat = feats.flatten(2).transpose(1, 2)
    if center:
        mat = mat - mat.mean(1, keepdim=True)
    gram = mat @ mat.transpose(1, 2)
    val, vec = _leading_eigenpair(gram)
    vals, vecs = torch.linalg.eigh(gram.double())
    assert torch.allclose(val.double(), vals[:, -1], rtol=1e-5)
    cos = (vec.double() * vecs[..., -1]).sum(-1).abs()
    assert torch.all(cos > 1 - 1e-6)
    # the maps agree with the float64 SVD path
    ours = eigen_cam(feats, center=center)
    ref = eigen_cam(feats.double(), center=center, solver='svd')
    assert torch.allclose(ours.double(), ref, atol=1e-4)


def test_repeated_leading_eigenvalue_gives_a_vector_of_its_eigenspace():
    # identity Gram matrices: every unit vector is a leading eigenvector
    # (the start vector's Krylov space is invariant at once)
    gram = torch.eye(128).repeat(3, 1, 1)
    gram[1, 7, 7] = 3.  # one image with a clear leading direction
    val, vec = _leading_eigenpair(gram)
    assert torch.allclose(val, torch.tensor([1., 3., 1.]))
    assert torch.allclose(vec[1].abs(), torch.eye(128)[7], atol=1e-5)
    assert torch.allclose(vec.norm(dim=-1), torch.ones(3))
    # a zero matrix gives a zero pair (a zero map), not NaN
    val, vec = _leading_eigenpair(torch.zeros(2, 100, 100))
    assert torch.equal(val, torch.zeros(2))
    assert torch.equal(vec, torch.zeros(2, 100))


def test_iteration_falls_back_to_eigh_when_unconverged():
    gen = torch.Generator().manual_seed(0)
    mat = torch.randn(3, 128, 200, generator=gen, dtype=torch.float64)
    gram = mat @ mat.transpose(1, 2)
    # a zero tolerance is never met: every image goes to eigh (8 Lanczos
    # steps alone are far from converged on this noise-like spectrum)
    val, vec = _leading_eigenpair(gram, tol=0., checks=(8, ))
    vals, vecs = torch.linalg.eigh(gram)
    assert torch.allclose(val, vals[:, -1], rtol=1e-13, atol=0)
    assert torch.allclose(vec.abs(), vecs[..., -1].abs(), atol=1e-12)


def low_rank_activations(sigmas, noise=0., batch=3, chans=300, height=14,
                         width=14, seed=0, dtype=torch.float64):
    """(B, C, H, W) activations whose (HW x C) matrix is U diag(sigmas) V^T
    plus Gaussian noise; also returns U (B, HW, r)."""
    gen = torch.Generator().manual_seed(seed)
    num, rank = height * width, len(sigmas)
    left = torch.linalg.qr(
        torch.randn(batch, num, rank, generator=gen, dtype=dtype))[0]
    right = torch.linalg.qr(
        torch.randn(batch, chans, rank, generator=gen, dtype=dtype))[0]
    sig = torch.tensor(sigmas, dtype=dtype)
    mat = (left * sig) @ right.transpose(1, 2)
    mat = mat + noise * torch.randn(
        batch, num, chans, generator=gen, dtype=dtype)
    return mat.transpose(1, 2).reshape(batch, chans, height, width), left


def svd_projection(feats, center):
    """Plain float64 reference: O v1 = s1 u1 by torch.linalg.svd; returns
    the projection (B, HW) and the singular values (B, k)."""
    mat = feats.double().flatten(2).transpose(1, 2)
    if center:
        mat = mat - mat.mean(1, keepdim=True)
    left, sing, _ = torch.linalg.svd(mat, full_matrices=False)
    return left[..., 0] * sing[..., :1], sing


def _check_against_svd(feats, center, slack=64):
    """The gram solver's projection equals the SVD one up to the sign of
    each image, within the accuracy a backward error of ``slack`` machine
    epsilons allows: ||dp|| / ||p|| <= slack * eps / relative eigengap."""
    ours = eigen_projection(feats, center=center, sign='none')
    ours = ours.flatten(1).double()
    ref, sing = svd_projection(feats, center)
    signs = torch.sign((ours * ref).sum(-1, keepdim=True))
    err = (ours * signs - ref).norm(dim=-1) / ref.norm(dim=-1)
    eps = torch.finfo(feats.dtype).eps
    gap = (sing[:, 0]**2 - sing[:, 1]**2) / sing[:, 0]**2
    assert torch.all(err <= slack * eps / gap + 32 * eps), (err, gap)
    return err


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('center', [False, True])
@pytest.mark.parametrize('kind', ['uniform', 'normal'])
@pytest.mark.parametrize('chans', [384, 128])
def test_gram_solver_matches_svd_on_random_activations(
        dtype, center, kind, chans):
    # 14 x 14 maps: 384 channels take the 196 x 196 Gram matrix, 128 the
    # 128 x 128 one; both run the Lanczos iteration. Random (noise-like)
    # activations have small leading eigengaps (down to ~1e-3).
    gen = torch.Generator().manual_seed(1)
    shape = (6, chans, 14, 14)
    feats = (torch.rand(shape, generator=gen, dtype=dtype) if kind ==
             'uniform' else torch.randn(shape, generator=gen, dtype=dtype))
    _check_against_svd(feats, center)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('center', [False, True])
def test_gram_solver_matches_svd_on_low_rank_plus_noise(dtype, center):
    feats, _ = low_rank_activations([10., 6., 3.], noise=0.05, dtype=dtype)
    err = _check_against_svd(feats, center)
    assert torch.all(err <= (1e-5 if dtype == torch.float32 else 1e-12))
    # and after the sign rule, ReLU and min-max
    ours = eigen_cam(feats, center=center)
    ref = eigen_cam(feats.double(), center=center, solver='svd')
    assert torch.allclose(ours.double(), ref, atol=1e-5)


def test_near_degenerate_leading_gap():
    # float64 resolves a relative eigengap of 2e-6: the exact u1
    feats, left = low_rank_activations([10., 10. * (1 - 1e-6), 3.])
    _check_against_svd(feats, center=False)
    proj = eigen_projection(feats, sign='none').flatten(1)
    cos = (proj / proj.norm(dim=-1, keepdim=True) * left[..., 0]).sum(-1)
    assert torch.all(cos.abs() > 1 - 1e-9)
    # below the working precision (float32, gap 2e-8) or exactly repeated
    # (float64), the leading vector is not determined; the result is the
    # projection onto a unit vector of the leading eigenspace (documented),
    # deterministic and independent of the batch
    for sigmas, dtype in [([10., 10. * (1 - 1e-8), 3.], torch.float32),
                          ([10., 10., 3.], torch.float64)]:
        feats, left = low_rank_activations(sigmas, dtype=dtype)
        proj = eigen_projection(feats, sign='none').flatten(1).double()
        unit = proj / proj.norm(dim=-1, keepdim=True)
        top2 = left[..., :2].double()
        inside = (unit.unsqueeze(1) @ top2).squeeze(1)  # (B, 2)
        tol = 1e-5 if dtype == torch.float32 else 1e-12
        assert torch.allclose(inside.norm(dim=-1),
                              torch.ones(3, dtype=torch.float64), atol=tol)
        assert torch.allclose(proj.norm(dim=-1), torch.full((3, ), 10.,
                              dtype=torch.float64), rtol=tol)
        again = eigen_projection(feats[1:2], sign='none').flatten(1).double()
        assert torch.allclose(again[0], proj[1], atol=100 * tol)


@pytest.mark.parametrize('center', [False, True])
@pytest.mark.parametrize('kind', ['uniform', 'normal'])
def test_random_activations_converge_without_eigh_fallback(
        monkeypatch, center, kind):
    # regression test: noise-like activations used to fail the old
    # eigengap check and pay a full eigh per image
    module = sys.modules['mmweak.cam.eigen_cam']
    calls = []
    lapack = module._lapack

    def spy(fn, mat):
        if fn is torch.linalg.eigh and mat.shape[-1] >= _ITERATIVE_MIN_SIZE:
            calls.append(mat.shape[0])
        return lapack(fn, mat)

    monkeypatch.setattr(module, '_lapack', spy)
    gen = torch.Generator().manual_seed(2)
    shape = (8, 384, 14, 14)
    feats = (torch.rand(shape, generator=gen) if kind == 'uniform' else
             torch.randn(shape, generator=gen))
    eigen_cam(feats, center=center)
    assert calls == []


@pytest.mark.parametrize('sign', ['channel_mean', 'max_abs'])
@pytest.mark.parametrize('center', [False, True])
def test_same_map_across_runs_and_batch_compositions(sign, center):
    feats = structured_activations(batch=6, chans=40, seed=3,
                                   dtype=torch.float32)
    _check_batch_invariance(feats, center, sign)
    # the same with 14 x 14 maps (the iterative Gram path)
    feats = structured_activations(batch=6, chans=64, height=14, width=14,
                                   seed=3, dtype=torch.float32)
    _check_batch_invariance(feats, center, sign)


def _check_batch_invariance(feats, center, sign):
    alone = eigen_cam(feats[2:3], center=center, sign=sign)
    again = eigen_cam(feats[2:3], center=center, sign=sign)
    assert torch.equal(alone, again)
    order = torch.tensor([5, 2, 0, 4])
    batch = eigen_cam(feats[order], center=center, sign=sign)
    full = eigen_cam(feats, center=center, sign=sign)
    assert torch.allclose(batch[1], alone[0], atol=1e-5)
    assert torch.allclose(full[2], alone[0], atol=1e-5)
    assert torch.allclose(batch[0], full[5], atol=1e-5)


@pytest.mark.parametrize('center', [False, True])
def test_valid_mask_gives_the_map_of_the_unpadded_image(center):
    feats = structured_activations(batch=2, chans=20, height=6, width=8)
    padded = torch.rand(2, 20, 9, 11, dtype=feats.dtype) * 5  # garbage pad
    padded[:, :, :6, :8] = feats
    mask = torch.zeros(2, 9, 11, dtype=torch.bool)
    mask[:, :6, :8] = True
    out = eigen_cam(padded, center=center, valid_mask=mask)
    ref = eigen_cam(feats, center=center)
    assert torch.allclose(out[:, :6, :8], ref, atol=1e-8)
    assert torch.all(out[~mask] == 0)


def test_masked_images_of_different_sizes_in_one_batch():
    feats = structured_activations(batch=2, chans=12, height=8, width=8)
    mask = torch.ones(2, 8, 8, dtype=torch.bool)
    mask[1, 5:] = False
    mask[1, :, 6:] = False
    out = eigen_cam(feats, center=True, valid_mask=mask)
    ref = eigen_cam(feats[1:, :, :5, :6], center=True)
    assert torch.allclose(out[1, :5, :6], ref[0], atol=1e-8)
    assert torch.allclose(out[0], eigen_cam(feats[:1], center=True)[0])


def test_matches_pytorch_grad_cam_projection_up_to_sign():
    svd_module = pytest.importorskip(
        'pytorch_grad_cam.utils.svd_on_activations')
    image_module = pytest.importorskip('pytorch_grad_cam.utils.image')
    feats = structured_activations(batch=4, chans=64, height=7, width=7)
    ref = torch.from_numpy(svd_module.get_2d_projection(feats.numpy()))
    ref = ref.double()  # the library casts its output to float32
    ours = eigen_projection(feats, center=True, sign='none')
    signs = torch.sign((ours * ref).sum(dim=(1, 2)))
    aligned = ours * signs[:, None, None]
    scale = aligned.abs().amax(dim=(1, 2), keepdim=True)
    assert torch.all((aligned - ref).abs() / scale <= 1e-4)
    # final maps with the same sign on both sides
    ref_maps = image_module.scale_cam_image(np.maximum(ref.numpy(), 0))
    ours_maps = normalize_cams(aligned.relu())
    assert np.abs(ours_maps.numpy() - ref_maps).max() <= 1e-5


def test_nan_counts_as_zero_and_half_precision_is_upcast():
    feats = structured_activations(batch=2, chans=8, dtype=torch.float32)
    with_nan = feats.clone()
    with_nan[0, 0, 0, 0] = float('nan')
    zeroed = feats.clone()
    zeroed[0, 0, 0, 0] = 0
    assert torch.equal(eigen_cam(with_nan), eigen_cam(zeroed))
    half = eigen_cam(feats.half())
    assert half.dtype == torch.float32
    assert torch.allclose(half, eigen_cam(feats), atol=1e-2)


@pytest.mark.parametrize('center', [False, True])
def test_nan_counts_as_zero_on_the_iterative_path(center):
    # 14 x 14 maps: the Lanczos path, which skips the NaN pass unless the
    # Gram matrix shows a NaN; masked images too
    feats = structured_activations(batch=3, chans=240, height=14, width=14,
                                   dtype=torch.float32)
    with_nan = feats.clone()
    with_nan[1, 5, 3, 4] = float('nan')
    zeroed = feats.clone()
    zeroed[1, 5, 3, 4] = 0
    assert torch.equal(
        eigen_cam(with_nan, center=center), eigen_cam(zeroed, center=center))
    mask = torch.ones(3, 14, 14, dtype=torch.bool)
    mask[:, 10:] = False
    with_nan[0, 7, 12, 2] = float('nan')  # in the padding
    zeroed[0, 7, 12, 2] = 0
    assert torch.equal(
        eigen_cam(with_nan, center=center, valid_mask=mask),
        eigen_cam(zeroed, center=center, valid_mask=mask))


def test_constant_and_empty_maps_stay_finite():
    assert torch.equal(
        eigen_cam(torch.zeros(2, 3, 4, 4)), torch.zeros(2, 4, 4))
    maps = normalize_cams(
        torch.rand(2, 4, 4), torch.zeros(2, 4, 4, dtype=torch.bool))
    assert torch.equal(maps, torch.zeros(2, 4, 4))


def test_bad_arguments_raise_clear_errors():
    feats = torch.rand(2, 3, 4, 4)
    with pytest.raises(ValueError, match='B, C, H, W'):
        eigen_cam(feats[0])
    with pytest.raises(ValueError, match='sign'):
        eigen_cam(feats, sign='positive')
    with pytest.raises(ValueError, match='solver'):
        eigen_cam(feats, solver='qr')
    with pytest.raises(ValueError, match='valid_mask'):
        eigen_cam(feats, valid_mask=torch.ones(2, 3, 3, dtype=torch.bool))


def test_cpu_lapack_split_matches_one_call_and_restores_threads():
    from mmweak.cam.eigen_cam import _lapack
    threads = torch.get_num_threads()
    gen = torch.Generator().manual_seed(0)
    mat = torch.rand(5, 9, 9, generator=gen, dtype=torch.float64)
    gram = mat @ mat.transpose(1, 2)
    vals, vecs = _lapack(torch.linalg.eigh, gram)
    assert torch.get_num_threads() == threads
    ref_vals, ref_vecs = torch.linalg.eigh(gram)
    assert torch.allclose(vals, ref_vals)
    # eigenvectors up to sign
    dots = (vecs * ref_vecs).sum(dim=1).abs()
    assert torch.allclose(dots, torch.ones_like(dots))
