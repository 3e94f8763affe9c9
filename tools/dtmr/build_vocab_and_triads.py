# Copyright (c) mmweak contributors.
"""Vocabulary (and triads) of a RefCOCO-style dataset for DTMR.

    python tools/dtmr/build_vocab_and_triads.py DATA_ROOT \\
        [--split-by unc] [--splits train] [--min-count 1] \\
        [--out vocab.json] [--triads triads.json] [--img-prefix DIR]

Reads ``DATA_ROOT/instances.json`` and ``refs(<split-by>).p`` through
``RefCOCOGroundingDataset`` (rule parser), and writes, atomically:

- ``--out`` (default ``DATA_ROOT/vocab.json``): a JSON list of the tokens of
  the chosen splits (default: train only, so no val/test word is seen)
  with at least ``--min-count`` occurrences, most frequent first; the
  ``WordEmbedding`` of the configs reads it (unknown words map to
  ``<unk>``);
- ``--triads`` (optional): ``{sent_id: {subject, relation, object}}`` of
  every sentence of every split, the ``file`` backend's format (edit or
  replace it with converted ``refer-parser2`` output).
"""
import argparse
import json
import os.path as osp
import pickle
from collections import Counter
from typing import List, Optional

from mmweak.datasets import RefCOCOGroundingDataset
from mmweak.datasets.triad_parser import parse_triad_rules
from mmweak.utils.offline_job import atomic_path


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('data_root')
    p.add_argument('--split-by', default='unc')
    p.add_argument('--splits', nargs='+', default=['train'])
    p.add_argument('--min-count', type=int, default=1)
    p.add_argument('--out')
    p.add_argument('--triads')
    p.add_argument('--img-prefix', default='../coco/train2014')
    args = p.parse_args(argv)
    ds = RefCOCOGroundingDataset(
        args.data_root, img_prefix=args.img_prefix, split_by=args.split_by,
        split=args.splits, check_images=False, pipeline=[])
    counts: Counter = Counter()
    for i in range(len(ds)):
        for e in ds.get_data_info(i)['expressions']:
            counts.update(e['tokens'])
    words = [w for w, c in sorted(counts.items(), key=lambda x: (-x[1], x[0]))
             if c >= args.min_count]
    out = args.out or osp.join(args.data_root, 'vocab.json')
    with atomic_path(out) as tmp, open(tmp, 'w') as f:
        json.dump(words, f)
    print(f'{len(words)} words from {"+".join(args.splits)} -> {out}')
    if args.triads:
        with open(ds.refs_file, 'rb') as f:
            refs = pickle.load(f, encoding='latin1')
        table = {}
        for ref in refs:
            for s in ref['sentences']:
                sub, rel, obj = parse_triad_rules(
                    s.get('tokens') or s['sent'].lower().split())
                table[str(s['sent_id'])] = dict(subject=sub, relation=rel,
                                                object=obj)
        with atomic_path(args.triads) as tmp, open(tmp, 'w') as f:
            json.dump(table, f)
        print(f'{len(table)} triads -> {args.triads}')


if __name__ == '__main__':
    main()
