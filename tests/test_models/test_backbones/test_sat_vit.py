# Copyright (c) mmweak contributors.
import pytest
import torch
from mmpretrain.models.backbones import VisionTransformer

from mmweak.models.backbones import SATVisionTransformer

# a small arch keeps the tests fast: 6 layers, the last 3 gated by default
TINY_ARCH = dict(
    embed_dims=32, num_layers=6, num_heads=2, feedforward_channels=64)


def build(**kwargs) -> SATVisionTransformer:
    cfg = dict(arch=TINY_ARCH, img_size=32, patch_size=8, drop_path_rate=0.)
    cfg.update(kwargs)
    torch.manual_seed(0)
    model = SATVisionTransformer(**cfg)
    model.init_weights()
    model.eval()
    return model


def test_outputs_have_patch_grid_shapes_for_any_input_size():
    model = build()
    feat, maps = model(torch.randn(2, 3, 40, 56))
    assert feat.shape == (2, 32, 5, 7)
    assert maps.shape == (2, 3, 5, 7)
    assert ((maps > 0) & (maps < 1)).all()


def test_deit_tiny_arch_has_sat_token_and_deit_pos_embed():
    model = SATVisionTransformer(arch='deit-tiny', img_size=32, patch_size=16)
    assert model.embed_dims == 192 and model.num_layers == 12
    assert model.gated_layer_ids == [9, 10, 11]
    assert model.loc_token.shape == (1, 1, 192)
    assert model.loc_embed.shape == (1, 1, 192)
    # pos_embed covers cls + patches only (as in DeiT checkpoints)
    assert model.pos_embed.shape == (1, 1 + 4, 192)
    for arch in ('deit-small', 'deit-base'):
        assert arch in SATVisionTransformer.arch_zoo


def test_return_all_maps_adds_every_layer_and_matches_gated_ones():
    model = build(return_all_maps=True)
    feat, gated, all_maps = model(torch.randn(2, 3, 32, 32))
    assert all_maps.shape == (2, 6, 4, 4)
    torch.testing.assert_close(all_maps[:, 3:], gated)


def test_num_gated_blocks_is_configurable():
    assert build().gated_layer_ids == [3, 4, 5]
    model = build(num_gated_blocks=5)
    assert model.gated_layer_ids == [1, 2, 3, 4, 5]
    assert model(torch.randn(1, 3, 32, 32))[1].shape == (1, 5, 4, 4)
    with pytest.raises(ValueError, match='num_gated_blocks'):
        build(num_gated_blocks=7)


def test_fixed_arguments_and_bad_attn_impl_raise():
    with pytest.raises(ValueError, match='out_type'):
        build(out_type='cls_token')
    with pytest.raises(ValueError, match='attn_impl'):
        build(attn_impl='flash')


def _layer_outputs(model, x):
    outs = []
    hooks = [
        layer.register_forward_hook(lambda m, i, o: outs.append(o[0]))
        for layer in model.layers
    ]
    model(x)
    for h in hooks:
        h.remove()
    return outs


def test_gating_changes_only_the_last_n_blocks():
    gated = build(num_gated_blocks=3)
    ungated = build(num_gated_blocks=0)
    ungated.load_state_dict(gated.state_dict())
    x = torch.randn(2, 3, 32, 32)
    out_g = _layer_outputs(gated, x)
    out_u = _layer_outputs(ungated, x)
    for i in range(3):
        torch.testing.assert_close(out_g[i], out_u[i], rtol=0, atol=0)
    for i in range(3, 6):
        assert not torch.allclose(out_g[i], out_u[i], atol=1e-4), i


def test_attention_probs_are_gated_along_keys_without_renormalising():
    model = build()
    layer = model.layers[-1]
    x = torch.randn(2, 18, 32)  # cls + 16 patches + loc
    plain, fg = layer.attention_probs(x, gated=False)
    gated, fg2 = layer.attention_probs(x, gated=True)
    torch.testing.assert_close(plain.sum(-1), torch.ones(2, 2, 18))
    torch.testing.assert_close(gated, plain * fg[:, None, None, :])
    torch.testing.assert_close(fg, fg2)
    assert (gated.sum(-1) < 1).all()
    # m is the sigmoid of the head-averaged logits of the loc query
    q, k, _ = layer._qkv(x)  # (B, heads=2, N, d_h=16)
    loc_logits = torch.einsum('bhd,bhnd->bhn', q[:, :, -1], k) / 16**0.5
    torch.testing.assert_close(fg, loc_logits.mean(1).sigmoid())


def test_map_is_mean_input_of_patch_keys_only():
    model = build()
    x = torch.randn(2, 3, 32, 32)
    inputs = {}
    hooks = [
        layer.register_forward_pre_hook(
            lambda m, args, i=i: inputs.__setitem__(i, args[0]))
        for i, layer in enumerate(model.layers)
    ]
    _, maps = model(x)
    for h in hooks:
        h.remove()
    for j, i in enumerate(model.gated_layer_ids):
        layer = model.layers[i]
        _, fg = layer.attention_probs(layer.ln1(inputs[i]), gated=True)
        assert fg.shape == (2, 18)
        # drop cls (index 0) and loc (index -1), row-major patch grid
        torch.testing.assert_close(maps[:, j], fg[:, 1:-1].reshape(2, 4, 4))


@pytest.mark.parametrize('training', [False, True])
def test_sdpa_fast_path_matches_explicit_attention(training):
    fast = build(attn_impl='sdpa', return_all_maps=True)
    slow = build(attn_impl='explicit', return_all_maps=True)
    slow.load_state_dict(fast.state_dict())
    fast.train(training)
    slow.train(training)
    x = torch.randn(2, 3, 32, 40)
    outs_fast = fast(x)
    outs_slow = slow(x)
    for a, b in zip(outs_fast, outs_slow):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # gradients agree as well (the gate is differentiable, nothing detached)
    (outs_fast[0].square().mean() + outs_fast[1].mean()).backward()
    (outs_slow[0].square().mean() + outs_slow[1].mean()).backward()
    for (name, p), q in zip(fast.named_parameters(), slow.parameters()):
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-3, atol=1e-5)
    assert fast.loc_token.grad.abs().sum() > 0
    assert fast.loc_embed.grad.abs().sum() > 0


def _mmpretrain_deit_checkpoint(tmp_path, img_size=32):
    torch.manual_seed(1)
    deit = VisionTransformer(
        arch=TINY_ARCH, img_size=img_size, patch_size=8)
    deit.init_weights()
    state = {f'backbone.{k}': v for k, v in deit.state_dict().items()}
    state['head.layers.head.weight'] = torch.randn(10, 32)
    state['head.layers.head.bias'] = torch.randn(10)
    path = tmp_path / 'deit.pth'
    torch.save(dict(state_dict=state, meta=dict()), path)
    return path, deit


def test_mmpretrain_deit_state_dict_loads_with_only_sat_params_missing(
        tmp_path):
    _, deit = _mmpretrain_deit_checkpoint(tmp_path)
    model = build()
    result = model.load_state_dict(deit.state_dict(), strict=False)
    assert set(result.missing_keys) == {'loc_token', 'loc_embed'}
    assert result.unexpected_keys == []


def test_pretrained_init_cfg_loads_deit_weights(tmp_path):
    path, deit = _mmpretrain_deit_checkpoint(tmp_path, img_size=48)
    model = build(
        init_cfg=dict(
            type='Pretrained', checkpoint=str(path), prefix='backbone'))
    ref = deit.state_dict()
    ours = model.state_dict()
    for key in ('layers.3.attn.qkv.weight', 'layers.5.ffn.layers.1.bias',
                'patch_embed.projection.weight', 'ln1.weight', 'cls_token'):
        torch.testing.assert_close(ours[key], ref[key])
    # a 6x6-grid checkpoint is resized to the model's 4x4 grid
    assert ours['pos_embed'].shape == (1, 17, 32)
    # new parameters are initialised (truncated normal, std 0.02)
    assert 0 < model.loc_token.std() < 0.05
    assert 0 < model.loc_embed.std() < 0.05


def test_pretrained_init_cfg_keeps_a_sat_checkpoints_token(tmp_path):
    """A SAT checkpoint given through init_cfg keeps its spatial token and
    token embedding: init_weights must not draw them again after loading."""
    trained = build()
    with torch.no_grad():
        trained.loc_token.fill_(0.7)
        trained.loc_embed.fill_(-0.3)
    path = tmp_path / 'sat.pth'
    torch.save(dict(state_dict={f'backbone.{k}': v
                                for k, v in trained.state_dict().items()}),
               path)
    model = build(
        init_cfg=dict(type='Pretrained', checkpoint=str(path),
                      prefix='backbone'))
    torch.testing.assert_close(model.loc_token, trained.loc_token)
    torch.testing.assert_close(model.loc_embed, trained.loc_embed)
    torch.testing.assert_close(model.state_dict()['layers.2.attn.qkv.weight'],
                               trained.state_dict()['layers.2.attn.qkv.weight'])
