# Copyright (c) mmweak contributors.
"""mmweak.utils.stage_pipeline: stage reuse / resume / restart, the
--from / --to range, tool runs (subprocess and in process) and the
config helpers shared by the multi-stage runners."""
import ast
import json
import os
import os.path as osp
import sys

import pytest

from mmweak.utils import stage_pipeline as sp


class Body:
    """A stage body that records its calls and writes ``out.txt``."""

    def __init__(self, fail=False):
        self.calls = []
        self.fail = fail

    def __call__(self, stage_dir, log_file):
        self.calls.append(sorted(os.listdir(stage_dir)))
        with open(osp.join(stage_dir, 'out.txt'), 'a') as f:
            f.write('x')
        if self.fail:
            raise RuntimeError('interrupted')


def _pipe(wd, **kwargs):
    kwargs.setdefault('num_stages', 2)
    return sp.Pipeline(str(wd), kwargs.pop('retrain', False),
                       code_key='code', **kwargs)


def test_stage_reuse_resume_restart(tmp_path, capsys):
    body = Body()
    out = _pipe(tmp_path, task='demo').stage('a', dict(x=1), [], body)
    assert out == str(tmp_path / 'a') and len(body.calls) == 1
    stamp = json.load(open(tmp_path / 'a' / 'stage.json'))
    assert stamp['finished'] and 'seconds' in stamp
    assert '[demo 1/2] a (0 s elapsed): running' in capsys.readouterr().out

    # same key: reused, the body is not called
    pipe = _pipe(tmp_path)
    pipe.stage('a', dict(x=1), [], body)
    assert len(body.calls) == 1 and pipe.status['a'] == 'reused'
    assert '[wsss 1/2] a' in capsys.readouterr().out  # the default task

    # a later stage's key covers its inputs' keys
    later = Body()
    pipe.stage('b', dict(), ['a'], later)
    pipe = _pipe(tmp_path)
    pipe.stage('a', dict(x=2), [], body)  # changed: restarts empty
    assert body.calls[-1] == ['stage.json'] and pipe.status['a'] == 'ran'
    assert open(tmp_path / 'a' / 'out.txt').read() == 'x'
    pipe.stage('b', dict(), ['a'], later)
    assert len(later.calls) == 2

    # interrupted: the directory is kept and the stage resumes
    with pytest.raises(RuntimeError, match='interrupted'):
        _pipe(tmp_path).stage('a', dict(x=3), [], Body(fail=True))
    assert not json.load(open(tmp_path / 'a' / 'stage.json'))['finished']
    pipe = _pipe(tmp_path)
    pipe.stage('a', dict(x=3), [], body)
    assert 'out.txt' in body.calls[-1] and pipe.status['a'] == 'resumed'
    assert open(tmp_path / 'a' / 'out.txt').read() == 'xx'

    # --retrain: from an empty directory although nothing changed
    pipe = _pipe(tmp_path, retrain=True)
    pipe.stage('a', dict(x=3), [], body)
    assert body.calls[-1] == ['stage.json'] and pipe.status['a'] == 'ran'


def test_stage_range(tmp_path, capsys):
    order = ['a', 'b', 'c']
    with pytest.raises(sp.PipelineError, match='unknown stage'):
        _pipe(tmp_path, order=order, first='z')
    with pytest.raises(sp.PipelineError, match='comes after'):
        _pipe(tmp_path, order=order, first='c', last='a')
    pipe = _pipe(tmp_path, order=order, first='b')
    with pytest.raises(sp.PipelineError, match='a .*has not finished'):
        pipe.stage('a', {}, [], Body())

    full = _pipe(tmp_path, order=order)
    inputs = []
    for name in order:
        full.stage(name, dict(n=name), inputs, Body())
        inputs = [name]
    # before --from: kept even though its settings changed, and its stored
    # key is what the later stages see (they are reused)
    pipe = _pipe(tmp_path, order=order, first='b', last='b')
    body = Body()
    assert pipe.stage('a', dict(n='changed'), [], body) == str(tmp_path / 'a')
    assert pipe.keys['a'] == full.keys['a'] and not body.calls
    pipe.stage('b', dict(n='b'), ['a'], body)
    assert pipe.status == dict(a='kept', b='reused')
    # after --to: skipped
    assert pipe.stage('c', dict(n='c'), ['b'], body) is None
    assert pipe.status['c'] == 'skipped' and not body.calls
    out = capsys.readouterr().out
    assert 'a (0 s elapsed): kept (before --from) (its settings' in out
    assert 'skipped (after --to)' in out
    # stages outside ``order`` (e.g. per-seed copies) follow their base
    assert pipe.in_range('b_seed1') and not pipe.in_range('c_seed1')


def test_run_subprocess_and_in_process(tmp_path, monkeypatch, capsys):
    tool = tmp_path / 'tool.py'
    tool.write_text(
        'import os, sys\n'
        'print("args", sys.argv[1:], os.environ.get("EXTRA"), '
        'os.getcwd())\n'
        'sys.exit(int(sys.argv[1]))\n')
    log = str(tmp_path / 'stage.log')
    cmd = [sys.executable, str(tool)]
    sp.run(cmd + ['0', 'b'], log, {'EXTRA': 'e'}, root=str(tmp_path))
    out = capsys.readouterr().out
    assert f"args ['0', 'b'] e {tmp_path}" in out
    assert '$ ' in out and 'tool.py 0 b' in out
    assert "args ['0', 'b']" in open(log).read()
    with pytest.raises(RuntimeError, match='command failed \\(3\\)'):
        sp.run(cmd + ['3'], log, root=str(tmp_path))

    monkeypatch.setenv(sp.INPROCESS_ENV, '1')
    cwd, argv = os.getcwd(), list(sys.argv)
    sp.run(cmd + ['0', 'c'], log, {'EXTRA': 'f'}, root=str(tmp_path))
    assert f"args ['0', 'c'] f {tmp_path}" in capsys.readouterr().out
    assert os.getcwd() == cwd and sys.argv == argv
    assert 'EXTRA' not in os.environ
    assert '(in process)' in open(log).read()
    with pytest.raises(RuntimeError, match='command failed \\(2\\)'):
        sp.run(cmd + ['2'], log, root=str(tmp_path))
    # an in-process tool gets the thread count a subprocess would read from
    # OMP_NUM_THREADS; the runner's own count comes back afterwards
    import torch
    before = torch.get_num_threads()
    tool.write_text('import torch\nprint("threads", torch.get_num_threads())\n')
    sp.run(cmd, log, {'OMP_NUM_THREADS': '1'}, root=str(tmp_path))
    assert 'threads 1' in capsys.readouterr().out
    assert torch.get_num_threads() == before
    # torchrun commands keep their own processes
    assert sp.offline_cmd('py', 't.py', 1) == ['py', 't.py']
    assert sp.offline_cmd('py', 't.py', 2)[1:3] == ['-m',
                                                   'torch.distributed.run']


def test_config_helpers(tmp_path):
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        "train_dataloader = dict(dataset=dict(type='CBGSDataset', "
        "dataset=dict(data_root='a', ann_file='x.pkl')))\n"
        "val_dataloader = dict(dataset=dict(type='ConcatDataset', datasets=["
        "dict(data_root='a'), dict(ann_file='y')]))\n"
        "pseudo_label_dataloader = dict(dataset=dict(data_root='a'))\n"
        "test_dataloader = None\n")
    opts = sp.data_root_options(str(cfg), '/data', root=str(tmp_path))
    assert opts == {
        'train_dataloader.dataset.dataset.data_root': '/data',
        'val_dataloader.dataset.datasets.0.data_root': '/data',
        'pseudo_label_dataloader.dataset.data_root': '/data'}
    assert sp.cfg_options({}) == []
    assert sp.cfg_options({'a.b': 1, 'c': [1, 2]}) == [
        '--cfg-options', 'a.b=1', 'c=[1, 2]']
    key = sp.config_key(str(cfg), root=str(tmp_path))
    assert json.loads(key)['pseudo_label_dataloader'] == {
        'dataset': {'data_root': 'a'}}
    assert 'CBGSDataset' in sp.config_dump(str(cfg), root=str(tmp_path))

    path = str(tmp_path / 'out.json')
    sp.write_atomic(path, '{"a": 1}')
    assert sp.read_json(path) == {'a': 1}
    assert not [n for n in os.listdir(tmp_path) if n.endswith('.tmp')]
    with pytest.raises(FileNotFoundError, match='no checkpoint recorded'):
        sp.final_checkpoint(str(tmp_path))
    (tmp_path / 'last_checkpoint').write_text('/w/epoch_2.pth\n')
    assert sp.final_checkpoint(str(tmp_path)) == '/w/epoch_2.pth'


def test_source_hash_and_root(tmp_path):
    (tmp_path / 'mmweak').mkdir()
    (tmp_path / 'tools').mkdir()
    (tmp_path / 'mmweak' / 'a.py').write_text('x = 1\n')
    (tmp_path / 'tools' / 'run_demo.py').write_text('y = 1\n')
    h = sp.source_hash(str(tmp_path))
    (tmp_path / 'tools' / 'run_demo.py').write_text('y = 2\n')  # ignored
    assert sp.source_hash(str(tmp_path)) == h
    (tmp_path / 'mmweak' / 'a.py').write_text('x = 2\n')
    assert sp.source_hash(str(tmp_path)) != h
    assert osp.isfile(osp.join(sp.ROOT, 'tools', 'train.py'))
    # the shared module imports no task library (nor does mmengine's
    # Config, which it uses)
    tree = ast.parse(open(sp.__file__).read())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
             for a in n.names]
    names += [n.module for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom) and n.module]
    assert not [m for m in names if m.split('.')[0] in (
        'mmdet', 'mmdet3d', 'mmseg', 'mmpretrain', 'torch')]
