# Copyright (c) mmweak contributors.
"""tools/misc/pretrain_demo_backbones.py: the export keeps only the named
weights, writes atomically, and the checksum file round-trips."""
import hashlib
import importlib.util
import os
import os.path as osp

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _tool():
    path = osp.join(ROOT, 'tools', 'misc', 'pretrain_demo_backbones.py')
    spec = importlib.util.spec_from_file_location('pretrain_demo', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _ckpt(tmp_path):
    path = str(tmp_path / 'epoch_1.pth')
    torch.save({'state_dict': {'backbone.w': torch.ones(2),
                               'head.fc.w': torch.zeros(3),
                               'neck.x': torch.ones(1)},
                'meta': {}}, path)
    return path


@pytest.mark.parametrize('prefixes', [('backbone.', ),
                                      ('backbone.', 'head.')])
def test_export_keeps_the_named_weights(tmp_path, prefixes):
    tool = _tool()
    out = str(tmp_path / 'out' / 'x.pth')
    os.makedirs(osp.dirname(out))
    digest = tool.export_weights(_ckpt(tmp_path), out, {'k': 1}, prefixes)
    saved = torch.load(out, weights_only=False)
    assert set(saved['state_dict']) == {
        k for k in ('backbone.w', 'head.fc.w', 'neck.x')
        if k.startswith(prefixes)}
    assert saved['meta'] == {'k': 1}
    with open(out, 'rb') as f:
        assert hashlib.sha256(f.read()).hexdigest() == digest
    assert os.listdir(osp.dirname(out)) == ['x.pth']  # no temporary left


def test_export_names_a_missing_prefix(tmp_path):
    tool = _tool()
    out = str(tmp_path / 'x.pth')
    with pytest.raises(KeyError, match='no decode_head'):
        tool.export_weights(_ckpt(tmp_path), out, {}, ('decode_head.', ))
    assert not osp.exists(out)


def test_sums_round_trip_and_bad_line(tmp_path):
    tool = _tool()
    path = str(tmp_path / 'SHA256SUMS')
    tool.write_sums(path, {'b.pth': 'bb', 'a.pth': 'aa'})
    with open(path) as f:
        assert f.read() == 'aa  a.pth\nbb  b.pth\n'
    assert tool.read_sums(path) == {'a.pth': 'aa', 'b.pth': 'bb'}
    with open(path, 'a') as f:
        f.write('only-one-field\n')
    with pytest.raises(ValueError, match='SHA256SUMS:3'):
        tool.read_sums(path)
