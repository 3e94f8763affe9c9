# Copyright (c) mmweak contributors.
"""tools/dtmr/extract_region_features.py on a tiny random C4 mmdet detector:
one .npz per image with the candidates' ann ids, boxes and L2-normalised
features; a rerun skips finished files (resume) and no temporary file is
left (atomic); checkpoints load through the safe loader; the minus-refer
warning appears unless declared."""
import glob
import os
import os.path as osp
import warnings

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmweak.testing import load_tool_script, make_refcoco_root

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = load_tool_script(ROOT, 'tools/dtmr/extract_region_features.py')

CONFIG = """
norm_cfg = dict(type='BN', requires_grad=False)
detector = dict(
    type='mmdet.FasterRCNN',
    data_preprocessor=dict(type='mmdet.DetDataPreprocessor',
                           mean=[0., 0., 0.], std=[255., 255., 255.],
                           pad_size_divisor=16),
    backbone=dict(type='mmdet.ResNet', depth=18, base_channels=64,
                  num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1),
                  out_indices=(2, ), norm_cfg=norm_cfg, norm_eval=True),
    rpn_head=dict(
        type='mmdet.RPNHead', in_channels=256, feat_channels=32,
        anchor_generator=dict(type='mmdet.AnchorGenerator', scales=[2],
                              ratios=[1.0], strides=[16]),
        bbox_coder=dict(type='mmdet.DeltaXYWHBBoxCoder')),
    roi_head=dict(
        type='mmdet.StandardRoIHead',
        shared_head=dict(type='mmdet.ResLayer', depth=18, stage=3,
                         norm_cfg=norm_cfg),
        bbox_roi_extractor=dict(
            type='mmdet.SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=14,
                           sampling_ratio=0),
            out_channels=256, featmap_strides=[16]),
        bbox_head=dict(type='mmdet.BBoxHead', with_avg_pool=True,
                       roi_feat_size=7, in_channels=512, num_classes=80)),
    train_cfg=None,
    test_cfg=dict(rpn=dict(nms_pre=10, max_per_img=10,
                           nms=dict(type='nms', iou_threshold=0.7)),
                  rcnn=None))
feature_extraction = dict(
    dataset=dict(type='RefCOCOGroundingDataset', data_root='{data_root}',
                 img_prefix='{img_prefix}', split=['train', 'val']),
    out_dir='{out_dir}')
"""


@pytest.fixture
def setup(tmp_path):
    root = make_refcoco_root(str(tmp_path), size=64)
    out_dir = str(tmp_path / 'feats')
    cfg_path = tmp_path / 'feats_cfg.py'
    cfg_path.write_text(CONFIG.format(out_dir=out_dir, **root))
    return str(cfg_path), out_dir


def test_features_resume_atomic_and_warning(setup, tmp_path):
    cfg_path, out_dir = setup
    # an override on the command line reaches the detector config
    opts = {'detector.rpn_head.feat_channels': 16}
    with pytest.warns(UserWarning, match='minus-refer'):
        TOOL.main([cfg_path, '--cfg-options'] +
                  [f'{k}={v}' for k, v in opts.items()])
    files = sorted(glob.glob(osp.join(out_dir, '*.npz')))
    assert [osp.basename(f) for f in files] == ['11.npz', '12.npz', '13.npz']
    with np.load(files[0]) as d:
        assert d['ann_ids'].tolist() == [101, 102, 103]
        assert d['boxes'][0].tolist() == [2., 4., 12., 24.]
        assert d['feats'].shape == (3, 512) and d['feats'].dtype == np.float32
        # the mean of unit cells has a norm of at most 1
        assert (np.linalg.norm(d['feats'], axis=1) <= 1 + 1e-5).all()
        first = d['feats'].copy()
    assert not glob.glob(osp.join(out_dir, '.*'))  # no temporary left
    # resume: finished files are kept, a removed one is recomputed
    mtime = os.stat(files[0]).st_mtime_ns
    os.remove(files[1])
    open(osp.join(out_dir, '.12.npz.x.tmp.npz'), 'w').close()  # stale tmp
    ckpt = tmp_path / 'det.pth'
    det, _ = TOOL.build_detector(
        _merged(cfg_path, opts), None)
    torch.save(dict(state_dict=det.state_dict(),
                    meta=dict(minus_refer=True)), ckpt)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # declared: no warning
        TOOL.main([cfg_path, '--checkpoint', str(ckpt), '--cfg-options'] +
                  [f'{k}={v}' for k, v in opts.items()])
    assert os.stat(files[0]).st_mtime_ns == mtime
    assert osp.isfile(files[1])
    assert not glob.glob(osp.join(out_dir, '.*'))
    with np.load(files[0]) as d:
        np.testing.assert_array_equal(d['feats'], first)


def _merged(cfg_path, opts):
    cfg = Config.fromfile(cfg_path)
    cfg.merge_from_dict(opts)
    return cfg


def test_checkpoint_without_feature_weights_is_an_error(setup, tmp_path):
    cfg_path, _ = setup
    ckpt = tmp_path / 'empty.pth'
    torch.save(dict(state_dict={}, meta={}), ckpt)
    cfg = Config.fromfile(cfg_path)
    with pytest.raises(KeyError, match='empty.pth'):
        TOOL.build_detector(cfg, str(ckpt))
