# Copyright (c) mmweak contributors.
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope

import mmweak.datasets  # noqa: F401
from mmweak.datasets.transforms import LoadWSOLAnnotations
from mmweak.registry import TRANSFORMS

init_default_scope('mmweak')


def _write_mask(path, values):
    cv2.imwrite(str(path), np.asarray(values, dtype=np.uint8))
    return str(path)


def test_mask_foreground_is_grey_value_above_127(tmp_path):
    path = _write_mask(tmp_path / 'm.png', [[0, 127, 128, 255]])
    results = LoadWSOLAnnotations()(dict(img_path='a.jpg', mask_path=path))
    seg = results['gt_seg_map']
    assert seg.dtype == np.uint8
    assert seg.tolist() == [[0, 0, 1, 1]]


def test_mask_threshold_is_configurable(tmp_path):
    path = _write_mask(tmp_path / 'm.png', [[0, 127, 128, 255]])
    results = LoadWSOLAnnotations(mask_thr=0)(dict(mask_path=path))
    assert results['gt_seg_map'].tolist() == [[0, 1, 1, 1]]


def test_colour_mask_png_is_read_as_grey(tmp_path):
    mask = np.zeros((3, 4, 3), np.uint8)
    mask[1, 2] = 255
    path = str(tmp_path / 'rgb.png')
    cv2.imwrite(path, mask)
    seg = LoadWSOLAnnotations()(dict(mask_path=path))['gt_seg_map']
    assert seg.shape == (3, 4) and seg.sum() == 1 and seg[1, 2] == 1


def test_samples_without_mask_path_or_with_mask_off_are_unchanged(tmp_path):
    results = LoadWSOLAnnotations()(dict(img_path='a.jpg'))
    assert 'gt_seg_map' not in results
    path = _write_mask(tmp_path / 'm.png', [[255]])
    results = LoadWSOLAnnotations(with_mask=False)(dict(mask_path=path))
    assert 'gt_seg_map' not in results
    # a mask already in the results (SyntheticWSOL) is kept
    seg = np.ones((2, 2), np.uint8)
    results = LoadWSOLAnnotations()(dict(gt_seg_map=seg))
    assert results['gt_seg_map'] is seg


def test_boxes_become_float32_n_by_4():
    results = LoadWSOLAnnotations()(dict(gt_bboxes=[1, 2, 3, 4]))
    assert results['gt_bboxes'].dtype == np.float32
    assert results['gt_bboxes'].shape == (1, 4)
    results = LoadWSOLAnnotations()(dict(gt_bboxes=[]))
    assert results['gt_bboxes'].shape == (0, 4)
    with pytest.raises(ValueError, match=r'x.jpg.*\(N, 4\)'):
        LoadWSOLAnnotations()(dict(img_path='x.jpg', gt_bboxes=[[1, 2, 3]]))


def test_missing_mask_file_is_named(tmp_path):
    path = str(tmp_path / 'missing.png')
    with pytest.raises(FileNotFoundError) as e:
        LoadWSOLAnnotations()(dict(img_path='a.jpg', mask_path=path))
    assert path in str(e.value) and 'a.jpg' in str(e.value)


def test_corrupt_mask_file_is_named(tmp_path):
    path = tmp_path / 'bad.png'
    path.write_bytes(b'not a png')
    with pytest.raises(ValueError, match='bad.png'):
        LoadWSOLAnnotations()(dict(mask_path=str(path)))


def test_mask_of_another_size_than_the_image_fails(tmp_path):
    path = _write_mask(tmp_path / 'm.png', np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r'm.png.*\(4, 5\).*\(6, 5\)'):
        LoadWSOLAnnotations()(dict(img=np.zeros((6, 5, 3), np.uint8),
                                   mask_path=path))


def test_mmcv_load_image_names_missing_and_corrupt_files(tmp_path):
    load = TRANSFORMS.build(dict(type='LoadImageFromFile'))
    missing = str(tmp_path / 'missing.jpg')
    with pytest.raises(FileNotFoundError, match='missing.jpg'):
        load(dict(img_path=missing))
    corrupt = tmp_path / 'corrupt.jpg'
    corrupt.write_bytes(b'\x00\x01garbage')
    # mmweak's LoadImageFromFile raises an explicit error, not mmcv's assert
    with pytest.raises(ValueError, match=osp.basename(str(corrupt))):
        load(dict(img_path=str(corrupt)))


def test_transform_is_registered():
    t = TRANSFORMS.build(dict(type='LoadWSOLAnnotations', mask_thr=100))
    assert isinstance(t, LoadWSOLAnnotations) and t.mask_thr == 100
    assert 'mask_thr=100' in repr(t)
