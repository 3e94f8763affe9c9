# Copyright (c) mmweak contributors.
"""tools/model_converters/deit_to_sat.py: official (timm-style) DeiT and SAT
checkpoints to mmpretrain / mmweak keys."""
import subprocess
import sys

import pytest
import torch

from mmweak.registry import MODELS
from mmweak.testing import load_tool_script

ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


@pytest.fixture(scope='module')
def tool(repo_root):
    return load_tool_script(repo_root, 'tools/model_converters/deit_to_sat.py')


def timm_deit_state(dim=32, depth=2, grid=4, classes=10, sat=False,
                    distilled=False):
    """A state dict with the key names and shapes of the official DeiT
    (and released SAT) checkpoints."""
    g = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=g)

    extra = 2 if distilled else 1
    sd = {
        'cls_token': r(1, 1, dim),
        'pos_embed': r(1, grid * grid + extra, dim),
        'patch_embed.proj.weight': r(dim, 3, 8, 8),
        'patch_embed.proj.bias': r(dim),
    }
    for i in range(depth):
        p = f'blocks.{i}.'
        sd.update({
            p + 'norm1.weight': r(dim), p + 'norm1.bias': r(dim),
            p + 'attn.qkv.weight': r(3 * dim, dim),
            p + 'attn.qkv.bias': r(3 * dim),
            p + 'attn.proj.weight': r(dim, dim), p + 'attn.proj.bias': r(dim),
            p + 'norm2.weight': r(dim), p + 'norm2.bias': r(dim),
            p + 'mlp.fc1.weight': r(2 * dim, dim),
            p + 'mlp.fc1.bias': r(2 * dim),
            p + 'mlp.fc2.weight': r(dim, 2 * dim), p + 'mlp.fc2.bias': r(dim),
        })
    sd.update({'norm.weight': r(dim), 'norm.bias': r(dim)})
    if sat:
        sd.update({
            'loc_token': r(1, 1, dim), 'loc_embed': r(1, 1, dim),
            'head.weight': r(classes, dim, 3, 3), 'head.bias': r(classes),
            'weight': r(1, 1, 3, 3),
        })
    else:
        sd.update({'head.weight': r(classes, dim), 'head.bias': r(classes)})
    if distilled:
        sd.update({
            'dist_token': r(1, 1, dim),
            'head_dist.weight': r(classes, dim), 'head_dist.bias': r(classes)
        })
    return sd


def build_sat():
    return MODELS.build(
        dict(
            type='WSOLClassifier',
            backbone=dict(
                type='SATVisionTransformer', arch=ARCH, img_size=32,
                patch_size=8, num_gated_blocks=1),
            head=dict(type='SATHead', num_classes=10, in_channels=32)))


def test_deit_keys_map_to_mmpretrain_names(tool):
    src = timm_deit_state()
    dst = tool.convert_deit(src)
    assert len(dst) == len(src)
    torch.testing.assert_close(dst['backbone.layers.1.attn.qkv.weight'],
                               src['blocks.1.attn.qkv.weight'])
    torch.testing.assert_close(dst['backbone.layers.0.ffn.layers.0.0.bias'],
                               src['blocks.0.mlp.fc1.bias'])
    torch.testing.assert_close(dst['backbone.layers.0.ffn.layers.1.weight'],
                               src['blocks.0.mlp.fc2.weight'])
    torch.testing.assert_close(dst['backbone.ln1.weight'], src['norm.weight'])
    torch.testing.assert_close(dst['backbone.patch_embed.projection.weight'],
                               src['patch_embed.proj.weight'])
    torch.testing.assert_close(dst['head.layers.head.weight'],
                               src['head.weight'])


def test_converted_deit_loads_into_sat_with_only_new_params_missing(tool):
    dst = tool.convert_deit(timm_deit_state())
    model = build_sat()
    res = model.load_state_dict(dst, strict=False)
    assert set(res.missing_keys) == {
        'backbone.loc_token', 'backbone.loc_embed', 'head.conv.weight',
        'head.conv.bias'
    }
    # the linear DeiT classifier is the only key SAT does not use
    assert res.unexpected_keys == [
        'head.layers.head.weight', 'head.layers.head.bias'
    ]
    # and the backbone alone: exactly SAT's two new parameters missing
    backbone = {
        k[len('backbone.'):]: v
        for k, v in dst.items() if k.startswith('backbone.')
    }
    res = model.backbone.load_state_dict(backbone, strict=False)
    assert set(res.missing_keys) == {'loc_token', 'loc_embed'}
    assert res.unexpected_keys == []


def test_released_sat_checkpoint_loads_strictly_and_drops_kernel(tool):
    src = timm_deit_state(sat=True)
    dst = tool.convert_deit(src)
    assert 'weight' not in dst and 'head.conv.weight' in dst
    model = build_sat()
    model.load_state_dict(dst, strict=True)
    torch.testing.assert_close(model.backbone.loc_embed, src['loc_embed'])
    torch.testing.assert_close(model.head.conv.weight, src['head.weight'])


def test_distilled_deit_drops_distillation_token(tool):
    src = timm_deit_state(distilled=True)
    dst = tool.convert_deit(src)
    assert not any('dist' in k for k in dst)
    assert dst['backbone.pos_embed'].shape == (1, 17, 32)
    torch.testing.assert_close(dst['backbone.pos_embed'][:, 0],
                               src['pos_embed'][:, 0])
    torch.testing.assert_close(dst['backbone.pos_embed'][:, 1:],
                               src['pos_embed'][:, 2:])


def test_unknown_checkpoint_raises_clear_error(tool):
    with pytest.raises(KeyError, match='timm-style DeiT'):
        tool.convert_deit({'conv1.weight': torch.zeros(1)})
    src = timm_deit_state()
    src['blocks.0.foo'] = torch.zeros(1)
    with pytest.raises(KeyError, match='blocks.0.foo'):
        tool.convert_deit(src)


def test_cli_writes_a_pretrained_checkpoint_sat_can_init_from(
        tmp_path, repo_root, tool_env):
    src = tmp_path / 'deit_official.pth'
    torch.save({'model': timm_deit_state()}, src)
    dst = tmp_path / 'out' / 'deit_mm.pth'
    subprocess.run([
        sys.executable, 'tools/model_converters/deit_to_sat.py',
        str(src), str(dst)
    ], cwd=repo_root, env=tool_env, check=True, capture_output=True)
    backbone = MODELS.build(
        dict(
            type='SATVisionTransformer', arch=ARCH, img_size=32, patch_size=8,
            num_gated_blocks=1,
            init_cfg=dict(
                type='Pretrained', checkpoint=str(dst), prefix='backbone')))
    backbone.init_weights()
    torch.testing.assert_close(backbone.layers[1].attn.proj.bias,
                               timm_deit_state()['blocks.1.attn.proj.bias'])
