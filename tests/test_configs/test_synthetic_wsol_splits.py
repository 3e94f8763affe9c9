# Copyright (c) mmweak contributors.
"""Nothing is tuned on `test`: every SyntheticWSOL WSOL config validates on
the `val` split and tests on the `test` split."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ROWS = [
    'configs/cam/cam_resnet50_synthetic.py',
    'configs/bas/bas_resnet50_synthetic.py',
    'configs/eigencam/eigencam_resnet50_synthetic.py',
    'configs/sat/cam_deit-tiny_synthetic.py',
    'configs/sat/sat_deit-tiny_synthetic.py',
]


def _is_synthetic_wsol(cfg):
    evaluator = cfg.get('test_evaluator') or {}
    loader = cfg.get('test_dataloader') or {}
    if not isinstance(evaluator, dict) or not isinstance(loader, dict):
        return False
    return (str(evaluator.get('type', '')).endswith('WSOLMetric')
            and (loader.get('dataset') or {}).get('type') == 'SyntheticWSOL')


def _synthetic_wsol_configs():
    found = []
    for path in sorted(
            glob.glob(osp.join(ROOT, 'configs', '*', '*synthetic*.py'))):
        if _is_synthetic_wsol(Config.fromfile(path)):
            found.append(osp.relpath(path, ROOT))
    return found


def test_every_main_job_row_is_checked():
    assert set(ROWS) <= set(_synthetic_wsol_configs())


@pytest.mark.parametrize('config', _synthetic_wsol_configs())
def test_val_split_differs_from_test_split(config):
    cfg = Config.fromfile(osp.join(ROOT, config))
    val = cfg.val_dataloader.dataset
    test = cfg.test_dataloader.dataset
    assert val.split == 'val' and test.split == 'test'
    assert val != test
    # same generator (seed, classes, size): only the split's stream differs
    for key in ('seed', 'num_classes', 'img_size', 'type'):
        assert val[key] == test[key], key
    # the test metric takes tau from the config or a calibrated file, never
    # from the test data; the val metric is the same WSOLMetric
    assert cfg.val_evaluator == cfg.test_evaluator
    assert 'thr_file' not in cfg.test_evaluator
