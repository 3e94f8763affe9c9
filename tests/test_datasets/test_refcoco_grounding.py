# Copyright (c) mmweak contributors.
"""RefCOCOGroundingDataset on a fixture in the official format: one item per
image with its candidates and triads, counts logged, per-split selection,
clear errors for a missing file / annotation / image; LoadRegionFeatures and
PackTriadInputs."""
import numpy as np
import pytest
import torch

from mmweak.datasets import RefCOCOGroundingDataset
from mmweak.datasets.transforms import LoadRegionFeatures, PackTriadInputs
from mmweak.testing import make_refcoco_root, write_random_region_features


def test_items_per_image(tmp_path):
    root = make_refcoco_root(str(tmp_path))
    ds = RefCOCOGroundingDataset(split='train', **root)
    assert len(ds) == 2
    info = ds.get_data_info(0)
    assert info['img_id'] == 11 and info['split'] == 'train'
    assert [i['ann_id'] for i in info['instances']] == [101, 102, 103]
    assert info['instances'][0]['bbox'] == [2., 4., 12., 24.]  # xyxy
    exprs = info['expressions']
    assert [e['text'] for e in exprs] == ['man left of car', 'left man',
                                          'red car']
    assert (exprs[0]['subject'], exprs[0]['relation'],
            exprs[0]['object']) == ('man', 'left', 'car')
    assert (exprs[1]['subject'], exprs[1]['relation'],
            exprs[1]['object']) == ('man', 'left', 'man')
    assert exprs[0]['category'] == 'person'
    assert [e['target_index'] for e in exprs] == [0, 0, 2]
    both = RefCOCOGroundingDataset(split=['val', 'testA'], **root)
    assert len(both) == 2  # image 13 once per split
    assert sorted(both.get_data_info(i)['split'] for i in range(2)) == \
        ['testA', 'val']


def test_counts_are_logged(tmp_path, capsys):
    from mmengine.logging import MMLogger
    MMLogger.get_instance('test_refcoco_counts')
    root = make_refcoco_root(str(tmp_path))
    RefCOCOGroundingDataset(split='train', **root)
    out = capsys.readouterr().out
    assert '2 images, 5 objects (candidates), 4 expressions' in out


def test_errors_name_the_file(tmp_path):
    root = make_refcoco_root(str(tmp_path / 'a'), drop='refs')
    with pytest.raises(FileNotFoundError, match=r'refs\(unc\)\.p'):
        RefCOCOGroundingDataset(**root)
    root = make_refcoco_root(str(tmp_path / 'b'), drop='annotation')
    with pytest.raises(KeyError, match=r'annotation 106.*instances\.json'):
        RefCOCOGroundingDataset(split='val', **root)
    root = make_refcoco_root(str(tmp_path / 'c'), drop='image')
    with pytest.raises(FileNotFoundError, match='COCO_train2014_000000000013'):
        RefCOCOGroundingDataset(split='val', **root)
    root = make_refcoco_root(str(tmp_path / 'd'))
    with pytest.raises(ValueError, match='testB'):
        RefCOCOGroundingDataset(split='testB', **root)
    root = make_refcoco_root(str(tmp_path / 'e'), split_by='umd')
    ds = RefCOCOGroundingDataset(split_by='umd', split='train', **root)
    assert len(ds) == 2


def test_region_features_and_packing(tmp_path):
    root = make_refcoco_root(str(tmp_path))
    cache = str(tmp_path / 'feats')
    write_random_region_features(cache, root['data_root'], dim=5)
    ds = RefCOCOGroundingDataset(
        split='train',
        pipeline=[LoadRegionFeatures(cache), PackTriadInputs()], **root)
    out = ds[0]
    assert out['inputs'].shape == (3, 5) and out['inputs'].dtype == \
        torch.float32
    sample = out['data_samples']
    assert sample.gt_instances.bboxes.shape == (3, 4)
    assert sample.img_shape == (48, 48)
    assert len(sample.expressions) == 3
    # a cache in another order is re-ordered; a stale one is an error
    path = f'{cache}/11.npz'
    with np.load(path) as d:
        data = dict(d)
    np.savez(path, ann_ids=data['ann_ids'][::-1], boxes=data['boxes'][::-1],
             feats=data['feats'][::-1])
    torch.testing.assert_close(ds[0]['inputs'], out['inputs'])
    np.savez(path, ann_ids=data['ann_ids'][:2], boxes=data['boxes'][:2],
             feats=data['feats'][:2])
    with pytest.raises(KeyError, match='11.npz'):
        ds[0]
    with pytest.raises(FileNotFoundError, match='99.npz'):
        LoadRegionFeatures(cache)(dict(img_id=99, instances=[]))
