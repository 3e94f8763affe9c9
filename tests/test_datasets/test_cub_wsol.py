# Copyright (c) mmweak contributors.
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import init_default_scope

import mmweak.datasets  # noqa: F401
from mmweak.datasets import CUBWSOL
from mmweak.registry import DATASETS
from mmweak.testing import make_cub_root
from mmweak.testing.wsol_fixtures import CUB_IMAGE1_PATH

init_default_scope('mmweak')


def _rewrite(path, transform):
    with open(path) as f:
        lines = f.read().splitlines()
    with open(path, 'w') as f:
        f.write('\n'.join(transform(lines)) + '\n')


def test_cub_splits_follow_train_test_split_file(tmp_path):
    root = make_cub_root(tmp_path, num_classes=3, images_per_class=4)
    train = CUBWSOL(root, split='train')
    test = CUBWSOL(root, split='test')
    assert len(train) == 6 and len(test) == 6
    train_ids = [train.get_data_info(i)['img_id'] for i in range(len(train))]
    test_ids = [test.get_data_info(i)['img_id'] for i in range(len(test))]
    assert all(i % 2 == 1 for i in train_ids)
    assert all(i % 2 == 0 for i in test_ids)
    assert sorted(train_ids + test_ids) == list(range(1, 13))


def test_cub_box_is_converted_from_xywh_to_corners(tmp_path):
    root = make_cub_root(tmp_path)
    info = CUBWSOL(root, split='train').get_data_info(0)
    assert info['img_id'] == 1
    assert info['img_path'] == osp.join(root, 'images', CUB_IMAGE1_PATH)
    assert info['gt_bboxes'].dtype == np.float32
    np.testing.assert_array_equal(info['gt_bboxes'], [[60, 27, 385, 331]])


def test_cub_labels_and_classes_come_from_the_official_files(tmp_path):
    root = make_cub_root(tmp_path, num_classes=3, images_per_class=2)
    ds = CUBWSOL(root, split='test')
    assert ds.metainfo['classes'] == ('Black_footed_Albatross',
                                      'Laysan_Albatross', 'Sooty_Albatross')
    # ids run class by class, 2 per class: id 2 -> class 1, 4 -> 2, 6 -> 3
    assert ds.get_gt_labels().tolist() == [0, 1, 2]
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert osp.isfile(info['img_path'])
        assert info['gt_bboxes'].shape == (1, 4)
        assert 'mask_path' not in info


def test_cub_user_classes_are_kept(tmp_path):
    root = make_cub_root(tmp_path, num_classes=2, images_per_class=1)
    ds = CUBWSOL(root, split='train', classes=['a', 'b'])
    assert ds.metainfo['classes'] == ('a', 'b')


def test_cub_with_mask_adds_png_paths_under_segmentations(tmp_path):
    root = make_cub_root(tmp_path)
    ds = CUBWSOL(root, split='test', with_mask=True)
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        rel = osp.relpath(info['img_path'], osp.join(root, 'images'))
        assert info['mask_path'] == osp.join(root, 'segmentations',
                                             osp.splitext(rel)[0] + '.png')
        assert osp.isfile(info['mask_path'])


def test_cub_is_registered_and_builds_its_pipeline(tmp_path):
    root = make_cub_root(tmp_path)
    ds = DATASETS.build(
        dict(type='CUBWSOL',
             data_root=root,
             split='test',
             with_mask=True,
             test_mode=True,
             pipeline=[
                 dict(type='LoadImageFromFile'),
                 dict(type='LoadWSOLAnnotations'),
                 dict(type='PackWSOLInputs')
             ]))
    assert isinstance(ds, CUBWSOL)
    sample = ds[0]['data_samples']
    # the fixture's mask covers exactly the box
    ys, xs = np.nonzero(sample.gt_mask.numpy())
    assert [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] == \
        sample.gt_bboxes[0].tolist()


def test_cub_missing_root_names_path_and_layout(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        CUBWSOL(str(tmp_path / 'nowhere'))
    assert 'nowhere' in str(e.value)
    assert 'bounding_boxes.txt' in str(e.value)


@pytest.mark.parametrize('name', [
    'images.txt', 'image_class_labels.txt', 'train_test_split.txt',
    'bounding_boxes.txt', 'classes.txt'
])
def test_cub_missing_annotation_file_is_named(tmp_path, name):
    root = make_cub_root(tmp_path, images_per_class=1)
    os.remove(osp.join(root, name))
    with pytest.raises(FileNotFoundError) as e:
        CUBWSOL(root)
    assert osp.join(root, name) in str(e.value)
    assert 'images.txt' in str(e.value)  # the layout is shown


def test_cub_missing_segmentation_folder_is_named(tmp_path):
    root = make_cub_root(tmp_path, images_per_class=1, with_masks=False)
    CUBWSOL(root)  # fine without masks
    with pytest.raises(FileNotFoundError, match='segmentations'):
        CUBWSOL(root, with_mask=True)


def test_cub_ids_missing_from_one_file_fail_clearly(tmp_path):
    root = make_cub_root(tmp_path)
    _rewrite(osp.join(root, 'bounding_boxes.txt'), lambda ls: ls[:-1])
    with pytest.raises(ValueError) as e:
        CUBWSOL(root)
    msg = str(e.value)
    assert 'bounding_boxes.txt' in msg and '12' in msg and '11' in msg


def test_cub_duplicate_id_fails_naming_file_and_line(tmp_path):
    root = make_cub_root(tmp_path)
    _rewrite(osp.join(root, 'image_class_labels.txt'), lambda ls: ls + [ls[0]])
    with pytest.raises(ValueError, match=r'image_class_labels.txt, line 13'):
        CUBWSOL(root)


def test_cub_malformed_line_fails_naming_file_and_line(tmp_path):
    root = make_cub_root(tmp_path)
    _rewrite(osp.join(root, 'bounding_boxes.txt'),
             lambda ls: ls[:2] + [ls[2].rsplit(' ', 1)[0]] + ls[3:])
    with pytest.raises(ValueError, match=r'bounding_boxes.txt, line 3'):
        CUBWSOL(root)


def test_cub_non_numeric_box_fails(tmp_path):
    root = make_cub_root(tmp_path)
    _rewrite(osp.join(root, 'bounding_boxes.txt'),
             lambda ls: ['1 a b c d'] + ls[1:])
    with pytest.raises(ValueError, match='bounding_boxes.txt: id 1'):
        CUBWSOL(root)


def test_cub_label_outside_classes_fails(tmp_path):
    root = make_cub_root(tmp_path, num_classes=2, images_per_class=1)
    _rewrite(osp.join(root, 'image_class_labels.txt'),
             lambda ls: ['1 7'] + ls[1:])
    with pytest.raises(ValueError, match='class id 7'):
        CUBWSOL(root)


def test_cub_bad_split_flag_and_split_name_fail(tmp_path):
    root = make_cub_root(tmp_path, num_classes=2, images_per_class=1)
    with pytest.raises(ValueError, match="'train' or 'test'"):
        CUBWSOL(root, split='val')
    _rewrite(osp.join(root, 'train_test_split.txt'),
             lambda ls: ['1 2'] + ls[1:])
    with pytest.raises(ValueError, match='split flag 2'):
        CUBWSOL(root)


def test_cub_unreadable_image_fails_naming_the_file(tmp_path):
    root = make_cub_root(tmp_path, num_classes=1, images_per_class=2)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='PackWSOLInputs')]
    ds = CUBWSOL(root, split='train', pipeline=pipeline, test_mode=True)
    path = ds.get_data_info(0)['img_path']
    with open(path, 'wb') as f:
        f.write(b'not a jpeg')
    with pytest.raises(Exception, match='failed to load image') as e:
        ds[0]
    assert path in str(e.value)
    os.remove(path)
    with pytest.raises(FileNotFoundError) as e:
        ds[0]
    assert osp.basename(path) in str(e.value)
