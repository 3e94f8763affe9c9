# Copyright (c) mmweak contributors.
import json
import os
import os.path as osp
import re

import numpy as np
import pytest
from PIL import Image

from mmweak.datasets.cls_labels import (VOC_CLASSES, VOC_FG_CLASSES,
                                        decode_voc_id, encode_voc_id,
                                        load_cls_labels, load_id_list,
                                        save_cls_labels, tags_from_mask,
                                        tags_from_voc_xml)
from mmweak.testing import load_tool_script

XML = """<annotation>
\t<folder>VOC2012</folder>
\t<filename>2007_000032.jpg</filename>
\t<size><width>500</width><height>281</height><depth>3</depth></size>
\t<object><name>aeroplane</name><pose>Frontal</pose><truncated>0</truncated>
\t\t<difficult>0</difficult>
\t\t<bndbox><xmin>104</xmin><ymin>78</ymin><xmax>375</xmax><ymax>183</ymax>
\t\t</bndbox></object>
\t<object><name>person</name><difficult>1</difficult></object>
\t<object><name>aeroplane</name></object>
\t<object><name> tvmonitor </name><difficult>0</difficult></object>
</annotation>
"""


def _write(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def _png(path, label, mode='P'):
    img = Image.fromarray(np.asarray(label, np.uint8), mode=mode)
    if mode == 'P':
        img.putpalette([0, 0, 0, 128, 0, 0] * 128)
    img.save(path)
    return str(path)


def test_voc_class_names_match_mmseg_and_the_generator(repo_root):
    tool = load_tool_script(repo_root,
                            'tools/dataset_converters/make_synthetic_voc.py')
    assert VOC_CLASSES == tool.VOC_CLASSES and len(VOC_FG_CLASSES) == 20
    assert VOC_FG_CLASSES[0] == 'aeroplane' and VOC_FG_CLASSES[14] == 'person'
    pytest.importorskip('mmseg')
    from mmseg.datasets import PascalVOCDataset
    meta = PascalVOCDataset.METAINFO
    assert tuple(meta['classes']) == VOC_CLASSES
    palette = tool.voc_palette()
    assert [palette[3 * i:3 * i + 3] for i in range(21)] == \
        [list(c) for c in meta['palette']]
    assert palette[3 * 255:] == [224, 224, 192]


def test_tags_from_xml_keep_or_skip_difficult(tmp_path):
    path = _write(tmp_path / '2007_000032.xml', XML)
    assert tags_from_voc_xml(path, VOC_FG_CLASSES) == [0, 14, 19]
    assert tags_from_voc_xml(path, VOC_FG_CLASSES,
                             skip_difficult=True) == [0, 19]
    empty = _write(tmp_path / 'empty.xml', '<annotation></annotation>')
    assert tags_from_voc_xml(empty, VOC_FG_CLASSES) == []


@pytest.mark.parametrize('text, message', [
    ('<annotation><object>', 'not a valid XML'),
    ('<annotation><object><pose>x</pose></object></annotation>',
     'has no <name>'),
    ('<annotation><object><name>zebra</name></object></annotation>',
     'class "zebra"'),
    ('<annotation><object><name>cat</name><difficult>yes</difficult>'
     '</object></annotation>', '<difficult>'),
])
def test_bad_xml_names_the_file(tmp_path, text, message):
    path = _write(tmp_path / 'bad.xml', text)
    with pytest.raises(ValueError, match=re.escape(path)) as err:
        tags_from_voc_xml(path, VOC_FG_CLASSES)
    assert message in str(err.value)
    missing = str(tmp_path / 'missing.xml')
    with pytest.raises(FileNotFoundError, match=re.escape(missing)):
        tags_from_voc_xml(missing, VOC_FG_CLASSES)


@pytest.mark.parametrize('mode', ['P', 'L'])
def test_tags_from_mask_drop_background_and_reserved(tmp_path, mode):
    label = np.array([[0, 3, 3, 255], [15, 254, 0, 20]])
    path = _png(tmp_path / 'm.png', label, mode)
    assert tags_from_mask(path, 20) == [2, 14, 19]


def test_bad_masks_name_the_file(tmp_path):
    path = _png(tmp_path / 'bad.png', [[0, 21], [3, 253]])
    with pytest.raises(ValueError, match=re.escape(path)) as err:
        tags_from_mask(path, 20)
    assert '[21, 253]' in str(err.value)
    rgb = str(tmp_path / 'rgb.png')
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(rgb)
    with pytest.raises(ValueError, match=re.escape(rgb)):
        tags_from_mask(rgb, 20)
    junk = _write(tmp_path / 'junk.png', 'not a png')
    with pytest.raises(ValueError, match=re.escape(junk)):
        tags_from_mask(junk, 20)


def test_irn_id_encoding_round_trips():
    assert encode_voc_id('2007_000032') == 2007000032
    assert decode_voc_id(2007000032) == '2007_000032'
    assert decode_voc_id(np.int64(2011003276)) == '2011_003276'
    for bad in ('2007000032', 'COCO_train2014_000000000009', '07_1'):
        with pytest.raises(ValueError, match=bad):
            encode_voc_id(bad)


LABELS = {'2007_000032': [14, 0], '2008_000002': [19], '2007_000039': []}


def test_json_round_trip_and_header(tmp_path):
    path = str(tmp_path / 'cls_labels.json')
    save_cls_labels(path, LABELS, VOC_FG_CLASSES, 'xml', False)
    with open(path) as f:
        doc = json.load(f)
    assert doc['source'] == 'xml' and doc['skip_difficult'] is False
    assert doc['classes'] == list(VOC_FG_CLASSES)
    assert list(doc['labels']) == sorted(LABELS)
    assert doc['labels']['2007_000032'] == [0, 14]
    loaded = load_cls_labels(path, VOC_FG_CLASSES)
    assert loaded == {k: sorted(v) for k, v in LABELS.items()}
    # a plain {id: [indices]} JSON is read too
    plain = _write(tmp_path / 'plain.json', json.dumps(LABELS))
    assert load_cls_labels(plain) == loaded
    assert sorted(os.listdir(tmp_path)) == ['cls_labels.json', 'plain.json']


def test_npy_round_trip_in_irn_format(tmp_path):
    path = str(tmp_path / 'cls_labels.npy')
    save_cls_labels(path, LABELS, VOC_FG_CLASSES, 'xml', False)
    raw = np.load(path, allow_pickle=True).item()
    assert sorted(raw) == [2007000032, 2007000039, 2008000002]
    vec = raw[2007000032]
    assert vec.dtype == np.float32 and vec.shape == (20, )
    assert np.flatnonzero(vec).tolist() == [0, 14]
    assert not raw[2007000039].any()
    assert load_cls_labels(path, VOC_FG_CLASSES) == {
        k: sorted(v)
        for k, v in LABELS.items()
    }
    # a file written by IRN itself (int keys, float64 vectors) reads too
    irn = str(tmp_path / 'irn.npy')
    np.save(irn, {2010001234: np.eye(20)[4]})
    assert load_cls_labels(irn) == {'2010_001234': [4]}


def test_tag_file_errors_name_the_file(tmp_path):
    bad_id = str(tmp_path / 'out.npy')
    with pytest.raises(ValueError, match=re.escape(bad_id)):
        save_cls_labels(bad_id, {'COCO_1': [0]}, VOC_FG_CLASSES, 'xml', False)
    assert os.listdir(tmp_path) == []  # nothing partial left behind
    out_of_range = str(tmp_path / 'x.json')
    with pytest.raises(ValueError, match=re.escape(out_of_range)):
        save_cls_labels(out_of_range, {'2007_000001': [20]}, VOC_FG_CLASSES,
                        'xml', False)
    with pytest.raises(ValueError, match='source'):
        save_cls_labels(out_of_range, {}, VOC_FG_CLASSES, 'boxes', False)
    with pytest.raises(ValueError, match='.txt'):
        save_cls_labels(str(tmp_path / 'x.txt'), {}, VOC_FG_CLASSES, 'xml',
                        False)
    assert os.listdir(tmp_path) == []

    wrong_classes = str(tmp_path / 'c.json')
    save_cls_labels(wrong_classes, {'a': [0]}, ('cat', 'dog'), 'mask', False)
    with pytest.raises(ValueError, match=re.escape(wrong_classes)):
        load_cls_labels(wrong_classes, VOC_FG_CLASSES)
    bad_tags = _write(tmp_path / 'b.json', json.dumps({'a': 'cat'}))
    with pytest.raises(ValueError, match=re.escape(bad_tags)):
        load_cls_labels(bad_tags)
    not_json = _write(tmp_path / 'n.json', '{')
    with pytest.raises(ValueError, match=re.escape(not_json)):
        load_cls_labels(not_json)
    short = str(tmp_path / 'short.npy')
    np.save(short, {2007000001: np.ones(3)})
    with pytest.raises(ValueError, match=re.escape(short)):
        load_cls_labels(short, VOC_FG_CLASSES)
    array = str(tmp_path / 'array.npy')
    np.save(array, np.zeros(3))
    with pytest.raises(ValueError, match=re.escape(array)):
        load_cls_labels(array)
    missing = str(tmp_path / 'missing.json')
    with pytest.raises(FileNotFoundError, match=re.escape(missing)):
        load_cls_labels(missing)


def test_id_lists(tmp_path):
    path = _write(tmp_path / 'train.txt', '2007_000032\n\n2007_000039\n')
    assert load_id_list(path) == ['2007_000032', '2007_000039']
    dup = _write(tmp_path / 'dup.txt', 'a\na\n')
    with pytest.raises(ValueError, match=re.escape(dup)):
        load_id_list(dup)
    empty = _write(tmp_path / 'empty.txt', '\n')
    with pytest.raises(ValueError, match=re.escape(empty)):
        load_id_list(empty)
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        load_id_list(osp.join(tmp_path, 'nope.txt'))
