# Copyright (c) mmweak contributors.
"""The committed demo backbones: checksums, safe loading, and the row
configs that start from them."""
import hashlib
import os.path as osp

import pytest
from mmengine.config import Config

from mmweak.utils.checkpoint import load_checkpoint_safely

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CKPT_DIR = osp.join(ROOT, 'checkpoints', 'demo')


def _sums():
    with open(osp.join(CKPT_DIR, 'SHA256SUMS')) as f:
        return dict(reversed(line.split()) for line in f if line.strip())


def test_checksums_match_committed_files():
    sums = _sums()
    assert set(sums) == {'resnet50-w16_synthetic-cls.pth',
                         'deit-tiny-d64_synthetic-cls.pth'}
    for name, digest in sums.items():
        with open(osp.join(CKPT_DIR, name), 'rb') as f:
            assert hashlib.sha256(f.read()).hexdigest() == digest, name


@pytest.mark.parametrize('config', [
    'configs/cam/cam_resnet50_synthetic.py',
    'configs/bas/bas_resnet50_synthetic.py',
])
def test_resnet_rows_init_from_the_backbone(config):
    """The ResNet-50 rows name the committed backbone in their Pretrained
    init_cfg, and every pretrained tensor loads (safe loader, mmengine's
    Pretrained init with prefix 'backbone') into the row's backbone."""
    from mmweak.registry import MODELS
    from mmweak.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(osp.join(ROOT, config))
    init = cfg.model.backbone.init_cfg
    assert init.type == 'Pretrained' and init.prefix == 'backbone'
    # relative to the config file, not to the working directory
    path = osp.normpath(init.checkpoint)
    assert path == osp.join(CKPT_DIR, 'resnet50-w16_synthetic-cls.pth')
    state = load_checkpoint_safely(path, 'cpu')['state_dict']
    assert all(k.startswith('backbone.') for k in state)
    loaded = {k[len('backbone.'):]: v for k, v in state.items()}
    model = MODELS.build(cfg.model)
    own = model.backbone.state_dict()
    # every pretrained tensor has a home of the same shape
    assert set(loaded) <= set(own), set(loaded) - set(own)
    for k, v in loaded.items():
        assert own[k].shape == v.shape, k
    model.init_weights()
    own = model.backbone.state_dict()
    for k, v in loaded.items():
        assert (own[k] == v).all(), k


@pytest.mark.parametrize('config', [
    'configs/sat/sat_deit-tiny_synthetic.py',
    'configs/sat/cam_deit-tiny_synthetic.py',
])
def test_deit_rows_load_backbone_and_classifier(config):
    """The DeiT rows start (``load_from``) from the committed DeiT: its
    backbone and its classifier, which has the shape of both rows' heads.
    Only SAT's own parts (spatial token, its embedding, gates) are not in
    the checkpoint."""
    from mmengine.runner import load_checkpoint

    from mmweak.registry import MODELS
    from mmweak.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(osp.join(ROOT, config))
    path = osp.normpath(cfg.load_from)  # relative to the config file
    assert path == osp.join(CKPT_DIR, 'deit-tiny-d64_synthetic-cls.pth')
    state = load_checkpoint_safely(path, 'cpu')['state_dict']
    assert {k.split('.')[0] for k in state} == {'backbone', 'head'}
    model = MODELS.build(cfg.model)
    model.init_weights()
    own = model.state_dict()
    assert set(state) <= set(own), set(state) - set(own)
    load_checkpoint(model, path, map_location='cpu', strict=False,
                    logger='silent')
    own = model.state_dict()
    for k, v in state.items():
        assert own[k].shape == v.shape and (own[k] == v).all(), k
    fresh = set(own) - set(state)
    assert all('loc_' in k or 'gate' in k for k in fresh), sorted(fresh)
