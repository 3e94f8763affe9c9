# Copyright (c) mmweak contributors.
import functools
import os.path as osp
import re
import shutil

import cv2
import numpy as np
import pytest
import torch

from mmweak.datasets import WSSSClsDataset
from mmweak.datasets.cls_labels import (VOC_FG_CLASSES, load_id_list,
                                        save_cls_labels, tags_from_voc_xml)
from mmweak.registry import DATASETS
from mmweak.testing import make_voc_root

SETS = 'ImageSets/Segmentation'
# mmengine's serialisation runs gc.collect(), slow with torch loaded
Dataset = functools.partial(WSSSClsDataset, serialize_data=False)


@pytest.fixture(scope='module')
def voc_root(tmp_path_factory) -> str:
    return make_voc_root(tmp_path_factory.mktemp('voc'), seed=1)


def _ids(root, split):
    return load_id_list(osp.join(root, SETS, f'{split}.txt'))


def _xml_tags(root, img_id, skip_difficult=False):
    return tags_from_voc_xml(osp.join(root, 'Annotations', img_id + '.xml'),
                             VOC_FG_CLASSES, skip_difficult)


def _copy(voc_root, tmp_path) -> str:
    root = str(tmp_path / 'VOC2012')
    shutil.copytree(voc_root, root)
    return root


def test_xml_tags_and_data_infos(voc_root):
    ds = Dataset(voc_root, f'{SETS}/train.txt')
    ids = _ids(voc_root, 'train')
    assert len(ds) == len(ids) == 4
    assert ds.metainfo['classes'] == VOC_FG_CLASSES
    for idx, img_id in enumerate(ids):
        info = ds.get_data_info(idx)
        assert info['img_id'] == img_id
        assert info['img_path'] == osp.join(voc_root, 'JPEGImages',
                                            img_id + '.jpg')
        assert info['seg_map_path'] == osp.join(voc_root, 'SegmentationClass',
                                                img_id + '.png')
        assert info['gt_label'] == _xml_tags(voc_root, img_id)
        assert info['gt_label'] and all(
            isinstance(k, int) and 0 <= k < 20 for k in info['gt_label'])
        assert ds.get_cat_ids(idx) == info['gt_label']


def test_aug_ids_have_no_segmentation_class(voc_root):
    ds = Dataset(voc_root, f'{SETS}/trainaug.txt')
    train = set(_ids(voc_root, 'train'))
    for idx in range(len(ds)):
        info = ds.get_data_info(idx)
        assert (info['seg_map_path'] is None) == (info['img_id'] not in train)


def test_mask_tags_match_xml_tags(voc_root):
    """SegmentationClassAug keeps difficult objects, SegmentationClass voids
    them: mask tags equal XML tags with / without difficult objects."""
    aug = Dataset(voc_root,
                  f'{SETS}/trainaug.txt',
                  data_prefix=dict(img_path='JPEGImages',
                                   seg_map_path='SegmentationClassAug'),
                  tag_source='mask')
    xml = Dataset(voc_root, f'{SETS}/trainaug.txt')
    assert [aug.get_cat_ids(i) for i in range(len(aug))] == \
        [xml.get_cat_ids(i) for i in range(len(xml))]
    seg = Dataset(voc_root, f'{SETS}/val.txt', tag_source='mask')
    skip = Dataset(voc_root, f'{SETS}/val.txt', skip_difficult=True)
    assert [seg.get_cat_ids(i) for i in range(len(seg))] == \
        [skip.get_cat_ids(i) for i in range(len(skip))]


def test_skip_difficult(voc_root):
    ids = _ids(voc_root, 'trainaug') + _ids(voc_root, 'val')
    with_difficult = [
        i for i in ids if _xml_tags(voc_root, i) != _xml_tags(
            voc_root, i, skip_difficult=True)
    ]
    assert with_difficult, 'the fixture should hold a difficult-only class'
    for split in ('trainaug', 'val'):
        keep = Dataset(voc_root, f'{SETS}/{split}.txt')
        skip = Dataset(voc_root, f'{SETS}/{split}.txt', skip_difficult=True)
        for idx in range(len(keep)):
            img_id = keep.get_data_info(idx)['img_id']
            assert skip.get_cat_ids(idx) == _xml_tags(voc_root, img_id, True)
            assert set(skip.get_cat_ids(idx)) <= set(keep.get_cat_ids(idx))


@pytest.mark.parametrize('ext', ['.json', '.npy'])
def test_tag_file_sources(voc_root, tmp_path, ext):
    ids = _ids(voc_root, 'trainaug')
    labels = {i: [(n * 3) % 20, 19] for n, i in enumerate(ids)}
    path = str(tmp_path / f'cls_labels{ext}')
    save_cls_labels(path, labels, VOC_FG_CLASSES, 'xml', False)
    ds = Dataset(voc_root, f'{SETS}/trainaug.txt', tag_source=path)
    assert {
        ds.get_data_info(i)['img_id']: ds.get_cat_ids(i)
        for i in range(len(ds))
    } == {
        k: sorted(set(v))
        for k, v in labels.items()
    }


def test_tag_file_relative_to_data_root(voc_root, tmp_path):
    root = _copy(voc_root, tmp_path)
    labels = {i: [7] for i in _ids(root, 'val')}
    save_cls_labels(osp.join(root, 'cls_labels.json'), labels, VOC_FG_CLASSES,
                    'mask', False)
    ds = Dataset(root, f'{SETS}/val.txt', tag_source='cls_labels.json')
    assert [ds.get_cat_ids(i) for i in range(len(ds))] == [[7]] * len(labels)


def test_registry_lazy_init_and_pipeline(voc_root):
    ds = DATASETS.build(
        dict(type='WSSSClsDataset',
             data_root=voc_root,
             ann_file=f'{SETS}/val.txt',
             lazy_init=True,
             serialize_data=False,
             pipeline=[
                 dict(type='LoadImageFromFile'),
                 dict(type='mmpretrain.PackInputs')
             ]))
    assert isinstance(ds, WSSSClsDataset) and not ds._fully_initialized
    out = ds[0]
    assert out['inputs'].shape == (3, 40, 48)
    tags = ds.get_cat_ids(0)
    assert out['data_samples'].gt_label.tolist() == tags
    assert torch.is_tensor(out['data_samples'].gt_label)


def test_coco_style_root_with_json_tags(tmp_path):
    root = tmp_path / 'coco'
    (root / 'train2014').mkdir(parents=True)
    ids = ['COCO_train2014_000000000009', 'COCO_train2014_000000000025']
    for img_id in ids:
        cv2.imwrite(str(root / 'train2014' / f'{img_id}.jpg'),
                    np.full((8, 10, 3), 128, np.uint8))
    (root / 'train.txt').write_text('\n'.join(ids) + '\n')
    classes = ('person', 'bicycle', 'car') + tuple(f'thing{i}'
                                                   for i in range(77))
    save_cls_labels(str(root / 'cls_labels_coco.json'), {
        ids[0]: [0, 79],
        ids[1]: [2]
    }, classes, 'coco', False)
    ds = Dataset(str(root),
                 'train.txt',
                 data_prefix=dict(img_path='train2014'),
                 tag_source='cls_labels_coco.json',
                 metainfo=dict(classes=classes))
    assert len(ds.metainfo['classes']) == 80
    assert [ds.get_cat_ids(i) for i in range(2)] == [[0, 79], [2]]
    assert ds.get_data_info(0)['seg_map_path'] is None
    # the VOC default classes do not match the tag file's 80
    with pytest.raises(ValueError, match='cls_labels_coco.json'):
        Dataset(str(root),
                'train.txt',
                data_prefix=dict(img_path='train2014'),
                tag_source='cls_labels_coco.json')


def test_errors_name_the_file(voc_root, tmp_path):
    missing_root = str(tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError, match=re.escape(missing_root)):
        Dataset(missing_root, f'{SETS}/train.txt')
    with pytest.raises(FileNotFoundError, match='nolist.txt'):
        Dataset(voc_root, f'{SETS}/nolist.txt')

    root = _copy(voc_root, tmp_path)
    first = _ids(root, 'train')[0]
    jpg = osp.join(root, 'JPEGImages', first + '.jpg')
    shutil.move(jpg, jpg + '.bak')
    with pytest.raises(FileNotFoundError, match=re.escape(jpg)):
        Dataset(root, f'{SETS}/train.txt')
    shutil.move(jpg + '.bak', jpg)

    xml = osp.join(root, 'Annotations', first + '.xml')
    shutil.move(xml, xml + '.bak')
    with pytest.raises(FileNotFoundError, match=re.escape(xml)):
        Dataset(root, f'{SETS}/train.txt')
    with open(xml, 'w') as f:
        f.write('<annotation><object>')
    with pytest.raises(ValueError, match=re.escape(xml)):
        Dataset(root, f'{SETS}/train.txt')
    shutil.move(xml + '.bak', xml)
    Dataset(root, f'{SETS}/train.txt')  # restored

    val = _ids(root, 'val')
    tag_file = str(tmp_path / 'partial.json')
    save_cls_labels(tag_file, {val[0]: [1]}, VOC_FG_CLASSES, 'xml', False)
    with pytest.raises(ValueError, match=re.escape(tag_file)) as err:
        Dataset(root, f'{SETS}/val.txt', tag_source=tag_file)
    assert val[1] in str(err.value)

    aug = _ids(root, 'aug')[0]
    with open(osp.join(root, SETS, 'aug_only.txt'), 'w') as f:
        f.write(aug + '\n')
    png = osp.join(root, 'SegmentationClass', aug + '.png')
    with pytest.raises(FileNotFoundError, match=re.escape(png)):
        Dataset(root, f'{SETS}/aug_only.txt', tag_source='mask')
