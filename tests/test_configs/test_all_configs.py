# Copyright (c) mmweak contributors.
"""Every config in configs/ builds, loads data through its own pipelines
(from fixtures in the official on-disk formats), runs a training step when it
trains, predicts, and is scored by its own evaluator."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper

from mmweak.registry import DATASETS, METRICS, MODELS
from mmweak.testing import (make_cub_root, make_ilsvrc_root, make_voc_root,
                            make_wsoleval_root)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# Configs whose model or data this generic test cannot drive are built,
# trained and scored by a dedicated test instead (pattern -> test file).
COVERED_ELSEWHERE = {
    'configs/wsss/deeplab*.py': 'tests/test_configs/test_wsss_seg_configs.py',
    'configs/wsss/pipeline_*.py': 'tests/test_tools/test_run_pipeline.py',
    'configs/irn/*.py': 'tests/test_models/test_wsss/test_irnet.py',
    'configs/mars/*.py': 'tests/test_configs/test_mars_configs.py',
    'configs/dtmr/*.py': 'tests/test_configs/test_dtmr_configs.py',
    'configs/point_detr3d/*.py':
    'tests/test_configs/test_point_detr3d_configs.py',
}
_ELSEWHERE = {
    osp.relpath(p, ROOT)
    for pattern in COVERED_ELSEWHERE
    for p in glob.glob(osp.join(ROOT, pattern))
}
CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p and osp.relpath(p, ROOT) not in _ELSEWHERE)


def test_configs_are_found():
    assert len(CONFIGS) > 0


@pytest.mark.parametrize('pattern', sorted(COVERED_ELSEWHERE))
def test_configs_left_out_here_have_their_own_test(pattern):
    assert glob.glob(osp.join(ROOT, pattern)), pattern
    assert osp.isfile(osp.join(ROOT, COVERED_ELSEWHERE[pattern]))


def test_pipeline_configs_name_existing_stage_configs():
    for path in glob.glob(osp.join(ROOT, 'configs', 'wsss', 'pipeline_*.py')):
        cfg = Config.fromfile(path)
        stages = [cfg.stage_a.config, cfg.irn.config, cfg.segmenter.pseudo,
                  cfg.segmenter.full]
        for stage in stages:
            assert osp.isfile(osp.join(ROOT, stage)), (path, stage)


def _point_to_fixture(dataset_cfg: dict, tmp_path) -> dict:
    """Make a dataset config read a tiny fixture instead of the real data."""
    dtype = dataset_cfg['type'].split('.')[-1]
    if dtype == 'CUBWSOL':
        dataset_cfg['data_root'] = make_cub_root(
            tmp_path, num_classes=2, images_per_class=4)
    elif dtype == 'ImageNetWSOL':
        dataset_cfg['data_root'] = make_ilsvrc_root(tmp_path)
    elif dtype == 'WSOLEvalMetadataDataset':
        # the fixture has the wsolevaluation layout the configs point at:
        # metadata/<name>/<split>/ and dataset/<name>/
        name = osp.basename(dataset_cfg['metadata_root'].rstrip('/'))
        dataset_cfg['data_root'] = make_wsoleval_root(
            tmp_path, name=name, num_classes=2, per_class=2)
    elif dtype == 'SyntheticWSOL':
        dataset_cfg['num_samples'] = 4
    elif dtype == 'WSSSClsDataset':
        root = make_voc_root(str(tmp_path), num_train=2, num_aug=1,
                             num_val=1)
        dataset_cfg.update(data_root=root, tag_source='xml',
                           ann_file='ImageSets/Segmentation/trainaug.txt',
                           data_prefix=dict(img_path='JPEGImages',
                                            seg_map_path='SegmentationClass',
                                            ann_path='Annotations'))
        dataset_cfg.pop('metainfo', None)  # the fixture holds VOC classes
    else:
        pytest.fail(f'no fixture for dataset type {dtype}')
    return dataset_cfg


def _batch(loader_cfg: dict, tmp_path, n: int = 2) -> dict:
    dataset = DATASETS.build(_point_to_fixture(loader_cfg['dataset'],
                                               tmp_path))
    assert len(dataset) >= n
    return pseudo_collate([dataset[i] for i in range(n)])


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds_trains_and_predicts(config, tmp_path):
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert cfg.default_scope == 'mmweak'
    model = MODELS.build(cfg.model)

    if cfg.get('train_dataloader') and cfg.get('train_cfg'):
        batch = _batch(cfg.train_dataloader, tmp_path / 'train')
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        model.train()
        log_vars = model.train_step(batch, optim_wrapper)
        assert torch.isfinite(log_vars['loss'])

    batch = _batch(cfg.test_dataloader, tmp_path / 'test')
    model.eval()
    with torch.no_grad():
        outputs = model.test_step(batch)
    assert len(outputs) == 2
    evaluator = cfg.test_evaluator
    evaluator = evaluator[0] if isinstance(evaluator, list) else evaluator
    is_wsol = evaluator['type'].split('.')[-1] == 'WSOLMetric'
    for sample in outputs:
        assert 'pred_score' in sample
        if is_wsol:
            assert 'loc_map' in sample
            assert float(sample.loc_map.min()) >= 0
            assert float(sample.loc_map.max()) <= 1

    # the config's own evaluator scores the predictions
    metric = METRICS.build(evaluator)
    metric.dataset_meta = getattr(model, 'dataset_meta', None)
    metric.process(batch, [s.to_dict() for s in outputs])
    results = metric.compute_metrics(metric.results)
    assert results
    if is_wsol:
        assert 'gt_known_loc' in results
        # MaxBoxAccV2 only under the protocol it names
        headline = 'maxboxacc_v2' if evaluator.get('preset') == 'choe' \
            else 'boxacc_mean'
        assert headline in results
        assert ('maxboxacc_v2' in results) == (headline == 'maxboxacc_v2')
