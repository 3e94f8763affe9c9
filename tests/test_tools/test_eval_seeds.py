# Copyright (c) mmweak contributors.
"""tools/wsss/eval_seeds.py on a tiny VOC-layout fixture written here."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from mmweak.evaluation import (confusion_matrix, inclusive_range, seg_scores,
                               sweep_confusion)
from mmweak.testing import load_tool_script

IDS = ['2007_000001', '2007_000002', '2007_000003']
SIZES = [(24, 32), (20, 28), (24, 32)]  # (H, W)
KEYS = [[0, 14], [6], [11, 2]]  # 0-based foreground indices


@pytest.fixture(scope='module')
def tool(repo_root):
    return load_tool_script(repo_root, 'tools/wsss/eval_seeds.py')


def voc_palette():
    from mmseg.datasets import PascalVOCDataset
    return [c for rgb in PascalVOCDataset.METAINFO['palette'] for c in rgb]


def save_palette_png(path, label):
    img = Image.fromarray(label.astype(np.uint8), mode='P')
    img.putpalette(voc_palette())
    img.save(path)


def gt_map(index):
    """Objects of the tagged classes on background, 1 px 255 bands."""
    h, w = SIZES[index]
    gt = np.zeros((h, w), np.uint8)
    for k, key in enumerate(KEYS[index]):
        y, x = 3 + 9 * k, 4 + 10 * k
        gt[y:y + 8, x:x + 12] = key + 1
        gt[y - 1, x - 1:x + 13] = 255  # boundary band
        gt[y + 8, x - 1:x + 13] = 255
    return gt


def cam_pack(index, gt, noise):
    """CAMs: the object masks plus noise, each divided by its max."""
    rng = np.random.default_rng(index)
    keys = np.asarray(KEYS[index], np.int64)
    high = np.stack([(gt == k + 1).astype(np.float32) for k in keys])
    high = high + noise * rng.random(high.shape, dtype=np.float32)
    high /= high.reshape(len(keys), -1).max(1)[:, None, None] + 1e-5
    strided = high[:, ::4, ::4].copy()
    return dict(keys=keys, cam=strided, high_res=high.astype(np.float32))


@pytest.fixture()
def voc(tmp_path):
    root = tmp_path / 'VOCdevkit' / 'VOC2012'
    (root / 'SegmentationClass').mkdir(parents=True)
    (root / 'ImageSets' / 'Segmentation').mkdir(parents=True)
    (root / 'ImageSets' / 'Segmentation' /
     'train.txt').write_text('\n'.join(IDS) + '\n')
    cams = {}
    for noise, folder in ((0., 'perfect_cams'), (0.6, 'cams')):
        (tmp_path / folder).mkdir()
        for i, img_id in enumerate(IDS):
            gt = gt_map(i)
            save_palette_png(root / 'SegmentationClass' / f'{img_id}.png', gt)
            pack = cam_pack(i, gt, noise)
            np.save(tmp_path / folder / f'{img_id}.npy', pack)
            if noise:
                cams[img_id] = pack
    return dict(root=str(root), tmp=tmp_path, cams=cams)


def gt_of(voc, img_id):
    path = osp.join(voc['root'], 'SegmentationClass', f'{img_id}.png')
    return np.asarray(Image.open(path))


def test_cam_sweep_matches_the_functional_core(tool, voc, capsys):
    out = voc['tmp'] / 'out'
    report = tool.main([
        '--data-root',
        str(voc['tmp']), '--split', 'train', '--cam-dir',
        str(voc['tmp'] / 'cams'), '--out-dir',
        str(out)
    ])
    values = inclusive_range(0.05, 0.60, 0.01)
    conf = sum(
        sweep_confusion(torch.from_numpy(p['high_res']),
                        torch.from_numpy(p['keys']),
                        torch.from_numpy(gt_of(voc, i)),
                        21,
                        thresholds=values) for i, p in voc['cams'].items())
    mious = seg_scores(conf)['miou']
    best = int(np.nanargmax(mious))
    assert report['mIoU'] == pytest.approx(100 * mious[best])
    assert report['best_thr'] == values[best]
    assert report['num_images'] == 3
    assert report['class_names'][15] == 'person'
    saved = json.loads((out / 'seed_eval.json').read_text())
    assert len(saved['curve']['miou']) == 56 and saved['values'][0] == 0.05
    assert saved['best_thr'] == report['best_thr']
    assert set(saved['summary']) == {
        'miou', 'precision', 'recall', 'fp_rate', 'fn_rate'
    }
    assert saved['per_class']['iou'][1] is not None  # aeroplane present
    assert saved['per_class']['iou'][4] is None  # boat absent: null
    assert (out / 'seed_eval.png').stat().st_size > 0
    printed = capsys.readouterr().out
    assert 'best threshold: ' in printed and 'aeroplane' in printed


def test_perfect_cams_score_100(tool, voc):
    report = tool.evaluate_cam_dir(voc['root'],
                                   str(voc['tmp'] / 'perfect_cams'),
                                   split='train',
                                   values=[0.3, 0.5])
    assert report['mIoU'] == pytest.approx(100)
    report = tool.main([
        '--data-root', voc['root'], '--cam-dir',
        str(voc['tmp'] / 'perfect_cams'), '--bg-mode', 'power', '--powers',
        '1', '4', '1'
    ])
    assert report['mIoU'] == pytest.approx(100)
    assert report['values'] == [1, 2, 3, 4] and report['best_power'] == 1


def test_mask_dir_with_254_as_no_prediction(tool, voc):
    mask_dir = voc['tmp'] / 'masks'
    mask_dir.mkdir()
    list_path = voc['tmp'] / 'two.txt'
    list_path.write_text('\n'.join(IDS[:2]) + '\n')
    conf = 0
    for i, img_id in enumerate(IDS[:2]):
        gt = gt_of(voc, img_id)
        pred = np.where(gt == 255, 0, gt).astype(np.uint8)
        pred[:4] = 254  # uncertain rows
        save_palette_png(mask_dir / f'{img_id}.png', pred)
        conf = conf + confusion_matrix(pred, gt, 21)
    report = tool.main([
        '--data-root', voc['root'], '--split',
        str(list_path), '--mask-dir',
        str(mask_dir), '--out-dir',
        str(voc['tmp'] / 'mask_out')
    ])
    assert conf[:, 21].sum() > 0  # the 254 rows count as no prediction
    assert report['mIoU'] == pytest.approx(100 * seg_scores(conf)['miou'])
    assert report['best_thr'] is None and report['curve'] is None
    assert (voc['tmp'] / 'mask_out' / 'seed_eval.json').exists()
    assert not (voc['tmp'] / 'mask_out' / 'seed_eval.png').exists()


def test_missing_cam_names_the_file(tool, voc):
    missing = voc['tmp'] / 'cams' / f'{IDS[1]}.npy'
    missing.unlink()
    with pytest.raises(FileNotFoundError, match=f'{IDS[1]}.npy'):
        tool.evaluate_cam_dir(voc['root'], str(voc['tmp'] / 'cams'))


def test_gt_shape_mismatch_names_the_file(tool, voc):
    path = osp.join(voc['root'], 'SegmentationClass', f'{IDS[2]}.png')
    save_palette_png(path, np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match=f'{IDS[2]}.png: GT is 10x10'):
        tool.evaluate_cam_dir(voc['root'], str(voc['tmp'] / 'cams'))


def test_bad_gt_value_names_the_file(tool, voc):
    path = osp.join(voc['root'], 'SegmentationClass', f'{IDS[0]}.png')
    gt = gt_of(voc, IDS[0]).copy()
    gt[0, 0] = 40
    save_palette_png(path, gt)
    with pytest.raises(ValueError,
                       match=rf'{IDS[0]}.png: GT label values '
                       r'\[40\]'):
        tool.evaluate_cam_dir(voc['root'], str(voc['tmp'] / 'cams'))


def test_exactly_one_source(tool, voc):
    with pytest.raises(SystemExit):
        tool.main(
            ['--data-root', voc['root'], '--cam-dir', 'a', '--mask-dir', 'b'])
    with pytest.raises(SystemExit):
        tool.main(['--data-root', voc['root']])
