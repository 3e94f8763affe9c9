# Copyright (c) mmweak contributors.
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mmweak.testing import load_tool_script

CONFIG = """
default_scope = 'mmweak'
model = dict(
    type='WSOLClassifier',
    data_preprocessor=dict(
        type='mmpretrain.ClsDataPreprocessor',
        num_classes=3,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='mmpretrain.ResNet', depth=18, strides=(1, 2, 2, 1),
        out_indices=(3, )),
    head=dict(type='CAMHead', num_classes=3, in_channels=512))
test_pipeline = [
    dict(type='mmcv.LoadImageFromFile'),
    dict(type='mmweak.LoadWSOLAnnotations'),
    dict(type='mmcv.Resize', scale=(48, 40)),
    dict(type='mmpretrain.PackInputs'),
]
"""


def load_tool(repo_root):
    return load_tool_script(repo_root, 'tools/analysis_tools/vis_cam.py')


@pytest.fixture
def setup(tmp_path):
    from mmengine.config import Config

    from mmweak.registry import MODELS
    cfg_path = tmp_path / 'cfg.py'
    cfg_path.write_text(CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(cfg_path)).model)
    ckpt = tmp_path / 'model.pth'
    torch.save({'state_dict': model.state_dict()}, str(ckpt))
    img_dir = tmp_path / 'images'
    img_dir.mkdir()
    rng = np.random.default_rng(0)
    for name in ('b.png', 'a.jpg', 'c.png'):
        img = rng.integers(0, 60, (30, 50, 3), dtype=np.uint8)
        img[5:20, 10:30] = 230
        cv2.imwrite(str(img_dir / name), img)
    (img_dir / 'notes.txt').write_text('not an image')
    return str(cfg_path), str(ckpt), str(img_dir)


def test_directory_gives_one_overlay_per_image(repo_root, setup, tmp_path):
    cfg, ckpt, img_dir = setup
    tool = load_tool(repo_root)
    out_dir = str(tmp_path / 'out')
    written = tool.main([
        cfg, ckpt, img_dir, '--target-layers', 'backbone.layer4',
        '--out-dir', out_dir
    ])
    assert [osp.basename(f) for f in written] == ['a.png', 'b.png', 'c.png']
    for path in written:
        drawn = cv2.imread(path)
        # the network's view: the test pipeline resizes to 48 x 40 (w x h)
        assert drawn.shape == (40, 48, 3)
    plain = cv2.resize(cv2.imread(osp.join(img_dir, 'b.png')), (48, 40))
    assert np.abs(cv2.imread(written[1]).astype(int) - plain).mean() > 1


def test_checkpoint_changes_the_maps(repo_root, setup, tmp_path):
    cfg, ckpt, img_dir = setup
    tool = load_tool(repo_root)
    image = osp.join(img_dir, 'a.jpg')
    args = ['--target-layers', 'backbone.layer4', '--img-size', '32', '32']
    first = tool.main([cfg, ckpt, image, '--out-dir',
                       str(tmp_path / 'o1')] + args)
    again = tool.main([cfg, ckpt, image, '--out-dir',
                       str(tmp_path / 'o2')] + args)
    assert np.array_equal(cv2.imread(first[0]), cv2.imread(again[0]))
    assert cv2.imread(first[0]).shape == (32, 32, 3)
    torch.manual_seed(5)
    state = torch.load(ckpt, weights_only=True)
    state['state_dict'] = {
        k: torch.randn_like(v) if k.startswith('backbone.layer4') and
        v.is_floating_point() and v.dim() == 4 else v
        for k, v in state['state_dict'].items()
    }
    other = str(tmp_path / 'other.pth')
    torch.save(state, other)
    changed = tool.main([cfg, other, image, '--out-dir',
                         str(tmp_path / 'o3')] + args)
    assert not np.array_equal(cv2.imread(first[0]), cv2.imread(changed[0]))


def test_missing_inputs_raise_clear_errors(repo_root, setup, tmp_path):
    cfg, ckpt, _ = setup
    tool = load_tool(repo_root)
    empty = tmp_path / 'empty'
    empty.mkdir()
    out_dir = str(tmp_path / 'never')
    with pytest.raises(FileNotFoundError, match='no image'):
        tool.main([
            cfg, ckpt, str(empty), '--target-layers', 'backbone', '--out-dir',
            out_dir
        ])
    with pytest.raises(ValueError, match="no sub-module 'layer7'"):
        tool.main([
            cfg, ckpt, str(tmp_path / 'images'), '--target-layers',
            'backbone.layer7', '--out-dir', out_dir
        ])
    assert not osp.exists(out_dir)


def test_directory_shows_a_progress_bar(repo_root, setup, tmp_path,
                                        capsys):
    cfg, ckpt, img_dir = setup
    tool = load_tool(repo_root)
    out_dir = str(tmp_path / 'cli')
    tool.main([
        cfg, ckpt, img_dir, '--target-layers', 'backbone.layer4', '--out-dir',
        out_dir, '--center', '--sign', 'max_abs'
    ])
    assert '3/3' in capsys.readouterr().out
    assert sorted(os.listdir(out_dir)) == ['a.png', 'b.png', 'c.png']
