# Copyright (c) mmweak contributors.
import json
import os
import os.path as osp
import re
import shutil

import numpy as np
import pytest

from mmweak.datasets.cls_labels import (VOC_FG_CLASSES, load_cls_labels,
                                        load_id_list, tags_from_voc_xml)
from mmweak.testing import load_tool_script, make_voc_root

TOOL = 'tools/dataset_converters/make_cls_labels.py'


@pytest.fixture(scope='module')
def tool(repo_root):
    return load_tool_script(repo_root, TOOL)


@pytest.fixture(scope='module')
def voc_root(tmp_path_factory) -> str:
    return make_voc_root(tmp_path_factory.mktemp('voc'), seed=1)


def _ids(root, split):
    return load_id_list(
        osp.join(root, 'ImageSets', 'Segmentation', f'{split}.txt'))


def _xml_tags(root, img_id, skip=False):
    return tags_from_voc_xml(osp.join(root, 'Annotations', img_id + '.xml'),
                             VOC_FG_CLASSES, skip)


def test_tags_from_xml_to_json(tool, voc_root, tmp_path, capsys):
    out = str(tmp_path / 'cls_labels.json')
    assert tool.main(['--data-root', voc_root, '--out', out]) == out
    printed = capsys.readouterr().out
    assert '6 images' in printed and 'images per class' in printed
    with open(out) as f:
        doc = json.load(f)
    assert doc['source'] == 'xml' and doc['skip_difficult'] is False
    assert doc['classes'] == list(VOC_FG_CLASSES)
    ids = _ids(voc_root, 'trainaug')
    assert doc['labels'] == {i: _xml_tags(voc_root, i) for i in ids}


def test_skip_difficult_and_split_path(tool, voc_root, tmp_path):
    keep = str(tmp_path / 'keep.json')
    skip = str(tmp_path / 'skip.json')
    split = osp.join(voc_root, 'ImageSets', 'Segmentation', 'val.txt')
    tool.main(['--data-root', voc_root, '--split', split, '--out', keep])
    tool.main([
        '--data-root', voc_root, '--split', 'val', '--out', skip,
        '--skip-difficult'
    ])
    kept, skipped = load_cls_labels(keep), load_cls_labels(skip)
    assert sorted(kept) == _ids(voc_root, 'val')
    assert skipped == {i: _xml_tags(voc_root, i, True) for i in kept}
    with open(skip) as f:
        assert json.load(f)['skip_difficult'] is True
    # over train + aug + val, some class is only present as a difficult
    # object (the fixture plants them)
    every = str(tmp_path / 'every.json')
    every_skip = str(tmp_path / 'every_skip.json')
    lst = str(tmp_path / 'all.txt')
    with open(lst, 'w') as f:
        f.write('\n'.join(_ids(voc_root, 'trainaug') + _ids(voc_root, 'val')))
    tool.main(['--data-root', voc_root, '--split', lst, '--out', every])
    tool.main([
        '--data-root', voc_root, '--split', lst, '--out', every_skip,
        '--skip-difficult'
    ])
    assert load_cls_labels(every) != load_cls_labels(every_skip)


def test_tags_from_masks(tool, voc_root, tmp_path):
    """SegmentationClassAug keeps difficult objects (= XML tags);
    SegmentationClass voids them (= XML tags without difficult)."""
    aug = str(tmp_path / 'mask_aug.json')
    tool.main(['--data-root', voc_root, '--source', 'mask', '--out', aug])
    with open(aug) as f:
        assert json.load(f)['source'] == 'mask'
    assert load_cls_labels(aug) == {
        i: _xml_tags(voc_root, i)
        for i in _ids(voc_root, 'trainaug')
    }
    seg = str(tmp_path / 'mask_train.json')
    tool.main([
        '--data-root', voc_root, '--source', 'mask', '--split', 'train',
        '--mask-dir', 'SegmentationClass', '--out', seg
    ])
    assert load_cls_labels(seg) == {
        i: _xml_tags(voc_root, i, True)
        for i in _ids(voc_root, 'train')
    }


def test_npy_output_and_conversions(tool, voc_root, tmp_path):
    npy = str(tmp_path / 'cls_labels.npy')
    tool.main(['--data-root', voc_root, '--out', npy])
    raw = np.load(npy, allow_pickle=True).item()
    ids = _ids(voc_root, 'trainaug')
    assert sorted(raw) == [int(i.replace('_', '')) for i in ids]
    for img_id in ids:
        vec = raw[int(img_id.replace('_', ''))]
        assert vec.dtype == np.float32 and vec.shape == (20, )
        assert np.flatnonzero(vec).tolist() == _xml_tags(voc_root, img_id)

    as_json = str(tmp_path / 'converted.json')
    tool.main(['--convert', npy, as_json])
    with open(as_json) as f:
        doc = json.load(f)
    assert doc['source'] == 'xml' and doc['skip_difficult'] is False
    assert doc['labels'] == {i: _xml_tags(voc_root, i) for i in ids}
    back = str(tmp_path / 'back.npy')
    tool.main(['--convert', as_json, back])
    raw_back = np.load(back, allow_pickle=True).item()
    assert sorted(raw_back) == sorted(raw)
    assert all(np.array_equal(raw[k], raw_back[k]) for k in raw)
    # the JSON header survives a json -> json conversion
    mask_json = str(tmp_path / 'mask.json')
    tool.main(
        ['--data-root', voc_root, '--source', 'mask', '--out', mask_json])
    copied = str(tmp_path / 'copied.json')
    tool.main(['--convert', mask_json, copied])
    with open(copied) as f:
        assert json.load(f)['source'] == 'mask'


def test_resume_and_overwrite(tool, voc_root, tmp_path, capsys):
    out = str(tmp_path / 'cls_labels.json')
    with open(out, 'w') as f:
        f.write('{"labels": {}}')
    tool.main(['--data-root', voc_root, '--out', out])
    assert 'skipping' in capsys.readouterr().out
    with open(out) as f:
        assert json.load(f) == {'labels': {}}
    tool.main(['--data-root', voc_root, '--out', out, '--overwrite'])
    assert len(load_cls_labels(out)) == 6
    assert sorted(os.listdir(tmp_path)) == ['cls_labels.json']


def test_errors_name_the_file(tool, voc_root, tmp_path):
    root = str(tmp_path / 'VOC2012')
    shutil.copytree(voc_root, root)
    img_id = _ids(root, 'trainaug')[0]
    xml = osp.join(root, 'Annotations', img_id + '.xml')
    os.remove(xml)
    out = str(tmp_path / 'out.json')
    with pytest.raises(FileNotFoundError, match=re.escape(xml)):
        tool.main(['--data-root', root, '--out', out])
    with open(xml, 'w') as f:
        f.write('<annotation><object><name>unicorn</name></object>'
                '</annotation>')
    with pytest.raises(ValueError, match=re.escape(xml)):
        tool.main(['--data-root', root, '--out', out])
    assert not osp.exists(out)
    missing = str(tmp_path / 'none')
    with pytest.raises(FileNotFoundError, match=re.escape(missing)):
        tool.main(['--data-root', missing, '--out', out])
    with pytest.raises(FileNotFoundError, match='nosplit.txt'):
        tool.main(['--data-root', root, '--split', 'nosplit', '--out', out])
    with pytest.raises(SystemExit):
        tool.main(['--data-root', root])  # no --out
    with pytest.raises(SystemExit):
        tool.main([
            '--data-root', root, '--out', out, '--source', 'mask',
            '--skip-difficult'
        ])
    bad = str(tmp_path / 'bad.npy')
    np.save(bad, {2007000001: np.ones(5, np.float32)})
    with pytest.raises(ValueError, match=re.escape(bad)):
        tool.main(['--convert', bad, str(tmp_path / 'x.json')])
