# Copyright (c) mmweak contributors.
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
def test_large_grams_take_the_verified_iteration_and_match_eigh(center):
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


def test_iteration_falls_back_to_eigh_when_unconverged():
    # identity-like Gram matrices: no gap between the leading eigenvalues,
    # so the Ritz check fails and eigh gives the answer
    gram = torch.eye(128).repeat(3, 1, 1)
    gram[1, 7, 7] = 3.  # one image with a clear leading direction
    val, vec = _leading_eigenpair(gram)
    assert torch.allclose(val, torch.tensor([1., 3., 1.]))
    assert torch.allclose(vec[1].abs(), torch.eye(128)[7], atol=1e-5)
    assert torch.allclose(vec.norm(dim=-1), torch.ones(3))


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
