# Copyright (c) mmweak contributors.
"""WSOLEvalMetadataDataset: wsolevaluation metadata splits."""
import os
import os.path as osp
import warnings

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmweak.datasets  # noqa: F401
from mmweak.datasets import WSOLEvalMetadataDataset
from mmweak.registry import DATASETS
from mmweak.testing import make_wsoleval_root
from mmweak.testing.wsol_fixtures import (WSOLEVAL_TEST1_BOXES,
                                          WSOLEVAL_TEST1_SIZE)

init_default_scope('mmweak')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PIPELINE = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadWSOLAnnotations'),
    dict(type='WSOLResize', scale=(224, 224), keep_ratio=False),
    dict(type='WSOLClipBoxes', inclusive=False, truncate=True),
    dict(type='PackWSOLInputs'),
]


def _ds(root, split='test', name='CUB', **kwargs):
    kwargs.setdefault(
        'data_prefix',
        dict(img_path=f'dataset/{name}', mask_path=f'dataset/{name}Mask'))
    return WSOLEvalMetadataDataset(data_root=root,
                                   metadata_root=f'metadata/{name}',
                                   split=split,
                                   **kwargs)


def _meta(root, split, file, name='CUB'):
    return osp.join(root, 'metadata', name, split, file)


def _lines(path):
    with open(path) as f:
        return f.read().splitlines()


def _write(path, lines):
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def _infos(ds):
    return [ds.get_data_info(i) for i in range(len(ds))]


# --------------------------------------------------------------------- #
def test_boxes_including_a_multi_box_image(tmp_path):
    root = make_wsoleval_root(tmp_path, num_classes=3, per_class=2)
    ds = _ds(root, 'test')
    infos = _infos(ds)
    ids = _lines(_meta(root, 'test', 'image_ids.txt'))
    assert [i['img_id'] for i in infos] == ids
    assert len(infos) == 6
    first = infos[0]
    assert first['img_path'] == osp.join(root, 'dataset', 'CUB', ids[0])
    assert first['gt_label'] == 0
    assert first['gt_bboxes'].dtype == np.float32
    np.testing.assert_array_equal(first['gt_bboxes'], WSOLEVAL_TEST1_BOXES)
    w, h = WSOLEVAL_TEST1_SIZE
    assert first['ori_shape'] == (h, w)
    assert [i['gt_label'] for i in infos] == [0, 0, 1, 1, 2, 2]
    assert all(i['gt_bboxes'].shape == (1, 4) for i in infos[1:])
    assert all('mask_path' not in i for i in infos)
    # class names from the CUB class folders of the ids
    assert ds.metainfo['classes'] == ('Black_footed_Albatross',
                                      'Laysan_Albatross', 'Sooty_Albatross')


def test_val_is_train_fullsup_and_train_has_labels_only(tmp_path):
    root = make_wsoleval_root(tmp_path, per_class=1)
    val = _infos(_ds(root, 'val'))
    assert len(val) == 3 and all(i['gt_bboxes'].shape == (1, 4) for i in val)
    assert all('/val_' in i['img_id'] for i in val)
    train = _infos(_ds(root, 'train'))
    assert [i['gt_label'] for i in train] == [0, 1, 2]
    assert all(i['gt_bboxes'].shape == (0, 4) for i in train)
    with pytest.raises(ValueError, match="'train', 'val', 'test'"):
        _ds(root, 'trainval')


def test_ids_without_class_folders_get_numbered_classes(tmp_path):
    root = make_wsoleval_root(tmp_path, name='ILSVRC', num_classes=3)
    ds = _ds(root, 'test', name='ILSVRC')
    assert ds.metainfo['classes'] == ('0', '1', '2')
    assert ds.get_data_info(0)['img_id'].startswith('test/ILSVRC_')
    named = _ds(root, 'test', name='ILSVRC', classes=['a', 'b', 'c'])
    assert named.metainfo['classes'] == ('a', 'b', 'c')
    with pytest.raises(ValueError, match='outside the 2 classes'):
        _ds(root, 'test', name='ILSVRC', classes=['a', 'b'])


def test_mask_form_gives_mask_and_ignore_paths_and_gt_mask(tmp_path):
    root = make_wsoleval_root(tmp_path, with_masks=True)
    ds = _ds(root, 'test', pipeline=PIPELINE, test_mode=True)
    infos = _infos(ds)
    mask_root = osp.join(root, 'dataset', 'CUBMask')
    stem = osp.splitext(infos[0]['img_id'])[0]
    assert infos[0]['mask_path'] == [
        osp.join(mask_root, f'{stem}_mask1.png'),
        osp.join(mask_root, f'{stem}_mask2.png')
    ]
    assert infos[0]['ignore_path'] == osp.join(mask_root, f'{stem}_ignore.png')
    assert infos[0]['gt_bboxes'].shape == (0, 4)
    for info in infos[1:]:
        assert isinstance(info['mask_path'], str)
        assert osp.isfile(info['mask_path'])
        assert 'ignore_path' not in info
    # the packed mask is the union of both masks with an ignored border
    mask = ds[0]['data_samples'].gt_mask.numpy()
    assert mask.shape == (224, 224)
    assert set(np.unique(mask).tolist()) == {0, 1, 255}
    assert (mask[:3] == 255).all() and (mask[:, -3:] == 255).all()
    w, h = WSOLEVAL_TEST1_SIZE
    for x0, y0, x1, y1 in WSOLEVAL_TEST1_BOXES:
        cx = int((x0 + x1) / 2 * 224 / w)
        cy = int((y0 + y1) / 2 * 224 / h)
        assert mask[cy, cx] == 1
    assert mask[int(2 * 224 / h) + 3:, :].min() == 0  # background remains
    mask1 = ds[1]['data_samples'].gt_mask.numpy()
    assert set(np.unique(mask1).tolist()) == {0, 1}


def test_pipeline_scales_boxes_to_224(tmp_path):
    root = make_wsoleval_root(tmp_path)
    ds = DATASETS.build(
        dict(type='WSOLEvalMetadataDataset',
             data_root=root,
             metadata_root='metadata/CUB',
             split='test',
             data_prefix='dataset/CUB',
             test_mode=True,
             pipeline=PIPELINE))
    sample = ds[0]['data_samples']
    w, h = WSOLEVAL_TEST1_SIZE
    expected = [[
        int(x0 * 224 / w),
        int(y0 * 224 / h),
        int(x1 * 224 / w),
        int(y1 * 224 / h)
    ] for x0, y0, x1, y1 in WSOLEVAL_TEST1_BOXES]
    assert sample.gt_bboxes.tolist() == expected
    assert sample.ori_shape == (h, w)


@pytest.mark.parametrize('config', [
    'configs/cam/cam_resnet50_cub_choe.py',
    'configs/cam/cam_resnet50_ilsvrc_choe.py'
])
def test_choe_configs_validate_on_val_and_test_on_test(tmp_path, config):
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert cfg.val_dataloader.dataset.split == 'val'
    assert cfg.test_dataloader.dataset.split == 'test'
    assert cfg.val_evaluator.preset == 'choe'
    assert cfg.test_evaluator.preset == 'choe'
    name = osp.basename(cfg.val_dataloader.dataset.metadata_root)
    root = make_wsoleval_root(tmp_path, name=name, per_class=1)
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        ds = DATASETS.build(dict(loader.dataset, data_root=root))
        sample = ds[0]['data_samples']
        assert sample.img_shape == (224, 224)
        assert len(sample.gt_bboxes) >= 1


# --------------------------------------------------------------------- #
# errors naming file and line
@pytest.mark.parametrize('file,line,bad,match', [
    ('class_labels.txt', 2, 'x.jpg,1,2', 'expected 2 comma-separated'),
    ('class_labels.txt', 3, None, 'expected int values'),
    ('image_sizes.txt', 1, None, 'expected 3 comma-separated'),
    ('localization.txt', 2, None, 'expected float values'),
    ('localization.txt', 3, 'x.jpg,1,2,3', r'<x1>,<y1>" like the first'),
])
def test_bad_line_names_file_and_line(tmp_path, file, line, bad, match):
    root = make_wsoleval_root(tmp_path)
    path = _meta(root, 'test', file)
    lines = _lines(path)
    old = lines[line - 1]
    img_id = old.split(',')[0]
    if bad is None:
        fields = old.split(',')
        if file == 'image_sizes.txt':
            fields = fields[:2]
        else:
            fields[1] = 'one'
        bad = ','.join(fields)
    lines[line - 1] = bad.replace('x.jpg', img_id)
    _write(path, lines)
    with pytest.raises(ValueError, match=match) as e:
        _ds(root, 'test')
    assert f'{path}, line {line}' in str(e.value)


def test_duplicate_and_unknown_ids_are_errors(tmp_path):
    root = make_wsoleval_root(tmp_path)
    labels = _meta(root, 'test', 'class_labels.txt')
    lines = _lines(labels)
    _write(labels, lines + [lines[0]])
    with pytest.raises(ValueError, match='duplicate image id') as e:
        _ds(root, 'test')
    assert f'{labels}, line 7' in str(e.value)
    _write(labels, lines + ['nowhere/x.jpg,0'])
    with pytest.raises(ValueError, match='not listed in') as e:
        _ds(root, 'test')
    assert f'{labels}, line 7' in str(e.value)


@pytest.mark.parametrize(
    'file', ['class_labels.txt', 'image_sizes.txt', 'localization.txt'])
def test_listed_id_without_an_entry_is_an_error(tmp_path, file):
    root = make_wsoleval_root(tmp_path)
    ids = _lines(_meta(root, 'val', 'image_ids.txt'))
    path = _meta(root, 'val', file)
    _write(path, [ln for ln in _lines(path) if not ln.startswith(ids[2])])
    with pytest.raises(ValueError, match='have no entry') as e:
        _ds(root, 'val')
    assert path in str(e.value) and ids[2] in str(e.value)


def test_missing_metadata_files_are_named(tmp_path):
    root = make_wsoleval_root(tmp_path)
    with pytest.raises(FileNotFoundError) as e:
        _ds(root, 'test', name='OpenImages')
    assert osp.join(root, 'metadata', 'OpenImages', 'test') in str(e.value)
    os.remove(_meta(root, 'val', 'localization.txt'))
    with pytest.raises(FileNotFoundError,
                       match='val split needs .*localization.txt'):
        _ds(root, 'val')


# --------------------------------------------------------------------- #
# GT checks on metadata
def test_inverted_and_outside_boxes(tmp_path):
    root = make_wsoleval_root(tmp_path)
    loc = _meta(root, 'test', 'localization.txt')
    lines = _lines(loc)
    img_id = lines[1].split(',')[0]  # second box of the first image
    _write(loc, lines[:1] + [f'{img_id},40,10,32,44'] + lines[2:])
    with pytest.raises(ValueError, match='inverted') as e:
        _ds(root, 'test')
    assert f'{loc}, line 2' in str(e.value)
    _write(loc, lines[:1] + [f'{img_id},32,10,70,50'] + lines[2:])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        ds = _ds(root, 'test')
    np.testing.assert_array_equal(
        ds.get_data_info(0)['gt_bboxes'][1], [32, 10, 64, 48])
    clip = [str(w.message) for w in caught if 'clipped' in str(w.message)]
    assert len(clip) == 1 and 'clipped 1 of 7 box(es)' in clip[0]


def test_image_sizes_checked_against_the_image_header(tmp_path):
    root = make_wsoleval_root(tmp_path)
    sizes = _meta(root, 'test', 'image_sizes.txt')
    lines = _lines(sizes)
    img_id, w, h = lines[0].split(',')
    # the metadata describe an image twice as large: a uniform resize
    _write(sizes, [f'{img_id},{2 * int(w)},{2 * int(h)}'] + lines[1:])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        ds = _ds(root, 'test')
    np.testing.assert_allclose(
        ds.get_data_info(0)['gt_bboxes'],
        np.array(WSOLEVAL_TEST1_BOXES) / 2)
    msgs = [str(w.message) for w in caught if 'rescaled' in str(w.message)]
    assert len(msgs) == 1 and '1 of 6 image(s)' in msgs[0]
    with pytest.raises(ValueError) as e:
        _ds(root, 'test', size_mismatch='error')
    msg = str(e.value)
    assert f'{sizes}, line 1' in msg
    assert osp.join(root, 'dataset', 'CUB', img_id) in msg
    assert f'{2 * int(w)}x{2 * int(h)}' in msg and f'{w}x{h}' in msg
    _write(sizes, [f'{img_id},{w},{int(h) + 7}'] + lines[1:])
    with pytest.raises(ValueError, match='not a uniformly resized'):
        _ds(root, 'test')


def test_masks_are_not_rescaled(tmp_path):
    root = make_wsoleval_root(tmp_path, with_masks=True)
    sizes = _meta(root, 'test', 'image_sizes.txt')
    lines = _lines(sizes)
    img_id, w, h = lines[0].split(',')
    _write(sizes, [f'{img_id},{2 * int(w)},{2 * int(h)}'] + lines[1:])
    with pytest.raises(ValueError, match='mask annotations are not'):
        _ds(root, 'test')


def test_corrupt_image_is_named(tmp_path):
    root = make_wsoleval_root(tmp_path)
    img_id = _lines(_meta(root, 'val', 'image_ids.txt'))[1]
    path = osp.join(root, 'dataset', 'CUB', img_id)
    with open(path, 'wb') as f:
        f.write(b'garbage')
    with pytest.raises(ValueError) as e:
        _ds(root, 'val')
    assert path in str(e.value)
    assert cv2.imread(path) is None
