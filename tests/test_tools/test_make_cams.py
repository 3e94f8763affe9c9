# Copyright (c) mmweak contributors.
"""tools/wsss/make_cams.py on a tiny VOC-layout tree: the IRN .npy format,
empty packs for untagged images, and a resumed run giving identical bytes."""
import glob
import json
import math
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mmweak.cam import multiscale_cams
from mmweak.testing import load_tool_script, make_voc_root

CONFIG = """
default_scope = 'mmweak'
model = dict(
    type='MultiLabelCAMClassifier',
    data_preprocessor=dict(
        type='mmpretrain.ClsDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='mmpretrain.ResNet', depth=18, stem_channels=8,
        base_channels=8, strides=(1, 2, 2, 1), out_indices=(3, )),
    head=dict(type='MultiLabelCAMHead', num_classes=20, in_channels=64))
cam_dataloader = dict(
    batch_size=1,
    num_workers=0,
    dataset=dict(
        type='WSSSClsDataset',
        data_root='{data_root}',
        ann_file='ImageSets/Segmentation/val.txt',
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='mmpretrain.PackInputs')]))
"""


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    from mmengine.config import Config

    from mmweak.registry import MODELS
    tmp = tmp_path_factory.mktemp('make_cams')
    data_root = make_voc_root(tmp / 'voc', num_train=3, num_aug=2,
                              num_val=1, size=(32, 24))
    ids = open(osp.join(data_root, 'ImageSets/Segmentation/trainaug.txt')
               ).read().split()
    # one image of another size (batches group images by size)
    path = osp.join(data_root, 'JPEGImages', ids[1] + '.jpg')
    cv2.imwrite(path, cv2.resize(cv2.imread(path), (27, 21)))
    cfg_path = tmp / 'cfg.py'
    cfg_path.write_text(CONFIG.replace('{data_root}', data_root))
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(cfg_path)).model)
    ckpt = tmp / 'model.pth'
    torch.save({'state_dict': model.state_dict(),
                'meta': {'epoch': 1}}, str(ckpt))
    return dict(tmp=tmp, data_root=data_root, ids=ids, cfg=str(cfg_path),
                ckpt=str(ckpt), model=model.eval())


def _dataset(setup, split='trainaug'):
    from mmweak.registry import DATASETS
    return DATASETS.build(
        dict(type='WSSSClsDataset', data_root=setup['data_root'],
             ann_file=f'ImageSets/Segmentation/{split}.txt',
             pipeline=[dict(type='LoadImageFromFile'),
                       dict(type='mmpretrain.PackInputs')]))


def _bytes(out_dir):
    return {osp.basename(p): open(p, 'rb').read()
            for p in sorted(glob.glob(osp.join(out_dir, '*.npy')))}


def test_irn_format_and_values(setup, repo_root, capsys):
    tool = load_tool_script(repo_root, 'tools/wsss/make_cams.py')
    out = str(setup['tmp'] / 'cams')
    counts = tool.main([setup['cfg'], setup['ckpt'], '--out-dir', out,
                        '--split', 'trainaug', '--batch-size', '2'])
    printed = capsys.readouterr().out
    assert 'CAMs' in printed and '5 to do' in printed
    assert counts == dict(written=5, empty=0, total=5)
    dataset = _dataset(setup)
    assert sorted(os.listdir(out)) == sorted(i + '.npy' for i in setup['ids'])
    for idx in range(len(dataset)):
        info = dataset.get_data_info(idx)
        pack = np.load(osp.join(out, info['img_id'] + '.npy'),
                       allow_pickle=True).item()
        assert set(pack) == {'keys', 'cam', 'high_res'}
        img = cv2.imread(info['img_path'])
        H, W = img.shape[:2]
        keys = sorted(set(info['gt_label']))
        assert pack['keys'].dtype == np.int64
        assert pack['keys'].tolist() == keys
        assert pack['cam'].dtype == pack['high_res'].dtype == np.float32
        assert pack['cam'].shape == (len(keys), math.ceil(H / 4),
                                     math.ceil(W / 4))
        assert pack['high_res'].shape == (len(keys), H, W)
        for maps in (pack['cam'], pack['high_res']):
            assert maps.min() >= 0 and maps.max() <= 1
        # the same as the library function on this one image
        sample = dataset[idx]
        ref = multiscale_cams(setup['model'], sample['inputs'], keys)
        np.testing.assert_allclose(pack['high_res'], ref['high_res'].numpy(),
                                   rtol=1e-4, atol=1e-5)


def test_resume_gives_identical_bytes(setup, repo_root, capsys):
    tool = load_tool_script(repo_root, 'tools/wsss/make_cams.py')
    out = str(setup['tmp'] / 'cams_resume')
    args = [setup['cfg'], setup['ckpt'], '--out-dir', out, '--split',
            'trainaug', '--batch-size', '2', '--scales', '1.0', '0.5']
    tool.main(args)
    first = _bytes(out)
    assert len(first) == 5
    ids = setup['ids']
    # chunks: images of one size, up to 2 each, fixed by the list alone
    assert tool.plan_chunks(_dataset(setup), 2) == [[0, 2], [3, 4], [1]]
    # interrupted: two files missing (two chunks half done) and a stale
    # temporary file of a killed write
    os.remove(osp.join(out, ids[0] + '.npy'))
    os.remove(osp.join(out, ids[4] + '.npy'))
    stale = osp.join(out, f'.{ids[0]}.npy.k1ll3d.tmp.npy')
    open(stale, 'wb').write(b'partial')
    capsys.readouterr()
    counts = tool.main(args)
    printed = capsys.readouterr().out
    # chunks {0, 2} and {3, 4} are redone whole, chunk {1} is skipped
    assert '1 already done, 4 to do' in printed and 'stale' in printed
    assert counts['written'] == 4
    assert not osp.exists(stale)
    assert _bytes(out) == first
    assert sorted(os.listdir(out)) == sorted(i + '.npy' for i in ids)
    # nothing left to do
    assert tool.main(args)['written'] == 0
    assert _bytes(out) == first


def test_untagged_images_get_empty_packs(setup, repo_root, capsys):
    tool = load_tool_script(repo_root, 'tools/wsss/make_cams.py')
    dataset = _dataset(setup, 'train')
    labels = {dataset.get_data_info(i)['img_id']:
              dataset.get_data_info(i)['gt_label']
              for i in range(len(dataset))}
    empty_id = sorted(labels)[0]
    labels[empty_id] = []
    tag_file = setup['tmp'] / 'tags.json'
    tag_file.write_text(json.dumps(labels))
    out = str(setup['tmp'] / 'cams_empty')
    counts = tool.main([
        setup['cfg'], setup['ckpt'], '--out-dir', out, '--split', 'train',
        '--no-flip', '--cfg-options',
        f'cam_dataloader.dataset.tag_source={tag_file}'
    ])
    assert counts == dict(written=3, empty=1, total=3)
    assert 'without tags' in capsys.readouterr().out
    pack = np.load(osp.join(out, empty_id + '.npy'), allow_pickle=True).item()
    assert pack['keys'].shape == (0, )
    assert pack['cam'].shape[0] == pack['high_res'].shape[0] == 0
    assert pack['high_res'].shape[1:] == (24, 32)


def test_bad_inputs(setup, repo_root, tmp_path):
    tool = load_tool_script(repo_root, 'tools/wsss/make_cams.py')
    with pytest.raises(FileNotFoundError, match='nosuch.txt'):
        tool.main([setup['cfg'], setup['ckpt'], '--out-dir', str(tmp_path),
                   '--split', 'nosuch'])
    with pytest.raises(SystemExit):
        tool.main([setup['cfg'], setup['ckpt'], '--batch-size', '0'])
