# Copyright (c) mmweak contributors.
"""tools/wsss/make_ir_labels.py on a tiny VOC-layout tree with CAM packs
made from the masks: grey PNGs of 0 / class ids / 255 equal to
``mmweak.wsss.ir_label``, resume, missing CAMs."""
import glob
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest
from PIL import Image

from mmweak.testing import load_tool_script, make_voc_root

pytest.importorskip('pydensecrf.densecrf',
                    reason='pydensecrf (pip pydensecrf2) is not installed')

from mmweak.wsss import ir_label  # noqa: E402


def write_cams(data_root: str, cam_dir: str):
    """IRN-format CAM packs from the trainaug masks: each class map is the
    blurred mask at 0.9 of its max, leaving a soft rim below 0.30."""
    os.makedirs(cam_dir, exist_ok=True)
    ids = open(osp.join(data_root, 'ImageSets', 'Segmentation',
                        'trainaug.txt')).read().split()
    for img_id in ids:
        gt = np.array(
            Image.open(
                osp.join(data_root, 'SegmentationClassAug', img_id + '.png')))
        classes = [c for c in np.unique(gt) if 0 < c < 254]
        high = np.stack([
            cv2.GaussianBlur((gt == c).astype(np.float32), (9, 9), 3)
            for c in classes
        ])
        high = high / (high.max(axis=(1, 2), keepdims=True) + 1e-5)
        np.save(
            osp.join(cam_dir, img_id + '.npy'),
            dict(keys=np.array(classes, np.int64) - 1,
                 cam=np.ascontiguousarray(high[:, ::4, ::4]),
                 high_res=high.astype(np.float32)))
    return ids


@pytest.fixture(scope='module')
def voc(tmp_path_factory):
    root = tmp_path_factory.mktemp('voc')
    data_root = make_voc_root(root,
                              num_train=2,
                              num_aug=1,
                              num_val=1,
                              size=(32, 24),
                              seed=2)
    cam_dir = str(root / 'cams')
    return data_root, cam_dir, write_cams(data_root, cam_dir)


@pytest.fixture(scope='module')
def tool(repo_root):
    return load_tool_script(repo_root, 'tools/wsss/make_ir_labels.py')


def test_ir_labels_match_the_library(tool, voc, tmp_path):
    data_root, cam_dir, ids = voc
    out = str(tmp_path / 'ir')
    counts = tool.main([
        '--cam-dir', cam_dir, '--data-root', data_root, '--split', 'trainaug',
        '--out-dir', out, '--fg-thr', '0.30', '--bg-thr', '0.05'
    ])
    assert counts == dict(total=len(ids), skipped=0, written=len(ids))
    seen = set()
    for img_id in ids:
        png = Image.open(osp.join(out, img_id + '.png'))
        assert png.mode == 'L'
        label = np.array(png)
        pack = np.load(osp.join(cam_dir, img_id + '.npy'),
                       allow_pickle=True).item()
        img = cv2.cvtColor(
            cv2.imread(osp.join(data_root, 'JPEGImages', img_id + '.jpg')),
            cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(label, ir_label(img, pack))
        assert set(np.unique(label)) <= {0, 255, *(pack['keys'] + 1)}
        gt = np.array(
            Image.open(
                osp.join(data_root, 'SegmentationClassAug', img_id + '.png')))
        confident = label != 255
        # confident pixels are mostly right (tiny images, up to 3 objects)
        assert (label[confident] == gt[confident]).mean() > 0.75
        seen.update(np.unique(label).tolist())
    assert {0, 255} <= seen and len(seen) > 2  # bg, unsure and some class


def test_resume_and_stale_tmp(tool, voc, tmp_path):
    data_root, cam_dir, ids = voc
    out = str(tmp_path / 'ir')
    argv = ['--cam-dir', cam_dir, '--data-root', data_root, '--out-dir', out]
    tool.main(argv)
    first = {
        p: open(p, 'rb').read()
        for p in glob.glob(osp.join(out, '*.png'))
    }
    os.remove(osp.join(out, ids[1] + '.png'))
    stale = osp.join(out, f'.{ids[1]}.png.zz.tmp.png')
    open(stale, 'wb').close()
    counts = tool.main(argv)
    assert (counts['written'], counts['skipped']) == (1, len(ids) - 1)
    assert not osp.exists(stale)
    assert {
        p: open(p, 'rb').read()
        for p in glob.glob(osp.join(out, '*.png'))
    } == first


def test_missing_cam_names_the_file(tool, voc, tmp_path):
    data_root, _, ids = voc
    empty = tmp_path / 'cams'
    empty.mkdir()
    with pytest.raises(FileNotFoundError,
                       match=re.escape(str(empty / (ids[0] + '.npy')))):
        tool.main([
            '--cam-dir',
            str(empty), '--data-root', data_root, '--out-dir',
            str(tmp_path / 'ir')
        ])


def test_thresholds_are_checked(tool):
    with pytest.raises(SystemExit):
        tool.parse_args([
            '--cam-dir', 'c', '--data-root', 'd', '--out-dir', 'o', '--fg-thr',
            '0.05', '--bg-thr', '0.3'
        ])
