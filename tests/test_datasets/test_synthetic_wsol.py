# Copyright (c) mmweak contributors.
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmweak.datasets  # noqa: F401
from mmweak.datasets import (SyntheticWSOL, generate_synthetic_wsol,
                             synthetic_class_names)
from mmweak.registry import DATASETS

init_default_scope('mmweak')

CONFIG = osp.join(osp.dirname(__file__), '..', '..', 'configs', '_base_',
                  'datasets', 'synthetic_wsol.py')


def _mask_box(mask):
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


@pytest.fixture(scope='module')
def data():
    return generate_synthetic_wsol(300, num_classes=8, img_size=64, seed=3)


def test_same_seed_and_split_give_identical_data(data):
    again = generate_synthetic_wsol(300, num_classes=8, img_size=64, seed=3)
    for key in data:
        np.testing.assert_array_equal(data[key], again[key])


def test_other_split_or_seed_give_other_images(data):
    test = generate_synthetic_wsol(300,
                                   num_classes=8,
                                   img_size=64,
                                   seed=3,
                                   split='test')
    other = generate_synthetic_wsol(300, num_classes=8, img_size=64, seed=4)
    assert not np.array_equal(data['imgs'], test['imgs'])
    assert not np.array_equal(data['imgs'], other['imgs'])
    assert not np.array_equal(data['boxes'], test['boxes'])


def test_arrays_have_the_documented_shapes_and_types(data):
    assert data['imgs'].shape == (300, 64, 64, 3)
    assert data['imgs'].dtype == np.uint8
    assert data['masks'].shape == (300, 64, 64)
    assert set(np.unique(data['masks'])) <= {0, 1}
    assert data['boxes'].shape == (300, 4)
    assert data['boxes'].dtype == np.float32
    # labels are balanced over the classes
    assert np.bincount(data['labels'], minlength=8).tolist() == \
        [38] * 4 + [37] * 4


def test_box_is_the_tight_box_of_the_mask(data):
    for mask, box in zip(data['masks'], data['boxes']):
        assert _mask_box(mask) == box.tolist()
    # the object lies fully inside the image
    assert (data['boxes'][:, :2] >= 1).all()
    assert (data['boxes'][:, 2:] <= 63).all()


def test_class_part_is_small_and_inside_the_object(data):
    part = data['part_boxes'].astype(int)
    part_area = (part[:, 2] - part[:, 0]) * (part[:, 3] - part[:, 1])
    obj_area = data['masks'].reshape(300, -1).sum(1)
    assert (part_area / obj_area).max() < 0.2
    assert np.median(part_area / obj_area) < 0.1
    for mask, (x1, y1, x2, y2) in zip(data['masks'], part):
        assert mask[y1:y2, x1:x2].all()


def test_class_is_carried_by_the_part_appearance(data):
    part = data['part_boxes'].astype(int)
    patches = np.stack([
        img[y1:y2, x1:x2].astype(np.float32)
        for img, (x1, y1, x2, y2) in zip(data['imgs'], part)
    ])
    labels = data['labels']
    same, diff = [], []
    for i in range(40):
        for j in range(i + 1, 40):
            d = np.abs(patches[i] - patches[j]).mean()
            (same if labels[i] == labels[j] else diff).append(d)
    # same-class parts differ only by sensor noise
    assert max(same) < 12 < min(diff)


def test_most_images_hold_distractor_bodies(data):
    assert data['distractors'].max() == 3
    assert data['distractors'].mean() >= 1
    none = generate_synthetic_wsol(20, img_size=64, num_distractors=0)
    assert (none['distractors'] == 0).all()


def test_dataset_infos_carry_image_box_and_mask():
    ds = SyntheticWSOL(num_samples=16, img_size=64, num_classes=4, seed=1)
    assert ds.metainfo['classes'] == synthetic_class_names(4) == (
        'red_disk', 'red_checker', 'red_half', 'red_frame')
    info = ds.get_data_info(5)
    assert info['img'].shape == (64, 64, 3)
    assert info['img_shape'] == info['ori_shape'] == (64, 64)
    assert info['gt_bboxes'].shape == (1, 4)
    assert _mask_box(info['gt_seg_map']) == info['gt_bboxes'][0].tolist()
    assert 0 <= info['gt_label'] < 4
    no_mask = SyntheticWSOL(num_samples=4, img_size=64, with_mask=False)
    assert 'gt_seg_map' not in no_mask.get_data_info(0)


def test_dataset_pipeline_packs_aligned_samples():
    ds = SyntheticWSOL(num_samples=8,
                       img_size=64,
                       pipeline=[
                           dict(type='WSOLRandomFlip', prob=1.0),
                           dict(type='PackWSOLInputs')
                       ])
    raw = ds.get_data_info(0)
    out = ds[0]
    sample = out['data_samples']
    assert out['inputs'].shape == (3, 64, 64)
    assert sample.flip is True
    x1, y1, x2, y2 = raw['gt_bboxes'][0]
    assert sample.gt_bboxes.tolist() == [[64 - x2, y1, 64 - x1, y2]]
    assert _mask_box(sample.gt_mask.numpy()) == sample.gt_bboxes[0].tolist()


def test_part_scale_sets_the_part_size_and_keeps_the_default_stream(data):
    side = data['part_boxes'][:, 2] - data['part_boxes'][:, 0]
    assert (side == 2 * round(0.045 * 64)).all()
    same = generate_synthetic_wsol(300, img_size=64, seed=3, part_scale=0.045)
    np.testing.assert_array_equal(same['imgs'], data['imgs'])
    big = generate_synthetic_wsol(40, img_size=96, seed=3, part_scale=0.09)
    assert (big['part_boxes'][:, 2] - big['part_boxes'][:, 0] == 18).all()
    mixed = generate_synthetic_wsol(
        200, img_size=96, seed=3, part_scale=(0.045, 0.09))
    sides = mixed['part_boxes'][:, 2] - mixed['part_boxes'][:, 0]
    assert sides.min() >= 8 and sides.max() <= 18 and len(set(sides)) > 3
    for mask, (x1, y1, x2, y2) in zip(mixed['masks'],
                                      mixed['part_boxes'].astype(int)):
        assert mask[y1:y2, x1:x2].all()


def test_bad_arguments_fail_clearly():
    for bad in (0, 0.2, (0.09, 0.045), (0.01, 0.02, 0.03), 'big'):
        with pytest.raises(ValueError, match='part_scale'):
            generate_synthetic_wsol(4, part_scale=bad)
    with pytest.raises(ValueError, match='split'):
        SyntheticWSOL(split='trian')
    with pytest.raises(ValueError, match='num_classes'):
        SyntheticWSOL(num_classes=33)
    with pytest.raises(ValueError, match='img_size'):
        generate_synthetic_wsol(4, img_size=16)


def test_base_config_builds_small_loaders():
    cfg = Config.fromfile(CONFIG)
    assert cfg.val_evaluator['type'] == 'WSOLMetric'
    assert cfg.test_evaluator['type'] == 'WSOLMetric'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds_cfg = cfg[key]['dataset'].copy()
        ds_cfg['num_samples'] = 8
        ds = DATASETS.build(ds_cfg)
        assert len(ds) == 8
        sample = ds[0]
        assert sample['inputs'].shape[0] == 3
        assert sample['data_samples'].gt_bboxes.shape == (1, 4)
    train = cfg.train_dataloader.dataset
    test = cfg.test_dataloader.dataset
    assert train.split != test.split
