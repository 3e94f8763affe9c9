# Copyright (c) mmweak contributors.
"""The Stage C segmentation configs (configs/wsss/deeplab*.py) build, read
a tiny VOC-layout fixture through their own pipelines, train, predict
(single scale and multi-scale + flip) and are scored by their evaluator."""
import copy
import glob
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from PIL import Image

from mmweak.registry import DATASETS, METRICS, MODELS
from mmweak.testing import make_voc_root

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
WSSS = osp.join(ROOT, 'configs', 'wsss')
SEG_CONFIGS = sorted(
    osp.basename(p) for p in glob.glob(osp.join(WSSS, 'deeplab*.py')))
SYNTHETIC = [c for c in SEG_CONFIGS if 'synthetic' in c]
VOC = [c for c in SEG_CONFIGS if 'voc12aug' in c]
COCO = [c for c in SEG_CONFIGS if 'coco2014' in c]
TEST_SERVER = 'deeplabv3plus_r101-d8_4xb4-20k_voc12aug-512x512_pseudo_test-server.py'  # noqa: E501


def _cfg(name: str) -> Config:
    return Config.fromfile(osp.join(WSSS, name))


@pytest.fixture(scope='module')
def voc(tmp_path_factory):
    """A tiny VOC tree, a pseudo-mask dir with some 254 pixels, and a
    label-free `test.txt`."""
    tmp = tmp_path_factory.mktemp('voc')
    data_root = make_voc_root(tmp, num_train=2, num_aug=2, num_val=2)
    seg = osp.join(data_root, 'ImageSets', 'Segmentation')
    pseudo = osp.join(str(tmp), 'pseudo')
    os.makedirs(pseudo)
    with open(osp.join(seg, 'trainaug.txt')) as f:
        for img_id in f.read().split():
            png = Image.open(
                osp.join(data_root, 'SegmentationClassAug', img_id + '.png'))
            label = np.array(png)
            label[:4] = 254  # uncertain rows
            out = Image.fromarray(label, mode='P')
            out.putpalette(png.getpalette())
            out.save(osp.join(pseudo, img_id + '.png'))
    shutil.copy(osp.join(seg, 'val.txt'), osp.join(seg, 'test.txt'))
    return data_root, pseudo


def _point_to(dataset_cfg: dict, data_root: str, pseudo: str) -> dict:
    """Make a dataset config read the fixture (pseudo masks included)."""
    dataset_cfg = copy.deepcopy(dataset_cfg)
    if dataset_cfg['type'] == 'ConcatDataset':
        dataset_cfg['datasets'] = [
            _point_to(d, data_root, pseudo) for d in dataset_cfg['datasets']
        ]
        return dataset_cfg
    assert dataset_cfg['type'] == 'mmseg.PascalVOCDataset'
    dataset_cfg['data_root'] = data_root
    prefix = dataset_cfg['data_prefix']
    if prefix['seg_map_path'] not in ('SegmentationClass',
                                      'SegmentationClassAug'):
        prefix['seg_map_path'] = pseudo
    return dataset_cfg


def _batch(dataset_cfg: dict, voc, n: int = 2) -> dict:
    dataset = DATASETS.build(_point_to(dataset_cfg, *voc))
    assert len(dataset) >= n
    return pseudo_collate([dataset[i] for i in range(n)]), dataset


def _score(evaluator: dict, dataset, batch: dict, outputs) -> dict:
    metric = METRICS.build(evaluator)
    metric.dataset_meta = dataset.metainfo
    metric.process(batch, [s.to_dict() for s in outputs])
    return metric.compute_metrics(metric.results)


@pytest.fixture(scope='module')
def coco(tmp_path_factory):
    """A tiny COCO 2014 tree in the layout of coco2014_wsss_seg.py (two
    train images with pseudo masks holding 254, one val image with GT)."""
    root = str(tmp_path_factory.mktemp('coco2014'))
    rng = np.random.default_rng(0)
    for split, ids in (('train2014', (9, 25)), ('val2014', (73, ))):
        stems = [f'COCO_{split}_{i:012d}' for i in ids]
        masks = 'pseudo_masks' if split == 'train2014' else \
            f'SegmentationClass/{split}'
        for d in (split, masks, 'ImageSets'):
            os.makedirs(osp.join(root, d), exist_ok=True)
        with open(osp.join(root, 'ImageSets', split + '.txt'), 'w') as f:
            f.write('\n'.join(stems) + '\n')
        for stem in stems:
            Image.fromarray(rng.integers(0, 255, (32, 40, 3), np.uint8)).save(
                osp.join(root, split, stem + '.jpg'))
            label = np.zeros((32, 40), np.uint8)
            label[8:24, 10:30] = 80
            label[:2] = 254 if split == 'train2014' else 255
            Image.fromarray(label).save(osp.join(root, masks, stem + '.png'))
    return root


def test_configs_are_found():
    assert len(SYNTHETIC) == 2 and len(VOC) >= 4 and len(COCO) >= 1


@pytest.mark.parametrize('name', SEG_CONFIGS)
def test_config_builds(name):
    cfg = _cfg(name)
    assert cfg.default_scope == 'mmweak'
    model = MODELS.build(cfg.model)
    segmentor = getattr(model, 'module', model)
    assert segmentor.num_classes == (81 if name in COCO else 21)
    assert cfg.tta_model.type == 'mmseg.SegTTAModel'


@pytest.mark.parametrize('name', [c for c in VOC if c != TEST_SERVER])
def test_voc_config_pipelines(name, voc):
    cfg = _cfg(name)
    assert cfg.data_root == 'data/VOCdevkit/VOC2012'
    train = cfg.train_dataloader.dataset
    if name.endswith('_full.py'):
        assert [(d.ann_file, d.data_prefix.seg_map_path)
                for d in train.datasets] == [
                    ('ImageSets/Segmentation/train.txt', 'SegmentationClass'),
                    ('ImageSets/Segmentation/aug.txt', 'SegmentationClassAug')
                ]
    else:
        assert train.ann_file == 'ImageSets/Segmentation/trainaug.txt'
        assert train.data_prefix.seg_map_path == cfg.pseudo_mask_dir
        assert not train.get('reduce_zero_label', False)
    assert cfg.val_dataloader.dataset.ann_file.endswith('val.txt')
    assert cfg.val_evaluator == dict(
        type='mmseg.IoUMetric', iou_metrics=['mIoU'])
    crop = tuple(cfg.model.data_preprocessor.size)
    batch, _ = _batch(train, voc)
    for sample in batch['data_samples']:
        label = sample.gt_sem_seg.data
        assert 254 not in torch.unique(label)  # mapped to 255 at load time
        assert all(s <= c for s, c in zip(label.shape[-2:], crop))
    val, _ = _batch(cfg.val_dataloader.dataset, voc)
    for sample in val['data_samples']:
        assert tuple(sample.gt_sem_seg.shape) == sample.ori_shape


@pytest.mark.parametrize('name', COCO)
def test_coco_config_pipelines(name, coco):
    cfg = _cfg(name)
    train = cfg.train_dataloader.dataset
    assert train.type == 'COCO2014WSSSDataset'
    assert train.data_prefix.seg_map_path == cfg.pseudo_mask_dir == \
        'pseudo_masks'
    train.data_root = coco
    dataset = DATASETS.build(train)
    crop = tuple(cfg.model.data_preprocessor.size)
    for i in range(2):
        label = dataset[i]['data_samples'].gt_sem_seg.data
        assert set(torch.unique(label).tolist()) <= {0, 80, 255}
        assert all(s <= c for s, c in zip(label.shape[-2:], crop))
    val = cfg.val_dataloader.dataset
    val.data_root = coco
    sample = DATASETS.build(val)[0]['data_samples']
    assert tuple(sample.gt_sem_seg.shape) == (32, 40)


def test_deeplabv2_recipe():
    cfg = _cfg('deeplabv2_r101_1xb5-20k_voc12aug-321x321_pseudo.py')
    assert cfg.train_dataloader.batch_size == 5
    assert tuple(cfg.model.data_preprocessor.size) == (321, 321)
    assert cfg.train_cfg.max_iters == 20000
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.lr, optimizer.weight_decay) == (2.5e-4, 5e-4)
    assert cfg.param_scheduler[0].type == 'PolyLR'
    # the head learns 10x faster (a small backbone for speed)
    model = cfg.model
    model.pop('pretrained')
    model.backbone.depth = 18
    model.decode_head.in_channels = 512
    segmentor = MODELS.build(model)
    head = segmentor.decode_head
    assert type(head).__name__ == 'DeepLabV2Head'
    # frozen BN (DeepLab v2): eval mode and no trainable affine parameters
    segmentor.train()
    bns = [
        m for m in segmentor.backbone.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    assert bns and not any(m.training for m in bns)
    assert not any(p.requires_grad for m in bns for p in m.parameters())
    wrapper = build_optim_wrapper(segmentor, cfg.optim_wrapper)
    head_params = {id(p) for p in head.parameters()}
    lrs = {
        id(p): g['lr']
        for g in wrapper.optimizer.param_groups for p in g['params']
    }
    assert {lrs[i] for i in head_params} == {2.5e-3}
    assert {lr for i, lr in lrs.items() if i not in head_params} == {2.5e-4}
    x = torch.randn(2, 3, 64, 64)
    assert segmentor(x, mode='tensor').shape == (2, 21, 8, 8)


@pytest.mark.parametrize('name', SYNTHETIC)
def test_synthetic_config_trains_predicts_and_scores(name, voc):
    torch.manual_seed(0)
    cfg = _cfg(name)
    assert cfg.data_root == 'data/synthetic_voc/VOCdevkit/VOC2012'
    model = MODELS.build(cfg.model)
    model.init_weights()
    batch, _ = _batch(cfg.train_dataloader.dataset, voc)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    for _ in range(2):
        log_vars = model.train_step(batch, optim_wrapper)
        assert torch.isfinite(log_vars['loss'])

    batch, dataset = _batch(cfg.test_dataloader.dataset, voc)
    model.eval()
    with torch.no_grad():
        outputs = model.test_step(batch)
    for sample in outputs:
        assert sample.pred_sem_seg.shape == sample.ori_shape
    results = _score(cfg.test_evaluator, dataset, batch, outputs)
    assert 0 <= results['mIoU'] <= 100

    if name.endswith('_full.py'):
        return
    # multi-scale + flip testing: the dataset base's tta_pipeline through
    # the runtime's tta_model, as mmseg's `tools/test.py --tta` does
    tta_cfg = copy.deepcopy(cfg.tta_model)
    tta_cfg['module'] = model
    tta = MODELS.build(tta_cfg)
    test = copy.deepcopy(cfg.test_dataloader.dataset)
    test['pipeline'] = cfg.tta_pipeline
    batch, dataset = _batch(test, voc, n=1)
    with torch.no_grad():
        outputs = tta.test_step(batch)
    assert len(outputs) == 1
    for sample in outputs:
        assert sample.pred_sem_seg.shape == sample.gt_sem_seg.shape
    results = _score(cfg.test_evaluator, dataset, batch, outputs)
    assert 0 <= results['mIoU'] <= 100


def test_test_server_config_writes_voc_server_pngs(voc, tmp_path):
    cfg = _cfg(TEST_SERVER)
    assert cfg.train_dataloader is None and cfg.val_dataloader is None
    assert cfg.test_dataloader.dataset.ann_file == \
        'ImageSets/Segmentation/test.txt'
    assert cfg.test_evaluator.format_only
    assert cfg.test_evaluator.output_dir.endswith(
        'results/VOC2012/Segmentation/comp6_test_cls')
    assert cfg.model.type == 'mmseg.SegTTAModel'
    # the small synthetic model for speed (the R101 one builds above)
    cfg.model.module = _cfg(SYNTHETIC[-1]).model
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.eval()
    batch, dataset = _batch(cfg.test_dataloader.dataset, voc, n=1)
    # 4 scales x 2 flips per image, no labels
    assert len(batch['inputs']) == 8
    assert 'gt_sem_seg' not in batch['data_samples'][0][0]
    with torch.no_grad():
        outputs = model.test_step(batch)
    evaluator = dict(cfg.test_evaluator, output_dir=str(tmp_path / 'comp6'))
    assert _score(evaluator, dataset, batch, outputs) == {}
    data_root = voc[0]
    with open(osp.join(data_root, 'ImageSets/Segmentation/test.txt')) as f:
        ids = f.read().split()
    assert os.listdir(tmp_path / 'comp6') == [ids[0] + '.png']
    for img_id in ids[:1]:
        png = np.array(Image.open(tmp_path / 'comp6' / (img_id + '.png')))
        img = Image.open(osp.join(data_root, 'JPEGImages', img_id + '.jpg'))
        assert png.shape == img.size[::-1]
        assert png.max() < 21
