# Copyright (c) mmweak contributors.
"""IRNet (IRN's class-boundary branch): shapes, the frozen backbone, the
affinity loss against hand-computed values and an explicit loop over pixel
pairs, learning on a toy, and the configs' data path."""
import math
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmweak.registry import DATASETS, MODELS
from mmweak.wsss.random_walk import pair_offsets, pair_paths

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))


def _tiny_irnet(**kwargs) -> torch.nn.Module:
    cfg = dict(
        type='IRNet',
        backbone=dict(
            type='mmpretrain.ResNet',
            depth=18,
            stem_channels=8,
            base_channels=8,
            strides=(1, 2, 2, 1),
            out_indices=(0, 1, 2, 3)),
        in_channels=(8, 8, 16, 32, 64),
        edge_channels=8,
        num_groups=2,
        radius=3)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _samples(labels: torch.Tensor) -> list:
    out = []
    for lab in labels:
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=lab[None].to(torch.uint8))
        out.append(sample)
    return out


def _loop_loss(edge, labels, radius, eps=1e-5):
    """IRN's L_B by an explicit loop over every pixel pair of the batch."""
    sums = dict(fg=0.0, bg=0.0, neg=0.0)
    counts = dict(fg=0, bg=0, neg=0)
    bsz, h, w = labels.shape
    for b in range(bsz):
        for (dy, dx), cells in zip(pair_offsets(radius), pair_paths(radius)):
            for y in range(h):
                for x in range(w):
                    if not (y + dy < h and 0 <= x + dx < w):
                        continue
                    li, lj = int(labels[b, y, x]), int(labels[b, y + dy,
                                                              x + dx])
                    if li >= 254 or lj >= 254:
                        continue
                    a = 1 - max(float(edge[b, y + cy, x + cx])
                                for cy, cx in cells)
                    if li != lj:
                        sums['neg'] += -math.log(1 + eps - a)
                        counts['neg'] += 1
                    else:
                        key = 'fg' if li > 0 else 'bg'
                        sums[key] += -math.log(a + eps)
                        counts[key] += 1
    mean = {k: sums[k] / max(counts[k], 1) for k in sums}
    return dict(
        loss_pos_fg=0.5 * mean['fg'],
        loss_pos_bg=0.5 * mean['bg'],
        loss_neg=mean['neg'])


def test_shapes_and_prediction():
    model = _tiny_irnet().eval()
    inputs = torch.randn(2, 3, 32, 40)
    logits = model(inputs)
    assert logits.shape == (2, 1, 8, 10)  # stride 4
    with torch.no_grad():
        prob = model.predict_edge(inputs)
        single = model.predict_edge(inputs, flip=False)
    assert prob.shape == (2, 1, 8, 10)
    assert float(prob.min()) >= 0 and float(prob.max()) <= 1
    torch.testing.assert_close(single, logits.sigmoid())
    # flip averaging = mean of the logits of the image and of its mirror
    mirrored = model(inputs.flip(-1)).flip(-1)
    torch.testing.assert_close(prob, ((logits + mirrored) / 2).sigmoid())
    # odd sizes: the ceil(H/4) x ceil(W/4) grid of the CAM 'cam' maps
    assert model(torch.randn(1, 3, 37, 41)).shape == (1, 1, 10, 11)
    samples = model(inputs, None, mode='predict')
    assert samples[0].pred_edge.data.shape == (1, 8, 10)
    with pytest.raises(RuntimeError, match='mode'):
        model(inputs, mode='bogus')


def test_backbone_is_frozen():
    torch.manual_seed(0)
    model = _tiny_irnet()
    model.train()
    assert not model.backbone.training
    assert all(not m.training for m in model.backbone.modules())
    bn_before = model.backbone.norm1.running_mean.clone()
    labels = torch.zeros(2, 32, 32, dtype=torch.long)
    labels[:, :, 16:] = 3
    losses = model(torch.randn(2, 3, 32, 32), _samples(labels), mode='loss')
    sum(losses.values()).backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(not p.requires_grad for p in model.backbone.parameters())
    assert all(p.grad is not None for p in model.edge_levels.parameters())
    assert model.edge_fuse.weight.grad is not None
    torch.testing.assert_close(model.backbone.norm1.running_mean, bn_before)


def test_affinity_loss_hand_computed():
    # one row of three pixels, labels (fg 1, fg 1, bg 0), radius 2: the
    # in-grid pairs are (0,1) [same fg] and (1,2) [different]; both paths
    # pass the middle pixel, so a = 1 - 0.5 for both
    model = _tiny_irnet(radius=2)
    edge = torch.tensor([[[0.1, 0.5, 0.2]]])
    labels = torch.tensor([[[1, 1, 0]]])
    losses = model.affinity_loss(edge, labels)
    assert float(losses['loss_pos_fg']) == pytest.approx(
        0.5 * -math.log(0.5 + 1e-5), rel=1e-6)
    assert float(losses['loss_pos_bg']) == 0.0  # no background pair
    assert float(losses['loss_neg']) == pytest.approx(
        -math.log(1 + 1e-5 - 0.5), rel=1e-6)
    # pairs touching an unknown pixel (255 or 254) are ignored
    losses = model.affinity_loss(edge, torch.tensor([[[1, 1, 255]]]))
    assert float(losses['loss_neg']) == 0.0
    losses = model.affinity_loss(edge, torch.tensor([[[254, 1, 0]]]))
    assert float(losses['loss_pos_fg']) == 0.0


def test_affinity_loss_matches_loop_over_pairs():
    torch.manual_seed(0)
    edge = torch.rand(2, 6, 7)
    labels = torch.randint(0, 3, (2, 6, 7))
    labels[torch.rand(2, 6, 7) < 0.2] = 255
    labels[0, 0, 0] = 254
    for radius in (3, 5):
        model = _tiny_irnet(radius=radius, loss_weight=1.0)
        losses = model.affinity_loss(edge, labels)
        expected = _loop_loss(edge, labels, radius)
        for key, value in expected.items():
            assert float(losses[key]) == pytest.approx(value, rel=1e-5), key
    weighted = _tiny_irnet(radius=3, loss_weight=0.5).affinity_loss(
        edge, labels)
    expected = _loop_loss(edge, labels, 3)
    assert float(weighted['loss_neg']) == pytest.approx(
        0.5 * expected['loss_neg'], rel=1e-5)


def test_labels_sampled_at_cell_centres():
    labels = torch.arange(64).view(1, 8, 8) % 250
    grid = _tiny_irnet().stride_labels(_samples(labels), (2, 2))
    assert grid.tolist() == [[[18, 22], [50, 54]]]  # rows/cols 2 and 6
    with pytest.raises(ValueError, match='gt_sem_seg'):
        _tiny_irnet().stride_labels([SegDataSample()], (2, 2))


def test_loss_decreases_on_a_toy():
    torch.manual_seed(0)
    model = _tiny_irnet()
    # two flat regions with a textured band between them: the band is the
    # class boundary the branch has to find
    inputs = torch.zeros(1, 3, 32, 32)
    inputs[:, 0, :, :12] = 2.0
    inputs[:, 1, :, 18:] = 2.0
    inputs[:, 2, :, 12:18] = torch.randn(1, 32, 6)
    labels = torch.full((1, 32, 32), 255, dtype=torch.long)
    labels[:, :, :12] = 0
    labels[:, :, 18:] = 5
    samples = _samples(labels)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    totals = []
    model.train()
    for _ in range(8):
        loss = sum(model(inputs, samples, mode='loss').values())
        optim.zero_grad()
        loss.backward()
        optim.step()
        totals.append(float(loss))
    assert totals[-1] < 0.5 * totals[0]


def _voc_fixture(root, ids, size=(60, 80)) -> str:
    """JPEGImages + ImageSets + IR labels (0 / class / 255) in VOC layout."""
    data_root = osp.join(root, 'VOCdevkit', 'VOC2012')
    for sub in ('JPEGImages', 'ImageSets/Segmentation', 'ir_labels'):
        cv2.os.makedirs(osp.join(data_root, sub), exist_ok=True)
    rng = np.random.default_rng(0)
    h, w = size
    for img_id in ids:
        img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        cv2.imwrite(osp.join(data_root, 'JPEGImages', img_id + '.jpg'), img)
        ir = np.full((h, w), 255, np.uint8)
        ir[:, :w // 3] = 0
        ir[h // 3:, w // 2:] = 7
        cv2.imwrite(osp.join(data_root, 'ir_labels', img_id + '.png'), ir)
    with open(osp.join(data_root, 'ImageSets/Segmentation/trainaug.txt'),
              'w') as f:
        f.write('\n'.join(ids) + '\n')
    return data_root


@pytest.mark.parametrize('config', [
    'configs/irn/irn_resnet50_synthetic-voc.py',
    'configs/irn/irn_resnet50_voc12aug.py'
])
def test_config_trains_from_ir_labels(config, tmp_path):
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert cfg.default_scope == 'mmweak'
    data_root = _voc_fixture(str(tmp_path), ['2007_000001', '2007_000002'])
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.data_root = data_root
    dataset = DATASETS.build(dataset_cfg)
    batch = pseudo_collate([dataset[0], dataset[1]])
    crop = cfg.crop_size
    if crop > 128:  # the VOC recipe: keep the test small
        cfg.model.data_preprocessor.size = (96, 96)
        cfg.model.backbone.update(stem_channels=8, base_channels=8)
        cfg.model.in_channels = (8, 32, 64, 128, 256)
        crop = 96
        batch['inputs'] = [x[:, :96, :96] for x in batch['inputs']]
        for s in batch['data_samples']:
            s.gt_sem_seg = PixelData(data=s.gt_sem_seg.data[:, :96, :96])
    model = MODELS.build(cfg.model)
    data = model.data_preprocessor(batch, True)
    assert data['inputs'].shape == (2, 3, crop, crop)
    labels = model.stride_labels(data['data_samples'], (crop // 4, ) * 2)
    assert set(labels.unique().tolist()) <= {0, 7, 255}
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    log_vars = model.train_step(batch, optim_wrapper)
    assert set(log_vars) >= {'loss', 'loss_pos_fg', 'loss_pos_bg', 'loss_neg'}
    assert torch.isfinite(log_vars['loss'])
