# Copyright (c) mmweak contributors.
import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine.registry import init_default_scope

import mmweak.datasets  # noqa: F401
from mmweak.datasets.transforms import (WSOLCenterCrop, WSOLClipBoxes,
                                        WSOLRandomCrop, WSOLRandomFlip,
                                        WSOLResize)
from mmweak.registry import TRANSFORMS

init_default_scope('mmweak')


def _sample(w, h, boxes, seed=0):
    """An image with a mask that is exactly the union of integer boxes."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((h, w), np.uint8)
    for x1, y1, x2, y2 in boxes:
        mask[int(y1):int(y2), int(x1):int(x2)] = 1
    return dict(img_path='sample.jpg',
                img=rng.integers(0, 255, (h, w, 3), dtype=np.uint8),
                img_shape=(h, w),
                ori_shape=(h, w),
                gt_bboxes=np.array(boxes, np.float32),
                gt_seg_map=mask)


def _mask_box(mask):
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])


def _crop256_expected(boxes, w, h):
    """The protocol's formula: x * 256 / W - 16, clipped to [0, 223], int."""
    boxes = np.asarray(boxes, np.float64)
    out = boxes * np.array([256 / w, 256 / h] * 2) - 16
    return np.trunc(out.clip(0, 223))


def test_all_transforms_are_registered():
    for cfg, cls in [(dict(type='WSOLResize', scale=256), WSOLResize),
                     (dict(type='WSOLRandomCrop',
                           crop_size=224), WSOLRandomCrop),
                     (dict(type='WSOLCenterCrop',
                           crop_size=224), WSOLCenterCrop),
                     (dict(type='WSOLRandomFlip'), WSOLRandomFlip),
                     (dict(type='WSOLClipBoxes'), WSOLClipBoxes)]:
        assert isinstance(TRANSFORMS.build(cfg), cls)


def test_resize_scales_boxes_and_mask_to_256x256():
    # CUB image 1: 500 x 335 with box [60, 27, 385, 331]
    results = WSOLResize(scale=(256, 256))(_sample(500, 335,
                                                   [[60, 27, 385, 331]]))
    assert results['img'].shape == (256, 256, 3)
    assert results['gt_seg_map'].shape == (256, 256)
    assert results['img_shape'] == (256, 256)
    assert results['gt_bboxes'].dtype == np.float32
    expected = np.array([[60, 27, 385, 331]]) * ([256 / 500, 256 / 335] * 2)
    np.testing.assert_allclose(results['gt_bboxes'], expected, rtol=1e-6)
    assert np.abs(_mask_box(results['gt_seg_map']) -
                  results['gt_bboxes'][0]).max() <= 1


def test_crop256_test_pipeline_matches_the_protocol_formula():
    w, h = 500, 335
    boxes = [[60, 27, 385, 331], [0, 0, 500, 335], [3, 5, 20, 9],
             [480, 300, 500, 335], [125, 100, 375, 200]]
    pipeline = Compose([
        WSOLResize(scale=(256, 256)),
        WSOLCenterCrop(crop_size=224),
        WSOLClipBoxes(inclusive=True, truncate=True)
    ])
    results = pipeline(_sample(w, h, boxes))
    assert results['img'].shape == (224, 224, 3)
    np.testing.assert_array_equal(results['crop_bbox'], [16, 16, 240, 240])
    np.testing.assert_array_equal(results['gt_bboxes'],
                                  _crop256_expected(boxes, w, h))
    # CUB image 1: 60*256/500-16 = 14.72, 27*256/335-16 = 4.63,
    # 385*256/500-16 = 181.12, 331*256/335-16 = 236.9 -> 223
    assert results['gt_bboxes'][0].tolist() == [14, 4, 181, 223]
    # the corner box outside the centre crop stays, degenerate
    assert len(results['gt_bboxes']) == len(boxes)
    assert results['gt_bboxes'][2].tolist() == [0, 0, 0, 0]


def test_resize224_pipeline_truncates_scaled_boxes():
    w, h = 375, 500
    boxes = [[10, 20, 300, 499], [0, 0, 375, 500]]
    pipeline = Compose([
        WSOLResize(scale=(224, 224)),
        WSOLClipBoxes(inclusive=False, truncate=True)
    ])
    results = pipeline(_sample(w, h, boxes))
    expected = np.trunc(np.array(boxes) * ([224 / w, 224 / h] * 2))
    np.testing.assert_array_equal(results['gt_bboxes'], expected)
    assert results['gt_bboxes'][1].tolist() == [0, 0, 224, 224]


@pytest.mark.parametrize('seed', range(6))
def test_train_pipeline_keeps_box_and_mask_aligned(seed):
    rng = np.random.default_rng(seed)
    w, h = int(rng.integers(120, 400)), int(rng.integers(120, 400))
    bw, bh = int(rng.integers(20, w // 2)), int(rng.integers(20, h // 2))
    x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
    np.random.seed(seed)
    pipeline = Compose([
        WSOLResize(scale=(256, 256)),
        WSOLRandomCrop(crop_size=224),
        WSOLRandomFlip(prob=0.5)
    ])
    results = pipeline(_sample(w, h, [[x, y, x + bw, y + bh]], seed))
    box = results['gt_bboxes'][0]
    mask = results['gt_seg_map']
    assert results['img'].shape[:2] == mask.shape == (224, 224)
    assert 'flip' in results
    if box[2] - box[0] >= 2 and box[3] - box[1] >= 2:
        assert np.abs(_mask_box(mask) - box).max() <= 1
    else:  # cropped away: degenerate box, (almost) empty mask
        assert mask.sum() <= 224


def test_random_crop_offsets_cover_every_position_and_clip_boxes():
    crop = WSOLRandomCrop(crop_size=(6, 4))
    np.random.seed(0)
    offsets = set()
    for _ in range(100):
        results = crop(_sample(8, 5, [[1, 1, 7, 4], [0, 0, 1, 1]]))
        x0, y0, x2, y2 = results['crop_bbox']
        offsets.add((int(x0), int(y0)))
        assert (x2 - x0, y2 - y0) == (6, 4)
        assert results['img'].shape == (4, 6, 3)
        expected = np.array([[1, 1, 7, 4], [0, 0, 1, 1]], np.float32) - \
            [x0, y0, x0, y0]
        expected[:, 0::2] = expected[:, 0::2].clip(0, 6)
        expected[:, 1::2] = expected[:, 1::2].clip(0, 4)
        np.testing.assert_array_equal(results['gt_bboxes'], expected)
    assert offsets == {(x, y) for x in range(3) for y in range(2)}


@pytest.mark.parametrize('crop', [WSOLRandomCrop(224), WSOLCenterCrop(224)])
def test_crop_larger_than_image_fails_naming_the_image(crop):
    with pytest.raises(ValueError, match='sample.jpg'):
        crop(_sample(200, 300, [[0, 0, 5, 5]]))


def test_flip_moves_boxes_and_mask_together():
    results = WSOLRandomFlip(prob=1.0)(_sample(50, 30, [[5, 3, 20, 10]]))
    assert results['flip'] is True
    assert results['flip_direction'] == 'horizontal'
    assert results['gt_bboxes'].tolist() == [[30, 3, 45, 10]]
    assert results['gt_bboxes'].dtype == np.float32
    assert _mask_box(results['gt_seg_map']).tolist() == [30, 3, 45, 10]
    kept = WSOLRandomFlip(prob=0.0)(_sample(50, 30, [[5, 3, 20, 10]]))
    assert kept['flip'] is False
    assert kept['gt_bboxes'].tolist() == [[5, 3, 20, 10]]


def test_clip_boxes_modes():
    boxes = [[-3.5, 2.7, 230.2, 224.0]]
    inclusive = WSOLClipBoxes()(_sample(224, 224, [[0, 0, 1, 1]])
                                | dict(gt_bboxes=np.array(boxes, np.float32)))
    assert inclusive['gt_bboxes'].tolist() == [[0, 2, 223, 223]]
    exclusive = WSOLClipBoxes(
        inclusive=False,
        truncate=False)(_sample(224, 224, [[0, 0, 1, 1]])
                        | dict(gt_bboxes=np.array(boxes, np.float32)))
    np.testing.assert_allclose(exclusive['gt_bboxes'], [[0, 2.7, 224, 224]],
                               rtol=1e-6)
    assert 'gt_bboxes' not in WSOLClipBoxes()(
        dict(img=np.zeros((4, 4, 3), np.uint8)))


def test_misaligned_mask_is_rejected():
    results = _sample(40, 30, [[1, 1, 5, 5]])
    results['gt_seg_map'] = np.zeros((31, 40), np.uint8)
    with pytest.raises(ValueError, match='gt_seg_map'):
        WSOLResize(scale=32)(results)


def test_sample_without_boxes_or_mask_passes_through():
    results = Compose([
        WSOLResize(scale=(64, 64)),
        WSOLRandomCrop(48),
        WSOLRandomFlip(),
        WSOLClipBoxes()
    ])(dict(img=np.zeros((80, 100, 3), np.uint8)))
    assert results['img'].shape == (48, 48, 3)
    assert 'gt_bboxes' not in results and 'gt_seg_map' not in results
