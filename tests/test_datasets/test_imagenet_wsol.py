# Copyright (c) mmweak contributors.
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from mmengine.registry import init_default_scope

import mmweak.datasets  # noqa: F401
from mmweak.datasets import ImageNetWSOL
from mmweak.registry import DATASETS
from mmweak.testing import make_ilsvrc_root
from mmweak.testing.wsol_fixtures import (ILSVRC_VAL1_BOX, ILSVRC_VAL2_BOXES,
                                          voc_xml)

init_default_scope('mmweak')

WNIDS = ('n01440764', 'n01443537', 'n01751748')


def _val_infos(ds):
    return [ds.get_data_info(i) for i in range(len(ds))]


def test_imagenet_val_reads_one_xml_per_image(tmp_path):
    root = make_ilsvrc_root(tmp_path, num_classes=3, num_val=4)
    ds = ImageNetWSOL(root, split='val')
    assert ds.metainfo['classes'] == WNIDS
    infos = _val_infos(ds)
    assert len(infos) == 4
    first = infos[0]
    assert first['img_path'] == osp.join(root, 'val',
                                         'ILSVRC2012_val_00000001.JPEG')
    assert first['gt_label'] == WNIDS.index('n01751748')
    np.testing.assert_array_equal(first['gt_bboxes'], [ILSVRC_VAL1_BOX])
    assert first['gt_bboxes'].dtype == np.float32
    assert first['ori_shape'] == (375, 500)
    assert all(osp.isfile(i['img_path']) for i in infos)


def test_imagenet_val_keeps_every_object_of_a_multi_box_xml(tmp_path):
    root = make_ilsvrc_root(tmp_path)
    second = _val_infos(ImageNetWSOL(root, split='val'))[1]
    assert second['gt_bboxes'].shape == (2, 4)
    np.testing.assert_array_equal(second['gt_bboxes'], ILSVRC_VAL2_BOXES)
    assert second['gt_label'] == 0


def test_imagenet_val_ann_file_gives_same_samples(tmp_path):
    root = make_ilsvrc_root(tmp_path)
    from_xml = _val_infos(ImageNetWSOL(root, split='val'))
    from_ann = _val_infos(
        ImageNetWSOL(root, split='val', ann_file='meta/val.txt'))
    assert [i['img_path'] for i in from_xml] == \
        [i['img_path'] for i in from_ann]
    assert [i['gt_label'] for i in from_xml] == \
        [i['gt_label'] for i in from_ann]
    for a, b in zip(from_xml, from_ann):
        np.testing.assert_array_equal(a['gt_bboxes'], b['gt_bboxes'])


def test_imagenet_val_label_disagreeing_with_xml_wnid_fails(tmp_path):
    root = make_ilsvrc_root(tmp_path)
    ann = osp.join(root, 'meta', 'val.txt')
    lines = open(ann).read().splitlines()
    name, label = lines[0].split()
    lines[0] = f'{name} {(int(label) + 1) % 3}'
    open(ann, 'w').write('\n'.join(lines) + '\n')
    with pytest.raises(ValueError, match='sorted wnid order'):
        ImageNetWSOL(root, split='val', ann_file='meta/val.txt')


def test_imagenet_train_labels_follow_sorted_wnids(tmp_path):
    root = make_ilsvrc_root(tmp_path, num_classes=3, train_per_class=2)
    ds = ImageNetWSOL(root, split='train')
    assert len(ds) == 6
    assert ds.get_gt_labels().tolist() == [0, 0, 1, 1, 2, 2]
    for info in _val_infos(ds):
        wnid = osp.basename(osp.dirname(info['img_path']))
        assert WNIDS.index(wnid) == info['gt_label']
        assert info['gt_bboxes'].shape == (0, 4)
    with_ann = ImageNetWSOL(root, split='train', ann_file='meta/train.txt')
    assert [i['img_path'] for i in _val_infos(with_ann)] == \
        [i['img_path'] for i in _val_infos(ds)]


def test_imagenet_train_boxes_are_read_when_given(tmp_path):
    root = make_ilsvrc_root(tmp_path, with_train_boxes=True)
    ds = ImageNetWSOL(root, split='train', train_xml_dir='train_boxes')
    infos = _val_infos(ds)
    np.testing.assert_array_equal(infos[0]['gt_bboxes'], [[3, 4, 30, 25]])
    assert infos[1]['gt_bboxes'].shape == (0, 4)


def test_imagenet_val_only_root_takes_classes_from_xml_or_wnids_file(tmp_path):
    root = make_ilsvrc_root(tmp_path, num_classes=3, num_val=4)
    shutil.rmtree(osp.join(root, 'train'))
    ds = ImageNetWSOL(root, split='val')
    assert ds.metainfo['classes'] == WNIDS
    with open(osp.join(root, 'wnids.txt'), 'w') as f:
        f.write('n01751748 sea snake\nn01440764 tench\nn01443537 goldfish\n')
    ds = ImageNetWSOL(root, split='val', wnids_file='wnids.txt')
    assert ds.metainfo['classes'] == ('n01751748', 'n01440764', 'n01443537')
    assert ds.get_data_info(0)['gt_label'] == 0


def test_imagenet_is_registered_and_loads_images(tmp_path):
    root = make_ilsvrc_root(tmp_path)
    ds = DATASETS.build(
        dict(type='ImageNetWSOL',
             data_root=root,
             split='val',
             test_mode=True,
             pipeline=[
                 dict(type='LoadImageFromFile'),
                 dict(type='LoadWSOLAnnotations'),
                 dict(type='WSOLResize', scale=(256, 256)),
                 dict(type='WSOLCenterCrop', crop_size=224),
                 dict(type='WSOLClipBoxes'),
                 dict(type='PackWSOLInputs')
             ]))
    sample = ds[0]['data_samples']
    # 111 * 256 / 500 - 16 = 40.8 -> 40 ; 441 * 256 / 500 - 16 = 209.8
    # 108 * 256 / 375 - 16 = 57.7 -> 57 ; 193 * 256 / 375 - 16 = 115.8
    assert sample.gt_bboxes.tolist() == [[40, 57, 209, 115]]
    assert sample.img_shape == (224, 224)
    assert sample.ori_shape == (375, 500)


def test_imagenet_missing_root_and_folders_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere'):
        ImageNetWSOL(str(tmp_path / 'nowhere'))
    root = make_ilsvrc_root(tmp_path)
    shutil.rmtree(osp.join(root, 'val_boxes'))
    with pytest.raises(FileNotFoundError) as e:
        ImageNetWSOL(root, split='val')
    assert osp.join(root, 'val_boxes') in str(e.value)
    assert 'ILSVRC2012_val_00000001.xml' in str(e.value)  # layout shown
    with pytest.raises(ValueError, match="'train' or 'val'"):
        ImageNetWSOL(root, split='test')


def test_imagenet_missing_xml_of_listed_image_is_named(tmp_path):
    root = make_ilsvrc_root(tmp_path)
    xml = osp.join(root, 'val_boxes', 'ILSVRC2012_val_00000003.xml')
    os.remove(xml)
    with pytest.raises(FileNotFoundError, match='ILSVRC2012_val_00000003'):
        ImageNetWSOL(root, split='val', ann_file='meta/val.txt')


def test_imagenet_malformed_xml_fails_naming_the_file(tmp_path):
    root = make_ilsvrc_root(tmp_path)
    xml = osp.join(root, 'val_boxes', 'ILSVRC2012_val_00000002.xml')
    with open(xml, 'w') as f:
        f.write('<annotation><object><name>n01440764</name>')
    with pytest.raises(ValueError, match='ILSVRC2012_val_00000002.xml'):
        ImageNetWSOL(root, split='val')
    with open(xml, 'w') as f:
        f.write(voc_xml('x', (10, 10), 'n01440764', []))
    with pytest.raises(ValueError, match='no <object>'):
        ImageNetWSOL(root, split='val')
    with open(xml, 'w') as f:
        f.write(
            voc_xml('x', (10, 10), 'n01440764',
                    [(1, 2, 3, 4)]).replace('<xmax>3</xmax>',
                                            '<xmax>three</xmax>'))
    with pytest.raises(ValueError, match='numeric xmin'):
        ImageNetWSOL(root, split='val')


def test_imagenet_unknown_wnid_fails(tmp_path):
    root = make_ilsvrc_root(tmp_path)
    xml = osp.join(root, 'val_boxes', 'ILSVRC2012_val_00000002.xml')
    with open(xml, 'w') as f:
        f.write(voc_xml('x', (64, 48), 'n09999999', [(1, 2, 3, 4)]))
    with pytest.raises(ValueError, match='n09999999'):
        ImageNetWSOL(root, split='val')


def test_imagenet_malformed_ann_file_line_is_named(tmp_path):
    root = make_ilsvrc_root(tmp_path)
    with open(osp.join(root, 'meta', 'val.txt'), 'a') as f:
        f.write('ILSVRC2012_val_00000009.JPEG\n')
    with pytest.raises(ValueError, match=r'val.txt, line 5'):
        ImageNetWSOL(root, split='val', ann_file='meta/val.txt')
