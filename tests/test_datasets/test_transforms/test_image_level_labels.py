# Copyright (c) mmweak contributors.
"""LoadImageLevelLabels (MARS's image tags C_I) and the MARS train pipeline:
254 survives mmseg's LoadAnnotations, RandomResize, RandomCrop
(cat_max_ratio), RandomFlip and PackSegInputs, and the tags are those of
the whole image, taken before the crop."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.dataset import Compose
from PIL import Image

from mmweak.datasets.cls_labels import save_cls_labels
from mmweak.datasets.transforms import (SEG_META_KEYS_WITH_TAGS,
                                        LoadImageLevelLabels, MapLabelValues)
from mmweak.registry import TRANSFORMS
from mmweak.structures import IGNORE_INDEX, UNCERTAIN_INDEX

NUM_CLASSES = 4  # background + 3
ALLOWED = {0, 1, 2, 3, UNCERTAIN_INDEX, IGNORE_INDEX}


def _label_map() -> np.ndarray:
    """40 x 48: background, a class-1 block with a 254 part, a small
    class-2 block in a corner (missed by most crops), a 255 band."""
    label = np.zeros((40, 48), np.uint8)
    label[8:32, 8:40] = 1
    label[8:32, 24:40] = UNCERTAIN_INDEX
    label[32:40, 40:48] = 2
    label[:, 0:2] = IGNORE_INDEX
    return label


@pytest.fixture
def sample(tmp_path):
    """A tiny image and its grey label PNG in a tmp dir, as mmseg data
    infos name them."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
    img_path = osp.join(str(tmp_path), '2007_000032.png')
    seg_path = osp.join(str(tmp_path), '2007_000032_label.png')
    Image.fromarray(img).save(img_path)
    Image.fromarray(_label_map(), mode='L').save(seg_path)
    return dict(
        img_path=img_path,
        seg_map_path=seg_path,
        reduce_zero_label=False,
        seg_fields=[])


def _load(sample):
    return Compose([
        dict(type='LoadImageFromFile'),
        dict(type='mmseg.LoadAnnotations'),
    ])(dict(sample))


# --------------------------------------------------------------- sources
def test_tags_from_the_full_resolution_label(sample):
    results = LoadImageLevelLabels(num_classes=NUM_CLASSES)(_load(sample))
    tags = results['gt_tags']
    assert tags.dtype == np.int64
    # 0, 254 and 255 are not tags; ids stay in the label space
    assert tags.tolist() == [1, 2]


def test_tags_from_a_json_tag_file(sample, tmp_path):
    path = str(tmp_path / 'cls_labels.json')
    save_cls_labels(path, {'2007_000032': [2, 0]},
                    classes=['a', 'b', 'c'], source='xml',
                    skip_difficult=False)
    transform = LoadImageLevelLabels(tag_file=path, classes=['a', 'b', 'c'])
    # the file's 0-based foreground indices become label ids 1..C
    results = transform(dict(img_path=sample['img_path']))
    assert results['gt_tags'].tolist() == [1, 3]
    # img_id wins over the file name
    with open(path, 'w') as f:
        json.dump({'x': [1]}, f)
    transform = LoadImageLevelLabels(tag_file=path)
    assert transform(dict(img_id='x'))['gt_tags'].tolist() == [2]


def test_tags_from_an_irn_npy_tag_file(sample, tmp_path):
    path = str(tmp_path / 'cls_labels.npy')
    vec = np.zeros(20, np.float32)
    vec[[0, 14]] = 1  # aeroplane, person
    np.save(path, {2007000032: vec})
    results = LoadImageLevelLabels(tag_file=path, num_classes=21)(
        dict(img_path=sample['img_path']))
    assert results['gt_tags'].tolist() == [1, 15]


def test_tags_from_a_results_key():
    results = LoadImageLevelLabels(tags_key='gt_label')(
        dict(img_path='a.jpg', gt_label=[3, 0, 3]))
    assert results['gt_tags'].tolist() == [1, 4]
    empty = LoadImageLevelLabels(tags_key='gt_label')(
        dict(img_path='a.jpg', gt_label=[]))
    assert empty['gt_tags'].dtype == np.int64 and empty['gt_tags'].size == 0


def test_fallback_to_the_label_map(sample, tmp_path):
    path = str(tmp_path / 'tags.json')
    with open(path, 'w') as f:
        json.dump({'other': [0]}, f)
    loaded = _load(sample)
    with pytest.raises(KeyError, match=r'2007_000032.*tags\.json'):
        LoadImageLevelLabels(tag_file=path)(dict(loaded))
    results = LoadImageLevelLabels(
        tag_file=path, fallback_to_seg_map=True)(dict(loaded))
    assert results['gt_tags'].tolist() == [1, 2]
    with pytest.raises(KeyError, match='gt_label'):
        LoadImageLevelLabels(tags_key='gt_label')(dict(loaded))
    results = LoadImageLevelLabels(
        tags_key='gt_label', fallback_to_seg_map=True)(dict(loaded))
    assert results['gt_tags'].tolist() == [1, 2]


def test_errors_name_the_file_or_key(sample, tmp_path):
    missing = str(tmp_path / 'nope.json')
    with pytest.raises(FileNotFoundError, match='nope.json'):
        LoadImageLevelLabels(tag_file=missing)(dict(img_path='a.jpg'))
    bad = str(tmp_path / 'bad.json')
    with open(bad, 'w') as f:
        f.write('{not json')
    with pytest.raises(ValueError, match='bad.json'):
        LoadImageLevelLabels(tag_file=bad)(dict(img_path='a.jpg'))
    # no label map loaded
    with pytest.raises(KeyError, match='after mmseg.LoadAnnotations'):
        LoadImageLevelLabels()(dict(img_path='a.jpg'))
    # values outside 0..C-1, 254, 255
    with pytest.raises(ValueError, match='label values'):
        LoadImageLevelLabels(num_classes=2)(_load(sample))
    # tags outside the label ids
    with pytest.raises(ValueError, match='outside'):
        LoadImageLevelLabels(tags_key='t', num_classes=3)(
            dict(img_path='a.jpg', t=[2]))
    with pytest.raises(ValueError, match='reduce_zero_label'):
        LoadImageLevelLabels()(dict(_load(sample), reduce_zero_label=True))
    with pytest.raises(ValueError, match='num_classes'):
        LoadImageLevelLabels(classes=['a'], num_classes=4)


def test_tags_must_be_taken_before_resize_or_crop(sample):
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='mmseg.LoadAnnotations'),
        dict(type='mmseg.RandomCrop', crop_size=(16, 16)),
        dict(type='LoadImageLevelLabels'),
    ])
    with pytest.raises(ValueError, match='before RandomResize / RandomCrop'):
        pipeline(dict(sample))


def test_registered_in_mmweak_scope():
    transform = TRANSFORMS.build(
        dict(type='LoadImageLevelLabels', tags_key='t'))
    assert isinstance(transform, LoadImageLevelLabels)
    assert 'tags_key' in repr(transform)


# -------------------------------------------------------------- pipeline
def _train_pipeline(crop=(24, 24)):
    return Compose([
        dict(type='LoadImageFromFile'),
        dict(type='mmseg.LoadAnnotations'),
        dict(type='LoadImageLevelLabels', num_classes=NUM_CLASSES),
        dict(
            type='mmseg.RandomResize',
            scale=(48, 40),
            ratio_range=(0.5, 2.0),
            resize_type='mmseg.Resize',
            keep_ratio=True),
        dict(type='mmseg.RandomCrop', crop_size=crop, cat_max_ratio=0.75),
        dict(type='mmseg.RandomFlip', prob=0.5),
        dict(type='mmseg.PackSegInputs', meta_keys=SEG_META_KEYS_WITH_TAGS),
    ])


def test_254_survives_the_mmseg_train_pipeline_with_tags(sample):
    """Nearest resizing only: no value appears that was not in the map;
    254 is kept; the tags are the whole image's even in crops that miss
    class 2."""
    pipeline = _train_pipeline()
    np.random.seed(0)
    seen, crops_without_2 = set(), 0
    for _ in range(16):
        packed = pipeline(dict(sample))
        data_sample = packed['data_samples']
        label = data_sample.gt_sem_seg.data
        assert label.dtype == torch.int64
        values = set(torch.unique(label).tolist())
        assert values <= ALLOWED, values - ALLOWED
        seen |= values
        crops_without_2 += 2 not in values
        tags = data_sample.metainfo['gt_tags']
        assert tags.tolist() == [1, 2]
    assert UNCERTAIN_INDEX in seen and IGNORE_INDEX in seen
    assert crops_without_2 > 0


def test_resize_and_crop_keep_254_exactly(sample):
    """A 2x resize and a crop larger than the image give the 2x
    pixel-replicated map, 254 included (flips undone)."""
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='mmseg.LoadAnnotations'),
        dict(type='LoadImageLevelLabels'),
        dict(
            type='mmseg.RandomResize',
            scale=(48, 40),
            ratio_range=(2.0, 2.0),
            resize_type='mmseg.Resize',
            keep_ratio=True),
        dict(type='mmseg.RandomCrop', crop_size=(128, 128),
             cat_max_ratio=0.75),
        dict(type='mmseg.RandomFlip', prob=0.5),
        dict(type='mmseg.PackSegInputs', meta_keys=SEG_META_KEYS_WITH_TAGS),
    ])
    expected = np.kron(_label_map(), np.ones((2, 2), np.uint8))
    for _ in range(4):
        data_sample = pipeline(dict(sample))['data_samples']
        label = data_sample.gt_sem_seg.data[0].numpy()
        if data_sample.flip:
            label = label[:, ::-1]
        np.testing.assert_array_equal(label, expected)


def test_cat_max_ratio_counts_254_as_a_class():
    """mmseg's RandomCrop ignores only its ``ignore_index`` (255) in the
    cat_max_ratio check, so 254 is counted as a class: a crop of 70 %
    class 1 and 30 % 254 passes at the first draw, while with 254 mapped
    to 255 it holds one class and is redrawn 10 times (then kept anyway).
    Either way every value survives; MARS keeps 254 and accepts the
    slightly different crop statistics."""
    label = np.ones((10, 10), np.uint8)
    label[:, 7:] = UNCERTAIN_INDEX

    def crops_made(seg: np.ndarray) -> int:
        crop = TRANSFORMS.build(
            dict(type='mmseg.RandomCrop', crop_size=(10, 10),
                 cat_max_ratio=0.75))
        calls = []
        original = crop.crop

        def counting(img, bbox):
            calls.append(bbox)
            return original(img, bbox)

        crop.crop = counting
        out = crop(
            dict(img=np.zeros((10, 10, 3), np.uint8), gt_seg_map=seg.copy(),
                 seg_fields=['gt_seg_map']))
        np.testing.assert_array_equal(out['gt_seg_map'], seg)
        return len(calls) - 2  # minus the crops of img and gt_seg_map

    assert crops_made(label) == 1
    mapped = MapLabelValues({UNCERTAIN_INDEX: IGNORE_INDEX})(
        dict(gt_seg_map=label))['gt_seg_map']
    assert crops_made(mapped) == 10
