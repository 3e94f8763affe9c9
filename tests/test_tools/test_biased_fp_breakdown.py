# Copyright (c) mmweak contributors.
"""tools/analysis_tools/biased_fp_breakdown.py on a tiny generated set:
labels equal to the GT have no false positives; structure rows turned into
the structure's class count as false positives on the structure, a block
elsewhere as false positives elsewhere; clear errors."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmweak.testing import load_tool_script

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TRAIN, BOAT = 19, 4


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    gen = load_tool_script(REPO,
                           'tools/dataset_converters/make_synthetic_voc.py')
    out = str(tmp_path_factory.mktemp('svoc'))
    root = gen.generate(out, seed=0, num_train=24, num_aug=0, num_val=2,
                        width_range=(40, 48), height_range=(32, 40),
                        stray_structure_prob=0.0, verbose=False)
    return root, json.load(open(osp.join(out, 'synthetic_meta.json')))


@pytest.fixture(scope='module')
def tool():
    return load_tool_script(REPO,
                            'tools/analysis_tools/biased_fp_breakdown.py')


def _write(folder, img_id, label):
    os.makedirs(folder, exist_ok=True)
    Image.fromarray(label.astype(np.uint8)).save(
        osp.join(folder, img_id + '.png'))


def test_breakdown(data, tool, tmp_path):
    root, meta = data
    ids = open(osp.join(root, 'ImageSets/Segmentation/train.txt')).read(
    ).split()
    exact, biased = str(tmp_path / 'exact'), str(tmp_path / 'biased')
    on_train = elsewhere_boat = 0
    for img_id in ids:
        gt = np.asarray(Image.open(osp.join(root, 'SegmentationClass',
                                            img_id + '.png')))
        _write(exact, img_id, gt)
        pred = gt.copy()
        for s in meta['structures'].get(img_id, []):
            if s['class'] == 'train':
                band = np.zeros_like(gt, bool)
                band[s['bbox'][1]:s['bbox'][3]] = True
                hit = band & (gt == 0)
                pred[hit] = TRAIN
                on_train += int(hit.sum())
        if img_id == ids[0]:  # a boat block in the top-left corner
            block = np.zeros_like(gt, bool)
            block[:3, :3] = True
            hit = block & (gt != BOAT) & (gt != 255)
            pred[block] = BOAT
            elsewhere_boat += int(hit.sum())
        _write(biased, img_id, pred)
    assert on_train > 0 and elsewhere_boat > 0
    out = str(tmp_path / 'report.json')
    report = tool.main(['--data-root', root, '--split', 'train',
                        '--mask-dir', f'exact={exact}', f'biased={biased}',
                        '--out', out])
    assert json.load(open(out)) == json.loads(json.dumps(report))
    for c in ('boat', 'train'):
        r = report['exact'][c]
        assert r['iou'] == 100.0 and r['fp'] == 0 and r['fn'] == 0
    train = report['biased']['train']
    assert train['fp_on'] == on_train == train['fp']
    assert train['fp_elsewhere'] == 0.0
    assert train['fp_on_structure'] == pytest.approx(
        100.0 * on_train / (train['tp'] + train['fp'] + train['fn']))
    boat = report['biased']['boat']
    # the corner block lies above every structure band (bands start low)
    assert boat['fp'] == elsewhere_boat and boat['fp_on'] == 0
    assert boat['fp_rate'] == pytest.approx(boat['fp_elsewhere'])


def test_errors(data, tool, tmp_path):
    root, _ = data
    with pytest.raises(ValueError, match='NAME=DIR'):
        tool.main(['--data-root', root, '--mask-dir', str(tmp_path)])
    with pytest.raises(FileNotFoundError, match='synthetic_meta.json'):
        tool.main(['--data-root', root, '--meta',
                   str(tmp_path / 'synthetic_meta.json'), '--mask-dir',
                   f'x={tmp_path}'])
    with pytest.raises(FileNotFoundError, match='label map'):
        tool.main(['--data-root', root, '--mask-dir', f'x={tmp_path}'])
