# Copyright (c) mmweak contributors.
"""tools/dataset_converters/coco2014_to_wsss.py on a tiny official-format
COCO 2014 root (instances JSON with polygons, crowd RLEs, a compressed RLE
and an image without annotations)."""
import filecmp
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from mmweak.datasets.cls_labels import load_cls_labels
from mmweak.datasets.coco_wsss import (COCO_THING_CAT_IDS, COCO_WSSS_CLASSES,
                                       coco_cat_id_to_label)
from mmweak.testing import load_tool_script
from mmweak.utils.offline_job import save_png_atomic

W, H = 32, 24
LABEL = coco_cat_id_to_label()
PERSON, DOG, ZEBRA, CAR, TOOTHBRUSH = 1, 18, 24, 3, 90


def _box(x1, y1, x2, y2):
    """A rectangle polygon (COCO flat format) and its area."""
    return [[x1, y1, x2, y1, x2, y2, x1, y2]], float((x2 - x1) * (y2 - y1))


def _ann(aid, img_id, cat, segm, area, iscrowd=0):
    return dict(id=aid, image_id=img_id, category_id=cat, segmentation=segm,
                area=area, iscrowd=iscrowd, bbox=[0, 0, 1, 1])


def _uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's crowd format: column-major run lengths starting with zeros."""
    flat = mask.flatten(order='F').astype(np.uint8)
    counts, value, run = [], 0, 0
    for v in flat:
        if v != value:
            counts.append(run)
            value, run = v, 0
        run += 1
    counts.append(run)
    return dict(size=[int(mask.shape[0]), int(mask.shape[1])], counts=counts)


def make_coco_root(root, split_images=None) -> str:
    """Write ``root/annotations/instances_{train,val}2014.json`` and the
    JPEG images in the official layout; returns ``root``."""
    root = str(root)
    categories = [
        dict(id=i, name=n, supercategory='thing')
        for i, n in zip(COCO_THING_CAT_IDS, COCO_WSSS_CLASSES[1:])
    ]
    crowd = np.zeros((H, W), np.uint8)
    crowd[:, 16:] = 1  # right half
    brush = np.zeros((H, W), np.uint8)
    brush[5:10, 5:25] = 1
    brush_rle = mask_utils.encode(np.asfortranarray(brush))
    brush_rle['counts'] = brush_rle['counts'].decode()
    big, big_area = _box(1, 1, 30, 22)
    mid, mid_area = _box(4, 4, 20, 18)
    small, small_area = _box(8, 6, 14, 12)
    zeb, zeb_area = _box(18, 3, 26, 10)
    splits = {
        'train2014': (
            [9, 25, 30, 34],
            [
                # image 9: small dog first in the file, big person last,
                # a medium car between: painting must go by area, not id
                _ann(101, 9, DOG, small, small_area),
                _ann(102, 9, CAR, mid, mid_area),
                _ann(103, 9, PERSON, big, big_area),
                # image 25: a crowd of people (uncompressed RLE) under a
                # smaller zebra polygon
                _ann(201, 25, PERSON, _uncompressed_rle(crowd),
                     float(crowd.sum()), iscrowd=1),
                _ann(202, 25, ZEBRA, zeb, zeb_area),
                # image 34: compressed RLE of the last category (id 90)
                _ann(401, 34, TOOTHBRUSH, brush_rle, float(brush.sum())),
            ]),
        'val2014': ([42, 73], [_ann(501, 73, DOG, mid, mid_area)]),
    }
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    for split, (img_ids, anns) in splits.items():
        images = []
        for img_id in img_ids:
            name = f'COCO_{split}_{img_id:012d}.jpg'
            images.append(dict(id=img_id, file_name=name, height=H, width=W,
                               license=1, coco_url='', date_captured=''))
            os.makedirs(osp.join(root, split), exist_ok=True)
            Image.fromarray(np.full((H, W, 3), img_id, np.uint8)).save(
                osp.join(root, split, name))
        with open(osp.join(root, 'annotations', f'instances_{split}.json'),
                  'w') as f:
            json.dump(dict(info={}, licenses=[], images=images,
                           annotations=anns, categories=categories), f)
    return root


def stem(split, img_id):
    return f'COCO_{split}_{img_id:012d}'


def read_png(out, split, img_id):
    return np.array(
        Image.open(osp.join(out, 'SegmentationClass', split,
                            stem(split, img_id) + '.png')))


@pytest.fixture(scope='module')
def tool(repo_root):
    return load_tool_script(repo_root,
                            'tools/dataset_converters/coco2014_to_wsss.py')


@pytest.fixture()
def coco_root(tmp_path):
    return make_coco_root(tmp_path / 'coco')


def test_painting_order_labels_and_png_format(tool, coco_root):
    tool.main([coco_root, '--check-images'])
    label = read_png(coco_root, 'train2014', 9)
    png = Image.open(osp.join(coco_root, 'SegmentationClass', 'train2014',
                              stem('train2014', 9) + '.png'))
    assert png.mode == 'P' and label.dtype == np.uint8
    assert label.shape == (H, W)
    assert label[10, 10] == LABEL[DOG]  # smallest, painted last
    assert label[16, 17] == LABEL[CAR]  # medium, over the person
    assert label[20, 28] == LABEL[PERSON]
    assert label[0, 0] == 0 and label[23, 31] == 0
    assert set(np.unique(label)) == {0, LABEL[PERSON], LABEL[CAR], LABEL[DOG]}
    # category id 90 -> label 80
    brush = read_png(coco_root, 'train2014', 34)
    assert LABEL[TOOTHBRUSH] == 80
    assert (brush[5:10, 5:25] == 80).all() and brush.sum() == 80 * 100
    val = read_png(coco_root, 'val2014', 73)
    assert val[10, 10] == LABEL[DOG]


def test_crowd_class_or_ignore(tool, coco_root, tmp_path):
    tool.main([coco_root, '--splits', 'train2014'])
    label = read_png(coco_root, 'train2014', 25)
    assert (label[:, :16] == 0).all()
    assert label[20, 20] == LABEL[PERSON]  # crowd keeps its class
    assert label[5, 20] == LABEL[ZEBRA]  # the smaller zebra on top
    out = str(tmp_path / 'ignore')
    tool.main([coco_root, '--splits', 'train2014', '--out-dir', out,
               '--crowd-ignore'])
    label = read_png(out, 'train2014', 25)
    assert label[20, 20] == 255 and label[5, 20] == LABEL[ZEBRA]
    assert set(np.unique(label)) == {0, LABEL[ZEBRA], 255}
    # tags keep the crowd's category: the people are in the image
    with open(osp.join(out, 'cls_labels_train2014.json')) as f:
        tags = json.load(f)['labels']
    assert tags[stem('train2014', 25)] == sorted(
        [LABEL[PERSON] - 1, LABEL[ZEBRA] - 1])
    # resuming with the other crowd setting over existing PNGs is refused
    with pytest.raises(RuntimeError, match='crowd_ignore=True'):
        tool.main([coco_root, '--splits', 'train2014', '--out-dir', out])


def test_tags_lists_and_counts(tool, coco_root):
    records = tool.main([coco_root])
    with open(osp.join(coco_root, 'cls_labels_train2014.json')) as f:
        tags = json.load(f)
    assert tags['source'] == 'coco' and tags['skip_difficult'] is False
    assert tags['classes'] == list(COCO_WSSS_CLASSES[1:])
    assert load_cls_labels(
        osp.join(coco_root, 'cls_labels_train2014.json'),
        classes=COCO_WSSS_CLASSES[1:]) == tags['labels']
    assert tags['labels'] == {
        stem('train2014', 9):
        sorted(LABEL[c] - 1 for c in (PERSON, CAR, DOG)),
        stem('train2014', 25): sorted(LABEL[c] - 1 for c in (PERSON, ZEBRA)),
        stem('train2014', 34): [79],
    }
    with open(osp.join(coco_root, 'ImageSets', 'train2014.txt')) as f:
        assert f.read().split() == [
            stem('train2014', i) for i in (9, 25, 34)]
    with open(osp.join(coco_root, 'ImageSets', 'val2014.txt')) as f:
        assert f.read().split() == [stem('val2014', 73)]
    # the empty image is neither listed nor painted
    assert not osp.exists(
        osp.join(coco_root, 'SegmentationClass', 'train2014',
                 stem('train2014', 30) + '.png'))
    train = records['train2014']
    assert (train['num_images'], train['num_images_with_annotations'],
            train['num_listed'], train['num_annotations'],
            train['num_crowd_annotations']) == (4, 3, 3, 6, 1)
    with open(osp.join(coco_root, 'conversion_train2014.json')) as f:
        assert json.load(f) == train
    assert records['val2014']['num_listed'] == 1


def test_include_empty_and_list_dir(tool, coco_root, tmp_path):
    list_dir = str(tmp_path / 'lists')
    tool.main([coco_root, '--splits', 'val2014', '--include-empty',
               '--list-dir', list_dir])
    with open(osp.join(list_dir, 'val2014.txt')) as f:
        assert f.read().split() == [stem('val2014', i) for i in (42, 73)]
    assert (read_png(coco_root, 'val2014', 42) == 0).all()
    with open(osp.join(coco_root, 'cls_labels_val2014.json')) as f:
        assert json.load(f)['labels'][stem('val2014', 42)] == []


def test_resume_skips_existing_and_rerun_is_byte_identical(
        tool, coco_root, tmp_path):
    first = str(tmp_path / 'first')
    tool.main([coco_root, '--out-dir', first])
    # a second run from scratch writes the same bytes
    second = str(tmp_path / 'second')
    tool.main([coco_root, '--out-dir', second])
    cmp = filecmp.dircmp(first, second)

    def same(c):
        assert not (c.left_only or c.right_only or c.diff_files or
                    c.funny_files), (c.left, c.left_only, c.right_only,
                                     c.diff_files)
        for sub in c.subdirs.values():
            same(sub)

    same(cmp)
    for root, _, files in os.walk(first):  # no temporary files left
        assert not [f for f in files if '.tmp' in f], root
    # resume: an existing PNG is kept as is, a deleted one is rewritten,
    # the tags and list are rebuilt
    seg = osp.join(first, 'SegmentationClass', 'train2014')
    sentinel = osp.join(seg, stem('train2014', 9) + '.png')
    save_png_atomic(sentinel, np.full((H, W), 7, np.uint8))
    os.remove(osp.join(seg, stem('train2014', 25) + '.png'))
    os.remove(osp.join(first, 'cls_labels_train2014.json'))
    os.remove(osp.join(first, 'ImageSets', 'train2014.txt'))
    tool.main([coco_root, '--out-dir', first])
    assert (read_png(first, 'train2014', 9) == 7).all()
    for name in (stem('train2014', 25) + '.png', ):
        assert filecmp.cmp(osp.join(seg, name),
                           osp.join(second, 'SegmentationClass', 'train2014',
                                    name), shallow=False)
    for name in ('cls_labels_train2014.json', 'ImageSets/train2014.txt'):
        assert filecmp.cmp(osp.join(first, name), osp.join(second, name),
                           shallow=False)


def _edit_instances(root, split, fn):
    path = osp.join(root, 'annotations', f'instances_{split}.json')
    with open(path) as f:
        data = json.load(f)
    fn(data)
    with open(path, 'w') as f:
        json.dump(data, f)
    return path


def test_errors_name_the_file(tool, coco_root, tmp_path):
    out = ['--out-dir', str(tmp_path / 'out'), '--splits', 'train2014']
    with pytest.raises(FileNotFoundError, match='COCO root'):
        tool.main([str(tmp_path / 'nowhere')])
    os.rename(osp.join(coco_root, 'annotations', 'instances_val2014.json'),
              osp.join(coco_root, 'annotations', 'moved.json'))
    with pytest.raises(FileNotFoundError, match='instances_val2014.json'):
        tool.main([coco_root, '--splits', 'val2014'])

    path = _edit_instances(
        coco_root, 'train2014',
        lambda d: d['annotations'].append(_ann(999, 12345, DOG, [], 0.)))
    with pytest.raises(ValueError, match='annotation 999 refers to image_id '
                       '12345') as e:
        tool.main([coco_root] + out)
    assert path in str(e.value)

    def bad_cat(d):
        d['annotations'][-1].update(image_id=9, category_id=12)

    _edit_instances(coco_root, 'train2014', bad_cat)
    with pytest.raises(ValueError, match='category_id 12'):
        tool.main([coco_root] + out)

    def drop_cat(d):
        d['annotations'].pop()
        d['categories'] = d['categories'][:-1]

    _edit_instances(coco_root, 'train2014', drop_cat)
    with pytest.raises(ValueError, match=r'missing ids \[90\]'):
        tool.main([coco_root] + out)

    def restore(d):
        d['categories'].append(dict(id=90, name='toothbrush'))

    _edit_instances(coco_root, 'train2014', restore)
    missing = osp.join(coco_root, 'train2014', stem('train2014', 25) + '.jpg')
    os.remove(missing)
    with pytest.raises(FileNotFoundError, match=missing):
        tool.main([coco_root, '--check-images'] + out)
    tool.main([coco_root] + out)  # without the check, labels only need JSON
    assert not osp.exists(osp.join(tmp_path, 'out', 'SegmentationClass',
                                   'val2014'))


def test_polygon_edge_cases(tool):
    # degenerate polygons (< 3 points) are skipped, not read as boxes
    ann = _ann(1, 1, DOG, [[1, 1, 5, 1]], 0.)
    assert tool.annotation_rle(ann, H, W) is None
    assert (tool.rasterize([ann], H, W, LABEL) == 0).all()
    bad = _ann(2, 1, DOG, [[1, 1, 5, 1, 5]], 0.)
    with pytest.raises(ValueError, match='annotation 2 has a polygon'):
        tool.annotation_rle(bad, H, W, 'x.json')
    rle = _ann(3, 1, DOG, dict(size=[H + 1, W], counts=[0, 10]), 10.)
    with pytest.raises(ValueError, match=r'annotation 3 has an RLE of size'):
        tool.annotation_rle(rle, H, W, 'x.json')
