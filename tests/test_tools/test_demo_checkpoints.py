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


@pytest.mark.parametrize('config,name', [
    ('configs/cam/cam_resnet50_synthetic.py',
     'resnet50-w16_synthetic-cls.pth'),
    ('configs/bas/bas_resnet50_synthetic.py',
     'resnet50-w16_synthetic-cls.pth'),
    ('configs/sat/sat_deit-tiny_synthetic.py',
     'deit-tiny-d64_synthetic-cls.pth'),
    ('configs/sat/cam_deit-tiny_synthetic.py',
     'deit-tiny-d64_synthetic-cls.pth'),
])
def test_backbones_load_into_the_row_models(config, name):
    """Every pretrained tensor loads (safe loader, mmengine's Pretrained
    init with prefix 'backbone') into the backbone of a main-job row."""
    from mmweak.registry import MODELS
    from mmweak.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(osp.join(ROOT, config))
    path = osp.join(CKPT_DIR, name)
    state = load_checkpoint_safely(path, 'cpu')['state_dict']
    loaded = {k[len('backbone.'):]: v for k, v in state.items()}
    cfg.model.backbone.init_cfg = dict(
        type='Pretrained', checkpoint=path, prefix='backbone')
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
