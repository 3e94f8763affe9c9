# Copyright (c) mmweak contributors.
"""Every config in configs/dtmr builds: the grounding configs build their
model, data (on a fixture in the official format) and evaluator and score
a prediction; the embedded one also runs a training step; the reference
schedule is DTMR's; the feature-extraction configs build their detector."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper

from mmweak.registry import DATASETS, METRICS, MODELS
from mmweak.testing import (load_tool_script, make_refcoco_root,
                            write_random_region_features)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
GROUNDING = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', 'dtmr', 'dtmr*.py')))
FEATS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', 'dtmr', 'feats_*.py')))


def test_all_dtmr_configs_are_covered():
    every = glob.glob(osp.join(ROOT, 'configs', 'dtmr', '*.py'))
    assert len(every) == len(GROUNDING) + len(FEATS) >= 6


def _point_at_fixture(loader, root, cache):
    ds = loader.dataset
    ds.update(data_root=root['data_root'], img_prefix=root['img_prefix'])
    ds.pipeline[0]['cache_dir'] = cache
    if ds.get('split_by') == 'umd':
        ds.split_by = 'unc'  # the fixture ships refs(unc).p
    ds.split = 'train'
    return DATASETS.build(ds)


@pytest.mark.parametrize('config', GROUNDING)
def test_grounding_config(config, tmp_path):
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert cfg.default_scope == 'mmweak'
    root = make_refcoco_root(str(tmp_path))
    cache = str(tmp_path / 'feats')
    dim = cfg.model.head.vis_dim
    write_random_region_features(cache, root['data_root'], dim=dim)
    cfg.model.word_embedding.vocab = ['man', 'left', 'car']
    if 'synthetic' not in config:
        # the reference sizes are slow to build; tiny ones suffice here
        cfg.model.head.update(word_dim=8, loc_dim=8, hidden=8)
        cfg.model.word_embedding.dim = 8
        opt = cfg.optim_wrapper.optimizer
        assert (opt.type, opt.lr, opt.betas, opt.weight_decay) == \
            ('Adam', 1.26e-5, (0.8, 0.999), 5e-4)
        assert cfg.optim_wrapper.clip_grad == dict(type='value',
                                                   clip_value=0.1)
        assert cfg.train_cfg.max_iters == 150001
        assert cfg.train_cfg.val_interval == 10000
        sched = cfg.param_scheduler[0]
        assert sched.begin == 30000 and sched.gamma**150000 == \
            pytest.approx(0.1)
        assert cfg.default_hooks.checkpoint.save_best == 'grounding/acc'
        assert cfg.randomness.seed == 24
        assert cfg.model.head.attn_norm == 'raw'
    model = MODELS.build(cfg.model)
    ds = _point_at_fixture(cfg.test_dataloader, root, cache)
    batch = pseudo_collate([ds[i] for i in range(len(ds))])
    if 'synthetic' in config:
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
        log = model.train_step(batch, optim)
        assert torch.isfinite(log['loss'])
    model.eval()
    with torch.no_grad():
        outputs = model.test_step(batch)
    metric = METRICS.build(cfg.test_evaluator)
    metric.process(batch, [o.to_dict() for o in outputs])
    res = metric.compute_metrics(metric.results)
    assert 0 <= res['acc'] <= 100


@pytest.mark.parametrize('config', FEATS)
def test_feature_config_builds_detector(config):
    tool = load_tool_script(ROOT,
                            'tools/dtmr/extract_region_features.py')
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert cfg.feature_extraction.dataset.type == 'RefCOCOGroundingDataset'
    det, _ = tool.build_detector(cfg, None)
    assert hasattr(det.roi_head, 'bbox_roi_extractor')
