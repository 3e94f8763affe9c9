# Copyright (c) mmweak contributors.
"""build_vocab_and_triads.py on a synthetic RefCOCO in the official format:
the vocabulary holds train words only (most frequent first), and the triads
file feeds the parser's ``file`` backend with the rule parser's triads."""
import json
import os.path as osp
import pickle
from collections import Counter

from mmweak.datasets import RefCOCOGroundingDataset
from mmweak.testing import load_tool_script

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MAKE = load_tool_script(ROOT,
                        'tools/dataset_converters/make_synthetic_refcoco.py')
TOOL = load_tool_script(ROOT, 'tools/dtmr/build_vocab_and_triads.py')


def test_train_vocabulary_and_triads_file(tmp_path):
    out = str(tmp_path / 'data')
    MAKE.main(['--out-dir', out, '--num-train', '6', '--num-val', '3',
               '--num-testa', '3', '--num-testb', '3', '--size', '96'])
    root = osp.join(out, 'refcoco')
    vocab, triads = str(tmp_path / 'vocab.json'), str(tmp_path / 't.json')
    TOOL.main([root, '--img-prefix', '../images/train2014', '--out', vocab,
               '--triads', triads])
    with open(vocab) as f:
        words = json.load(f)
    with open(osp.join(root, 'refs(unc).p'), 'rb') as f:
        refs = pickle.load(f)
    counts = Counter(t for r in refs if r['split'] == 'train'
                     for s in r['sentences'] for t in s['tokens'])
    assert set(words) == set(counts)  # train words only, all of them
    freq = [counts[w] for w in words]
    assert freq == sorted(freq, reverse=True)
    with open(triads) as f:
        table = json.load(f)
    sent_ids = {str(i) for r in refs for i in r['sent_ids']}
    assert set(table) == sent_ids  # every sentence of every split
    # the file backend reproduces the rule parser's triads
    kw = dict(img_prefix='../images/train2014', split=['val'],
              check_images=False, pipeline=[])
    by_rule = RefCOCOGroundingDataset(root, **kw)
    by_file = RefCOCOGroundingDataset(
        root, parser=dict(backend='file', file=triads), **kw)
    for i in range(len(by_rule)):
        a = by_rule.get_data_info(i)['expressions']
        b = by_file.get_data_info(i)['expressions']
        assert [(e['subject'], e['relation'], e['object']) for e in a] == \
            [(e['subject'], e['relation'], e['object']) for e in b]
