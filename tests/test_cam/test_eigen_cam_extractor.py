# Copyright (c) mmweak contributors.
import gc
import weakref

import numpy as np
import pytest
import torch
from mmengine.hub import get_config
from mmengine.registry import DefaultScope

from mmweak.cam import (EigenCAM, eigen_cam, maps_to_ori_shape, tokens_to_grid,
                        valid_mask)


def build_in_scope(scope, cfg):
    """Build a host-library model with its own default scope."""
    with DefaultScope.overwrite_default_scope(scope):
        if scope == 'mmpretrain':
            from mmpretrain.registry import MODELS
        elif scope == 'mmdet':
            import mmdet.models  # noqa: F401
            from mmdet.registry import MODELS
        else:
            import mmseg.models  # noqa: F401
            from mmseg.registry import MODELS
        return MODELS.build(cfg).eval()


def all_forward_hooks(model):
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) +
        len(m._backward_hooks) for m in model.modules())


@pytest.fixture(scope='module')
def classifier():
    cfg = get_config('mmpretrain::resnet/resnet18_8xb32_in1k.py').model
    cfg.backbone.out_indices = (2, 3)
    torch.manual_seed(0)
    return build_in_scope('mmpretrain', cfg)


@pytest.fixture(scope='module')
def vit():
    # DeiT-tiny (one class token) with its 12 blocks cut to 2 for speed
    cfg = get_config('mmpretrain::deit/deit-tiny_4xb256_in1k.py').model
    cfg.backbone.arch = dict(
        embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
    cfg.head.in_channels = 32
    torch.manual_seed(0)
    return build_in_scope('mmpretrain', cfg)


@pytest.fixture(scope='module')
def detector():
    cfg = get_config('mmdet::retinanet/retinanet_r18_fpn_1x_coco.py')
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    return build_in_scope('mmdet', cfg.model)


@pytest.fixture(scope='module')
def segmentor():
    cfg = get_config('mmseg::_base_/models/fcn_r50-d8.py').model
    cfg.pretrained = None
    cfg.backbone.update(depth=18, norm_cfg=dict(type='BN'))
    cfg.decode_head.update(
        in_channels=512, channels=16, num_classes=3, norm_cfg=dict(type='BN'))
    cfg.auxiliary_head = None
    torch.manual_seed(0)
    return build_in_scope('mmseg', cfg)


def test_classifier_maps_match_eigen_cam_of_the_layer_output(classifier):
    inputs = torch.randn(2, 3, 64, 64)
    maps = EigenCAM(classifier, ['backbone.layer4'])(inputs)
    assert maps.shape == (2, 64, 64)
    assert maps.min() >= 0 and torch.allclose(maps.amax(dim=(1, 2)),
                                              torch.ones(2))
    with torch.no_grad():
        feats = classifier.backbone(inputs)[-1]
    small = eigen_cam(feats)
    up = torch.nn.functional.interpolate(
        small[:, None], size=(64, 64), mode='bilinear',
        align_corners=False)[:, 0]
    up = (up - up.amin((1, 2), keepdim=True)) / (
        up.amax((1, 2), keepdim=True) - up.amin((1, 2), keepdim=True) + 1e-7)
    assert torch.allclose(maps, up, atol=1e-6)


def test_matches_pytorch_grad_cam_eigencam_up_to_sign(classifier):
    gradcam = pytest.importorskip('pytorch_grad_cam')
    svd = pytest.importorskip('pytorch_grad_cam.utils.svd_on_activations')

    class TensorModel(torch.nn.Module):

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(x, mode='tensor')

    torch.manual_seed(1)
    inputs = torch.randn(3, 3, 96, 96)
    ref_cam = gradcam.EigenCAM(TensorModel(classifier),
                               [classifier.backbone.layer4])
    ref_maps = ref_cam(inputs, targets=None)
    ref_acts = ref_cam.activations_and_grads.activations[0].numpy()
    ref_cam.activations_and_grads.release()
    ref_proj = torch.from_numpy(svd.get_2d_projection(ref_acts)).double()

    cam = EigenCAM(classifier, ['backbone.layer4'], center=True, sign='none')
    _, acts = cam.record(classifier, inputs, mode='tensor')
    assert np.allclose(acts['backbone.layer4'].numpy(), ref_acts)
    acts = {k: v.double() for k, v in acts.items()}
    (proj, mask), = cam.projections(acts, inputs.shape[-2:])
    signs = torch.sign((proj * ref_proj).sum(dim=(1, 2)))
    aligned = proj * signs[:, None, None]
    scale = aligned.abs().amax(dim=(1, 2), keepdim=True)
    # float32 reference SVD against our float64 path
    assert torch.all((aligned - ref_proj).abs() / scale <= 1e-4)
    maps = cam.maps_from_projections([(aligned, mask)], inputs.shape[-2:])
    assert np.abs(maps.float().numpy() - ref_maps).max() <= 1e-4
    # end to end (float32): each map is the reference's or its other lobe
    other = cam.maps_from_projections([(-aligned, mask)], inputs.shape[-2:])
    direct = cam(inputs).numpy()
    err_same = np.abs(direct - ref_maps).max(axis=(1, 2))
    err_other = np.abs(direct - other.float().numpy()).max(axis=(1, 2))
    assert np.all(np.minimum(err_same, err_other) <= 1e-4)


def test_hooks_exist_only_inside_the_scope(classifier):
    inputs = torch.randn(1, 3, 32, 32)
    before = all_forward_hooks(classifier)
    cam = EigenCAM(classifier, ['backbone.layer4', 'backbone.layer3'])
    cam(inputs)
    assert all_forward_hooks(classifier) == before
    with cam:
        assert all_forward_hooks(classifier) == before + 2
        first = cam(inputs)
        second = cam(inputs)
        assert torch.equal(first, second)
        assert not cam.recorder._records  # nothing kept between calls
    assert all_forward_hooks(classifier) == before
    with pytest.raises(RuntimeError, match='boom'):
        with cam:
            raise RuntimeError('boom')
    assert all_forward_hooks(classifier) == before


def test_no_reference_to_the_cam_or_activations_survives(classifier):
    inputs = torch.randn(1, 3, 32, 32)
    cam = EigenCAM(classifier, ['backbone.layer4'])
    with cam:
        _, acts = cam.record(classifier, inputs, mode='tensor')
    feats_ref = weakref.ref(acts['backbone.layer4'])
    cam_ref = weakref.ref(cam)
    del acts, cam
    gc.collect()
    assert feats_ref() is None
    assert cam_ref() is None


def test_several_layers_are_resized_and_averaged(classifier):
    inputs = torch.randn(2, 3, 64, 64)
    names = ['backbone.layer3', 'backbone.layer4']
    cam = EigenCAM(classifier, names)
    _, acts = cam.record(classifier, inputs, mode='tensor')
    maps = cam.maps_from_activations(acts, (64, 64))
    per_layer = [
        torch.nn.functional.interpolate(
            eigen_cam(acts[name])[:, None],
            size=(64, 64),
            mode='bilinear',
            align_corners=False) for name in names
    ]
    mean = torch.cat(per_layer, dim=1).mean(dim=1)
    low = mean.amin((1, 2), keepdim=True)
    high = mean.amax((1, 2), keepdim=True)
    assert maps.shape == (2, 64, 64)
    assert torch.allclose(maps, (mean - low) / (high - low + 1e-7),
                          atol=1e-6)


def test_backbone_tuple_output_gives_one_map_per_stage(classifier):
    inputs = torch.randn(1, 3, 64, 64)
    cam = EigenCAM(classifier, ['backbone'])
    _, acts = cam.record(classifier, inputs, mode='tensor')
    assert [f.shape[1] for f in cam.feature_maps(acts)] == [256, 512]


def test_unknown_layer_and_targets_raise(classifier):
    with pytest.raises(ValueError, match="no sub-module 'layer9'"):
        EigenCAM(classifier, ['backbone.layer9'])
    with pytest.raises(ValueError, match='fpn_mode'):
        EigenCAM(classifier, ['backbone'], fpn_mode='sum')
    with pytest.raises(ValueError, match='EigenGradCAM'):
        EigenCAM(classifier, ['backbone'])(torch.randn(1, 3, 32, 32),
                                           targets=[0])


def test_tokens_to_grid_drops_leading_and_trailing_extra_tokens():
    grid = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(1, 4, 6)
    tokens = grid.transpose(1, 2)  # (1, 6, 4) patch tokens of a 2x3 grid
    extra = torch.full((1, 1, 4), -1.)
    seq = torch.cat([extra, extra, tokens, extra], dim=1)
    out = tokens_to_grid(seq, (2, 3), prefix_tokens=2, suffix_tokens=1)
    assert torch.equal(out, grid.reshape(1, 4, 2, 3))
    with pytest.raises(ValueError, match='cannot reshape 9 tokens'):
        tokens_to_grid(seq, (3, 3), prefix_tokens=2, suffix_tokens=1)


def test_vit_tokens_are_reshaped_to_this_pass_patch_grid(vit):
    # a 96x64 input gives a 6x4 grid: sqrt(N) would be wrong
    inputs = torch.randn(2, 3, 96, 64)
    cam = EigenCAM(vit, ['backbone.layers.1'])
    _, acts = cam.record(vit, inputs, mode='tensor')
    tokens = acts['backbone.layers.1']
    assert tokens.shape == (2, 1 + 24, 32)
    (feats, ) = cam.feature_maps(acts)
    assert feats.shape == (2, 32, 6, 4)
    assert torch.equal(feats, tokens_to_grid(tokens, (6, 4), 1))
    maps = cam(inputs)
    assert maps.shape == (2, 96, 64)
    # the final norm is a valid target too (no gradient needed)
    assert EigenCAM(vit, ['backbone.ln1'])(inputs).shape == (2, 96, 64)


def test_vit_explicit_reshape_overrides_the_defaults(vit):
    inputs = torch.randn(1, 3, 64, 64)
    cam = EigenCAM(
        vit, ['backbone.layers.0'],
        reshape=dict(prefix_tokens=0, suffix_tokens=1,
                     patch_resolution=(4, 4)))
    _, acts = cam.record(vit, inputs, mode='tensor')
    (feats, ) = cam.feature_maps(acts)
    assert torch.equal(
        feats, tokens_to_grid(acts['backbone.layers.0'], (4, 4), 0, 1))
    with pytest.raises(ValueError, match='reshape'):
        EigenCAM(vit, ['backbone'], reshape=dict(cls_tokens=1))


def test_detector_fpn_levels_are_averaged_inside_the_valid_region(detector):
    from mmdet.structures import DetDataSample
    inputs = torch.randn(2, 3, 64, 96)
    samples = [
        DetDataSample(metainfo=dict(img_shape=(64, 96), ori_shape=(32, 48))),
        DetDataSample(metainfo=dict(img_shape=(40, 70), ori_shape=(80, 140)))
    ]
    before = all_forward_hooks(detector)
    cam = EigenCAM(detector, ['neck'])
    maps = cam(inputs, samples)
    assert all_forward_hooks(detector) == before
    assert maps.shape == (2, 64, 96)
    assert torch.all(maps[1, 40:] == 0) and torch.all(maps[1, :, 70:] == 0)
    assert torch.allclose(maps.amax(dim=(1, 2)), torch.ones(2))
    _, acts = cam.record(detector, inputs, samples, mode='tensor')
    assert len(cam.feature_maps(acts)) == 5  # P3-P7
    ori = maps_to_ori_shape(maps, samples)
    assert [tuple(m.shape) for m in ori] == [(32, 48), (80, 140)]
    concat = EigenCAM(detector, ['neck'], fpn_mode='concat')
    (feats, ) = concat.feature_maps(acts)
    assert feats.shape[1] == 5 * 256
    assert concat(inputs, samples).shape == (2, 64, 96)


def test_segmentor_backbone_and_decode_head_input(segmentor):
    inputs = torch.randn(2, 3, 64, 64)
    cam = EigenCAM(segmentor,
                   ['backbone.layer4', 'decode_head.conv_seg:input'])
    _, acts = cam.record(segmentor, inputs, mode='tensor')
    assert acts['decode_head.conv_seg:input'].shape[1] == 16
    maps = cam(inputs)
    assert maps.shape == (2, 64, 64)
    assert torch.all(maps >= 0) and torch.all(maps <= 1)
    assert all_forward_hooks(segmentor) == 0


def test_valid_mask_covers_the_image_at_every_stride():
    mask = valid_mask([(64, 96), (40, 70)], (64, 96), (8, 12))
    assert mask.shape == (2, 8, 12)
    assert mask[0].all()
    assert mask[1].sum(dim=0).max() == 5 and mask[1].sum(dim=1).max() == 9
    assert valid_mask([(64, 96)], (64, 96), (8, 12)) is None


def test_distilled_deit_drops_both_leading_tokens():
    cfg = get_config('mmpretrain::deit/deit-tiny-distilled_4xb256_in1k.py')
    cfg = cfg.model
    cfg.backbone.arch = dict(
        embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64)
    cfg.head.in_channels = 32
    model = build_in_scope('mmpretrain', cfg)
    assert model.backbone.num_extra_tokens == 2
    inputs = torch.randn(1, 3, 64, 48)
    cam = EigenCAM(model, ['backbone.layers.0'])
    _, acts = cam.record(model, inputs, mode='tensor')
    (feats, ) = cam.feature_maps(acts)
    assert torch.equal(feats,
                       tokens_to_grid(acts['backbone.layers.0'], (4, 3), 2))
