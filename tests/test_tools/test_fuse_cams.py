# Copyright (c) mmweak contributors.
"""tools/wsss/fuse_cams.py on toy IRN packs: the fusion formula, class
order, resume, atomic outputs and the errors."""
import os
import os.path as osp

import numpy as np
import pytest

from mmweak.cam import load_cam_pack
from mmweak.testing import load_tool_script

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
fuse_cams = load_tool_script(ROOT, 'tools/wsss/fuse_cams.py')


def _pack(keys, seed, size=(6, 8)):
    rng = np.random.default_rng(seed)
    h, w = size
    high = rng.random((len(keys), h, w)).astype(np.float32)
    cam = rng.random((len(keys), (h + 3) // 4, (w + 3) // 4)).astype(
        np.float32)
    norm = dict(
        keys=np.asarray(keys, np.int64),
        cam=cam / (cam.max(axis=(1, 2), keepdims=True) + 1e-5),
        high_res=high / (high.max(axis=(1, 2), keepdims=True) + 1e-5))
    return norm


def _write(folder, img_id, pack):
    os.makedirs(folder, exist_ok=True)
    np.save(osp.join(folder, img_id + '.npy'), pack, allow_pickle=True)


def _expected(a, b):
    s = a + b
    return s / (s.max(axis=(1, 2), keepdims=True) + 1e-5)


@pytest.fixture
def dirs(tmp_path):
    bas, cam = str(tmp_path / 'bas'), str(tmp_path / 'cam')
    packs = {
        'img_a': (_pack([2, 7], 0), _pack([2, 7], 1)),
        'img_b': (_pack([5], 2), _pack([5], 3)),
        'img_c': (_pack([], 4), _pack([], 5)),  # untagged: empty packs
    }
    for img_id, (p, q) in packs.items():
        _write(bas, img_id, p)
        _write(cam, img_id, q)
    return bas, cam, str(tmp_path / 'out'), packs


def test_fused_maps_follow_the_formula(dirs):
    bas, cam, out, packs = dirs
    counts = fuse_cams.main([bas, cam, out])
    assert counts == dict(total=3, skipped=0, written=3)
    for img_id, (p, q) in packs.items():
        fused = load_cam_pack(osp.join(out, img_id + '.npy'))
        assert fused['keys'].dtype == np.int64
        np.testing.assert_array_equal(fused['keys'], p['keys'])
        for name in ('cam', 'high_res'):
            assert fused[name].dtype == np.float32
            np.testing.assert_allclose(
                fused[name], _expected(p[name], q[name]), rtol=1e-6)
    top = load_cam_pack(osp.join(out, 'img_a.npy'))['high_res']
    assert top.max(axis=(1, 2)) == pytest.approx([1.0, 1.0], abs=1e-4)
    assert not [f for f in os.listdir(out) if f.startswith('.')]


def test_cam_classes_in_another_order_are_matched(tmp_path):
    p, q = _pack([3, 9, 11], 0), _pack([3, 9, 11], 1)
    order = [2, 0, 1]
    shuffled = dict(keys=q['keys'][order], cam=q['cam'][order],
                    high_res=q['high_res'][order])
    fused = fuse_cams.fuse_packs(p, shuffled)
    np.testing.assert_array_equal(fused['keys'], [3, 9, 11])
    np.testing.assert_allclose(fused['high_res'],
                               _expected(p['high_res'], q['high_res']),
                               rtol=1e-6)


def test_rerun_skips_finished_files_and_split_selects(dirs):
    bas, cam, out, _ = dirs
    fuse_cams.main([bas, cam, out])
    path = osp.join(out, 'img_a.npy')
    stamp = os.stat(path).st_mtime_ns
    os.remove(osp.join(out, 'img_b.npy'))
    # a stale temporary file of a killed run is cleaned up
    stale = osp.join(out, '.img_b.npy.abc123.tmp.npy')
    open(stale, 'wb').close()
    counts = fuse_cams.main([bas, cam, out])
    assert counts == dict(total=3, skipped=2, written=1)
    assert os.stat(path).st_mtime_ns == stamp
    assert not osp.exists(stale)
    split = osp.join(osp.dirname(out), 'list.txt')
    with open(split, 'w') as f:
        f.write('img_b\n')
    out2 = out + '2'
    assert fuse_cams.main([bas, cam, out2, '--split', split])['written'] == 1
    assert os.listdir(out2) == ['img_b.npy']


def test_mismatches_raise(dirs, tmp_path):
    bas, cam, out, _ = dirs
    _write(cam, 'img_a', _pack([2, 8], 1))
    with pytest.raises(ValueError, match='same image tags'):
        fuse_cams.main([bas, cam, out])
    _write(cam, 'img_a', _pack([2, 7], 1, size=(6, 9)))
    with pytest.raises(ValueError, match='differ'):
        fuse_cams.main([bas, cam, out])
    os.remove(osp.join(cam, 'img_a.npy'))
    with pytest.raises(FileNotFoundError, match='img_a'):
        fuse_cams.main([bas, cam, str(tmp_path / 'out3')])
    with pytest.raises(SystemExit):
        fuse_cams.main([bas, cam, bas])
