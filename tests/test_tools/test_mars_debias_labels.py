# Copyright (c) mmweak contributors.
"""tools/mars/debias_labels.py on a tiny dataset with a random tiny ViT:
every sub-command runs, outputs have the right shapes / dtypes, a rerun
skips finished files, labels only turn foreground into 254, clear errors,
and the VOC config refuses to run without a user-supplied checkpoint."""
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from mmweak.testing import load_tool_script

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
VOC_CFG = osp.join(REPO, 'configs/mars/mars_stego-vitb8_debias_voc12aug.py')
NUM_IMAGES = 6
SIZE = 32

CONFIG = """
img_dir = '{root}/images'
img_list = '{root}/list.txt'
img_suffix = '.png'
label_dir = '{root}/labels'
tags_file = '{root}/cls_labels.json'
gt_dir = '{root}/gt'
num_classes = 3
feature_model = dict(
    type='DenseFeatureExtractor',
    backbone=dict(
        type='mmpretrain.VisionTransformer',
        arch=dict(embed_dims=16, num_layers=1, num_heads=2,
                  feedforward_channels=32),
        img_size=32, patch_size=4, out_type='featmap'),
    checkpoint='{root}/vit.pth',
    mean=[127.5, 127.5, 127.5], std=[64.0, 64.0, 64.0])
k_fg = 2
k_bg = 2
alpha = 0.4
reduce = 'mean'
crf = None
cluster_batch_size = 4
cache_fp16 = True
out_dir = '{root}/out'
"""


@pytest.fixture(scope='module')
def tool():
    return load_tool_script(REPO, 'tools/mars/debias_labels.py')


def _palette():
    pal = [0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * (256 - 3) * 3
    pal[254 * 3:256 * 3] = [50, 50, 50, 224, 224, 192]
    return pal


def _save_label(path, label):
    img = Image.fromarray(label.astype(np.uint8), mode='P')
    img.putpalette(_palette())
    img.save(path)


def _make_data(root):
    """Images with a class-1 object carrying a checkerboard ("biased")
    texture, which also appears in the background of other images."""
    rng = np.random.RandomState(0)
    for sub in ('images', 'labels', 'gt'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    checker = (((yy // 4) + (xx // 4)) % 2 * 200 + 30).astype(np.uint8)
    ids, tags = [], {}
    for i in range(NUM_IMAGES):
        img_id = f'img_{i}'
        img = rng.randint(0, 60, (SIZE, SIZE, 3)).astype(np.uint8)
        label = np.zeros((SIZE, SIZE), np.uint8)
        gt = np.zeros((SIZE, SIZE), np.uint8)
        # class 1 object (red) with a biased strip (checker) in its label
        img[4:20, 4:20] = (220, 30, 30)
        label[4:20, 4:28] = 1
        gt[4:20, 4:20] = 1
        if i < 3:
            img[4:20, 20:28] = checker[4:20, 20:28, None]
        else:
            img[24:32, 0:16] = checker[24:32, 0:16, None]  # in background
        if i % 2:  # a class 2 object in some images
            img[22:30, 20:30] = (30, 30, 220)
            label[22:30, 20:30] = 2
            gt[22:30, 20:30] = 2
        label[0, :] = 255  # ignore row
        Image.fromarray(img).save(osp.join(root, 'images', img_id + '.png'))
        _save_label(osp.join(root, 'labels', img_id + '.png'), label)
        _save_label(osp.join(root, 'gt', img_id + '.png'), gt)
        ids.append(img_id)
        tags[img_id] = [0, 1] if i % 2 else [0]
    with open(osp.join(root, 'list.txt'), 'w') as f:
        f.write('\n'.join(ids) + '\n')
    with open(osp.join(root, 'cls_labels.json'), 'w') as f:
        json.dump({'labels': tags}, f)
    return ids


@pytest.fixture(scope='module')
def setup(tmp_path_factory, tool):
    from mmpretrain.models import VisionTransformer
    root = str(tmp_path_factory.mktemp('mars'))
    ids = _make_data(root)
    torch.manual_seed(0)
    vit = VisionTransformer(
        arch=dict(embed_dims=16, num_layers=1, num_heads=2,
                  feedforward_channels=32),
        img_size=32, patch_size=4, out_type='featmap')
    torch.save({'state_dict': {'backbone.' + k: v
                               for k, v in vit.state_dict().items()}},
               osp.join(root, 'vit.pth'))
    cfg = osp.join(root, 'cfg.py')
    with open(cfg, 'w') as f:
        f.write(CONFIG.replace('{root}', root))
    first = tool.main([cfg, 'all'])
    return dict(root=root, cfg=cfg, ids=ids, first=first,
                out=osp.join(root, 'out'))


def test_voc_config_loads():
    from mmengine.config import Config
    cfg = Config.fromfile(VOC_CFG)
    assert cfg.feature_checkpoint is None
    assert cfg.feature_model.checkpoint is None
    assert cfg.feature_model.backbone.type == 'mmpretrain.VisionTransformer'
    assert cfg.feature_model.backbone.patch_size == 8
    assert cfg.feature_model.backbone.out_type == 'featmap'
    assert (cfg.k_fg, cfg.k_bg, cfg.alpha) == (2, 2, 0.4)
    assert cfg.reduce == 'mean' and cfg.crf == 'deeplab'


def test_voc_config_requires_checkpoint(tool):
    with pytest.raises(ValueError, match='never downloads weights'):
        tool.main([VOC_CFG, 'extract'])
    with pytest.raises(ValueError, match='feature_model.checkpoint'):
        tool.load_config(VOC_CFG)


def test_all_outputs(setup):
    out, ids = setup['out'], setup['ids']
    assert setup['first'] == dict(extract=6, cluster=6, rank=1, label=6)
    for img_id in ids:
        feat = np.load(osp.join(out, 'features', img_id + '.npy'))
        assert feat.dtype == np.float16 and feat.shape == (16, 8, 8)
        norms = np.linalg.norm(feat.astype(np.float32), axis=0)
        np.testing.assert_allclose(norms, 1, atol=1e-2)
        cents = torch.load(osp.join(out, 'centroids', img_id + '.pt'))
        assert 0 in cents and 1 in cents
        assert (2 in cents) == (ids.index(img_id) % 2 == 1)
        for v in cents.values():
            assert v.dtype == torch.float16 and v.shape == (2, 16)
        packed = np.load(osp.join(out, 'assignments', img_id + '.npy'))
        assert packed.dtype == np.uint8 and packed.shape == (2, 8, 8)
        assert set(np.unique(packed[0])) <= {0, 1, 255}

    saved = torch.load(osp.join(out, 'debiased_centroids.pth'))
    assert saved['V'].shape == (3, 16) and saved['V'].dtype == torch.float32
    assert torch.all(saved['V'][0] == 0)
    np.testing.assert_allclose(saved['V'][1:].norm(dim=1).numpy(), 1,
                               atol=1e-5)
    # ceil(0.4 * 6 * 2) = 5 of class 1, ceil(0.4 * 3 * 2) = 3 of class 2
    assert len(saved['selected'][1]) == 5 and len(saved['selected'][2]) == 3
    assert saved['config']['alpha'] == 0.4
    assert saved['config']['k_fg'] == 2 and saved['config']['reduce'] == 'mean'
    assert saved['feature_model']['checkpoint'].endswith('vit.pth')
    assert 0 <= saved['target_share'] <= 1
    assert saved['image_ids'] == ids

    for img_id in ids:
        src = Image.open(osp.join(setup['root'], 'labels', img_id + '.png'))
        dst = Image.open(osp.join(out, 'labels', img_id + '.png'))
        assert dst.mode == 'P' and dst.getpalette() == src.getpalette()
        src, dst = np.asarray(src), np.asarray(dst)
        assert dst.shape == src.shape
        changed = src != dst
        assert np.all(dst[changed] == 254)
        assert np.all(np.isin(src[changed], [1, 2]))
        keep = (src == 0) | (src == 255)
        assert np.array_equal(src[keep], dst[keep])


def test_resume_skips_finished(setup, tool):
    out = setup['out']
    files = [osp.join(out, d, i + e) for i in setup['ids']
             for d, e in (('features', '.npy'), ('centroids', '.pt'),
                          ('labels', '.png'))]
    mtimes = {p: os.stat(p).st_mtime_ns for p in files}
    done = tool.main([setup['cfg'], 'all'])
    assert done['extract'] == 0 and done['cluster'] == 0
    assert done['label'] == 0
    assert {p: os.stat(p).st_mtime_ns for p in files} == mtimes
    # a removed output is redone, the others are not touched
    victim = osp.join(out, 'labels', setup['ids'][2] + '.png')
    before = open(victim, 'rb').read()
    os.remove(victim)
    assert tool.main([setup['cfg'], 'label'])['label'] == 1
    assert open(victim, 'rb').read() == before
    assert not [f for f in os.listdir(osp.join(out, 'labels'))
                if '.tmp' in f]


def _copy_features(setup, name):
    out = osp.join(setup['root'], name)
    shutil.copytree(osp.join(setup['out'], 'features'),
                    osp.join(out, 'features'))
    return out


def test_missing_image(setup, tool):
    lst = osp.join(setup['root'], 'list_missing.txt')
    with open(lst, 'w') as f:
        f.write('img_0\nnope_7\n')
    with pytest.raises(FileNotFoundError, match=r'nope_7\.png'):
        tool.main([setup['cfg'], 'extract', '--cfg-options',
                   f'img_list={lst}',
                   f'out_dir={osp.join(setup["root"], "out_missing")}'])


def test_bad_label_value(setup, tool):
    bad_dir = osp.join(setup['root'], 'labels_bad')
    shutil.copytree(osp.join(setup['root'], 'labels'), bad_dir)
    label = np.asarray(Image.open(osp.join(bad_dir, 'img_3.png'))).copy()
    label[10, 10] = 7
    _save_label(osp.join(bad_dir, 'img_3.png'), label)
    out = _copy_features(setup, 'out_bad')
    with pytest.raises(ValueError, match=r'img_3\.png.*\[7\]'):
        tool.main([setup['cfg'], 'cluster', '--cfg-options',
                   f'label_dir={bad_dir}', f'out_dir={out}'])


def test_missing_features_and_rank_file(setup, tool):
    empty = osp.join(setup['root'], 'out_empty')
    with pytest.raises(FileNotFoundError, match='`extract`'):
        tool.main([setup['cfg'], 'cluster', '--cfg-options',
                   f'out_dir={empty}'])
    out = _copy_features(setup, 'out_norank')
    with pytest.raises(FileNotFoundError,
                       match=r'debiased_centroids\.pth.*`rank`'):
        tool.main([setup['cfg'], 'label', '--cfg-options',
                   f'out_dir={out}'])


def test_missing_config_key(setup, tool, tmp_path):
    text = open(setup['cfg']).read().replace('label_dir =', 'lbl_dir =')
    cfg = tmp_path / 'no_label_dir.py'
    cfg.write_text(text)
    with pytest.raises(KeyError, match=r"no_label_dir\.py.*label_dir"):
        tool.main([str(cfg), 'rank'])


SEGMENTER_CONFIG = """
default_scope = 'mmweak'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='MARSEncoderDecoder',
    predict_on='student',
    segmentor=dict(
        type='mmseg.EncoderDecoder',
        data_preprocessor=dict(
            type='mmseg.SegDataPreProcessor', mean=[127.5] * 3,
            std=[64.0] * 3, bgr_to_rgb=True, pad_val=0, seg_pad_val=255),
        backbone=dict(
            type='mmseg.ResNetV1c', depth=18, stem_channels=8,
            base_channels=8, out_indices=(3, ), norm_cfg=norm_cfg),
        decode_head=dict(
            type='mmseg.FCNHead', in_channels=64, channels=8, num_convs=1,
            concat_input=False, num_classes=3, norm_cfg=norm_cfg,
            loss_decode=dict(type='mmseg.CrossEntropyLoss')),
        train_cfg=dict(),
        test_cfg=dict(mode='whole')))
# a scoped `mmseg.LoadAnnotations` (mmweak configs use _scope_): dropped too
test_pipeline = [
    dict(type='mmseg.LoadImageFromFile'),
    dict(type='mmseg.LoadAnnotations'),
    dict(type='mmseg.PackSegInputs')
]
"""


@pytest.fixture(scope='module')
def segmenter(setup):
    """A MARS segmenter config and a (random-weight) checkpoint, and
    debiased labels with 254 planted on the class-1 objects."""
    from mmengine.config import Config
    from mmweak.registry import MODELS
    root = setup['root']
    cfg_path = osp.join(root, 'seg_cfg.py')
    with open(cfg_path, 'w') as f:
        f.write(SEGMENTER_CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(cfg_path).model)
    model.init_weights()
    ckpt = osp.join(root, 'seg.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    db_dir = osp.join(root, 'debiased')
    os.makedirs(db_dir)
    for img_id in setup['ids']:
        label = np.asarray(Image.open(osp.join(root, 'labels',
                                               img_id + '.png'))).copy()
        label[4:12, 4:28][label[4:12, 4:28] == 1] = 254
        _save_label(osp.join(db_dir, img_id + '.png'), label)
    return dict(cfg=cfg_path, ckpt=ckpt, db=db_dir)


def test_complement(setup, segmenter, tool, tmp_path):
    out = str(tmp_path / 'co')
    opts = ['--cfg-options', f'out_dir={out}',
            f'debiased_dir={segmenter["db"]}',
            f'segmenter_config={segmenter["cfg"]}',
            f'segmenter_checkpoint={segmenter["ckpt"]}']
    assert tool.main([setup['cfg'], 'complement'] + opts) == {
        'complement': NUM_IMAGES}
    tags = json.load(open(osp.join(setup['root'], 'cls_labels.json')))
    for img_id in setup['ids']:
        db = np.asarray(Image.open(osp.join(segmenter['db'], img_id + '.png')))
        with Image.open(osp.join(out, 'complemented', img_id + '.png')) as im:
            assert im.mode == 'P' and im.getpalette()[:9] == _palette()[:9]
            co = np.asarray(im)
        filled = db == 254
        assert filled.any() and not (co == 254).any()
        # only the 254 pixels change, to background or the image's tags
        np.testing.assert_array_equal(co[~filled], db[~filled])
        allowed = {0} | {t + 1 for t in tags['labels'][img_id]}
        assert set(np.unique(co[filled]).tolist()) <= allowed
    # resumed: nothing left to do; the teacher branch is selectable
    assert tool.main([setup['cfg'], 'complement'] + opts) == {
        'complement': 0}
    teacher = str(tmp_path / 'co_teacher')
    tool.main([setup['cfg'], 'complement'] + opts +
              [f'out_dir={teacher}', 'complement_branch=teacher'])
    assert len(os.listdir(osp.join(teacher, 'complemented'))) == NUM_IMAGES


def test_complement_errors(setup, segmenter, tool, tmp_path):
    base = ['--cfg-options', f'out_dir={tmp_path / "co"}',
            f'debiased_dir={segmenter["db"]}']
    with pytest.raises(KeyError, match='segmenter_config'):
        tool.main([setup['cfg'], 'complement'] + base)
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        tool.main([setup['cfg'], 'complement'] + base + [
            f'segmenter_config={segmenter["cfg"]}',
            f'segmenter_checkpoint={tmp_path / "nope.pth"}'])
    with pytest.raises(FileNotFoundError, match='`label`'):
        tool.main([setup['cfg'], 'complement', '--cfg-options',
                   f'out_dir={tmp_path / "empty"}'])
    with pytest.raises(ValueError, match='complement_branch'):
        tool.main([setup['cfg'], 'complement'] + base +
                  ['complement_branch=ema'])


def _run_all_on_cached_features(setup, tool, out, opts):
    """Every step on copied features; background and 255 must survive and
    foreground only turn into 254. Returns the cached features as
    (pixels, D) float64."""
    done = tool.main([setup['cfg'], 'all'] + opts)
    assert done['extract'] == 0 and done['label'] == NUM_IMAGES
    for img_id in setup['ids']:
        src = np.asarray(Image.open(osp.join(setup['root'], 'labels',
                                             img_id + '.png')))
        dst = np.asarray(Image.open(osp.join(out, 'labels',
                                             img_id + '.png')))
        keep = (src == 0) | (src == 255)
        assert np.array_equal(src[keep], dst[keep])
        assert set(np.unique(dst[~keep]).tolist()) <= {1, 2, 254}
    feats = [np.load(osp.join(out, 'features', i + '.npy')).astype(np.float64)
             for i in setup['ids']]
    return np.concatenate([f.reshape(f.shape[0], -1) for f in feats], 1).T


def test_center_features(setup, tool):
    out = _copy_features(setup, 'out_center')
    opts = ['--cfg-options', f'out_dir={out}', 'center_features=True']
    x = _run_all_on_cached_features(setup, tool, out, opts)
    saved = torch.load(osp.join(out, 'feature_mean.pt'))
    np.testing.assert_allclose(saved['mean'].numpy(), x.mean(0), atol=1e-5)
    assert saved['image_ids'] == setup['ids']
    ranked = torch.load(osp.join(out, 'debiased_centroids.pth'))
    assert ranked['config']['center_features'] is True
    # a mean over another image list is refused
    lst = osp.join(setup['root'], 'list_short.txt')
    with open(lst, 'w') as f:
        f.write('\n'.join(setup['ids'][:3]) + '\n')
    with pytest.raises(ValueError, match=r'feature_mean\.pt.*other images'):
        tool.main([setup['cfg'], 'cluster'] + opts + [f'img_list={lst}'])


def test_feature_pca_dim(setup, tool):
    out = _copy_features(setup, 'out_pca')
    opts = ['--cfg-options', f'out_dir={out}', 'feature_pca_dim=2']
    x = _run_all_on_cached_features(setup, tool, out, opts)
    saved = torch.load(osp.join(out, 'feature_pca.pt'))
    _, s, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    np.testing.assert_allclose(saved['mean'].numpy(), x.mean(0), atol=1e-5)
    np.testing.assert_allclose(np.abs(saved['components'].numpy()),
                               np.abs(vt[:2]), atol=1e-4)
    assert saved['explained'] == pytest.approx(
        (s[:2]**2).sum() / (s**2).sum(), abs=1e-5)
    assert saved['pca_dim'] == 2 and saved['image_ids'] == setup['ids']
    # clustering and ranking run in the projected space
    cents = torch.load(osp.join(out, 'centroids', setup['ids'][0] + '.pt'))
    assert all(v.shape[1] == 2 for v in cents.values())
    ranked = torch.load(osp.join(out, 'debiased_centroids.pth'))
    assert ranked['V'].shape == (3, 2)
    assert ranked['config']['feature_pca_dim'] == 2
    # a projection fitted with another dim is refused, not silently reused
    with pytest.raises(ValueError, match=r'feature_pca\.pt holds 2 .*=3'):
        tool.main([setup['cfg'], 'cluster', '--cfg-options',
                   f'out_dir={out}', 'feature_pca_dim=3'])
    for bad, msg in ((0, 'positive int'), (True, 'positive int'),
                     (99, r'feature_pca_dim=99 exceeds the 16 channels')):
        fresh = _copy_features(setup, f'out_pca_{bad}')
        with pytest.raises(ValueError, match=msg):
            tool.main([setup['cfg'], 'cluster', '--cfg-options',
                       f'out_dir={fresh}', f'feature_pca_dim={bad}'])
