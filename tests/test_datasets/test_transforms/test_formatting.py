# Copyright (c) mmweak contributors.
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmpretrain.models import ClsDataPreprocessor
from mmpretrain.structures import DataSample

import mmweak.datasets  # noqa: F401
from mmweak.datasets import CUBWSOL
from mmweak.datasets.transforms import PackWSOLInputs
from mmweak.testing import make_cub_root

init_default_scope('mmweak')

CROP256_TEST = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSOLAnnotations'),
    dict(type='WSOLResize', scale=(256, 256)),
    dict(type='WSOLCenterCrop', crop_size=224),
    dict(type='WSOLClipBoxes'),
    dict(type='PackWSOLInputs'),
]


def _results(h=6, w=8):
    mask = np.zeros((h, w), np.uint8)
    mask[1:4, 2:7] = 1
    return dict(img=np.arange(h * w * 3, dtype=np.uint8).reshape(h, w, 3),
                img_path='a.jpg',
                ori_shape=(h, w),
                img_shape=(h, w),
                gt_label=3,
                gt_bboxes=np.array([[2, 1, 7, 4], [0, 0, 1, 1]], np.float32),
                gt_seg_map=mask,
                flip=False,
                crop_bbox=np.array([0, 0, w, h], np.float32))


def test_pack_puts_boxes_mask_label_and_meta_in_a_data_sample():
    out = PackWSOLInputs()(_results())
    assert out['inputs'].shape == (3, 6, 8)
    assert out['inputs'].dtype == torch.uint8
    sample = out['data_samples']
    assert isinstance(sample, DataSample)
    assert sample.gt_label.tolist() == [3]
    assert sample.gt_bboxes.dtype == torch.float32
    assert sample.gt_bboxes.tolist() == [[2, 1, 7, 4], [0, 0, 1, 1]]
    assert sample.gt_mask.dtype == torch.uint8
    assert sample.gt_mask.shape == (6, 8)
    assert sample.gt_mask.sum() == 15
    assert sample.img_path == 'a.jpg'
    assert sample.ori_shape == sample.img_shape == (6, 8)
    assert sample.flip is False
    assert 'crop_bbox' in sample.metainfo


def test_pack_empty_boxes_and_no_mask():
    results = _results()
    results['gt_bboxes'] = np.zeros((0, 4), np.float32)
    del results['gt_seg_map']
    sample = PackWSOLInputs()(results)['data_samples']
    assert sample.gt_bboxes.shape == (0, 4)
    assert 'gt_mask' not in sample


def test_pack_keeps_ignored_pixels_only_with_ignore_index():
    results = _results()
    mask = results['gt_seg_map'] * 255  # a 0/255 binary mask
    mask[5, :] = 7  # e.g. a padding value
    results['gt_seg_map'] = mask
    plain = PackWSOLInputs()(dict(results))['data_samples'].gt_mask
    assert set(plain.unique().tolist()) == {0, 1}
    assert plain.sum() == 15 + 8  # every non-zero value is foreground

    packed = PackWSOLInputs(ignore_index=7)(dict(results))['data_samples']
    gt_mask = packed.gt_mask
    assert (gt_mask[5] == 255).all()  # the value WSOLMetric ignores
    assert (gt_mask[:5] == plain[:5]).all()
    assert 'ignore_index=7' in repr(PackWSOLInputs(ignore_index=7))
    with pytest.raises(ValueError, match='background'):
        PackWSOLInputs(ignore_index=0)


def test_pack_rejects_a_mask_not_aligned_with_the_image():
    results = _results()
    results['gt_seg_map'] = np.zeros((5, 8), np.uint8)
    with pytest.raises(ValueError, match='a.jpg'):
        PackWSOLInputs()(results)


def test_cub_crop256_pipeline_packs_the_protocol_ground_truth(tmp_path):
    root = make_cub_root(tmp_path)
    ds = CUBWSOL(root,
                 split='train',
                 with_mask=True,
                 pipeline=CROP256_TEST,
                 test_mode=True)
    sample = ds[0]['data_samples']  # CUB image 1, 500 x 335
    assert ds[0]['inputs'].shape == (3, 224, 224)
    assert sample.img_shape == (224, 224)
    assert sample.ori_shape == (335, 500)
    assert sample.gt_bboxes.tolist() == [[14, 4, 181, 223]]
    # the mask's box agrees with the GT box within 1 px (223 is clipped)
    ys, xs = np.nonzero(sample.gt_mask.numpy())
    mask_box = np.array([xs.min(), ys.min(), xs.max(), ys.max()])
    assert np.abs(mask_box - sample.gt_bboxes[0].numpy()).max() <= 1
    for i in range(1, len(ds)):
        s = ds[i]['data_samples']
        ys, xs = np.nonzero(s.gt_mask.numpy())
        box = s.gt_bboxes[0].numpy()
        assert abs(xs.min() - box[0]) <= 1 and abs(ys.min() - box[1]) <= 1
        assert abs(xs.max() + 1 - box[2]) <= 1.5
        assert abs(ys.max() + 1 - box[3]) <= 1.5


def test_cub_train_pipeline_batches_through_cls_data_preprocessor(tmp_path):
    root = make_cub_root(tmp_path)
    ds = CUBWSOL(root,
                 split='test',
                 pipeline=[
                     dict(type='LoadImageFromFile'),
                     dict(type='LoadWSOLAnnotations', with_mask=False),
                     dict(type='WSOLResize', scale=(64, 64)),
                     dict(type='WSOLRandomCrop', crop_size=56),
                     dict(type='WSOLRandomFlip', prob=0.5),
                     dict(type='PackWSOLInputs'),
                 ])
    batch = pseudo_collate([ds[i] for i in range(3)])
    preprocessor = ClsDataPreprocessor(mean=[123.675, 116.28, 103.53],
                                       std=[58.395, 57.12, 57.375],
                                       to_rgb=True)
    data = preprocessor(batch, training=True)
    assert data['inputs'].shape == (3, 3, 56, 56)
    assert data['inputs'].dtype == torch.float32
    for sample in data['data_samples']:
        assert sample.gt_bboxes.shape == (1, 4)
        assert (sample.gt_bboxes >= 0).all() and (sample.gt_bboxes <= 56).all()
        assert isinstance(sample.flip, bool)
