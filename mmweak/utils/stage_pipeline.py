# Copyright (c) mmweak contributors.
"""Task-neutral machinery of the multi-stage runners (``tools/wsss/
run_pipeline.py``, ``tools/point_detr3d/run_pipeline.py``).

A runner is a sequence of *stages*, each of which runs public tools
(``tools/train.py``, offline label makers, ...) exactly as a user would,
printing every command. :class:`Pipeline` gives each stage a directory and
a key (its settings, the keys of the stages it reads and the sources of
mmweak and the tools) recorded in ``<stage dir>/stage.json``:

* a stage whose key did not change and that finished is **reused**;
* a stage whose key did not change but did not finish is **resumed** (its
  directory is kept, so the offline tools skip finished files and the
  training tools may pick up their checkpoints);
* a stage whose key changed (or any stage with ``retrain=True``) **restarts**
  from an empty directory.

``first`` / ``last`` restrict a run to a range of the stages: the stages
before ``first`` are not run, only read (they must have finished), the
stages after ``last`` are skipped (:meth:`Pipeline.stage` returns None).

This module does not import mmdet, mmseg or mmdet3d.
"""
import contextlib
import glob
import hashlib
import json
import os
import os.path as osp
import runpy
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from mmengine.config import Config

from .cpu_share import LANES_ENV, cpu_share

__all__ = [
    'ROOT', 'INPROCESS_ENV', 'Pipeline', 'PipelineError', 'source_hash',
    'config_dump', 'config_key', 'write_atomic', 'read_json', 'run',
    'offline_cmd', 'run_offline', 'final_checkpoint', 'data_root_options',
    'cfg_options'
]


def _tools_root() -> str:
    """The folder holding ``tools/`` and ``configs/``: the source checkout
    (repo root) when there is one, else the installed ``mmweak/.mim``."""
    pkg = osp.dirname(osp.dirname(osp.abspath(__file__)))
    repo = osp.dirname(pkg)
    if osp.isfile(osp.join(repo, 'tools', 'train.py')):
        return repo
    mim = osp.join(pkg, '.mim')
    return mim if osp.isdir(osp.join(mim, 'tools')) else repo


#: where the runners' relative tool and config paths are resolved
ROOT = _tools_root()
#: set to ``1`` to run the Python tools inside the runner's process (one
#: import of torch / mmdet3d instead of one per command; used by the CPU
#: smoke tests and handy under a debugger). Offline tools under torchrun
#: (``workers > 1``) always get their own processes.
INPROCESS_ENV = 'MMWEAK_STAGE_INPROCESS'


class PipelineError(RuntimeError):
    """A stage cannot run or be read (e.g. it is before ``--from`` and has
    not finished)."""


def source_hash(root: str = ROOT) -> str:
    """Hash of mmweak's and the tools' sources (a code change reruns)."""
    h = hashlib.sha256()
    files = glob.glob(osp.join(root, 'mmweak', '**', '*.py'), recursive=True)
    files += glob.glob(osp.join(root, 'tools', '**', '*.py'), recursive=True)
    for path in sorted(files):
        if osp.basename(path) == 'run_demo.py':
            continue
        with open(path, 'rb') as f:
            h.update(f.read())
    return h.hexdigest()


def config_dump(path: str, root: str = ROOT) -> str:
    """The resolved text of config ``path`` (relative to ``root``): a stage
    key changes when the config or one of its bases does."""
    return Config.fromfile(osp.join(root, path)).pretty_text


def config_key(path: str, root: str = ROOT) -> str:
    """The resolved content of config ``path`` as sorted JSON: like
    :func:`config_dump` for a stage key, without its (slow) formatting."""
    cfg = Config.fromfile(osp.join(root, path))
    return json.dumps(cfg.to_dict(), sort_keys=True, default=str)


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(dir=osp.dirname(path), suffix='.tmp')
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    os.replace(tmp, path)


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


class Pipeline:
    """Runs stages with reuse/resume bookkeeping and prints progress.

    Args:
        work_dir: Parent of the stage directories.
        retrain: Rerun every stage of the range even if nothing changed.
        num_stages: Number of stages, for the ``[task k/n]`` prefix.
        code_key: Part of every key (e.g. :func:`source_hash`).
        task: Name in the printed prefix.
        order: All stage names in order; needed only with ``first``/``last``.
        first: First stage to run; the earlier ones are read only.
        last: Last stage to run; the later ones are skipped.
    """

    def __init__(self,
                 work_dir: str,
                 retrain: bool,
                 num_stages: int,
                 code_key: str,
                 task: str = 'wsss',
                 order: Optional[Sequence[str]] = None,
                 first: Optional[str] = None,
                 last: Optional[str] = None) -> None:
        self.work_dir = work_dir
        self.retrain = retrain
        self.num_stages = num_stages
        self.code_key = code_key
        self.task = task
        self.order = list(order or [])
        for name in (first, last):
            if name is not None and name not in self.order:
                raise PipelineError(
                    f'unknown stage {name!r}; the stages are {self.order}')
        self.first = self.order.index(first) if first else 0
        self.last = self.order.index(last) if last else len(self.order)
        if self.first > self.last:
            raise PipelineError(f'--from {first} comes after --to {last}')
        self.keys: Dict[str, str] = {}
        self.done = 0
        self.start = time.time()
        self.seconds: Dict[str, float] = {}
        self.status: Dict[str, str] = {}

    def _position(self, name: str) -> Optional[int]:
        base = name.split('_seed')[0]
        for candidate in (name, base):
            if candidate in self.order:
                return self.order.index(candidate)
        return None

    def in_range(self, name: str) -> bool:
        """Whether stage ``name`` runs (not before ``first``, not after
        ``last``); stages not in ``order`` always do."""
        pos = self._position(name)
        return pos is None or self.first <= pos <= self.last

    def after_range(self, name: str) -> bool:
        pos = self._position(name)
        return pos is not None and pos > self.last

    def stage(self, name: str, settings: dict, inputs: List[str],
              body: Callable[[str, str], None]) -> Optional[str]:
        """Run (or reuse) stage ``name``; return its directory.

        ``body(stage_dir, log_file)`` does the work. The key covers
        ``settings``, the keys of the ``inputs`` stages and the sources.
        A stage after ``last`` is skipped (returns None); a stage before
        ``first`` is only read and must have finished.
        """
        self.done += 1
        key_src = json.dumps(
            dict(settings=settings, inputs=[self.keys[i] for i in inputs],
                 code=self.code_key), sort_keys=True, default=str)
        key = hashlib.sha256(key_src.encode()).hexdigest()
        stage_dir = osp.join(self.work_dir, name)
        stamp = osp.join(stage_dir, 'stage.json')
        old = read_json(stamp) if osp.isfile(stamp) else {}
        prefix = (f'[{self.task} {self.done}/{self.num_stages}] {name} '
                  f'({time.time() - self.start:.0f} s elapsed)')
        if self.after_range(name):
            self.keys[name] = key
            self.status[name] = 'skipped'
            print(f'{prefix}: skipped (after --to)', flush=True)
            return None
        if not self.in_range(name):  # before --from: read only
            if not old.get('finished'):
                raise PipelineError(
                    f'stage {name} (before --from) has not finished: no '
                    f'"finished" flag in {stamp}; run it first')
            # its outputs are what the later stages read: keep its key
            self.keys[name] = old['key']
            self.seconds[name] = old.get('seconds', 0.0)
            self.status[name] = 'kept'
            changed = '' if old.get('key') == key else \
                ' (its settings or the code changed since)'
            print(f'{prefix}: kept (before --from){changed}', flush=True)
            return stage_dir
        self.keys[name] = key
        if old.get('key') == key and old.get('finished') and \
                not self.retrain:
            print(f'{prefix}: reused (nothing changed)', flush=True)
            self.seconds[name] = old.get('seconds', 0.0)
            self.status[name] = 'reused'
            return stage_dir
        if old.get('key') != key or self.retrain:
            shutil.rmtree(stage_dir, ignore_errors=True)
            resumed = False
        else:
            resumed = True
        os.makedirs(stage_dir, exist_ok=True)
        write_atomic(stamp, json.dumps(dict(key=key, finished=False)))
        print(f'{prefix}: {"resuming" if resumed else "running"}',
              flush=True)
        t0 = time.time()
        body(stage_dir, osp.join(stage_dir, 'stage.log'))
        seconds = time.time() - t0
        self.seconds[name] = seconds
        self.status[name] = 'resumed' if resumed else 'ran'
        write_atomic(stamp, json.dumps(
            dict(key=key, finished=True, seconds=seconds)))
        print(f'  done in {seconds:.0f} s', flush=True)
        return stage_dir


def _shown(cmd: Iterable[str], root: str) -> str:
    return ' '.join(
        osp.relpath(c, root) if osp.isabs(c) and c.startswith(root) else c
        for c in cmd)


@contextlib.contextmanager
def _patched_process(argv: List[str], cwd: str, env: Dict[str, str]):
    """``sys.argv``, the working directory and the environment of an
    in-process tool run, restored afterwards."""
    old_argv, old_cwd, old_env = sys.argv, os.getcwd(), dict(os.environ)
    old_path = list(sys.path)
    sys.argv = list(argv)
    sys.path.insert(0, osp.dirname(osp.abspath(argv[0])))
    os.chdir(cwd)
    os.environ.update(env)
    try:
        yield
    finally:
        sys.argv, sys.path[:] = old_argv, old_path
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)


def _run_in_process(cmd: List[str], log_file: str, env_extra: Dict[str, str],
                    root: str) -> None:
    """Run ``[python, tool.py, args...]`` as ``__main__`` in this process
    (see :data:`INPROCESS_ENV`); the output goes to the terminal only, the
    log records the command."""
    with open(log_file, 'a') as log:
        log.write('$ ' + ' '.join(cmd) + '  (in process)\n')
    # the thread count a subprocess would read from OMP_NUM_THREADS (e.g.
    # the main job's lane share, which grows when the other lane ends)
    torch = sys.modules.get('torch')
    threads = env_extra.get('OMP_NUM_THREADS')
    old_threads = torch.get_num_threads() if torch else None
    with _patched_process(cmd[1:], root, env_extra):
        try:
            if torch is not None and threads:
                torch.set_num_threads(int(threads))
            runpy.run_path(cmd[1], run_name='__main__')
        except SystemExit as exc:
            if exc.code not in (None, 0):
                raise RuntimeError(f'command failed ({exc.code}); log: '
                                   f'{log_file}\n  ' + ' '.join(cmd))
        finally:
            if old_threads is not None:
                torch.set_num_threads(old_threads)


def run(cmd: List[str], log_file: str,
        env_extra: Optional[Dict[str, str]] = None,
        root: str = ROOT) -> None:
    """Run a tool, streaming its output to the terminal and ``log_file``.

    The command runs in ``root`` with ``root`` on ``PYTHONPATH``; with
    ``MMWEAK_STAGE_INPROCESS=1`` a Python tool runs inside this process.
    """
    env = dict(os.environ)
    env['PYTHONPATH'] = root + os.pathsep + env.get('PYTHONPATH', '')
    if os.environ.get(LANES_ENV):
        # run by the main job next to other tasks: this lane's share
        env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = str(cpu_share())
    env.update(env_extra or {})
    print('  $ ' + _shown(cmd, root), flush=True)
    if os.environ.get(INPROCESS_ENV) == '1' and cmd[0] == sys.executable \
            and len(cmd) > 1 and cmd[1].endswith('.py'):
        tool = cmd[1] if osp.isabs(cmd[1]) else osp.join(root, cmd[1])
        extra = dict(env_extra or {})
        if os.environ.get(LANES_ENV):
            extra.setdefault('OMP_NUM_THREADS', env['OMP_NUM_THREADS'])
        _run_in_process([cmd[0], tool] + cmd[2:], log_file, extra, root)
        return
    with open(log_file, 'ab') as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        for chunk in iter(lambda: proc.stdout.read1(4096), b''):
            log.write(chunk)
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        rc = proc.wait()
    if rc != 0:
        raise RuntimeError(f'command failed ({rc}); log: {log_file}\n  ' +
                           ' '.join(cmd))


def offline_cmd(py: str, tool: str, workers: int) -> List[str]:
    """Command prefix of an offline tool: one process, or ``workers``
    processes under torchrun (``--launcher pytorch`` is appended by
    :func:`run_offline`)."""
    if workers <= 1:
        return [py, tool]
    return [py, '-m', 'torch.distributed.run', '--standalone',
            f'--nproc_per_node={workers}', tool]


def run_offline(py: str, tool: str, args: List[str], workers: int,
                log_file: str, root: str = ROOT) -> None:
    """Run an offline tool (CAM export, pseudo masks / labels, ...) sharded
    over ``workers`` CPU processes or GPUs, one thread each on the CPU (no
    more processes than the lane's share when the main job runs tasks side
    by side)."""
    if os.environ.get(LANES_ENV):
        workers = min(workers, cpu_share())
    cmd = offline_cmd(py, tool, workers) + args
    env = None
    if workers > 1:
        cmd += ['--launcher', 'pytorch']
        env = {'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '1')}
    run(cmd, log_file, env, root=root)


def final_checkpoint(work_dir: str) -> str:
    """The checkpoint a training run recorded last (``last_checkpoint``)."""
    path = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(path):
        raise FileNotFoundError(f'no checkpoint recorded in {path}')
    with open(path) as f:
        return f.read().strip()


def data_root_options(config: str, data_root: str,
                      root: str = ROOT) -> Dict[str, str]:
    """``--cfg-options`` pointing every dataset of ``config`` (all
    ``*_dataloader`` entries, ``ConcatDataset`` members and wrapped
    datasets included) at ``data_root``: the pipeline's data root wins over
    the one written in the stage config."""
    cfg = Config.fromfile(osp.join(root, config))
    options = {}

    def visit(dataset, key):
        if not isinstance(dataset, dict):
            return
        if 'data_root' in dataset:
            options[f'{key}.data_root'] = data_root
        for i, member in enumerate(dataset.get('datasets') or []):
            visit(member, f'{key}.datasets.{i}')
        if 'dataset' in dataset:  # wrappers (RepeatDataset, CBGS, ...)
            visit(dataset['dataset'], f'{key}.dataset')

    for loader in sorted(k for k in cfg.keys() if k.endswith('_dataloader')):
        if isinstance(cfg[loader], dict):
            visit(cfg[loader].get('dataset'), f'{loader}.dataset')
    return options


def cfg_options(options: Dict[str, object]) -> List[str]:
    """``['--cfg-options', 'k=v', ...]`` (nothing for no options)."""
    if not options:
        return []
    return ['--cfg-options'] + [f'{k}={v}' for k, v in options.items()]
