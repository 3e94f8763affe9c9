# Copyright (c) mmweak contributors.
import numpy as np
import pytest
import torch
from skimage import measure

from mmweak.structures import (boxes_from_maps, contour_boxes, largest_cc_box,
                               largest_contour_box)


def _rect_map(shape=(10, 12)):
    maps = np.zeros(shape, dtype=np.float32)
    maps[2:5, 3:6] = 1.  # rows 2..4, columns 3..5
    return maps


def test_largest_cc_box_reference_ends_are_exclusive():
    box = boxes_from_maps(_rect_map(), 0.5)
    assert box.dtype == torch.float32 and box.shape == (1, 4)
    assert box.tolist() == [[3., 2., 6., 5.]]
    inclusive = boxes_from_maps(_rect_map(), 0.5, box_convention='inclusive')
    assert inclusive.tolist() == [[3., 2., 5., 4.]]


def test_largest_cc_uses_strict_threshold_and_8_connectivity():
    maps = np.zeros((8, 8), dtype=np.float32)
    maps[1, 1] = maps[2, 2] = maps[3, 3] = 0.6  # diagonal chain
    maps[6, 0:2] = 0.6  # two-pixel component
    maps[0, 7] = 0.5  # equal to the threshold: background
    assert boxes_from_maps(maps, 0.5).tolist() == [[1., 1., 4., 4.]]


def test_empty_map_gives_whole_image_or_zero_box():
    maps = torch.zeros(2, 10, 12)
    assert boxes_from_maps(maps, 0.2).tolist() == [[0., 0., 12., 10.]] * 2
    assert boxes_from_maps(maps, 0.2, box_convention='inclusive').tolist() \
        == [[0., 0., 11., 9.]] * 2
    assert boxes_from_maps(
        maps, 0.2, method='largest_contour').tolist() == [[0., 0., 0., 0.]] * 2
    assert contour_boxes(np.zeros((10, 12))).tolist() == [[0., 0., 0., 0.]]


def test_full_map_box_covers_the_image():
    maps = torch.ones(1, 10, 12)
    assert boxes_from_maps(maps, 0.2).tolist() == [[0., 0., 12., 10.]]
    # Choe et al. clip one-past-the-end contour boxes to W - 1 / H - 1
    assert boxes_from_maps(
        maps, 0.2, method='largest_contour').tolist() == [[0., 0., 11., 9.]]
    assert boxes_from_maps(maps,
                           0.2,
                           method='largest_contour',
                           box_convention='inclusive').tolist() == [[
                               0., 0., 11., 9.
                           ]]


def test_largest_cc_matches_scikit_image_regionprops():
    rng = np.random.default_rng(0)
    for _ in range(30):
        mask = rng.random((24, 20)) > 0.7
        labeled = measure.label(mask, connectivity=2)
        props = measure.regionprops(labeled)
        best = props[int(np.argmax([p.area for p in props]))]
        min_row, min_col, max_row, max_col = best.bbox
        expected = [min_col, min_row, max_col, max_row]
        assert largest_cc_box(mask).tolist() == expected


def test_largest_contour_ranks_by_polygon_area_not_pixel_count():
    mask = np.zeros((12, 30), dtype=np.uint8)
    mask[1, 2:25] = 1  # 23 pixels, zero polygon area
    mask[5:8, 5:8] = 1  # 9 pixels, polygon area 4
    assert largest_cc_box(mask).tolist() == [2., 1., 25., 2.]
    assert largest_contour_box(mask).tolist() == [5., 5., 8., 8.]


def test_choe_threshold_is_relative_to_quantised_max():
    maps = np.zeros((6, 6), dtype=np.float32)
    maps[1:3, 1:3] = 0.5  # q = 127
    maps[4, 4] = 0.31  # q = 79 > int(0.6 * 127) = 76
    out = boxes_from_maps(maps, 0.6, method='largest_contour')
    assert out.tolist() == [[1., 1., 3., 3.]]
    boxes = contour_boxes(np.uint8(maps * 255) > 76)
    assert sorted(boxes.tolist()) == [[1., 1., 3., 3.], [4., 4., 5., 5.]]
    # paper mode thresholds the raw scores: nothing above 0.6
    assert boxes_from_maps(maps, 0.6).tolist() == [[0., 0., 6., 6.]]


def test_contour_boxes_include_hole_borders():
    mask = np.zeros((12, 12), dtype=np.uint8)
    mask[1:11, 1:11] = 1
    mask[4:8, 4:8] = 0  # hole: rows / columns 4..7
    boxes = contour_boxes(mask)
    # outer border, and the hole border (rows / columns 3..8)
    assert sorted(boxes.tolist()) == [[1., 1., 11., 11.], [3., 3., 9., 9.]]


def test_boxes_from_maps_batched_on_tensor_matches_single_calls():
    rng = np.random.default_rng(1)
    maps = torch.from_numpy(rng.random((3, 16, 16)).astype(np.float32))
    batched = boxes_from_maps(maps, 0.8)
    for i in range(3):
        assert torch.equal(batched[i], boxes_from_maps(maps[i], 0.8)[0])


def test_boxes_from_maps_rejects_bad_arguments():
    with pytest.raises(ValueError, match='method'):
        boxes_from_maps(torch.zeros(1, 4, 4), 0.5, method='all')
    with pytest.raises(ValueError, match='box_convention'):
        boxes_from_maps(torch.zeros(1, 4, 4), 0.5, box_convention='open')
    with pytest.raises(ValueError, match='shape'):
        boxes_from_maps(torch.zeros(1, 1, 4, 4), 0.5)


def test_wsol_map_boxes_is_resize_normalise_then_boxes_from_maps():
    from mmweak.structures import (minmax_maps, prepare_wsol_maps, resize_maps,
                                   wsol_map_boxes)
    rng = np.random.default_rng(0)
    maps = rng.random((3, 6, 6)).astype(np.float32) * 0.8 + 0.1
    for interpolation, normalization, method in [
        ('bilinear', 'clip', 'largest_cc'),
        ('bicubic', 'minmax', 'largest_contour'),
    ]:
        resized = resize_maps(torch.from_numpy(maps), (24, 24),
                              mode=interpolation).numpy()
        if normalization == 'minmax':
            expected = minmax_maps(resized)
        else:
            expected = np.clip(resized, 0, 1)
        prepared, boxes = wsol_map_boxes(maps,
                                         0.5,
                                         img_shape=(24, 24),
                                         interpolation=interpolation,
                                         normalization=normalization,
                                         method=method)
        np.testing.assert_allclose(prepared, expected, atol=1e-6)
        assert boxes.shape == (3, 4)
        np.testing.assert_array_equal(
            boxes,
            boxes_from_maps(expected, 0.5, method=method).numpy())
    # a constant map is all zeros after min-max (Choe et al.)
    assert prepare_wsol_maps(np.full((4, 4), 0.3),
                             normalization='minmax').max() == 0
    with pytest.raises(ValueError, match='normalization'):
        prepare_wsol_maps(maps, normalization='none')
