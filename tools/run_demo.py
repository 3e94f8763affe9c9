# Copyright (c) mmweak contributors.
"""The main job: train and test every method on the embedded data sets
(no download) and print one results table per task.

    python tools/run_demo.py [--tasks wsol wsss dtmr det3d]
        [--work-dir work_dirs/demo]
        [--only CAM BAS] [--retrain] [--jobs 2]

Tasks: ``wsol`` (SyntheticWSOL, generated in memory), ``wsss`` (the
synthetic VOC-layout set written by
``tools/dataset_converters/make_synthetic_voc.py``; see ``run_wsss``) and
``dtmr`` (referring-expression grounding on the synthetic RefCOCO written
by ``tools/dataset_converters/make_synthetic_refcoco.py``; see
``run_dtmr``) and ``det3d`` (Point-DETR3D weakly semi-supervised 3D
detection on the nuScenes-layout set written by
``tools/dataset_converters/make_synthetic_nuscenes.py``; see
``run_det3d``).

Every step calls the public tools (``tools/train.py``, ``tools/test.py``),
exactly as a user would. A training whose config and code did not change
since its last successful run is reused unless ``--retrain`` is given. The
table goes to the terminal and to ``WORK_DIR/results.md``; map overlays of a
few test images to ``WORK_DIR/overlays/<method>/``.

With several tasks, ``--jobs`` lanes run them side by side (default 2, the
cores of the budget machine): the longest task in one lane, the others in
the next. Every tool a lane starts gets the cores divided among the lanes
still running (``mmweak.utils.cpu_share``): one thread each while both run,
the whole machine for the lane left alone.
"""
import argparse
import glob
import hashlib
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
from mmweak.utils.cpu_share import LANES_ENV, cpu_share, lane  # noqa: E402


@dataclass
class Step:
    """One row of the table (or a training stage feeding a later row).

    Args:
        name: Row or stage name (also the sub-directory of the work dir).
        config: Config path relative to the repository root.
        backbone: Backbone shown in the table.
        train: Whether to train the config; otherwise only test it.
        init_from: Name of an earlier step whose final checkpoint is the
            ``load_from`` of this training (a pretraining stage).
        test_checkpoint_from: Test this config with the final checkpoint of
            an earlier step (e.g. Eigen-CAM on the CAM network).
        row: Whether the step is a row of the results table.
    """
    name: str
    config: str
    backbone: str
    train: bool = True
    init_from: Optional[str] = None
    test_checkpoint_from: Optional[str] = None
    row: bool = True
    extra: List[str] = field(default_factory=list)


STEPS = [
    Step('CAM', 'configs/cam/cam_resnet50_synthetic.py', 'ResNet-50 (1/4 w)'),
    Step('Eigen-CAM', 'configs/eigencam/eigencam_resnet50_synthetic.py',
         'ResNet-50 (1/4 w)', train=False, test_checkpoint_from='CAM'),
    Step('BAS', 'configs/bas/bas_resnet50_synthetic.py', 'ResNet-50 (1/4 w)'),
    Step('CAM (DeiT)', 'configs/sat/cam_deit-tiny_synthetic.py',
         'DeiT-Tiny'),
    Step('SAT', 'configs/sat/sat_deit-tiny_synthetic.py', 'DeiT-Tiny'),
]

COLUMNS = [('top1_cls', 'Top-1 Cls'), ('top1_loc', 'Top-1 Loc'),
           ('gt_known_loc', 'GT-known'), ('maxboxacc_v2', 'MaxBoxAccV2'),
           ('pxap', 'PxAP'), ('loc_thr', 'tau (val)')]


# mmengine's logger lines: training (with the whole run's ETA) and test
TRAIN_LOG = re.compile(
    r'Epoch\(train\)\s*\[(\d+)\]\[\s*(\d+)/(\d+)\].*?eta: (\S+)')
TEST_LOG = re.compile(r'Epoch\((?:val|test)\)\s*\[\s*(\d+)/(\d+)\]')


class Progress:
    """One status line per run from the tool's log lines: which run, epoch,
    iteration and time left. Redrawn in place on a terminal; in a log (no
    terminal) at most one line every ``interval`` seconds."""

    def __init__(self, label: str, interval: float = 20.0) -> None:
        self.label = label
        self.interval = interval
        self.tty = sys.stdout.isatty()
        self.start = time.time()
        self.last_print = 0.0
        self.status = ''

    def feed(self, line: str) -> None:
        m = TRAIN_LOG.search(line)
        if m:
            epoch, it, total, eta = m.groups()
            status = f'train epoch {epoch}, iter {it}/{total}, eta {eta}'
        else:
            m = TEST_LOG.search(line)
            if not m:
                return
            status = f'test batch {m.group(1)}/{m.group(2)}'
        self.status = status
        now = time.time()
        text = (f'  [{self.label}] {status} '
                f'({now - self.start:.0f} s elapsed)')
        if self.tty:
            sys.stdout.write('\r' + text.ljust(78))
            sys.stdout.flush()
        elif now - self.last_print >= self.interval:
            print(text, flush=True)
            self.last_print = now

    def close(self) -> None:
        if self.tty and self.status:
            sys.stdout.write('\n')
        print(f'  [{self.label}] done in {time.time() - self.start:.0f} s',
              flush=True)


def run(cmd: List[str], log_file: str, label: str = '',
        env_extra: Optional[Dict[str, str]] = None) -> None:
    """Run ``cmd`` with its output in ``log_file`` and a progress line on
    the terminal; fail loudly with the log's tail."""
    env = dict(os.environ, **(env_extra or {}))
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    if os.environ.get(LANES_ENV) and not (env_extra or {}).get(
            'OMP_NUM_THREADS'):
        # tasks run side by side: this tool gets its lane's share of cores
        env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = str(cpu_share())
    print('  $', ' '.join(cmd), flush=True)
    progress = Progress(label or osp.basename(cmd[1]))
    with open(log_file, 'a') as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                bufsize=1)
        for line in proc.stdout:
            f.write(line)
            progress.feed(line)
        proc.wait()
    progress.close()
    if proc.returncode != 0:
        with open(log_file) as f:
            tail = f.readlines()[-40:]
        sys.stderr.write(''.join(tail))
        raise RuntimeError(f'command failed ({proc.returncode}); see '
                           f'{log_file}: {" ".join(cmd)}')


def fingerprint(config: str) -> str:
    """Hash of the dumped config and the package sources."""
    h = hashlib.sha256()
    dump = subprocess.run(
        [sys.executable, '-c',
         'import sys; from mmengine.config import Config; '
         'print(Config.fromfile(sys.argv[1]).pretty_text)', config],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout
    h.update(dump.encode())
    for path in sorted(glob.glob(osp.join(ROOT, 'mmweak', '**', '*.py'),
                                 recursive=True)):
        with open(path, 'rb') as f:
            h.update(f.read())
    return h.hexdigest()


def train_once(config: str, wd: str, extra: List[str], retrain: bool,
               log: str, name: str,
               env_extra: Optional[Dict[str, str]] = None) -> float:
    """Train ``config`` into ``wd`` with ``tools/train.py`` unless a run
    with the same config, code and options finished there before; return
    the training seconds (of that earlier run when reused)."""
    key = fingerprint(config) + ' '.join(extra)
    stamp = osp.join(wd, 'demo_stamp.json')
    old = json.load(open(stamp)) if osp.isfile(stamp) else {}
    if not retrain and old.get('key') == key:
        print('  (reusing the previous training: nothing changed)')
        return old.get('train_s', 0.0)
    t0 = time.time()
    run([sys.executable, 'tools/train.py', config, '--work-dir', wd] + extra,
        log, f'{name} train', env_extra)
    train_s = time.time() - t0
    with open(stamp, 'w') as f:
        json.dump({'key': key, 'train_s': train_s}, f)
    return train_s


def final_checkpoint(work_dir: str) -> str:
    path = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(path):
        raise FileNotFoundError(f'no checkpoint recorded in {path}')
    with open(path) as f:
        return f.read().strip()


def fmt(value: Optional[float], key: str) -> str:
    return '-' if value is None else f'{value:.2f}'


def fmt_spread(values: List[Optional[float]]) -> str:
    """``mean`` for one run, ``mean ±half-range`` over several."""
    values = [v for v in values if v is not None]
    if not values:
        return '-'
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f'{mean:.2f}'
    return f'{mean:.2f} ±{(max(values) - min(values)) / 2:.2f}'


def make_table(rows: List[Dict]) -> str:
    """One line per method; with several seeds each cell is the mean over
    the seeds and half their range."""
    head = ['Method', 'Backbone'] + [c[1] for c in COLUMNS] + ['train s']
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    for r in rows:
        cells = [r['name'], r['backbone']]
        cells += [
            fmt_spread([m.get(f'wsol/{k}') for m in r['metrics']])
            for k, _ in COLUMNS
        ]
        train_s = [t for t in r['train_s'] if t]
        cells.append(f'{sum(train_s) / len(train_s):.0f}' if train_s else '-')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def select_steps(only: Optional[List[str]]) -> List[Step]:
    """The steps to run: all, or ``only`` and the steps they depend on."""
    if not only:
        return list(STEPS)
    by_name = {s.name: s for s in STEPS}
    unknown = set(only) - set(by_name)
    if unknown:
        raise SystemExit(f'unknown steps {sorted(unknown)}; choose from '
                         f'{list(by_name)}')
    wanted = set(only)
    for s in STEPS:
        if s.name in wanted:
            wanted.update(filter(None, [s.init_from, s.test_checkpoint_from]))
    return [s for s in STEPS if s.name in wanted]


def run_wsol_seed(args: argparse.Namespace, steps: List[Step], seed: int,
                  work_dir: str) -> List[Dict]:
    """Train, calibrate on ``val`` and test every step with one training
    seed; return the rows (name, backbone, metrics, train seconds)."""
    os.makedirs(work_dir, exist_ok=True)
    ckpts: Dict[str, str] = {}
    rows = []
    for s in steps:
        print(f'[wsol seed {seed}] [{s.name}] {s.config}', flush=True)
        wd = osp.join(work_dir, s.name.replace(' ', '_').replace(
            '(', '').replace(')', ''))
        os.makedirs(wd, exist_ok=True)
        log = osp.join(wd, 'demo.log')
        train_s = 0.0
        if s.train:
            # the rows are scored after training (calibration on val, then
            # test), so validating inside the training would only repeat it
            options = [f'randomness.seed={seed}'] + list(args.train_options)
            if s.init_from:
                options.append(f'load_from={ckpts[s.init_from]}')
            extra = ['--no-validate'] + list(s.extra) + \
                ['--cfg-options'] + options
            train_s = train_once(s.config, wd, extra, args.retrain, log,
                                 s.name)
            ckpts[s.name] = final_checkpoint(wd)
        if not s.row:
            continue
        ckpt = ckpts[s.test_checkpoint_from or s.name]
        # tau for Top-1 / GT-known Loc: chosen on the val split in this run
        thr_file = osp.join(wd, 'thr.json')
        run([sys.executable, 'tools/analysis_tools/calibrate_wsol_threshold.py',
             s.config, ckpt, '--out', thr_file, '--work-dir', wd] +
            (['--cfg-options'] + args.test_options
             if args.test_options else []), log, f'{s.name} calibrate')
        out = osp.join(wd, 'test_metrics.json')
        run([sys.executable, 'tools/test.py', s.config, ckpt,
             '--work-dir', wd, '--out', out, '--show-dir', 'overlays',
             '--cfg-options', f'test_evaluator.thr_file={thr_file}'] +
            list(args.test_options), log, f'{s.name} test')
        with open(out) as f:
            metrics = json.load(f)
        shows = sorted(glob.glob(osp.join(wd, '*', 'overlays')))
        if shows and seed == args.seeds[0]:
            dst = osp.join(args.work_dir, 'overlays', osp.basename(wd))
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(shows[-1], dst)
        rows.append(dict(name=s.name, backbone=s.backbone, metrics=metrics,
                         train_s=train_s))
    return rows


def run_wsol(args: argparse.Namespace) -> str:
    """Train and test every WSOL method with each seed of ``--seeds``;
    return the task's results text (one table; with several seeds, the
    mean and half-range per cell, then one table per seed)."""
    steps = select_steps(args.only)
    for s in steps:
        if not osp.isfile(osp.join(ROOT, s.config)):
            raise FileNotFoundError(f'step {s.name}: config {s.config} '
                                    'does not exist')
    start = time.time()
    per_seed = {}
    for seed in args.seeds:
        # seed 0 keeps the historical layout WORK_DIR/<step>
        wd = args.work_dir if seed == 0 else osp.join(args.work_dir,
                                                      f'seed{seed}')
        per_seed[seed] = run_wsol_seed(args, steps, seed, wd)
    merged = []
    for i, row in enumerate(per_seed[args.seeds[0]]):
        merged.append(
            dict(name=row['name'], backbone=row['backbone'],
                 metrics=[per_seed[sd][i]['metrics'] for sd in args.seeds],
                 train_s=[per_seed[sd][i]['train_s'] for sd in args.seeds]))
    seeds = ', '.join(str(sd) for sd in args.seeds)
    text = ('## WSOL\n\nSyntheticWSOL test split (500 images), metrics in %, '
            'each tau (Top-1 / GT-known Loc) chosen on the val split in the '
            f'run; training seed(s) {seeds}'
            + (' (mean ±half-range)' if len(args.seeds) > 1 else '') +
            f'; {time.time() - start:.0f} s\n\n{make_table(merged)}\n')
    if len(args.seeds) > 1:
        for seed in args.seeds:
            rows = [dict(r, metrics=[r['metrics']], train_s=[r['train_s']])
                    for r in per_seed[seed]]
            text += f'\nSeed {seed}:\n\n{make_table(rows)}\n'
    print(f'overlays: {osp.join(args.work_dir, "overlays")}')
    return text


def run_stage_runner(args: argparse.Namespace, task: str, tool: str,
                     config: str, options: List[str], heading: str,
                     env_extra: Optional[Dict[str, str]] = None) -> str:
    """Run a task's multi-stage runner (``tool config --work-dir
    WORK_DIR/<task>``; its own progress goes to the terminal) and return
    its ``results.md`` under ``heading``."""
    wd = osp.join(args.work_dir, task)
    cmd = [sys.executable, tool, config, '--work-dir', wd]
    if args.retrain:
        cmd.append('--retrain')
    if options:
        cmd += ['--cfg-options'] + options
    print(f'[{task}] ' + ' '.join(cmd[1:]), flush=True)
    env = dict(os.environ, **(env_extra or {}))
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    with open(osp.join(wd, 'results.md')) as f:
        return f'## {heading}\n\n' + f.read()


def run_wsss(args: argparse.Namespace) -> str:
    """Run the whole WSSS pipeline on the synthetic VOC-layout set through
    ``tools/wsss/run_pipeline.py`` and return its results text."""
    return run_stage_runner(args, 'wsss', 'tools/wsss/run_pipeline.py',
                            'configs/wsss/pipeline_synthetic-voc.py',
                            args.wsss_options, 'WSSS')


DTMR_DATA = 'data/synthetic_refcoco'
DTMR_FEATS = 'configs/dtmr/feats_c4-r50-w16_synthetic-refcoco.py'
DTMR_ROWS = [
    ('DTMR', 'configs/dtmr/dtmr_c4-r50-w16-feats_synthetic-refcoco.py'),
    ('Subject only',
     'configs/dtmr/dtmr-subject-only_c4-r50-w16-feats_synthetic-refcoco.py'),
]
DTMR_SPLITS = ('val', 'testA', 'testB')


def best_checkpoint(work_dir: str) -> str:
    """The best-val checkpoint ``CheckpointHook(save_best=...)`` kept."""
    found = glob.glob(osp.join(work_dir, 'best_*.pth'))
    if not found:
        raise FileNotFoundError(f'no best_*.pth in {work_dir}')
    return max(found, key=osp.getmtime)  # this run's, not an older one


def run_dtmr(args: argparse.Namespace) -> str:
    """DTMR on the embedded synthetic RefCOCO: write the data (official
    format), the train vocabulary and the region features (the committed
    quarter-width ResNet-50 in a C4 model), train DTMR and the subject-only
    ablation (best checkpoint on val), test both on val / testA / testB and
    return the grounding table with the expected accuracy of a random
    choice among the candidates."""
    start = time.time()
    wd = osp.join(args.work_dir, 'dtmr')
    os.makedirs(wd, exist_ok=True)
    log = osp.join(wd, 'demo.log')
    py = sys.executable
    print('[dtmr] data, vocabulary and region features', flush=True)
    run([py, 'tools/dataset_converters/make_synthetic_refcoco.py',
         '--out-dir', DTMR_DATA], log, 'dtmr data')
    run([py, 'tools/dtmr/build_vocab_and_triads.py',
         osp.join(DTMR_DATA, 'refcoco'), '--img-prefix',
         '../images/train2014'], log, 'dtmr vocab')
    t0 = time.time()
    run([py, 'tools/dtmr/extract_region_features.py', DTMR_FEATS], log,
        'dtmr features')
    feats_s = time.time() - t0
    # the two models are small: train them side by side, one core each
    # (one after the other when another lane holds the second core)
    rwds = [osp.join(wd, name.replace(' ', '_')) for name, _ in DTMR_ROWS]
    for (name, config), rwd in zip(DTMR_ROWS, rwds):
        print(f'[dtmr] [{name}] {config}', flush=True)
        os.makedirs(rwd, exist_ok=True)
    with ThreadPoolExecutor(min(len(DTMR_ROWS), cpu_share())) as pool:
        train_s = list(pool.map(
            lambda row: train_once(row[0][1], row[1], [], args.retrain,
                                   osp.join(row[1], 'demo.log'), row[0][0],
                                   dict(OMP_NUM_THREADS='1')),
            zip(DTMR_ROWS, rwds)))
    rows = []
    for (name, config), rwd, secs in zip(DTMR_ROWS, rwds, train_s):
        out = osp.join(rwd, 'test_metrics.json')
        run([py, 'tools/test.py', config, best_checkpoint(rwd),
             '--work-dir', rwd, '--out', out], log, f'{name} test')
        with open(out) as f:
            rows.append((name, json.load(f), secs))
    head = '| Method | ' + ' | '.join(DTMR_SPLITS) + ' | train s |'
    lines = [head, '|' + '---|' * (len(DTMR_SPLITS) + 2)]
    for name, m, train_s in rows:
        cells = [fmt(m.get(f'grounding/{s}_acc'), '') for s in DTMR_SPLITS]
        lines.append(f'| {name} | ' + ' | '.join(cells) +
                     f' | {train_s:.0f} |')
    m = rows[0][1]
    cells = [fmt(m.get(f'grounding/{s}_random_acc'), '') for s in DTMR_SPLITS]
    lines.append('| Random (expected) | ' + ' | '.join(cells) + ' | - |')
    n = int(m.get('grounding/num_expressions', 0))
    return ('## DTMR\n\nSynthetic RefCOCO (`make_synthetic_refcoco.py`, '
            f'seed 0; {n} val + testA + testB expressions), top-1 accuracy '
            '(%, IoU >= 0.5) with the ground-truth candidate boxes; each '
            'model at its best-val checkpoint; random = expected accuracy '
            'of a uniform choice among the candidates; features '
            f'{feats_s:.0f} s; {time.time() - start:.0f} s in all\n\n' +
            '\n'.join(lines) + '\n')


def run_det3d(args: argparse.Namespace) -> str:
    """Point-DETR3D on the embedded nuScenes-layout set through
    ``tools/point_detr3d/run_pipeline.py`` (data, split, 5%-boxes student,
    teacher, pseudo labels, student, fully supervised student). Its tools
    run inside the runner's process (one torch / mmdet3d import instead of
    one per step). Returns its results text."""
    return run_stage_runner(
        args, 'det3d', 'tools/point_detr3d/run_pipeline.py',
        'configs/point_detr3d/pipeline_synthetic-nus-r05.py',
        args.det3d_options, 'Point-DETR3D (3D detection)',
        dict(MMWEAK_STAGE_INPROCESS='1'))


TASKS = {
    'wsol': run_wsol,
    'wsss': run_wsss,
    'dtmr': run_dtmr,
    'det3d': run_det3d
}
# measured minutes of each task alone on the 2-core budget machine; only
# their order matters (lane assignment)
TASK_MINUTES = {'wsss': 20.0, 'wsol': 12.0, 'dtmr': 6.0, 'det3d': 6.0}


def assign_lanes(tasks: List[str], jobs: int) -> List[List[str]]:
    """Longest task first into the least loaded lane; each lane keeps the
    order of ``tasks``. Empty lanes are dropped."""
    lanes: List[List[str]] = [[] for _ in range(max(1, jobs))]
    load = [0.0] * len(lanes)
    for t in sorted(tasks, key=lambda t: -TASK_MINUTES.get(t, 1.0)):
        i = load.index(min(load))
        lanes[i].append(t)
        load[i] += TASK_MINUTES.get(t, 1.0)
    return [[t for t in tasks if t in ln] for ln in lanes if ln]


def run_tasks(args: argparse.Namespace, tasks: List[str],
              lanes: List[List[str]]) -> List[str]:
    """Run ``tasks`` in ``lanes`` (:func:`assign_lanes`); return their
    sections in the order of ``tasks``. A failing lane does not stop the
    others; the first failure is raised when all have ended."""
    if len(lanes) == 1:
        return [TASKS[t](args) for t in tasks]
    lanes_dir = osp.join(args.work_dir, '.cpu_lanes')
    shutil.rmtree(lanes_dir, ignore_errors=True)  # marks of a killed run
    os.makedirs(lanes_dir)
    os.environ[LANES_ENV] = lanes_dir
    print('lanes: ' + ' | '.join(' + '.join(ln) for ln in lanes), flush=True)
    # every lane is marked before any starts, so no tool starts with
    # more than its share
    marks = [lane(lanes_dir, '-'.join(ln)) for ln in lanes]
    for m in marks:
        m.__enter__()

    def run_lane(i: int) -> Dict[str, str]:
        try:
            out = {}
            for t in lanes[i]:
                t0 = time.time()
                out[t] = TASKS[t](args)
                print(f'[{t}] finished in {time.time() - t0:.0f} s',
                      flush=True)
            return out
        finally:
            marks[i].__exit__(None, None, None)

    with ThreadPoolExecutor(len(lanes)) as pool:
        futures = [pool.submit(run_lane, i) for i in range(len(lanes))]
    sections, errors = {}, []
    for ln, fut in zip(lanes, futures):
        if fut.exception() is not None:
            errors.append((ln, fut.exception()))
        else:
            sections.update(fut.result())
    del os.environ[LANES_ENV]
    if errors:
        for ln, err in errors:
            print(f'lane {" + ".join(ln)} failed: {err!r}', flush=True)
        raise errors[0][1]
    return [sections[t] for t in tasks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tasks', nargs='+', choices=list(TASKS),
                        help='tasks to run (default: all of them)')
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs',
                                                       'demo'))
    parser.add_argument('--only', nargs='+', help='WSOL: run only these '
                        'steps (and the steps they depend on)')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0],
                        help='WSOL: training seeds; with several, the '
                        'table shows the mean and half-range of each cell')
    parser.add_argument('--retrain', action='store_true',
                        help='train even when a matching run exists')
    parser.add_argument('--train-options', nargs='+', default=[],
                        help='WSOL: --cfg-options for every training (e.g. '
                        'a smaller dataset for a smoke run)')
    parser.add_argument('--test-options', nargs='+', default=[],
                        help='WSOL: --cfg-options for every test')
    parser.add_argument('--jobs', type=int, default=2,
                        help='lanes running the tasks side by side, the '
                        'cores shared among them (1: one task after the '
                        'other)')
    parser.add_argument('--wsss-options', nargs='+', default=[],
                        help='WSSS: --cfg-options for the pipeline config')
    parser.add_argument('--det3d-options', nargs='+', default=[],
                        help='det3d: --cfg-options for the pipeline config')
    args = parser.parse_args()
    tasks = args.tasks or list(TASKS)

    os.makedirs(args.work_dir, exist_ok=True)
    start = time.time()
    lanes = assign_lanes(tasks, args.jobs)
    sections = run_tasks(args, tasks, lanes)
    how = '' if len(lanes) == 1 else ', lanes ' + ' | '.join(
        ' + '.join(ln) for ln in lanes)
    text = (f'Main job (`tools/run_demo.py --tasks {" ".join(tasks)}`{how}, '
            f'{time.time() - start:.0f} s in all)\n\n' +
            '\n'.join(sections))
    fd, tmp = tempfile.mkstemp(dir=args.work_dir, suffix='.tmp')
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    os.replace(tmp, osp.join(args.work_dir, 'results.md'))
    print('\n' + text)


if __name__ == '__main__':
    main()
