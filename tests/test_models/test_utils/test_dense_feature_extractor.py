# Copyright (c) mmweak contributors.
"""DenseFeatureExtractor: checkpoint loading (classifier-style and
backbone-only files), unit-norm (B, D, h, w) output equal to the frozen
backbone's, the missing-checkpoint error, the 1x1 head, multi-scale + flip."""
import pytest
import torch
import torch.nn.functional as F

from mmweak.models.utils import DenseFeatureExtractor
from mmweak.registry import MODELS

VIT = dict(
    type='mmpretrain.VisionTransformer',
    arch=dict(
        embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
    img_size=32,
    patch_size=8,
    out_type='featmap')


def _vit():
    torch.manual_seed(0)
    vit = MODELS.build(VIT)
    vit.eval()  # mmpretrain's ViT.train() returns None
    return vit


def _save(path, state):
    torch.save(dict(meta=dict(), state_dict=state), str(path))
    return str(path)


def _images(n=2, size=32):
    return torch.randn(n, 3, size, size,
                       generator=torch.Generator().manual_seed(1))


def test_loads_checkpoint_and_returns_unit_features(tmp_path):
    vit = _vit()
    ckpt = _save(tmp_path / 'cls.pth', {
        **{f'backbone.{k}': v
           for k, v in vit.state_dict().items()},
        'head.fc.weight': torch.zeros(5, 32),  # a classifier's head: unused
    })
    ext = MODELS.build(
        dict(type='DenseFeatureExtractor', backbone=VIT, checkpoint=ckpt))
    assert isinstance(ext, DenseFeatureExtractor)
    x = _images()
    out = ext(x)
    assert out.shape == (2, 32, 4, 4) and not out.requires_grad
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2, 4, 4))
    with torch.no_grad():
        ref = F.normalize(vit(x)[-1], dim=1)
    torch.testing.assert_close(out, ref)  # the saved weights were loaded
    ext.train()
    assert not ext.training and not ext.backbone.training
    assert not any(p.requires_grad for p in ext.parameters())
    ext.init_weights()  # must not re-initialise the loaded weights
    torch.testing.assert_close(ext(x), ref)
    assert ext.identity['checkpoint'] == ckpt
    # another input size: mmpretrain resizes the position embedding
    assert ext(_images(1, 48)).shape == (1, 32, 6, 6)


def test_missing_checkpoint_and_random_weights(tmp_path):
    missing = str(tmp_path / 'nowhere' / 'stego.pth')
    with pytest.raises(FileNotFoundError, match='never downloads') as info:
        DenseFeatureExtractor(VIT, checkpoint=missing)
    assert missing in str(info.value)
    with pytest.raises(FileNotFoundError, match='not a local file'):
        DenseFeatureExtractor(VIT, checkpoint='https://example.org/a.pth')
    with pytest.raises(ValueError, match='allow_random'):
        DenseFeatureExtractor(VIT)
    ext = DenseFeatureExtractor(VIT, allow_random=True)
    assert ext(_images()).shape == (2, 32, 4, 4)
    # a checkpoint of another model is refused
    bad = _save(tmp_path / 'bad.pth', {'backbone.foo': torch.zeros(1)})
    with pytest.raises(KeyError, match='does not match'):
        DenseFeatureExtractor(VIT, checkpoint=bad)


def test_head_from_checkpoint(tmp_path):
    vit = _vit()
    head = torch.nn.Conv2d(32, 8, 1)
    ckpt = _save(tmp_path / 'stego.pth', {
        **{f'backbone.{k}': v
           for k, v in vit.state_dict().items()},
        **{f'head.{k}': v
           for k, v in head.state_dict().items()}
    })
    ext = DenseFeatureExtractor(VIT, checkpoint=ckpt, head_channels=8)
    x = _images()
    out = ext(x)
    assert out.shape == (2, 8, 4, 4)
    with torch.no_grad():
        ref = F.normalize(head(vit(x)[-1]), dim=1)
    torch.testing.assert_close(out, ref)
    with pytest.raises(ValueError, match='output channels'):
        DenseFeatureExtractor(VIT, checkpoint=ckpt, head_channels=4)
    # head weights required unless random weights are allowed
    plain = _save(tmp_path / 'plain.pth', vit.state_dict())
    with pytest.raises(KeyError, match='head'):
        DenseFeatureExtractor(VIT, checkpoint=plain, head_channels=8)
    rand = DenseFeatureExtractor(
        VIT, checkpoint=plain, head_channels=8, allow_random=True)
    assert rand(x).shape == (2, 8, 4, 4)


def test_multiscale_flip_and_resnet_stage(tmp_path):
    vit = _vit()
    ckpt = _save(tmp_path / 'vit.pth', vit.state_dict())  # backbone-only
    x = _images()
    flip = DenseFeatureExtractor(VIT, checkpoint=ckpt, flip=True)
    with torch.no_grad():
        a = F.normalize(vit(x)[-1], dim=1)
        b = F.normalize(vit(x.flip(-1))[-1], dim=1).flip(-1)
    torch.testing.assert_close(flip(x), F.normalize(a + b, dim=1))
    ms = DenseFeatureExtractor(
        VIT, checkpoint=ckpt, scales=(0.5, 1.0, 1.5), flip=True)
    out = ms(x)
    assert out.shape == (2, 32, 4, 4)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2, 4, 4))
    assert not torch.allclose(out, flip(x))  # other scales contribute
    # without 1.0 the first scale's grid is brought back to scale 1.0
    assert DenseFeatureExtractor(
        VIT, checkpoint=ckpt, scales=(2.0, 0.5))(x).shape == (2, 32, 4, 4)

    resnet = dict(
        type='mmpretrain.ResNet',
        depth=18,
        stem_channels=8,
        base_channels=8,
        out_indices=(1, 2))
    torch.manual_seed(0)
    net = MODELS.build(resnet)
    net.eval()
    ckpt = _save(tmp_path / 'r18.pth', net.state_dict())
    ext = DenseFeatureExtractor(resnet, checkpoint=ckpt, out_index=0)
    with torch.no_grad():
        ref = F.normalize(net(x)[0], dim=1)
    torch.testing.assert_close(ext(x), ref)
    assert ref.shape == (2, 16, 4, 4)
