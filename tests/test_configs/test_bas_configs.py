# Copyright (c) mmweak contributors.
"""The BAS configs carry the per-backbone, per-dataset values of the spec
(shared/specs/bas.md, sections 4-6)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from mmweak.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG_DIR = osp.join(ROOT, 'configs', 'bas')

# (alpha, beta, loc_topk, tau, guard_value)
EXPECTED = {
    'bas_vgg16_cub': (0.0, 0.9, 80, 0.10, 0),
    'bas_resnet50_cub': (0.5, 1.5, 200, 0.10, 1),
    'bas_inceptionv3_cub': (0.5, 1.0, 200, 0.10, 1),
    'bas_mobilenetv1_cub': (0.5, 1.9, 80, 0.10, 1),
    'bas_vgg16_cub_cvpr': (0.0, 0.7, 80, 0.15, 0),
    'bas_resnet50_cub_cvpr': (0.5, 1.2, 200, 0.15, 0),
    'bas_inceptionv3_cub_cvpr': (0.5, 1.0, 200, 0.10, 0),
    'bas_mobilenetv1_cub_cvpr': (0.5, 1.5, 200, 0.15, 0),
    'bas_vgg16_ilsvrc': (0.05, 1.0, 1, 0.45, 0),
    'bas_resnet50_ilsvrc': (1.0, 2.0, 1, 0.25, 1),
    'bas_inceptionv3_ilsvrc': (1.0, 2.5, 1, 0.25, 1),
    'bas_mobilenetv1_ilsvrc': (0.5, 1.5, 1, 0.50, 1),
    'bas_vgg16_ilsvrc_cvpr': (0.05, 1.0, 1, 0.50, 0),
    'bas_resnet50_ilsvrc_cvpr': (1.0, 2.0, 1, 0.45, 0),
    'bas_inceptionv3_ilsvrc_cvpr': (1.0, 2.5, 1, 0.30, 0),
    'bas_mobilenetv1_ilsvrc_cvpr': (0.5, 1.5, 1, 0.50, 0),
}

# BAS for WSSS (spec section 7): configs -> (num_classes, alpha, beta)
WSSS = {
    'bas_resnet50_voc12aug': (20, 0.2, 1.2),
    'bas_resnet50_voc12aug_parity': (20, 0.2, 1.2),
    'bas_resnet50_coco2014': (80, 0.2, 1.2),
    'bas_resnet50_synthetic-voc': (20, 0.2, 1.2),
}


def _load(name):
    return Config.fromfile(osp.join(CFG_DIR, name + '.py'))


def test_every_config_file_is_covered():
    names = {
        osp.splitext(osp.basename(p))[0]
        for p in glob.glob(osp.join(CFG_DIR, 'bas_*.py'))
    }
    assert names == set(EXPECTED) | {'bas_resnet50_synthetic'} | set(WSSS)


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_loss_weights_topk_and_threshold_follow_the_spec(name):
    alpha, beta, topk, tau, guard = EXPECTED[name]
    cfg = _load(name)
    head = cfg.model.head
    assert (head.bas_loss.alpha, head.bas_loss.beta) == (alpha, beta)
    assert head.bas_loss.guard_value == guard
    assert head.loc_topk == topk
    # one threshold for the boxes and the metric
    assert cfg.model.loc_thr == cfg.val_evaluator.loc_thr == tau
    assert cfg.test_evaluator.loc_thr == tau
    assert cfg.val_evaluator.preset == 'paper'
    cvpr = name.endswith('_cvpr')
    # CVPR: final ReLU; extension: rectified scores in the loss
    assert head.final_relu == cvpr and head.bas_loss.rectify == (not cvpr)
    ilsvrc = '_ilsvrc' in name
    assert head.num_classes == (1000 if ilsvrc else 200)
    assert cfg.model.data_preprocessor.num_classes == head.num_classes
    assert head.map_source == ('gt' if ilsvrc else 'pred')


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_schedule_follows_the_spec(name):
    cfg = _load(name)
    optim = cfg.optim_wrapper
    assert optim.constructor == 'BASOptimWrapperConstructor'
    assert optim.optimizer.lr == 1e-3 and optim.optimizer.nesterov
    assert optim.optimizer.weight_decay == 5e-4
    sched = cfg.param_scheduler
    if '_ilsvrc' in name:
        assert cfg.train_cfg.max_epochs == 9
        assert sched.milestones == [3, 6]
    else:
        assert cfg.train_cfg.max_epochs == (100 if 'cvpr' in name else 120)
        assert sched.milestones == [80]
    if name == 'bas_vgg16_ilsvrc':  # extension: global batch 256 for VGG
        assert cfg.train_dataloader.batch_size == 64


@pytest.mark.parametrize('name', [
    'bas_vgg16_cub', 'bas_resnet50_cub', 'bas_inceptionv3_cub',
    'bas_mobilenetv1_cub'
])
def test_models_build_with_matching_channels(name):
    cfg = _load(name)
    cfg.model.backbone.init_cfg = None  # nothing is downloaded
    model = MODELS.build(cfg.model)
    assert model.head.mid_channels == model.backbone.mid_channels
    assert model.head.in_channels == model.backbone.out_channels


def test_synthetic_config_matches_the_cam_baseline_budget():
    bas = _load('bas_resnet50_synthetic')
    cam = Config.fromfile(
        osp.join(ROOT, 'configs', 'cam', 'cam_resnet50_synthetic.py'))
    for key in ('depth', 'stem_channels', 'base_channels'):
        assert bas.model.backbone[key] == cam.model.backbone[key]
    # the same pretrained start (paths relative to each config file)
    b_init, c_init = bas.model.backbone.init_cfg, cam.model.backbone.init_cfg
    assert osp.normpath(b_init.pop('checkpoint')) == osp.normpath(
        c_init.pop('checkpoint'))
    assert b_init == c_init
    assert bas.train_cfg == cam.train_cfg
    # the same optimiser; only the backbone's learning-rate multiplier is
    # each method's own choice on val (BAS 0.1x, CAM 1x)
    assert bas.optim_wrapper.optimizer == cam.optim_wrapper.optimizer
    assert bas.optim_wrapper.paramwise_cfg == dict(
        custom_keys={'backbone': dict(lr_mult=0.1)})
    assert 'paramwise_cfg' not in cam.optim_wrapper
    assert bas.param_scheduler == cam.param_scheduler
    assert bas.train_dataloader == cam.train_dataloader
    assert bas.test_dataloader == cam.test_dataloader
    # same metric; BAS's fixed threshold was chosen on the val split
    assert bas.test_evaluator.preset == cam.test_evaluator.preset
    assert bas.test_evaluator.loc_thr == bas.model.loc_thr
    model = MODELS.build(bas.model)
    assert model.head.in_channels == model.backbone.out_channels == 512
    # choices (tau, beta, ...) are made on `val`, results reported on `test`
    assert bas.val_dataloader.dataset.split == 'val'
    assert bas.test_dataloader.dataset.split == 'test'


@pytest.mark.parametrize('name', sorted(WSSS))
def test_wsss_configs_follow_section_7(name):
    num_classes, alpha, beta = WSSS[name]
    cfg = _load(name)
    model = cfg.model
    assert model.type == 'BASWSSSClassifier'
    assert model.backbone.type == 'BASResNet'
    assert model.backbone.strides == (1, 2, 2, 1)
    assert model.backbone.tail_pool is False
    head = model.head
    assert head.type == 'BASWSSSHead' and head.num_classes == num_classes
    assert head.detach_frg_feats is True
    assert head.loss == dict(type='PosNegCrossEntropyLoss', loss_weight=1.0)
    assert (head.bas_loss.alpha, head.bas_loss.beta) == (alpha, beta)
    assert head.bas_loss.guard_value == 1 and head.bas_loss.rectify
    if name == 'bas_resnet50_synthetic-voc':
        return
    assert cfg.train_cfg.max_epochs == 10
    assert cfg.train_dataloader.batch_size == 16
    assert cfg.sync_bn == 'torch'
    steps = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert steps == ['LoadImageFromFile', 'Resize', 'RandomFlip',
                     'mmpretrain.RandomCrop', 'mmpretrain.PackInputs']
    resize, crop = (cfg.train_dataloader.dataset.pipeline[i] for i in (1, 3))
    assert resize.scale == (512, 512) and not resize.keep_ratio
    assert resize.interpolation == 'bicubic' and crop.crop_size == 448
    optim = cfg.optim_wrapper
    assert optim.constructor == 'BASOptimWrapperConstructor'
    assert optim.optimizer.lr == 0.005
    assert optim.optimizer.weight_decay == 1e-4
    assert optim.paramwise_cfg.head_lr_mult == 10.0
    parity = name.endswith('_parity')
    assert optim.optimizer.momentum == (1e-4 if parity else 0.0)
    assert optim.paramwise_cfg.bias_lr_mult == (0.0 if parity else 1.0)
    sched = cfg.param_scheduler[0]
    assert sched.type == 'PolyLR' and sched.power == 0.9
    assert sched.end == 10 and sched.convert_to_iter_based


def test_wsss_synthetic_config_shares_the_cam_baseline_data():
    bas = _load('bas_resnet50_synthetic-voc')
    cam = Config.fromfile(
        osp.join(ROOT, 'configs', 'wsss', 'cam_resnet50_synthetic-voc.py'))
    assert bas.train_dataloader == cam.train_dataloader
    assert bas.cam_dataloader == cam.cam_dataloader
    # fine-tuned from the Stage-0 CAM network that `tools/train.py` writes
    # for that config (its default work_dir and last epoch)
    assert bas.load_from == ('work_dirs/cam_resnet50_synthetic-voc/'
                             f'epoch_{cam.train_cfg.max_epochs}.pth')
    assert bas.optim_wrapper.optimizer.type == cam.optim_wrapper.optimizer.type
    assert bas.optim_wrapper.optimizer.lr == cam.optim_wrapper.optimizer.lr / 4
    for key in ('depth', 'stem_channels', 'base_channels'):
        assert bas.model.backbone[key] == cam.model.backbone[key]
    model = MODELS.build(bas.model)
    assert model.head.in_channels == model.backbone.out_channels == 512
    assert model.head.mid_channels == model.backbone.mid_channels == 256
