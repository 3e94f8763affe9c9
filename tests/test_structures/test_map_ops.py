# Copyright (c) mmweak contributors.
import cv2
import numpy as np
import pytest
import torch

from mmweak.structures import normalize_maps, resize_maps


def test_normalize_maps_min_max_per_map_in_batch():
    maps = torch.tensor([[[0., 2.], [4., 6.]], [[1., 1.], [1., 3.]]])
    out = normalize_maps(maps, eps=0.)
    expected = torch.tensor([[[0., 1 / 3], [2 / 3, 1.]], [[0., 0.], [0., 1.]]])
    torch.testing.assert_close(out, expected)


def test_normalize_maps_uses_eps_and_zeroes_constant_maps():
    maps = torch.full((2, 3, 4, 4), 7.)
    maps[0, 0, 1, 1] = 9.
    out = normalize_maps(maps)
    assert out.shape == maps.shape
    assert out[0, 0, 1, 1] == pytest.approx(2 / (2 + 1e-5))
    assert torch.all(out[1] == 0)


def test_normalize_maps_accepts_numpy_and_integer_input():
    out = normalize_maps(np.array([[0, 5], [10, 5]], dtype=np.uint8), eps=0)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor([[0., .5], [1., .5]]))


@pytest.mark.parametrize('mode,flag', [('bilinear', cv2.INTER_LINEAR),
                                       ('bicubic', cv2.INTER_CUBIC)])
def test_resize_maps_matches_opencv_upsampling(mode, flag):
    rng = np.random.default_rng(0)
    maps = rng.random((2, 7, 9)).astype(np.float32)
    out = resize_maps(torch.from_numpy(maps), (28, 36), mode=mode)
    assert out.shape == (2, 28, 36)
    for i in range(2):
        expected = cv2.resize(maps[i], (36, 28), interpolation=flag)
        np.testing.assert_allclose(out[i].numpy(), expected, atol=1e-5)


def test_resize_maps_keeps_leading_dims_and_int_size():
    maps = torch.rand(2, 3, 5, 5)
    out = resize_maps(maps, 10)
    assert out.shape == (2, 3, 10, 10)
    assert resize_maps(maps, (5, 5)) is maps


def test_resize_maps_nearest_copies_pixels():
    maps = torch.tensor([[0., 1.], [2., 3.]])
    out = resize_maps(maps, (4, 4), mode='nearest')
    torch.testing.assert_close(out[::2, ::2], maps)


def test_resize_maps_rejects_unknown_mode_and_bad_input():
    with pytest.raises(ValueError, match='mode'):
        resize_maps(torch.rand(4, 4), 8, mode='area')
    with pytest.raises(TypeError, match='maps'):
        resize_maps([[0.]], 8)
    with pytest.raises(ValueError, match='at least 2 dims'):
        normalize_maps(torch.rand(4))
