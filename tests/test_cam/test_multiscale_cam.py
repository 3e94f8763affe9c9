# Copyright (c) mmweak contributors.
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.utils import ClsDataPreprocessor

from mmweak.cam import (cam_pack_to_numpy, load_cam_pack, multiscale_cams,
                        strided_size)

MEAN, STD = [10.0, 20.0, 30.0], [2.0, 4.0, 5.0]


class ToyCAMModel(nn.Module):
    """Stride-4 CAM model: an asymmetric 3x3 conv then 4x4 average pooling,
    with a real data preprocessor (BGR -> RGB, mean/std)."""

    def __init__(self, num_classes: int = 4, symmetric: bool = False):
        super().__init__()
        self.data_preprocessor = ClsDataPreprocessor(
            mean=MEAN, std=STD, to_rgb=True)
        self.conv = nn.Conv2d(3, num_classes, 3, padding=1, bias=False)
        torch.manual_seed(0)
        w = torch.randn(num_classes, 3, 3, 3)
        if symmetric:  # flip-equivariant: a centre tap only
            w = torch.zeros_like(w)
            w[:, :, 1, 1] = torch.randn(num_classes, 3)
        self.conv.weight.data.copy_(w)
        self.calls = []

    def forward_cam(self, x):
        self.calls.append(tuple(x.shape))
        return F.avg_pool2d(self.conv(x), 4, ceil_mode=True)


def _images(num=2, size=(24, 32)):
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (num, 3) + size, generator=g,
                         dtype=torch.uint8)


def _reference(model, img, keys, scales, flip):
    """Straightforward per-view CAMs of one raw (3, H, W) image."""
    H, W = img.shape[-2:]
    x = img.flip(0).float()  # BGR -> RGB
    x = (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None,
                                                                    None]
    small = (math.ceil(H / 4), math.ceil(W / 4))
    cam = torch.zeros((model.conv.out_channels, ) + small)
    high = torch.zeros((model.conv.out_channels, H, W))
    for s in scales:
        size = (round(H * s), round(W * s))
        xs = x[None] if s == 1 else F.interpolate(
            x[None], size=size, mode='bicubic', align_corners=False,
            antialias=True)
        views = [(xs, False)] + ([(xs.flip(-1), True)] if flip else [])
        for view, flipped in views:
            m = F.relu(model.forward_cam(view))
            if flipped:
                m = m.flip(-1)
            cam += F.interpolate(m, small, mode='bilinear',
                                 align_corners=False)[0]
            high += F.interpolate(m, (H, W), mode='bilinear',
                                  align_corners=False)[0]
    k = torch.tensor(sorted(keys), dtype=torch.long)
    cam, high = cam[k], high[k]
    cam = cam / (cam.amax((1, 2), keepdim=True) + 1e-5)
    high = high / (high.amax((1, 2), keepdim=True) + 1e-5)
    return k, cam, high


@pytest.mark.parametrize('flip', [True, False])
def test_equals_per_view_reference(flip):
    model = ToyCAMModel()
    imgs = _images()
    keys = [[2, 0], [3]]
    scales = (1.0, 0.5, 1.5, 2.0)
    packs = multiscale_cams(model, imgs, keys, scales=scales, flip=flip)
    # one forward per scale, flips (and the two images) batched together
    assert len(model.calls) == len(scales)
    assert model.calls[0][0] == (4 if flip else 2)
    for img, k, pack in zip(imgs, keys, packs):
        ref_k, ref_cam, ref_high = _reference(model, img, k, scales, flip)
        assert pack['keys'].tolist() == ref_k.tolist()
        torch.testing.assert_close(pack['cam'], ref_cam, rtol=1e-4,
                                   atol=1e-5)
        torch.testing.assert_close(pack['high_res'], ref_high, rtol=1e-4,
                                   atol=1e-5)


def test_single_image_output_format_and_normalisation():
    model = ToyCAMModel()
    img = _images(1, size=(23, 30))[0]
    pack = multiscale_cams(model, img, [3, 1])
    assert set(pack) == {'keys', 'cam', 'high_res'}
    assert pack['keys'].dtype == torch.long
    assert pack['keys'].tolist() == [1, 3]  # only the tagged classes, sorted
    assert pack['cam'].shape == (2, 6, 8) == (2, ) + strided_size((23, 30))
    assert pack['high_res'].shape == (2, 23, 30)
    for name in ('cam', 'high_res'):
        maps = pack[name]
        assert maps.dtype == torch.float32
        assert maps.min() >= 0
        peak = maps.amax(dim=(1, 2))
        # each class divided by its own max + 1e-5
        torch.testing.assert_close(peak, torch.ones(2), atol=1e-3, rtol=0)
        assert (peak <= 1).all()
    npy = cam_pack_to_numpy(pack)
    assert npy['keys'].dtype == np.int64
    assert npy['cam'].dtype == npy['high_res'].dtype == np.float32


def test_flip_back_with_a_flip_equivariant_model():
    """A flip-equivariant model gives the same maps with and without the
    flipped view only if the flipped maps are flipped back."""
    model = ToyCAMModel(symmetric=True)
    img = _images(1)[0]
    img[:, :, :10] = 255  # asymmetric content
    with_flip = multiscale_cams(model, img, [0, 1, 2, 3], scales=(1.0, ))
    without = multiscale_cams(model, img, [0, 1, 2, 3], scales=(1.0, ),
                              flip=False)
    torch.testing.assert_close(with_flip['high_res'], without['high_res'],
                               rtol=1e-4, atol=1e-5)
    # not flipping back would mirror half of the evidence
    wrong = without['high_res'] + without['high_res'].flip(-1)
    assert not torch.allclose(with_flip['high_res'],
                              wrong / wrong.amax((1, 2), keepdim=True),
                              atol=1e-3)


def test_flip_back_with_an_asymmetric_model():
    """Per class the summed map of an image equals the mirror of the summed
    map of its mirror image (exact for any model when flips are used)."""
    model = ToyCAMModel()
    img = _images(1)[0]
    a = multiscale_cams(model, img, [0, 1, 2, 3])
    b = multiscale_cams(model, img.flip(-1), [0, 1, 2, 3])
    torch.testing.assert_close(a['high_res'], b['high_res'].flip(-1),
                               rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(a['cam'], b['cam'].flip(-1), rtol=1e-4,
                               atol=1e-5)


def test_no_tags_gives_an_empty_pack_without_forward():
    model = ToyCAMModel()
    pack = multiscale_cams(model, _images(1)[0], [])
    assert model.calls == []
    assert pack['keys'].shape == (0, )
    assert pack['cam'].shape == (0, 6, 8)
    assert pack['high_res'].shape == (0, 24, 32)
    # mixed batch: the untagged image still gets an empty pack
    packs = multiscale_cams(model, _images(2), [[], [1]])
    assert packs[0]['cam'].shape == (0, 6, 8)
    assert packs[1]['keys'].tolist() == [1]


def test_preprocess_false_takes_model_inputs():
    model = ToyCAMModel()
    img = _images(1)[0]
    x = (img.flip(0).float() - torch.tensor(MEAN)[:, None, None]) / \
        torch.tensor(STD)[:, None, None]
    a = multiscale_cams(model, img, [1])
    b = multiscale_cams(model, x, [1], preprocess=False)
    torch.testing.assert_close(a['high_res'], b['high_res'])


def test_bad_inputs():
    model = ToyCAMModel()
    img = _images(1)[0]
    with pytest.raises(ValueError, match='outside'):
        multiscale_cams(model, img, [4])
    with pytest.raises(ValueError, match='>= 0'):
        multiscale_cams(model, img, [-1])
    with pytest.raises(ValueError, match='key lists'):
        multiscale_cams(model, _images(2), [[0]])
    with pytest.raises(TypeError, match='forward_cam'):
        multiscale_cams(nn.Conv2d(3, 3, 1), img, [0])


def test_load_cam_pack_checks_the_format(tmp_path):
    model = ToyCAMModel()
    pack = cam_pack_to_numpy(multiscale_cams(model, _images(1)[0], [0, 2]))
    good = tmp_path / 'a.npy'
    np.save(good, pack)
    loaded = load_cam_pack(str(good))
    assert loaded['keys'].tolist() == [0, 2]
    np.save(tmp_path / 'b.npy', np.zeros(3))
    with pytest.raises(ValueError, match='b.npy'):
        load_cam_pack(str(tmp_path / 'b.npy'))
    np.save(tmp_path / 'c.npy', dict(pack, keys=np.array([0])))
    with pytest.raises(ValueError, match='c.npy'):
        load_cam_pack(str(tmp_path / 'c.npy'))
