# Copyright (c) mmweak contributors.
import json
import os
import os.path as osp
from xml.etree import ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from mmweak.datasets.cls_labels import (VOC_CLASSES, VOC_FG_CLASSES,
                                        load_id_list, tags_from_mask,
                                        tags_from_voc_xml)
from mmweak.testing import load_tool_script

TOOL = 'tools/dataset_converters/make_synthetic_voc.py'
SMALL = [
    '--num-train', '6', '--num-aug', '4', '--num-val', '4', '--difficult-prob',
    '0.5'
]


@pytest.fixture(scope='module')
def tool(repo_root):
    return load_tool_script(repo_root, TOOL)


@pytest.fixture(scope='module')
def out_dir(tool, tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp('synthetic_voc'))
    tool.main(['--out-dir', out, '--seed', '3'] + SMALL)
    return out


def _files(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = osp.join(dirpath, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, root)] = f.read()
    return out


def _mask(path):
    img = Image.open(path)
    assert img.mode == 'P'
    return np.asarray(img)


def test_two_runs_are_byte_identical(tool, out_dir, tmp_path):
    again = str(tmp_path / 'again')
    tool.main(['--out-dir', again, '--seed', '3'] + SMALL)
    first, second = _files(out_dir), _files(again)
    assert len(first) == 14 * 3 + 10 + 4 + 1  # jpg/xml/aug, seg, lists, meta
    assert first == second
    other = str(tmp_path / 'other')
    tool.main(['--out-dir', other, '--seed', '4'] + SMALL)
    assert _files(other) != first


def test_layout_and_lists(out_dir):
    root = osp.join(out_dir, 'VOCdevkit', 'VOC2012')
    sets = {
        s: load_id_list(osp.join(root, 'ImageSets', 'Segmentation',
                                 f'{s}.txt'))
        for s in ('train', 'val', 'trainaug', 'aug')
    }
    assert [len(sets[s]) for s in ('train', 'aug', 'val')] == [6, 4, 4]
    assert sets['trainaug'] == sorted(sets['train'] + sets['aug'])
    assert not set(sets['train']) & set(sets['aug'])
    assert not set(sets['val']) & set(sets['trainaug'])
    every = sorted(sets['trainaug'] + sets['val'])
    assert every == [f'2007_{i:06d}' for i in range(1, 15)]
    assert all(sets[s] == sorted(sets[s]) for s in sets)

    def stems(folder):
        return sorted(
            osp.splitext(n)[0] for n in os.listdir(osp.join(root, folder)))

    assert stems('JPEGImages') == stems('Annotations') == every
    assert stems('SegmentationClassAug') == every
    assert stems('SegmentationClass') == sorted(sets['train'] + sets['val'])
    assert sorted(os.listdir(out_dir)) == ['VOCdevkit', 'synthetic_meta.json']

    widths = set()
    for img_id in every:
        img = Image.open(osp.join(root, 'JPEGImages', img_id + '.jpg'))
        assert img.format == 'JPEG' and img.mode == 'RGB'
        w, h = img.size
        widths.add(w)
        assert 112 <= w <= 144 and 88 <= h <= 112
        xml = ET.parse(osp.join(root, 'Annotations', img_id + '.xml'))
        assert xml.findtext('filename') == img_id + '.jpg'
        assert xml.findtext('folder') == 'VOC2012'
        assert (int(xml.findtext('size/width')),
                int(xml.findtext('size/height'))) == (w, h)
        segmented = img_id in sets['train'] or img_id in sets['val']
        assert xml.findtext('segmented') == str(int(segmented))
        objects = xml.findall('object')
        assert 1 <= len(objects) <= 4
        for obj in objects:
            assert obj.findtext('name') in VOC_FG_CLASSES
            assert obj.findtext('pose') in ('Left', 'Right', 'Frontal')
            assert obj.findtext('truncated') in ('0', '1')
            x1, y1, x2, y2 = (int(obj.findtext(f'bndbox/{k}'))
                              for k in ('xmin', 'ymin', 'xmax', 'ymax'))
            assert 1 <= x1 <= x2 <= w and 1 <= y1 <= y2 <= h  # 1-based
            # the box is tight on the object's pixels in the Aug mask
            aug = _mask(osp.join(root, 'SegmentationClassAug',
                                 img_id + '.png'))
            cls = VOC_CLASSES.index(obj.findtext('name'))
            assert (aug[y1 - 1:y2, x1 - 1:x2] == cls).any()
            assert aug.shape == (h, w)
    assert len(widths) > 1  # sizes vary per image


def test_palette_and_boundary_band(tool, out_dir):
    root = osp.join(out_dir, 'VOCdevkit', 'VOC2012')
    ids = load_id_list(osp.join(root, 'ImageSets/Segmentation/train.txt'))
    ids += load_id_list(osp.join(root, 'ImageSets/Segmentation/val.txt'))
    for img_id in ids:
        seg_img = Image.open(
            osp.join(root, 'SegmentationClass', img_id + '.png'))
        assert seg_img.getpalette()[:6] == [0, 0, 0, 128, 0, 0]
        assert seg_img.getpalette()[3 * 255:3 * 256] == [224, 224, 192]
        seg = np.asarray(seg_img)
        aug = _mask(osp.join(root, 'SegmentationClassAug', img_id + '.png'))
        assert 255 in seg and 255 not in aug
        assert set(np.unique(aug)) <= {0} | {
            VOC_CLASSES.index(c)
            for c in tool.SYNTHETIC_CLASSES
        }
        keep = seg != 255
        assert (seg[keep] == aug[keep]).all()
        # every pixel next to a label change is in the band
        edge = tool._boundary_band(aug)
        assert (seg[edge] == 255).mean() > 0.95
        # the band is thin: ~2 px per edge, not whole objects
        band = (seg == 255) & ~edge
        assert band.sum() <= 0.02 * seg.size + 60


def test_difficult_objects_and_tag_sources_agree(out_dir):
    root = osp.join(out_dir, 'VOCdevkit', 'VOC2012')
    sets = osp.join(root, 'ImageSets', 'Segmentation')
    seg_ids = load_id_list(osp.join(sets, 'train.txt')) + \
        load_id_list(osp.join(sets, 'val.txt'))
    all_ids = load_id_list(osp.join(sets, 'trainaug.txt')) + \
        load_id_list(osp.join(sets, 'val.txt'))
    num_difficult = 0
    for img_id in all_ids:
        xml = osp.join(root, 'Annotations', img_id + '.xml')
        num_difficult += open(xml).read().count('<difficult>1<')
        assert tags_from_voc_xml(xml, VOC_FG_CLASSES) == tags_from_mask(
            osp.join(root, 'SegmentationClassAug', img_id + '.png'), 20)
        if img_id in seg_ids:
            assert tags_from_voc_xml(xml, VOC_FG_CLASSES, True) == \
                tags_from_mask(osp.join(root, 'SegmentationClass',
                                        img_id + '.png'), 20)
    assert num_difficult >= 2
    with open(osp.join(out_dir, 'synthetic_meta.json')) as f:
        meta = json.load(f)
    assert meta['difficult_objects'] == num_difficult


def test_biased_structures_are_planted_and_labelled_background(tool):
    """Every train stands on rails and every boat floats on water: bands
    across the whole width, label 0, never without their class."""
    seen = {'rails': 0, 'water': 0}
    for index in range(40):
        out = tool.render_image(np.random.default_rng([5, index]), (112, 144),
                                (88, 112))
        names = {o['name'] for o in out['objects']}
        kinds = {s['kind']: s for s in out['structures']}
        for cls, kind in tool.BIASED_STRUCTURES.items():
            big = any(o['name'] == cls and not o['difficult']
                      for o in out['objects'])
            assert (kind in kinds) == big, (index, names, kinds)
        smask = out['structure_mask']
        label = out['label_aug']
        if not kinds:
            assert not smask.any()
            continue
        assert smask.any(0).all()  # crosses the whole image width
        free = smask & (label == 0)
        assert free.sum() > 0.4 * smask.sum()
        for s in kinds.values():
            seen[s['kind']] += 1
            x1, y1, x2, y2 = s['bbox']
            assert (x1, x2) == (0, label.shape[1])
            assert smask[y1:y2].any(1).all()
            # the band looks different from the rest of the background
            band = out['img'][y1:y2][free[y1:y2]].astype(float).mean(0)
            rest = out['img'][(label == 0) & ~smask].astype(float).mean(0)
            assert np.abs(band - rest).max() > 5
    assert seen['rails'] >= 3 and seen['water'] >= 3


def test_stray_structures_appear_without_their_class(tool):
    """With stray_structure_prob=1 every image holds water and rails; a
    structure is marked stray exactly when its class is absent, and stray
    structures stay background."""
    strays = 0
    for index in range(12):
        out = tool.render_image(np.random.default_rng([5, index]), (112, 144),
                                (88, 112), stray_structure_prob=1.0)
        kinds = {s['kind']: s for s in out['structures']}
        assert set(kinds) == {'water', 'rails'}, index
        names = {o['name'] for o in out['objects'] if not o['difficult']}
        for cls, kind in tool.BIASED_STRUCTURES.items():
            assert kinds[kind]['stray'] == (cls not in names)
            assert kinds[kind]['class'] == cls
            strays += kinds[kind]['stray']
        assert (out['label_aug'][out['structure_mask']] != 255).all()
    assert strays >= 6
    # probability 0: never without the class
    out = tool.render_image(np.random.default_rng([5, 0]), (112, 144),
                            (88, 112), stray_structure_prob=0.0)
    assert not any(s['stray'] for s in out['structures'])


def test_meta_records_biased_classes_and_structures(out_dir):
    with open(osp.join(out_dir, 'synthetic_meta.json')) as f:
        meta = json.load(f)
    assert meta['biased_classes'] == {'boat': 'water', 'train': 'rails'}
    assert meta['params']['seed'] == 3
    assert meta['splits'] == dict(train=6, aug=4, trainaug=10, val=4)
    root = osp.join(out_dir, 'VOCdevkit', 'VOC2012')
    for img_id, structures in meta['structures'].items():
        xml = open(osp.join(root, 'Annotations', img_id + '.xml')).read()
        for s in structures:
            assert (f'<name>{s["class"]}</name>' in xml) != s['stray']
            assert meta['biased_classes'][s['class']] == s['kind']


def test_rerun_skips_and_protects_other_data(tool, out_dir, tmp_path, capsys):
    tool.main(['--out-dir', out_dir, '--seed', '3'] + SMALL)
    assert 'nothing to do' in capsys.readouterr().out
    with pytest.raises(FileExistsError, match='--overwrite'):
        tool.main(['--out-dir', out_dir, '--seed', '9'] + SMALL)
    real = tmp_path / 'real'
    (real / 'VOCdevkit').mkdir(parents=True)
    with pytest.raises(FileExistsError, match='did not write'):
        tool.main(['--out-dir', str(real), '--overwrite'] + SMALL)
    copy = str(tmp_path / 'copy')
    tool.main(['--out-dir', copy, '--seed', '3'] + SMALL)
    tool.main(['--out-dir', copy, '--seed', '9', '--overwrite'] + SMALL)
    with open(osp.join(copy, 'synthetic_meta.json')) as f:
        assert json.load(f)['params']['seed'] == 9
    assert [n for n in os.listdir(copy) if n.startswith('.')] == []
    with pytest.raises(ValueError, match='width_range'):
        tool.main(
            ['--out-dir',
             str(tmp_path / 'x'), '--width-range', '30', '20'])
