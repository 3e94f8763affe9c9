# Copyright (c) mmweak contributors.
"""tools/wsss/make_pseudo_masks.py (threshold and crf) on a tiny VOC-layout
tree with hand-written CAM packs: values, palette, resume with identical
bytes, stale temporary files, missing CAMs."""
import glob
import importlib.util
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from mmweak.testing import load_tool_script, make_voc_root
from mmweak.wsss import cams_to_label

HAS_CRF = importlib.util.find_spec('pydensecrf') is not None
needs_crf = pytest.mark.skipif(
    not HAS_CRF, reason='pydensecrf (pip pydensecrf2) is not installed')


def write_cams(data_root: str, cam_dir: str, split: str = 'trainaug'):
    """CAM packs (IRN format) made from the GT masks: each class map is its
    blurred mask, divided by its max + 1e-5; ``cam`` at stride 4."""
    os.makedirs(cam_dir, exist_ok=True)
    ids = open(osp.join(data_root, 'ImageSets', 'Segmentation',
                        f'{split}.txt')).read().split()
    for img_id in ids:
        gt = np.array(
            Image.open(
                osp.join(data_root, 'SegmentationClassAug', img_id + '.png')))
        classes = [c for c in np.unique(gt) if 0 < c < 254]
        height, width = gt.shape
        high = np.stack([
            cv2.GaussianBlur((gt == c).astype(np.float32), (7, 7), 2)
            for c in classes
        ]) if classes else np.zeros((0, height, width), np.float32)
        high = high / (high.max(axis=(1, 2), keepdims=True) + 1e-5)
        strided = high[:, ::4, ::4]
        np.save(
            osp.join(cam_dir, img_id + '.npy'),
            dict(keys=np.array(classes, np.int64) - 1,
                 cam=np.ascontiguousarray(strided, np.float32),
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
                              seed=1)
    cam_dir = str(root / 'cams')
    ids = write_cams(data_root, cam_dir)
    return data_root, cam_dir, ids


@pytest.fixture(scope='module')
def tool(repo_root):
    return load_tool_script(repo_root, 'tools/wsss/make_pseudo_masks.py')


def read_bytes(folder: str) -> dict:
    return {
        osp.basename(p): open(p, 'rb').read()
        for p in sorted(glob.glob(osp.join(folder, '*.png')))
    }


def test_threshold_masks(tool, voc, tmp_path):
    data_root, cam_dir, ids = voc
    out = str(tmp_path / 'masks')
    counts = tool.main([
        '--method', 'threshold', '--cam-dir', cam_dir, '--data-root',
        data_root, '--out-dir', out, '--bg-thr', '0.3'
    ])
    assert counts == dict(total=len(ids), skipped=0, written=len(ids))
    assert sorted(os.listdir(out)) == sorted(i + '.png' for i in ids)
    for img_id in ids:
        png = Image.open(osp.join(out, img_id + '.png'))
        assert png.mode == 'P'  # VOC palette for 21 classes
        assert png.getpalette()[:6] == [0, 0, 0, 128, 0, 0]
        pack = np.load(osp.join(cam_dir, img_id + '.npy'),
                       allow_pickle=True).item()
        expected = cams_to_label(torch.from_numpy(pack['high_res']),
                                 torch.from_numpy(pack['keys']),
                                 bg_threshold=0.3).numpy()
        np.testing.assert_array_equal(np.array(png), expected)
        gt = np.array(
            Image.open(
                osp.join(data_root, 'SegmentationClassAug', img_id + '.png')))
        assert (np.array(png) == gt).mean() > 0.8


def test_parent_of_voc_tree_and_grey_pngs(tool, voc, tmp_path):
    data_root, cam_dir, ids = voc
    out = str(tmp_path / 'masks')
    parent = osp.dirname(osp.dirname(data_root))  # .../VOCdevkit/VOC2012
    tool.main([
        '--method', 'threshold', '--cam-dir', cam_dir, '--data-root', parent,
        '--out-dir', out, '--bg-power', '2', '--num-classes', '81'
    ])
    assert Image.open(osp.join(out, ids[0] + '.png')).mode == 'L'


@needs_crf
@pytest.mark.parametrize('preset', ['psa', 'deeplab'])
def test_crf_masks(tool, voc, tmp_path, preset):
    data_root, cam_dir, ids = voc
    out = str(tmp_path / 'masks')
    tool.main([
        '--method', 'crf', '--crf-preset', preset, '--cam-dir', cam_dir,
        '--data-root', data_root, '--out-dir', out, '--bg-thr', '0.3'
    ])
    for img_id in ids:
        mask = np.array(Image.open(osp.join(out, img_id + '.png')))
        pack = np.load(osp.join(cam_dir, img_id + '.npy'),
                       allow_pickle=True).item()
        assert set(np.unique(mask)) <= {0, *(pack['keys'] + 1).tolist()}
        gt = np.array(
            Image.open(
                osp.join(data_root, 'SegmentationClassAug', img_id + '.png')))
        assert (mask == gt).mean() > 0.8


def test_crf_probabilities_sum_to_one(tool):
    cams = torch.rand(2, 5, 6)
    probs = tool.crf_probs(cams, 0.25, None)
    assert probs.shape == (3, 5, 6)
    np.testing.assert_allclose(probs.sum(0), 1, atol=1e-5)
    np.testing.assert_allclose(probs[0] * (0.25 + cams.sum(0).numpy()),
                               0.25,
                               atol=1e-5)


def test_resume_gives_identical_bytes(tool, voc, tmp_path):
    data_root, cam_dir, ids = voc
    out = str(tmp_path / 'masks')
    method = ['--method', 'crf'] if HAS_CRF else ['--method', 'threshold']
    argv = method + [
        '--cam-dir', cam_dir, '--data-root', data_root, '--out-dir', out,
        '--bg-thr', '0.3'
    ]
    tool.main(argv)
    first = read_bytes(out)
    # drop two outputs; leave a stale temporary file of the first one
    os.remove(osp.join(out, ids[0] + '.png'))
    os.remove(osp.join(out, ids[-1] + '.png'))
    stale = osp.join(out, f'.{ids[0]}.png.abc123.tmp.png')
    with open(stale, 'wb') as f:
        f.write(b'partial')
    counts = tool.main(argv)
    assert counts['written'] == 2 and counts['skipped'] == len(ids) - 2
    assert not osp.exists(stale)
    assert read_bytes(out) == first
    # nothing left to do
    assert tool.main(argv)['written'] == 0


def test_stale_tmp_never_counts_as_done(tool, voc, tmp_path):
    data_root, cam_dir, ids = voc
    out = tmp_path / 'masks'
    out.mkdir()
    for name in (f'.{ids[0]}.png.x.tmp.png', f'{ids[0]}.png.tmp'):
        (out / name).write_bytes(b'')
    counts = tool.main([
        '--method', 'threshold', '--cam-dir', cam_dir, '--data-root',
        data_root, '--out-dir',
        str(out), '--bg-thr', '0.3'
    ])
    assert counts['written'] == len(ids)
    assert Image.open(out / f'{ids[0]}.png').size == (32, 24)


def test_missing_cam_names_the_file(tool, voc, tmp_path):
    data_root, cam_dir, ids = voc
    partial = tmp_path / 'cams'
    partial.mkdir()
    for img_id in ids[1:]:
        os.link(osp.join(cam_dir, img_id + '.npy'),
                partial / (img_id + '.npy'))
    missing = str(partial / (ids[0] + '.npy'))
    with pytest.raises(FileNotFoundError, match=re.escape(missing)):
        tool.main([
            '--method', 'threshold', '--cam-dir',
            str(partial), '--data-root', data_root, '--out-dir',
            str(tmp_path / 'masks'), '--bg-thr', '0.3'
        ])
    assert not glob.glob(str(tmp_path / 'masks' / '*.png'))


def test_wrong_cam_size_names_the_files(tool, voc, tmp_path):
    data_root, cam_dir, ids = voc
    bad = tmp_path / 'cams'
    bad.mkdir()
    for img_id in ids:
        pack = np.load(osp.join(cam_dir, img_id + '.npy'),
                       allow_pickle=True).item()
        pack['high_res'] = pack['high_res'][:, :-1]
        np.save(bad / (img_id + '.npy'), pack)
    with pytest.raises(ValueError, match=r'differs from the image size'):
        tool.main([
            '--method', 'threshold', '--cam-dir',
            str(bad), '--data-root', data_root, '--out-dir',
            str(tmp_path / 'masks'), '--bg-thr', '0.3'
        ])


def test_arguments(tool, voc, tmp_path):
    data_root, cam_dir, _ = voc
    base = [
        '--cam-dir', cam_dir, '--data-root', data_root, '--out-dir',
        str(tmp_path)
    ]
    for method in ('threshold', 'crf'):  # no hidden default threshold
        with pytest.raises(SystemExit):
            tool.parse_args(['--method', method] + base)
    with pytest.raises(SystemExit):
        tool.parse_args(['--method', 'irn'] + base)
    with pytest.raises(SystemExit):
        tool.parse_args(
            ['--method', 'threshold', '--bg-thr', '0.2', '--bg-power', '2'] +
            base)
    args = tool.parse_args([
        '--method', 'irn', '--irn-config', 'c.py', '--irn-checkpoint', 'w.pth'
    ] + base)
    assert (args.beta, args.exp_times, args.sem_bg_thr,
            args.radius) == (10, 8, 0.25, 5)


IRN_CONFIG = """
default_scope = 'mmweak'
model = dict(
    type='IRNet',
    data_preprocessor=dict(
        type='mmseg.SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='mmpretrain.ResNet', depth=18, stem_channels=8,
        base_channels=8, strides=(1, 2, 2, 1), out_indices=(0, 1, 2, 3)),
    in_channels=(8, 8, 16, 32, 64),
    edge_channels=8,
    radius=5)
"""


def _irn_model(tmp_path):
    from mmengine.config import Config

    from mmweak.registry import MODELS
    config = tmp_path / 'irn.py'
    config.write_text(IRN_CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(config)).model).eval()
    ckpt = str(tmp_path / 'irn.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    return model, str(config), ckpt


def test_irn_masks(tool, voc, tmp_path):
    from mmweak.wsss import irn_pseudo_label
    data_root, cam_dir, ids = voc
    model, config, ckpt = _irn_model(tmp_path)
    out = str(tmp_path / 'masks')
    counts = tool.main([
        '--method', 'irn', '--irn-config', config, '--irn-checkpoint', ckpt, '--cam-dir', cam_dir,
        '--data-root', data_root, '--out-dir', out, '--beta', '10',
        '--exp-times', '4', '--sem-bg-thr', '0.25'
    ])
    assert counts['written'] == len(ids)
    img_id = ids[0]
    mask = np.array(Image.open(osp.join(out, img_id + '.png')))
    pack = np.load(osp.join(cam_dir, img_id + '.npy'),
                   allow_pickle=True).item()
    # the same as the library on the model's boundary map
    img = cv2.cvtColor(
        cv2.imread(osp.join(data_root, 'JPEGImages', img_id + '.jpg')),
        cv2.COLOR_BGR2RGB)
    edge = tool.predict_edge(model, img, torch.device('cpu'))
    assert edge.shape == (6, 8) and 0 <= edge.min() <= edge.max() <= 1
    expected = irn_pseudo_label(edge,
                                pack,
                                mask.shape,
                                beta=10,
                                exp_times=4,
                                bg_threshold=0.25)
    np.testing.assert_array_equal(mask, expected)


def test_irn_saved_maps_relabel_to_the_same_masks(tool, voc, tmp_path):
    """--save-maps writes the walked maps as IRN packs; thresholding them
    (--method threshold) at --sem-bg-thr gives the walk's own masks, and a
    rerun skips images whose PNG and map both exist."""
    data_root, cam_dir, ids = voc
    _, config, ckpt = _irn_model(tmp_path)
    out, maps = str(tmp_path / 'masks'), str(tmp_path / 'maps')
    args = ['--method', 'irn', '--irn-config', config, '--irn-checkpoint',
            ckpt, '--cam-dir', cam_dir, '--data-root', data_root,
            '--exp-times', '3', '--sem-bg-thr', '0.3']
    assert tool.main(args + ['--out-dir', out, '--save-maps',
                             maps])['written'] == len(ids)
    for img_id in ids:
        pack = np.load(osp.join(maps, img_id + '.npy'),
                       allow_pickle=True).item()
        assert set(pack) == {'keys', 'high_res'}
        gt = np.array(Image.open(osp.join(out, img_id + '.png')))
        assert pack['high_res'].shape[1:] == gt.shape
        assert pack['high_res'].size == 0 or pack['high_res'].max() <= 1
    relabelled = str(tmp_path / 'relabelled')
    tool.main(['--method', 'threshold', '--cam-dir', maps, '--data-root',
               data_root, '--out-dir', relabelled, '--bg-thr', '0.3'])
    assert read_bytes(relabelled) == read_bytes(out)
    # a missing map alone makes its image pending again
    os.remove(osp.join(maps, ids[0] + '.npy'))
    assert tool.main(args + ['--out-dir', out, '--save-maps',
                             maps])['written'] == 1
    with pytest.raises(SystemExit):
        tool.parse_args(['--method', 'threshold', '--cam-dir', maps,
                         '--out-dir', out, '--bg-thr', '0.3',
                         '--save-maps', maps])


def test_irn_scale_walks_the_resized_image(tool, voc, tmp_path):
    """--irn-scale 2: the boundary map of the 2x image, the walk on its
    stride-4 grid from the resized high_res maps, then back to the image."""
    import mmcv
    import torch.nn.functional as F

    from mmweak.wsss import irn_walk_maps
    data_root, cam_dir, ids = voc
    model, config, ckpt = _irn_model(tmp_path)
    maps = str(tmp_path / 'maps')
    tool.main(['--method', 'irn', '--irn-config', config,
               '--irn-checkpoint', ckpt, '--cam-dir', cam_dir,
               '--data-root', data_root, '--out-dir',
               str(tmp_path / 'masks'), '--save-maps', maps,
               '--exp-times', '3', '--irn-scale', '2'])
    img_id = next(i for i in ids if np.load(
        osp.join(cam_dir, i + '.npy'), allow_pickle=True).item()['keys'].size)
    pack = np.load(osp.join(cam_dir, img_id + '.npy'),
                   allow_pickle=True).item()
    img = cv2.cvtColor(
        cv2.imread(osp.join(data_root, 'JPEGImages', img_id + '.jpg')),
        cv2.COLOR_BGR2RGB)
    big = mmcv.imresize(img, (64, 48), interpolation='bicubic')
    edge = tool.predict_edge(model, big, torch.device('cpu'))
    assert edge.shape == (12, 16)
    cams = F.interpolate(torch.from_numpy(pack['high_res'])[None],
                         size=(12, 16), mode='bilinear',
                         align_corners=False)[0]
    walked = irn_walk_maps(edge, dict(keys=pack['keys'], cam=cams), (48, 64),
                           exp_times=3)
    expected = F.interpolate(walked[None], size=(24, 32), mode='bilinear',
                             align_corners=False)[0]
    saved = np.load(osp.join(maps, img_id + '.npy'), allow_pickle=True).item()
    np.testing.assert_allclose(saved['high_res'], expected.numpy(),
                               atol=1e-6)
    with pytest.raises(SystemExit):
        tool.parse_args(['--method', 'irn', '--irn-config', config,
                         '--irn-checkpoint', ckpt, '--cam-dir', cam_dir,
                         '--out-dir', maps, '--irn-scale', '0'])
