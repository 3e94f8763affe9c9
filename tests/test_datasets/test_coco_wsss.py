# Copyright (c) mmweak contributors.
"""COCO2014WSSSDataset and configs/_base_/datasets/coco2014_wsss_seg.py on
the output of tools/dataset_converters/coco2014_to_wsss.py for a tiny
official-format COCO 2014 root."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from mmweak.datasets import (COCO_WSSS_CLASSES, COCO2014WSSSDataset,
                             coco_cat_id_to_label)
from mmweak.datasets.coco_wsss import COCO_THING_CAT_IDS, COCO_WSSS_PALETTE
from mmweak.registry import DATASETS, METRICS
from mmweak.testing import load_tool_script

W, H = 32, 24
# (split, image id, [(category id, x1, y1, x2, y2)]); image 30 is empty
IMAGES = [('train2014', 9, [(1, 1, 1, 30, 22), (18, 8, 6, 14, 12)]),
          ('train2014', 25, [(90, 16, 0, 32, 24)]),
          ('train2014', 30, []),
          ('val2014', 73, [(3, 4, 4, 20, 18)])]


def stem(split, img_id):
    return f'COCO_{split}_{img_id:012d}'


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory, repo_root):
    """A converted tiny COCO root (data_root of the dataset)."""
    root = str(tmp_path_factory.mktemp('coco2014'))
    categories = [dict(id=i, name=n, supercategory='thing')
                  for i, n in zip(COCO_THING_CAT_IDS, COCO_WSSS_CLASSES[1:])]
    os.makedirs(osp.join(root, 'annotations'))
    for split in ('train2014', 'val2014'):
        images, anns = [], []
        for img_split, img_id, objs in IMAGES:
            if img_split != split:
                continue
            name = stem(split, img_id) + '.jpg'
            images.append(dict(id=img_id, file_name=name, height=H, width=W))
            os.makedirs(osp.join(root, split), exist_ok=True)
            Image.fromarray(np.full((H, W, 3), 50 + img_id, np.uint8)).save(
                osp.join(root, split, name))
            for cat, x1, y1, x2, y2 in objs:
                anns.append(dict(
                    id=len(anns) + 100 * img_id, image_id=img_id,
                    category_id=cat, iscrowd=0,
                    area=float((x2 - x1) * (y2 - y1)),
                    bbox=[x1, y1, x2 - x1, y2 - y1],
                    segmentation=[[x1, y1, x2, y1, x2, y2, x1, y2]]))
        with open(osp.join(root, 'annotations', f'instances_{split}.json'),
                  'w') as f:
            json.dump(dict(images=images, annotations=anns,
                           categories=categories), f)
    tool = load_tool_script(repo_root,
                            'tools/dataset_converters/coco2014_to_wsss.py')
    tool.main([root])
    return root


def _dataset(root, split='train2014', **kwargs):
    cfg = dict(data_root=root,
               ann_file=f'ImageSets/{split}.txt',
               data_prefix=dict(img_path=split,
                                seg_map_path=f'SegmentationClass/{split}'))
    cfg.update(kwargs)
    return COCO2014WSSSDataset(**cfg)


def test_classes_palette_and_category_mapping():
    meta = COCO2014WSSSDataset.METAINFO
    assert len(meta['classes']) == len(meta['palette']) == 81
    assert meta['classes'][:3] == ('background', 'person', 'bicycle')
    assert meta['classes'][-1] == 'toothbrush'
    assert len({tuple(c) for c in COCO_WSSS_PALETTE}) == 81
    assert COCO_WSSS_PALETTE[0] == [0, 0, 0]
    mapping = coco_cat_id_to_label()
    assert len(mapping) == 80 and mapping[1] == 1 and mapping[13] == 12
    assert mapping[90] == 80 and 12 not in mapping
    assert coco_cat_id_to_label([90, 3, 1, 3]) == {1: 1, 3: 2, 90: 3}
    with pytest.raises(TypeError, match='integers'):
        coco_cat_id_to_label(['1'])


def test_dataset_reads_converter_output(coco_root):
    dataset = _dataset(coco_root, pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='mmseg.LoadAnnotations'),
        dict(type='mmseg.PackSegInputs')
    ])
    assert len(dataset) == 2  # the empty image 30 is not listed
    info = dataset.get_data_info(0)
    assert info['img_id'] == stem('train2014', 9)
    assert info['img_path'] == osp.join(coco_root, 'train2014',
                                        stem('train2014', 9) + '.jpg')
    assert info['seg_map_path'] == osp.join(coco_root, 'SegmentationClass',
                                            'train2014',
                                            stem('train2014', 9) + '.png')
    assert info['reduce_zero_label'] is False
    assert dataset.metainfo['classes'] == COCO_WSSS_CLASSES
    sample = dataset[0]['data_samples']
    gt = sample.gt_sem_seg.data[0].numpy()
    assert gt.shape == (H, W)
    assert gt[10, 10] == coco_cat_id_to_label()[18]  # dog over person
    assert gt[2, 2] == 1 and gt[0, 0] == 0
    gt = dataset[1]['data_samples'].gt_sem_seg.data[0].numpy()
    assert set(np.unique(gt)) == {0, 80}
    # the tags written beside the lists use the same 0-based fg indices
    with open(osp.join(coco_root, 'cls_labels_train2014.json')) as f:
        labels = json.load(f)['labels']
    dog = coco_cat_id_to_label()[18]  # 17: category id 12 does not exist
    assert labels == {stem('train2014', 9): [0, dog - 1],
                      stem('train2014', 25): [79]}


def test_dataset_errors(coco_root, tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere.txt'):
        _dataset(coco_root, ann_file='ImageSets/nowhere.txt')
    with pytest.raises(ValueError, match='reduce_zero_label'):
        _dataset(coco_root, reduce_zero_label=True)
    # a listed id without image names the list line and the missing file
    lst = tmp_path / 'list.txt'
    missing = osp.join(coco_root, 'train2014',
                       stem('train2014', 31) + '.jpg')
    lst.write_text(stem('train2014', 9) + '\n' + stem('train2014', 31) + '\n')
    with pytest.raises(FileNotFoundError,
                       match=f'list.txt, line 2: the image of .*{missing}'):
        _dataset(coco_root, ann_file=str(lst))
    # an image without its label map (e.g. the unlisted empty image)
    lst.write_text(stem('train2014', 30) + '\n')
    with pytest.raises(FileNotFoundError, match='the label map of'):
        _dataset(coco_root, ann_file=str(lst))
    assert len(_dataset(coco_root, ann_file=str(lst), check_files=False)) == 1
    lst.write_text(stem('train2014', 9) + '\n' + stem('train2014', 9) + '\n')
    with pytest.raises(ValueError, match='already listed on line 1'):
        _dataset(coco_root, ann_file=str(lst))


def test_config_builds_and_scores_on_fixture(coco_root, repo_root):
    cfg = Config.fromfile(
        osp.join(repo_root, 'configs/_base_/datasets/coco2014_wsss_seg.py'))
    assert cfg.pseudo_mask_dir == 'SegmentationClass/train2014'
    assert cfg.train_dataloader.dataset.data_prefix.seg_map_path == \
        cfg.pseudo_mask_dir
    train_cfg = cfg.train_dataloader.dataset
    train_cfg.data_root = coco_root
    train = DATASETS.build(train_cfg)
    assert isinstance(train, COCO2014WSSSDataset) and len(train) == 2
    out = train[0]
    img, gt = out['inputs'], out['data_samples'].gt_sem_seg.data
    assert img.shape[0] == 3 and img.shape[1:] == gt.shape[1:]
    assert max(img.shape[1:]) <= 512
    assert set(torch.unique(gt).tolist()) <= {0, 1, 17, 255}

    val_cfg = cfg.val_dataloader.dataset
    val_cfg.data_root = coco_root
    val = DATASETS.build(val_cfg)
    assert len(val) == 1
    sample = val[0]['data_samples']
    assert tuple(sample.gt_sem_seg.shape) == (H, W)
    # the evaluator scores a perfect prediction at 100 mIoU over the classes
    # present (others are NaN)
    metric = METRICS.build(cfg.val_evaluator)
    metric.dataset_meta = val.metainfo
    gt = sample.gt_sem_seg.data
    metric.process([], [dict(pred_sem_seg=dict(data=gt.clone()),
                             gt_sem_seg=dict(data=gt))])
    assert metric.compute_metrics(metric.results)['mIoU'] == 100.0
