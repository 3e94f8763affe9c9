# Copyright (c) mmweak contributors.
"""Label maps with 0..C, 254 (uncertain) and 255 (ignore) through the
Stage C data path: mmweak's VOC dataset base (mmseg's PascalVOCDataset and
train pipeline) and mmseg's loss."""
import copy
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from PIL import Image

from mmweak.datasets.transforms import MapLabelValues
from mmweak.registry import DATASETS, MODELS
from mmweak.structures import IGNORE_INDEX, UNCERTAIN_INDEX
from mmweak.testing import make_voc_root

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
BASE = osp.join(ROOT, 'configs', '_base_', 'datasets', 'voc12aug_seg.py')
NUM_CLASSES = 21
ALLOWED = set(range(NUM_CLASSES)) | {UNCERTAIN_INDEX, IGNORE_INDEX}
# 24 blocks of 8 x 10 px on the 48 x 40 fixture images: every class, 254, 255
BLOCK_VALUES = list(range(NUM_CLASSES)) + [UNCERTAIN_INDEX, IGNORE_INDEX, 0]


def _label_map() -> np.ndarray:
    blocks = np.array(BLOCK_VALUES, np.uint8).reshape(4, 6)
    return np.kron(blocks, np.ones((10, 8), np.uint8))  # (40, 48)


@pytest.fixture(scope='module')
def voc(tmp_path_factory):
    """A tiny VOC tree and a pseudo-mask dir (palette PNGs, like Stage B's
    output) holding every value for each trainaug id."""
    tmp = tmp_path_factory.mktemp('voc')
    data_root = make_voc_root(tmp, num_train=2, num_aug=1, num_val=1)
    pseudo = osp.join(str(tmp), 'pseudo')
    os.makedirs(pseudo)
    with open(osp.join(data_root, 'ImageSets', 'Segmentation',
                       'trainaug.txt')) as f:
        ids = f.read().split()
    palette = Image.open(
        osp.join(data_root, 'SegmentationClass', ids[0] + '.png')).palette
    for img_id in ids:
        png = Image.fromarray(_label_map(), mode='P')
        png.putpalette(palette)
        png.save(osp.join(pseudo, img_id + '.png'))
    return data_root, pseudo


def _dataset(voc, pipeline=None, map_254=True):
    data_root, pseudo = voc
    cfg = copy.deepcopy(Config.fromfile(BASE).train_dataloader.dataset)
    cfg.data_root = data_root
    cfg.data_prefix.seg_map_path = pseudo
    if pipeline is not None:
        cfg.pipeline = pipeline
    if not map_254:
        cfg.pipeline = [
            t for t in cfg.pipeline if t['type'] != 'MapLabelValues'
        ]
    return DATASETS.build(cfg)


def test_base_config_maps_254_first():
    pipeline = Config.fromfile(BASE).train_pipeline
    types = [t['type'] for t in pipeline]
    assert types.index('MapLabelValues') == types.index(
        'mmseg.LoadAnnotations') + 1
    assert pipeline[2]['mapping'] == {254: 255}


def test_mmseg_train_pipeline_keeps_254_and_255(voc):
    """LoadAnnotations, RandomResize, RandomCrop(cat_max_ratio),
    RandomFlip, PhotoMetricDistortion, PackSegInputs of the base config:
    nearest resizing only, so no value appears that was not in the map."""
    dataset = _dataset(voc, map_254=False)
    seen = set()
    for i in range(8):
        sample = dataset[i % len(dataset)]['data_samples']
        label = sample.gt_sem_seg.data
        assert label.dtype == torch.int64
        assert label.shape[0] == 1
        values = set(torch.unique(label).tolist())
        assert values <= ALLOWED, values - ALLOWED
        seen |= values
    assert {UNCERTAIN_INDEX, IGNORE_INDEX} <= seen


def test_resizing_is_nearest_and_keeps_every_value(voc):
    """A 2x RandomResize + a crop larger than the image gives exactly the
    2x pixel-replicated map (with flips undone)."""
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='mmseg.LoadAnnotations'),
        dict(type='mmseg.RandomResize', scale=(48, 40),
             ratio_range=(2.0, 2.0), resize_type='mmseg.Resize',
             keep_ratio=True),
        dict(type='mmseg.RandomCrop', crop_size=(128, 128),
             cat_max_ratio=0.75),
        dict(type='mmseg.RandomFlip', prob=0.5),
        dict(type='mmseg.PhotoMetricDistortion'),
        dict(type='mmseg.PackSegInputs'),
    ]
    dataset = _dataset(voc, pipeline=pipeline)
    expected = np.kron(_label_map(), np.ones((2, 2), np.uint8))
    for i in range(4):
        sample = dataset[i % len(dataset)]['data_samples']
        label = sample.gt_sem_seg.data[0].numpy()
        if sample.flip:
            label = label[:, ::-1]
        np.testing.assert_array_equal(label, expected)
        assert set(np.unique(label).tolist()) == set(BLOCK_VALUES)


def test_map_label_values_in_the_pipeline(voc):
    dataset = _dataset(voc, pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='mmseg.LoadAnnotations'),
        dict(type='MapLabelValues', mapping={254: 255}),
        dict(type='mmseg.PackSegInputs'),
    ])
    label = dataset[0]['data_samples'].gt_sem_seg.data[0].numpy()
    expected = _label_map()
    expected[expected == UNCERTAIN_INDEX] = IGNORE_INDEX
    np.testing.assert_array_equal(label, expected)


def _logits_for(label: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(1, NUM_CLASSES, *label.shape[-2:])


def test_mmseg_loss_needs_254_mapped_to_255(voc):
    """mmseg's CrossEntropyLoss knows one ignore index: 254 is an
    out-of-range target for 21 classes; after MapLabelValues it is ignored
    like 255."""
    loss = MODELS.build(
        dict(type='mmseg.CrossEntropyLoss', use_sigmoid=False))
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='mmseg.LoadAnnotations'),
        dict(type='mmseg.PackSegInputs'),
    ]
    raw = _dataset(voc, pipeline=pipeline)[0]['data_samples']
    label = raw.gt_sem_seg.data.long()  # (1, H, W)
    logits = _logits_for(label)
    with pytest.raises((IndexError, RuntimeError)):
        loss(logits, label, ignore_index=IGNORE_INDEX)

    mapped = _dataset(
        voc, pipeline=pipeline[:2] +
        [dict(type='MapLabelValues', mapping={254: 255})] +
        pipeline[2:])[0]['data_samples'].gt_sem_seg.data.long()
    value = loss(logits, mapped, ignore_index=IGNORE_INDEX)
    keep = mapped < NUM_CLASSES
    ce = torch.nn.functional.cross_entropy(
        logits.permute(0, 2, 3, 1)[keep], mapped[keep], reduction='sum')
    # mmseg averages over all pixels (avg_non_ignore=False)
    torch.testing.assert_close(value, ce / mapped.numel())


def test_decode_head_loss_on_the_packed_batch(voc):
    """The whole path: the base config's pipeline (with MapLabelValues) and
    a decode head's loss with ignore_index 255."""
    dataset = _dataset(voc)
    # the crops are at most 512 x 512; mmseg's data preprocessor pads them
    # to the crop size with 255, as the segmenter configs do
    preprocessor = MODELS.build(
        dict(
            type='mmseg.SegDataPreProcessor',
            size=(512, 512),
            pad_val=0,
            seg_pad_val=IGNORE_INDEX))
    batch = pseudo_collate([dataset[i] for i in range(2)])
    samples = preprocessor(batch, True)['data_samples']
    head = MODELS.build(
        dict(type='DeepLabV2Head', in_channels=4, num_classes=NUM_CLASSES))
    h, w = 512, 512
    for raw, s in zip(batch['data_samples'], samples):
        assert max(raw.gt_sem_seg.shape) <= 512
        assert s.gt_sem_seg.shape == (h, w)
        assert UNCERTAIN_INDEX not in torch.unique(s.gt_sem_seg.data)
    feats = (torch.randn(2, 4, h // 8, w // 8), )
    losses = head.loss(feats, samples, train_cfg=dict())
    assert torch.isfinite(losses['loss_ce'])


def test_map_label_values_unit():
    label = np.array([[0, 1, 2], [254, 255, 3]], np.uint8)
    out = MapLabelValues({254: 255})(dict(gt_seg_map=label.copy(),
                                          seg_fields=['gt_seg_map']))
    np.testing.assert_array_equal(out['gt_seg_map'],
                                  [[0, 1, 2], [255, 255, 3]])
    assert out['gt_seg_map'].dtype == np.uint8
    # simultaneous replacement: a swap
    swapped = MapLabelValues({1: 2, 2: 1})(dict(gt_seg_map=label.copy()))
    np.testing.assert_array_equal(swapped['gt_seg_map'],
                                  [[0, 2, 1], [254, 255, 3]])
    # other integer dtypes and explicit keys
    wide = MapLabelValues({254: 255}, keys=['mask'])(
        dict(mask=label.astype(np.int64)))
    assert wide['mask'].dtype == np.int64
    assert wide['mask'][1, 0] == 255


def test_map_label_values_errors():
    with pytest.raises(TypeError, match='mapping'):
        MapLabelValues([(254, 255)])
    with pytest.raises(ValueError, match='non-negative'):
        MapLabelValues({254: -1})
    with pytest.raises(ValueError, match='above 255'):
        MapLabelValues({1: 300})(dict(gt_seg_map=np.zeros((2, 2),
                                                          np.uint8)))
    with pytest.raises(TypeError, match='integer'):
        MapLabelValues({1: 2})(dict(gt_seg_map=np.zeros((2, 2))))
    with pytest.raises(KeyError, match='after LoadAnnotations'):
        MapLabelValues({254: 255})(dict(img_path='a.jpg'))
