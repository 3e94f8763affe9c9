# Copyright (c) mmweak contributors.
"""make_synthetic_refcoco.py: byte-identical reruns, the official format
(read by RefCOCOGroundingDataset), ambiguous subjects (at least two objects
of every referent's category), testA = people, testB = other objects."""
import hashlib
import json
import os.path as osp
import pickle
from collections import Counter

from mmweak.datasets import RefCOCOGroundingDataset
from mmweak.testing import load_tool_script

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = load_tool_script(ROOT,
                        'tools/dataset_converters/make_synthetic_refcoco.py')
ARGS = ['--num-train', '6', '--num-val', '3', '--num-testa', '3',
        '--num-testb', '3', '--size', '96']


def _digest(root):
    h = hashlib.sha256()
    for name in ('refcoco/instances.json', 'refcoco/refs(unc).p'):
        with open(osp.join(root, name), 'rb') as f:
            h.update(f.read())
    return h.hexdigest()


def test_deterministic_official_and_ambiguous(tmp_path):
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    TOOL.main(['--out-dir', a] + ARGS)
    TOOL.main(['--out-dir', b] + ARGS)
    assert _digest(a) == _digest(b)
    with open(osp.join(a, 'refcoco', 'instances.json')) as f:
        coco = json.load(f)
    with open(osp.join(a, 'refcoco', 'refs(unc).p'), 'rb') as f:
        refs = pickle.load(f)
    cats = {x['id']: x['category_id'] for x in coco['annotations']}
    per_img = Counter((x['image_id'], x['category_id'])
                      for x in coco['annotations'])
    for ref in refs:
        assert per_img[(ref['image_id'], cats[ref['ann_id']])] >= 2
        assert ref['sentences'] and ref['sent_ids']
        if ref['split'] == 'testA':
            assert ref['category_id'] == 1
        if ref['split'] == 'testB':
            assert ref['category_id'] != 1
    ds = RefCOCOGroundingDataset(
        osp.join(a, 'refcoco'), img_prefix='../images/train2014',
        split=['train', 'val', 'testA', 'testB'])
    assert len(ds) == 15
    # the rule parser finds a relation in every expression
    for i in range(len(ds)):
        for e in ds.get_data_info(i)['expressions']:
            assert e['relation'] != '<none>' and e['category'] is not None
