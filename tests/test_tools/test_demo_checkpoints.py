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
    'configs/sat/sat_deit-tiny_synthetic.py',
    'configs/sat/cam_deit-tiny_synthetic.py',
])
def test_row_configs_load_every_backbone_weight(config):
    from mmweak.registry import MODELS
    from mmweak.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(osp.join(ROOT, config))
    init = cfg.model.backbone.init_cfg
    assert init['type'] == 'Pretrained' and init['prefix'] == 'backbone'
    path = osp.join(ROOT, init['checkpoint'])
    state = load_checkpoint_safely(path, 'cpu')['state_dict']
    model = MODELS.build(cfg.model)
    own = model.backbone.state_dict()
    loaded = {k[len('backbone.'):]: v for k, v in state.items()}
    # every pretrained tensor has a home of the same shape
    assert set(loaded) <= set(own), set(loaded) - set(own)
    for k, v in loaded.items():
        assert own[k].shape == v.shape, k
    cfg.model.backbone.init_cfg['checkpoint'] = path
    model = MODELS.build(cfg.model)
    model.init_weights()
    own = model.backbone.state_dict()
    for k, v in loaded.items():
        assert (own[k] == v).all(), k
