# Copyright (c) mmweak contributors.
"""ESOL's three stages built from configs/esol with a tiny backbone: what is
frozen, the sign of the expansion sampler's update, CAM shapes, and a
three-stage run chained through ``load_from``."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.runner import Runner
from mmpretrain.structures import DataSample

from mmweak.cam import multiscale_cams
from mmweak.registry import MODELS
from mmweak.testing import make_voc_root

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
TINY_CHANNELS = 64  # ResNet-18 layout at base width 8


def _cfg(stage: int, data: str = 'synthetic-voc') -> Config:
    """A stage config with a tiny ResNet-18 (64-channel last map)."""
    cfg = Config.fromfile(
        osp.join(ROOT, f'configs/esol/esol_r50_stage{stage}_{data}.py'))
    cfg.model.backbone.update(
        depth=18, stem_channels=8, base_channels=8, init_cfg=None)
    cfg.model.head.in_channels = TINY_CHANNELS
    if cfg.model.get('neck'):
        cfg.model.neck.in_channels = TINY_CHANNELS
    return cfg


def _batch(n: int = 2, size: int = 64) -> dict:
    g = torch.Generator().manual_seed(0)
    imgs = [torch.randint(0, 256, (3, size, size), generator=g,
                          dtype=torch.uint8) for _ in range(n)]
    tags = [[0, 3], [4], [1, 2, 3], [7]][:n]
    return dict(inputs=imgs,
                data_samples=[DataSample().set_gt_label(t) for t in tags])


def _build(stage: int, data: str = 'synthetic-voc'):
    torch.manual_seed(0)
    cfg = _cfg(stage, data)
    model = MODELS.build(cfg.model)
    return cfg, model


FROZEN = {
    1: ('backbone.', 'neck.expansion_sampler.weight'),
    2: ('backbone.', 'neck.expansion_sampler.',
        'neck.shrinkage_sampler.weight'),
}
TRAINED = {
    1: ('neck.expansion_sampler.offset_conv.', 'head.classifier.'),
    2: ('neck.shrinkage_sampler.offset_conv.', 'head.classifier.'),
}


@pytest.mark.parametrize('data', ['voc12aug', 'coco2014', 'synthetic-voc'])
@pytest.mark.parametrize('stage', [1, 2])
def test_frozen_parts_get_no_grad_and_stay_unchanged(stage, data):
    cfg, model = _build(stage, data)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    # BN of the frozen backbone stays in eval mode
    assert not any(m.training for m in model.backbone.modules()
                   if isinstance(m, torch.nn.BatchNorm2d))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    frozen = [k for k in before if k.startswith(FROZEN[stage])]
    trained = [k for k in before if k.startswith(TRAINED[stage])]
    assert frozen and trained
    assert not set(frozen) & set(trained)

    data_ = model.data_preprocessor(_batch(), True)
    losses = model(**data_, mode='loss')
    assert ('loss_area' in losses) == (stage == 2)
    loss, _ = model.parse_losses(losses)
    loss.backward()
    params = dict(model.named_parameters())
    for k in frozen:
        if k in params:
            assert not params[k].requires_grad, k
            assert params[k].grad is None, k
    for k in trained:
        assert params[k].requires_grad and params[k].grad is not None, k
    # the optimizer holds no frozen parameter (mmengine skips
    # requires_grad=False ones) or holds it at lr 0 (paramwise_cfg)
    lr_of = {id(p): g['lr'] for g in optim.optimizer.param_groups
             for p in g['params']}
    for k in frozen:
        if k in params:
            assert lr_of.get(id(params[k]), 0) == 0, k
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys.backbone.lr_mult == 0
    optim.step()
    after = model.state_dict()
    for k in frozen:  # weights and BN statistics
        assert torch.equal(after[k], before[k]), k
    assert not torch.equal(after[trained[0]], before[trained[0]])
    assert not torch.equal(after['head.classifier.weight'],
                           before['head.classifier.weight'])


def test_stage1_offsets_ascend_the_loss_the_classifier_descends_it():
    cfg, model = _build(1, 'voc12aug')  # the spec's grl_lambda = 1
    model.train()
    data_ = model.data_preprocessor(_batch(4), True)
    sampler = model.neck.expansion_sampler
    conv = sampler.offset_conv

    def loss_and_grads():
        model.zero_grad()
        loss, _ = model.parse_losses(model(**data_, mode='loss'))
        loss.backward()
        return (loss.detach(), conv.weight.grad.clone(),
                model.head.classifier.weight.grad.clone())

    loss0, g_rev, g_cls = loss_and_grads()
    assert sampler.grl_lambda == 1.0
    sampler.grl = None  # plain descent for comparison
    _, g_plain, g_cls_plain = loss_and_grads()
    assert g_plain.abs().sum() > 0
    # exactly the negated gradient of plain descent; the classifier's is
    # unchanged
    torch.testing.assert_close(g_rev, -g_plain, rtol=0, atol=0)
    torch.testing.assert_close(g_cls, g_cls_plain, rtol=0, atol=0)

    # a small descent step on the reversed gradient raises the loss
    step = 1e-3 / g_rev.norm()
    with torch.no_grad():
        conv.weight -= step * g_rev
        loss_up, _ = model.parse_losses(model(**data_, mode='loss'))
        conv.weight += 2 * step * g_rev  # the plain-descent step instead
        loss_down, _ = model.parse_losses(model(**data_, mode='loss'))
    assert loss_up > loss0 > loss_down


@pytest.mark.parametrize('stage', [0, 1, 2])
def test_forward_cam_shapes(stage):
    _, model = _build(stage)
    model.eval()
    x = torch.randn(2, 3, 64, 80)
    with torch.no_grad():
        maps = model.forward_cam(x)
        logits = model(x, mode='tensor')
    # output stride 16, 20 VOC classes; GAP of the maps is the logit
    assert maps.shape == (2, 20, 4, 5)
    torch.testing.assert_close(maps.mean(dim=(2, 3)), logits)


def _run_stage(stage: int, root: str, work_dir: str, load_from) -> str:
    cfg = _cfg(stage)
    cfg.work_dir = work_dir
    cfg.load_from = load_from
    cfg.train_dataloader.update(
        batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = root
    cfg.train_cfg.max_epochs = 1
    cfg.default_hooks.checkpoint.update(interval=1, max_keep_ckpts=1)
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    cfg.randomness = dict(seed=stage)
    Runner.from_cfg(cfg).train()
    path = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(path)
    return path


def _state(path: str) -> dict:
    from mmengine.runner import CheckpointLoader
    return CheckpointLoader.load_checkpoint(path, map_location='cpu')[
        'state_dict']


def test_three_stages_run_on_cpu_chained_by_load_from(tmp_path):
    root = make_voc_root(str(tmp_path / 'voc'), num_train=2, num_aug=2,
                         num_val=1)
    ckpts = []
    for stage in (0, 1, 2):
        ckpts.append(_run_stage(stage, root, str(tmp_path / f's{stage}'),
                                ckpts[-1] if ckpts else None))
    s0, s1, s2 = (_state(p) for p in ckpts)

    # the frozen backbone is stage 0's in every stage
    for k, v in s0.items():
        if k.startswith('backbone.'):
            assert torch.equal(s1[k], v) and torch.equal(s2[k], v), k
    # stage 1 trained its offset conv; stage 2 loaded it by key, frozen
    exp = 'neck.expansion_sampler.offset_conv.weight'
    assert s1[exp].abs().sum() > 0
    assert torch.equal(s2[exp], s1[exp])
    assert s2['neck.shrinkage_sampler.offset_conv.weight'].abs().sum() > 0
    # each classifier started from the previous one and moved on
    assert not torch.equal(s1['head.classifier.weight'],
                           s0['head.classifier.weight'])
    assert not torch.equal(s2['head.classifier.weight'],
                           s1['head.classifier.weight'])

    # the stage-2 model exports CAMs through the shared multi-scale path
    cfg = _cfg(2)
    model = MODELS.build(cfg.model).eval()
    model.load_state_dict(s2)
    img = torch.randint(0, 256, (3, 40, 48), dtype=torch.uint8)
    pack = multiscale_cams(model, img, [1, 4], scales=(1.0, 0.5))
    assert pack['high_res'].shape == (2, 40, 48)
