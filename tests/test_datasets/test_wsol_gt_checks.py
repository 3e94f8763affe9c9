# Copyright (c) mmweak contributors.
"""Ground-truth checks of the WSOL datasets: image sizes, bad boxes,
clipping, CUB segmentation folders and unreadable images."""
import io
import os
import os.path as osp
import shutil
import warnings

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image

import mmweak.datasets  # noqa: F401
from mmweak.datasets import CUBWSOL, ImageNetWSOL
from mmweak.datasets.wsol_gt import is_uniform_resize, read_image_header
from mmweak.registry import TRANSFORMS
from mmweak.testing import make_cub_root, make_ilsvrc_root
from mmweak.testing.wsol_fixtures import (CUB_IMAGE1_PATH, ILSVRC_VAL1_BOX,
                                          ILSVRC_VAL1_WNID, voc_xml)

init_default_scope('mmweak')

VAL1 = 'ILSVRC2012_val_00000001'
VAL2 = 'ILSVRC2012_val_00000002'


def _load(cls, *args, **kwargs):
    """Build a dataset and return it with the texts of its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        ds = cls(*args, **kwargs)
    return ds, [
        str(w.message) for w in caught if issubclass(w.category, UserWarning)
    ]


def _val_info(ds, stem):
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        if osp.basename(info['img_path']).startswith(stem):
            return info
    raise KeyError(stem)


def _write_image(path, w, h):
    assert cv2.imwrite(path, np.full((h, w, 3), 128, np.uint8))


def _write_val_xml(root, stem, size, boxes, wnid=ILSVRC_VAL1_WNID):
    with open(osp.join(root, 'val_boxes', stem + '.xml'), 'w') as f:
        f.write(voc_xml(stem, size, wnid, boxes))


def _rewrite(path, transform):
    with open(path) as f:
        lines = f.read().splitlines()
    with open(path, 'w') as f:
        f.write('\n'.join(transform(lines)) + '\n')


# --------------------------------------------------------------------- #
# helpers
def test_uniform_resize_allows_one_pixel_of_rounding():
    assert is_uniform_resize((500, 375), (250, 188))
    assert is_uniform_resize((500, 375), (250, 187))
    assert is_uniform_resize((500, 375), (1000, 750))
    assert is_uniform_resize((500, 375), (341, 256))  # shorter side 256
    assert not is_uniform_resize((500, 375), (300, 375))
    assert not is_uniform_resize((500, 375), (375, 500))  # transposed
    assert not is_uniform_resize((500, 375), (250, 190))


def test_read_image_header_names_missing_and_corrupt_files(tmp_path):
    path = str(tmp_path / 'a.jpg')
    _write_image(path, 30, 20)
    assert read_image_header(path) == (30, 20, 1)
    with pytest.raises(FileNotFoundError, match='b.jpg'):
        read_image_header(str(tmp_path / 'b.jpg'))
    with open(path, 'wb') as f:
        f.write(b'not an image at all')
    with pytest.raises(ValueError, match='a.jpg'):
        read_image_header(path)


# --------------------------------------------------------------------- #
# ILSVRC: XML <size> against the image file
def test_imagenet_resized_copy_gets_rescaled_boxes_and_one_warning(tmp_path):
    root = make_ilsvrc_root(tmp_path, num_val=4)
    _write_image(osp.join(root, 'val', VAL1 + '.JPEG'), 250, 188)
    ds, msgs = _load(ImageNetWSOL, root, split='val')
    info = _val_info(ds, VAL1)
    x0, y0, x1, y1 = ILSVRC_VAL1_BOX
    sx, sy = 250 / 500, 188 / 375
    np.testing.assert_allclose(info['gt_bboxes'],
                               [[x0 * sx, y0 * sy, x1 * sx, y1 * sy]],
                               rtol=1e-6)
    assert info['ori_shape'] == (188, 250)
    rescale = [m for m in msgs if 'rescaled' in m]
    assert len(rescale) == 1
    assert '1 of 4 image(s)' in rescale[0]
    assert '500x375' in rescale[0] and '250x188' in rescale[0]


def test_imagenet_size_mismatch_error_names_both_files_and_sizes(tmp_path):
    root = make_ilsvrc_root(tmp_path)
    img = osp.join(root, 'val', VAL1 + '.JPEG')
    _write_image(img, 250, 188)
    with pytest.raises(ValueError) as e:
        ImageNetWSOL(root, split='val', size_mismatch='error')
    msg = str(e.value)
    assert osp.join(root, 'val_boxes', VAL1 + '.xml') in msg
    assert img in msg
    assert '500x375' in msg and '250x188' in msg
    with pytest.raises(ValueError, match='size_mismatch'):
        ImageNetWSOL(root, split='val', size_mismatch='ignore')


def test_imagenet_non_uniform_size_mismatch_is_an_error(tmp_path):
    root = make_ilsvrc_root(tmp_path)
    img = osp.join(root, 'val', VAL1 + '.JPEG')
    _write_image(img, 300, 375)
    with pytest.raises(ValueError, match='not a uniformly resized') as e:
        ImageNetWSOL(root, split='val')  # default: rescale
    assert img in str(e.value) and '300x375' in str(e.value)


def test_imagenet_ori_shape_comes_from_the_image(tmp_path):
    root = make_ilsvrc_root(tmp_path)
    ds, msgs = _load(ImageNetWSOL, root, split='val')
    assert not msgs
    assert _val_info(ds, VAL1)['ori_shape'] == (375, 500)
    assert _val_info(ds, VAL2)['ori_shape'] == (48, 64)


# --------------------------------------------------------------------- #
# inverted / empty boxes
@pytest.mark.parametrize('box,word', [((30, 5, 20, 40), 'inverted'),
                                      ((2, 30, 20, 3), 'inverted'),
                                      ((20, 5, 20, 40), 'empty'),
                                      ((2, 7, 20, 7), 'empty')])
def test_imagenet_bad_box_names_xml_and_object(tmp_path, box, word):
    root = make_ilsvrc_root(tmp_path)
    _write_val_xml(root, VAL2, (64, 48), [(2, 3, 20, 30), box])
    with pytest.raises(ValueError, match=word) as e:
        ImageNetWSOL(root, split='val')
    assert f'{VAL2}.xml", object 2' in str(e.value)


@pytest.mark.parametrize('xywh,word', [('10 12 0 30', 'empty'),
                                       ('10 12 30 0', 'empty'),
                                       ('10 12 -5 30', 'negative'),
                                       ('10 12 30 -1', 'negative')])
def test_cub_bad_box_names_file_and_line(tmp_path, xywh, word):
    root = make_cub_root(tmp_path, images_per_class=2)
    _rewrite(osp.join(root, 'bounding_boxes.txt'),
             lambda ls: ls[:2] + [f'3 {xywh}'] + ls[3:])
    with pytest.raises(ValueError, match=word) as e:
        CUBWSOL(root, split='train')  # id 3 is a train image
    assert 'bounding_boxes.txt, line 3 (image id 3)' in str(e.value)


# --------------------------------------------------------------------- #
# clipping
def test_imagenet_boxes_outside_the_image_are_clipped_with_one_warning(
        tmp_path):
    root = make_ilsvrc_root(tmp_path)
    _write_val_xml(root, VAL2, (64, 48), [(-3, 3, 20, 30), (30, 5, 70, 52),
                                          (5, 6, 64, 48)])
    ds, msgs = _load(ImageNetWSOL, root, split='val')
    np.testing.assert_array_equal(
        _val_info(ds, VAL2)['gt_bboxes'],
        [[0, 3, 20, 30], [30, 5, 64, 48], [5, 6, 64, 48]])
    clip = [m for m in msgs if 'clipped' in m]
    assert len(clip) == 1
    # 2 of the 6 boxes of the 4 val images (1 + 3 + 1 + 1) were changed
    assert 'clipped 2 of 6 box(es)' in clip[0]
    assert f'{VAL2}.xml", object 1' in clip[0]


def test_box_entirely_outside_the_image_is_an_error(tmp_path):
    root = make_ilsvrc_root(tmp_path)
    _write_val_xml(root, VAL2, (64, 48), [(70, 3, 90, 30)])
    with pytest.raises(ValueError, match='lies outside its image') as e:
        ImageNetWSOL(root, split='val')
    assert f'{VAL2}.xml", object 1' in str(e.value)


def test_cub_boxes_are_clipped_with_one_warning(tmp_path):
    root = make_cub_root(tmp_path, num_classes=1, images_per_class=4)
    # image 1 is 500 x 335; ids 1 and 3 are train images
    _rewrite(
        osp.join(root, 'bounding_boxes.txt'), lambda ls:
        ['1 460.0 27.0 60.0 320.0', ls[1], '3 -2.0 1.0 10.0 10.0', ls[3]])
    ds, msgs = _load(CUBWSOL, root, split='train')
    np.testing.assert_array_equal(
        ds.get_data_info(0)['gt_bboxes'], [[460, 27, 500, 335]])
    np.testing.assert_array_equal(
        ds.get_data_info(1)['gt_bboxes'], [[0, 1, 8, 11]])
    clip = [m for m in msgs if 'clipped' in m]
    assert len(clip) == 1 and 'clipped 2 of 2 box(es)' in clip[0]
    assert ds.get_data_info(0)['ori_shape'] == (335, 500)


# --------------------------------------------------------------------- #
# CUB segmentations: inside or beside CUB_200_2011
def test_cub_segmentations_beside_the_root_are_found(tmp_path):
    root = make_cub_root(tmp_path)
    shutil.move(osp.join(root, 'segmentations'),
                str(tmp_path / 'segmentations'))
    ds = CUBWSOL(root, split='test', with_mask=True)
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        rel = osp.relpath(info['img_path'], osp.join(root, 'images'))
        assert osp.normpath(info['mask_path']) == osp.join(
            str(tmp_path), 'segmentations',
            osp.splitext(rel)[0] + '.png')
        assert osp.isfile(info['mask_path'])
    # a relative data_root ending with a slash works too
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        ds = CUBWSOL('CUB_200_2011/', split='test', with_mask=True)
        assert osp.isfile(ds.get_data_info(0)['mask_path'])
    finally:
        os.chdir(cwd)


def test_cub_segmentations_inside_win_and_explicit_prefix_wins(tmp_path):
    root = make_cub_root(tmp_path, images_per_class=2)
    shutil.copytree(osp.join(root, 'segmentations'),
                    str(tmp_path / 'segmentations'))
    shutil.copytree(osp.join(root, 'segmentations'),
                    str(tmp_path / 'my_masks'))
    info = CUBWSOL(root, split='test', with_mask=True).get_data_info(0)
    assert info['mask_path'].startswith(osp.join(root, 'segmentations'))
    info = CUBWSOL(root,
                   split='test',
                   with_mask=True,
                   seg_prefix=str(tmp_path / 'my_masks')).get_data_info(0)
    assert info['mask_path'].startswith(str(tmp_path / 'my_masks'))
    with pytest.raises(FileNotFoundError, match='elsewhere'):
        CUBWSOL(root, with_mask=True, seg_prefix='elsewhere')


def test_cub_no_segmentations_anywhere_names_both_places(tmp_path):
    root = make_cub_root(tmp_path, images_per_class=1, with_masks=False)
    with pytest.raises(FileNotFoundError) as e:
        CUBWSOL(root, with_mask=True)
    msg = str(e.value)
    assert osp.join(root, 'segmentations') in msg
    assert osp.join(str(tmp_path), 'segmentations') in msg


# --------------------------------------------------------------------- #
# unreadable images
def test_corrupt_or_missing_image_fails_the_load_naming_the_file(tmp_path):
    root = make_cub_root(tmp_path, num_classes=1, images_per_class=2)
    path = osp.join(root, 'images', CUB_IMAGE1_PATH)
    with open(path, 'wb') as f:
        f.write(b'\xff\xd8 truncated jpeg')
    with pytest.raises(ValueError) as e:
        CUBWSOL(root, split='train')
    assert path in str(e.value)
    os.remove(path)
    with pytest.raises(FileNotFoundError) as e:
        CUBWSOL(root, split='train')
    assert path in str(e.value)

    root = make_ilsvrc_root(tmp_path)
    path = osp.join(root, 'val', VAL2 + '.JPEG')
    with open(path, 'wb') as f:
        f.write(b'garbage')
    with pytest.raises(ValueError) as e:
        ImageNetWSOL(root, split='val')
    assert path in str(e.value)


def test_load_image_raises_explicit_errors_not_asserts(tmp_path):
    load = TRANSFORMS.build(dict(type='LoadImageFromFile'))
    assert type(load).__module__ == 'mmweak.datasets.transforms.loading'
    path = str(tmp_path / 'x.jpg')
    _write_image(path, 12, 10)
    assert load(dict(img_path=path))['img'].shape == (10, 12, 3)
    with open(path, 'wb') as f:
        f.write(b'not a jpeg')
    with pytest.raises(ValueError, match='failed to load image') as e:
        load(dict(img_path=path))
    assert path in str(e.value)
    with pytest.raises(FileNotFoundError, match='nothing.jpg'):
        load(dict(img_path=str(tmp_path / 'nothing.jpg')))
    skip = TRANSFORMS.build(dict(type='LoadImageFromFile', ignore_empty=True))
    assert skip(dict(img_path=path)) is None


def test_exif_orientation_is_reported_once(tmp_path):
    root = make_cub_root(tmp_path, num_classes=1, images_per_class=2)
    path = osp.join(root, 'images', CUB_IMAGE1_PATH)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.new('RGB', (500, 335)).save(buf, 'JPEG', exif=exif.tobytes())
    with open(path, 'wb') as f:
        f.write(buf.getvalue())
    ds, msgs = _load(CUBWSOL, root, split='train')
    assert ds.get_data_info(0)['ori_shape'] == (335, 500)
    exif_msgs = [m for m in msgs if 'EXIF orientation' in m]
    assert len(exif_msgs) == 1 and path in exif_msgs[0]
