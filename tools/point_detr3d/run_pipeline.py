# Copyright (c) mmweak contributors.
"""Run the whole Point-DETR3D teacher-student method from one pipeline
config (Point-DETR3D, Gao et al., AAAI 2024, arXiv 2403.15317; spec
sections 3 and 10).

    python tools/point_detr3d/run_pipeline.py \\
        configs/point_detr3d/pipeline_synthetic-nus-r05.py \\
        [--work-dir work_dirs/p3d] [--from STAGE] [--to STAGE] [--retrain] \\
        [--cfg-options k=v ...]

The stages are the public tools, run in order exactly as a user would run
them by hand (each command is printed and logged to
``WORK_DIR/<stage>/stage.log``):

``data``
    (embedded set only, with a ``generate`` entry) write the
    nuScenes-layout set (``make_synthetic_nuscenes.py``) and its v2 info
    pkls and GT database (``create_nuscenes_infos.py``);
``split``
    ``make_point_split.py``: labelled / point-only train pkls and the GT
    database of the labelled samples;
``lidar_pretrain``
    ``tools/train.py`` + ``tools/test.py`` of the CenterPoint box config on
    the labelled pkl; its val row is the "boxes only" student;
``fuse``
    ``fuse_checkpoints.py``: that LiDAR checkpoint (+ the optional
    ``fuse.image_checkpoint``) -> the teacher's initialisation (without an
    image checkpoint and with a version of the tool that requires
    ``--image``, the runner keeps the LiDAR tensors by the tool's own
    selection functions);
``teacher``
    ``tools/train.py`` of the teacher config (``load_from`` = the fused
    checkpoint) on the labelled pkl, ``tools/test.py`` on val with
    points simulated from the val GT (teacher quality);
``pseudo_label``
    ``make_pseudo_labels.py`` (resumable, ``workers`` processes under
    torchrun) on the point-only pkl, merged with the labelled pkl into
    ``nuscenes_infos_train_pseudo.pkl``; then, if the tool exists,
    ``eval_pseudo_labels.py`` scores the pseudo boxes against the GT of the
    point-only samples;
``student``
    ``tools/train.py`` + ``tools/test.py`` of the two-view student on the
    merged pkl;
``full``
    (with a ``full`` entry) the fully supervised CenterPoint on every
    train sample;
``evaluate``
    mAP / NDS of every row, the pseudo labels' mAP and student / full into
    ``WORK_DIR/results.md`` and ``WORK_DIR/results.json``.

Every data path reaches the stage configs through ``--cfg-options``
(dataset and metric ``data_root``, the train ``ann_file``, the GT-paste
``db_sampler.info_path``, ``load_from``, the teacher's
``pseudo_label_dataloader``), so they run unchanged; the pipeline config's
per-stage ``options`` follow (e.g. epochs) and are given to the test run
too (model changes must match the checkpoint).

Each stage records a key (its settings, the keys of the stages it reads and
the sources of mmweak and the tools) in ``WORK_DIR/<stage>/stage.json``
(:mod:`mmweak.utils.stage_pipeline`): a stage whose key did not change is
reused, an interrupted one is resumed (training from its last checkpoint,
pseudo labelling from its finished samples), one whose key changed starts
again. ``--from S`` runs from stage S on (the earlier stages must have
finished; they are not rerun even if their key changed), ``--to S`` stops
after S. ``MMWEAK_STAGE_INPROCESS=1`` runs the tools inside the runner's
process (one import of mmdet3d instead of one per command; the CPU smoke
test uses it).
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

from mmengine.config import Config, DictAction

from mmweak.utils.stage_pipeline import (ROOT, Pipeline, PipelineError,
                                         cfg_options, config_key,
                                         data_root_options, final_checkpoint,
                                         read_json, run, run_offline,
                                         source_hash, write_atomic)

STAGES = ('data', 'split', 'lidar_pretrain', 'fuse', 'teacher',
          'pseudo_label', 'student', 'full', 'evaluate')
GENERATOR = 'tools/dataset_converters/make_synthetic_nuscenes.py'
CONVERTER = 'tools/dataset_converters/create_nuscenes_infos.py'
SPLIT = 'tools/point_detr3d/make_point_split.py'
FUSE = 'tools/point_detr3d/fuse_checkpoints.py'
PSEUDO = 'tools/point_detr3d/make_pseudo_labels.py'
PSEUDO_EVAL = 'tools/point_detr3d/eval_pseudo_labels.py'
MERGED = 'nuscenes_infos_train_pseudo.pkl'
TRAIN_PKL = 'nuscenes_infos_train.pkl'
VAL_PKL = 'nuscenes_infos_val.pkl'
DBINFOS = 'nuscenes_dbinfos_train.pkl'
CAVEAT = ('NDS caveat: the teacher and the students predict no velocity '
          '(velocity code weights 0, pseudo velocities 0), so mAVE saturates '
          'and NDS is depressed; read mAP first.')


# --------------------------------------------------------------- options ---
def _unwrap(dataset: dict, key: str):
    """The innermost dataset of wrappers (``CBGSDataset``, ...) and its
    option key."""
    while isinstance(dataset, dict) and 'dataset' in dataset and \
            'ann_file' not in dataset:
        dataset, key = dataset['dataset'], f'{key}.dataset'
    return dataset, key


def _db_samplers(node, key: str) -> List[str]:
    """Option keys of every ``db_sampler`` in a (nested) pipeline."""
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == 'db_sampler' and isinstance(v, dict):
                found.append(f'{key}.{k}')
            else:
                found += _db_samplers(v, f'{key}.{k}')
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            found += _db_samplers(v, f'{key}.{i}')
    return found


def stage_data_options(config: str,
                       data_root: str,
                       train_ann: Optional[str] = None,
                       dbinfos: Optional[str] = None,
                       version: Optional[str] = None) -> Dict[str, str]:
    """``--cfg-options`` giving stage config ``config`` the pipeline's data:
    every dataset's and NuScenesMetric's ``data_root``, the datasets'
    devkit ``version`` (their ``metainfo``, which NuScenesMetric reads),
    the metrics' ``ann_file`` (same name, in ``data_root``), the train
    dataset's ``ann_file`` and every train ``db_sampler`` (``info_path``,
    its ``data_root``)."""
    cfg = Config.fromfile(osp.join(ROOT, config))
    opts = data_root_options(config, data_root)
    if version is not None:
        for key in [k for k in opts if k.endswith('.data_root')]:
            opts[key[:-len('data_root')] + 'metainfo.version'] = version
    for name in ('val_evaluator', 'test_evaluator'):
        evaluator = cfg.get(name)
        members = evaluator if isinstance(evaluator, list) else [evaluator]
        for i, metric in enumerate(members):
            if not isinstance(metric, dict):
                continue
            key = name if not isinstance(evaluator, list) else f'{name}.{i}'
            if 'data_root' in metric:
                opts[f'{key}.data_root'] = data_root
            if metric.get('ann_file'):
                opts[f'{key}.ann_file'] = osp.join(
                    data_root, osp.basename(metric['ann_file']))
    if train_ann is None:
        return opts
    loader = cfg.get('train_dataloader')
    if not loader or 'dataset' not in loader:
        raise KeyError(f'{config} has no train_dataloader.dataset')
    dataset, key = _unwrap(loader['dataset'], 'train_dataloader.dataset')
    if not isinstance(dataset, dict) or 'ann_file' not in dataset:
        raise KeyError(f'{config}: no ann_file in {key} (a ConcatDataset '
                       'train set is not supported by the runner)')
    opts[f'{key}.ann_file'] = train_ann
    samplers = _db_samplers(dataset.get('pipeline', []), f'{key}.pipeline')
    if samplers and dbinfos is None:
        raise ValueError(f'{config} pastes GT objects but the runner has '
                         'no GT database for it')
    for sampler in samplers:
        opts[f'{sampler}.info_path'] = dbinfos
        opts[f'{sampler}.data_root'] = data_root
    return opts


def flat_options(options: Optional[dict], prefix: str = '') -> dict:
    """Per-stage options as dotted keys: ``--cfg-options
    teacher.options.train_cfg.max_epochs=2`` on the pipeline gives nested
    dicts, which the tools' ``--cfg-options`` take as ``a.b.c=v``."""
    out = {}
    for key, value in (options or {}).items():
        if isinstance(value, dict) and value:
            out.update(flat_options(value, f'{prefix}{key}.'))
        else:
            out[f'{prefix}{key}'] = value
    return out


# --------------------------------------------------------------- metrics ---
def nus_summary(metrics: dict) -> dict:
    """mAP / NDS / TP errors (in %, errors as they are) of a test's
    metrics (NuScenesMetric keys ``.../mAP``, ``.../NDS``, ...)."""
    out = {}
    for k, v in metrics.items():
        name = k.rsplit('/', 1)[-1]
        if name in ('mAP', 'NDS'):
            out[name] = 100.0 * float(v)
        elif name in ('mATE', 'mASE', 'mAOE', 'mAVE', 'mAAE'):
            out[name] = float(v)
    return out


def pseudo_summary(report: dict) -> dict:
    """mAP / NDS (%) of ``eval_pseudo_labels.py``'s report (devkit
    ``mean_ap`` / ``nd_score`` fractions)."""
    out = {}
    for key, name in (('mean_ap', 'mAP'), ('nd_score', 'NDS')):
        if isinstance(report.get(key), (int, float)):
            out[name] = 100.0 * float(report[key])
    return out


def fmt(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.2f}'


def make_table(rows: List[dict]) -> str:
    lines = ['| Row | Model | Data | mAP | NDS* | mATE | mASE | mAOE | s |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        lines.append('| ' + ' | '.join([
            r['row'], r['model'], r['data'],
            fmt(r.get('mAP')), fmt(r.get('NDS')),
            fmt(r.get('mATE')), fmt(r.get('mASE')), fmt(r.get('mAOE')),
            f"{r.get('seconds', 0):.0f}"]) + ' |')
    return '\n'.join(lines)


# ------------------------------------------------------------------ main ---
def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='pipeline config, e.g. '
                        'configs/point_detr3d/pipeline_synthetic-nus-r05.py')
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--from', dest='first', choices=STAGES,
                        help='first stage to run (the earlier ones must '
                        'have finished)')
    parser.add_argument('--to', dest='last', choices=STAGES,
                        help='last stage to run')
    parser.add_argument('--retrain', action='store_true',
                        help='rerun every stage of the range even if '
                        'nothing changed')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override pipeline config keys')
    return parser.parse_args(argv)


def _require(cfg: Config, key: str) -> dict:
    if not cfg.get(key) or not cfg[key].get('config'):
        raise KeyError(f'the pipeline config has no {key}.config')
    path = osp.join(ROOT, cfg[key].config)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{key}.config: {path} not found')
    return cfg[key]


def check_image_checkpoint(cfg: Config) -> None:
    """A teacher with an image branch needs ``fuse.image_checkpoint`` (a
    local FCOS3D checkpoint; nothing is downloaded): fail before the first
    stage, not after the LiDAR pre-training, and never fuse LiDAR weights
    only into a camera teacher."""
    teacher = Config.fromfile(osp.join(ROOT, cfg.teacher.config))
    if not teacher.model.get('img_backbone'):
        return
    ckpt = (cfg.get('fuse') or {}).get('image_checkpoint')
    if not ckpt:
        raise ValueError(
            f'{cfg.teacher.config} has an image branch: fuse.image_checkpoint '
            'must name your FCOS3D image checkpoint (--cfg-options '
            'fuse.image_checkpoint=/path/to/fcos3d.pth)')
    if not osp.isfile(osp.join(ROOT, ckpt)):
        raise FileNotFoundError(
            f'fuse.image_checkpoint {ckpt}: no such file (the image '
            f'initialisation of the camera teacher {cfg.teacher.config}; '
            'mmweak downloads nothing)')


def main(argv=None) -> Optional[dict]:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    work_dir = osp.abspath(args.work_dir or osp.join(
        ROOT, 'work_dirs', osp.splitext(osp.basename(args.config))[0]))
    os.makedirs(work_dir, exist_ok=True)
    py = sys.executable
    data_root = osp.abspath(osp.join(ROOT, cfg.data_root))
    version = cfg.get('version', 'v1.0-trainval')
    gen = cfg.get('generate')
    full = cfg.get('full')
    stages = [s for s in STAGES if (s != 'data' or gen is not None) and
              (s != 'full' or full is not None)]
    for key in ('lidar_pretrain', 'teacher', 'student') + (
            ('full', ) if full is not None else ()):
        _require(cfg, key)
    check_image_checkpoint(cfg)
    pipe = Pipeline(work_dir, args.retrain, num_stages=len(stages),
                    code_key=source_hash(), task='point-detr3d',
                    order=STAGES, first=args.first, last=args.last)
    test_options = dict(cfg.get('test_options') or {})
    # training seed of every trained stage (randomness.seed; None: the
    # stage configs' own, mmengine's random seed when they set none)
    seed = cfg.get('seed')

    def train_and_test(d, log, stage, train_ann, dbinfos, extra=None):
        """tools/train.py (resumed from the stage's last checkpoint) then
        tools/test.py of the final checkpoint on val."""
        config = stage.config
        opts = stage_data_options(config, data_root, train_ann, dbinfos,
                                  version)
        opts.update(extra or {})
        opts.update(flat_options(stage.get('options')))
        train_opts = dict(opts)
        if seed is not None:  # the pipeline's training seed
            train_opts.setdefault('randomness.seed', seed)
        resume = []
        if osp.isfile(osp.join(d, 'last_checkpoint')):
            # --resume CKPT (an explicit load_from would win over it)
            resume = ['--resume', final_checkpoint(d)]
            train_opts.pop('load_from', None)
        run([py, 'tools/train.py', config, '--work-dir', d, '--no-validate'] +
            resume + cfg_options(train_opts), log)
        test_opts = {k: v for k, v in opts.items() if k != 'load_from'}
        test_opts.update(flat_options(test_options))
        test_opts.update(flat_options(stage.get('test_options')))
        run([py, 'tools/test.py', config, final_checkpoint(d), '--work-dir',
             d, '--out', osp.join(d, 'test_metrics.json')] +
            cfg_options(test_opts), log)

    def stage_key(stage) -> dict:
        return dict(cfg=config_key(stage.config),
                    opt=stage.get('options'),
                    seed=seed,
                    test=[test_options, stage.get('test_options')])

    # 1. data (embedded set) --------------------------------------------------
    if gen is not None:
        def make_data(d, log):
            run([py, GENERATOR, data_root, '--overwrite'] +
                [str(a) for a in gen.get('args', [])], log)
            run([py, CONVERTER, data_root, '--version', version,
                 '--max-sweeps', str(gen.get('max_sweeps', 0))], log)
        pipe.stage('data', dict(generate=gen, data_root=data_root,
                                version=version), [], make_data)
    data_inputs = ['data'] if gen is not None else []
    train_pkl = osp.join(data_root, TRAIN_PKL)
    full_dbinfos = osp.join(data_root, DBINFOS)

    # 2. labelled / point-only split ----------------------------------------
    split_cfg = cfg.get('split') or {}

    def make_split(d, log):
        for path in (train_pkl, full_dbinfos, osp.join(data_root, VAL_PKL)):
            if not osp.isfile(path):
                raise FileNotFoundError(
                    f'{path} not found: convert the data first '
                    f'({CONVERTER} {data_root} --version {version})')
        run([py, SPLIT, train_pkl, '--ratio',
             str(split_cfg.get('ratio', 0.05)), '--seed',
             str(split_cfg.get('seed', 0)), '--split-by',
             split_cfg.get('split_by', 'sample'), '--dbinfos', full_dbinfos,
             '--out-dir', d] + [str(a) for a in split_cfg.get('args', [])],
            log)
    split_dir = pipe.stage('split', dict(split=split_cfg,
                                         data_root=data_root), data_inputs,
                           make_split)
    if split_dir is None:
        return None
    summaries = glob.glob(osp.join(split_dir, '*_split.json'))
    if len(summaries) != 1:
        raise PipelineError(f'expected one *_split.json in {split_dir}, '
                            f'found {summaries}')
    split = read_json(summaries[0])
    labelled, point = split['outputs']['labelled'], split['outputs']['point']
    dbinfos = split['outputs']['dbinfos']
    ratio_txt = f"{100 * float(split['ratio']):g}%"

    # 3. LiDAR pre-training = the "boxes only" student ------------------------
    box = cfg.lidar_pretrain
    box_dir = pipe.stage(
        'lidar_pretrain', stage_key(box), ['split'],
        lambda d, log: train_and_test(d, log, box, labelled, dbinfos))

    # 4. weight fusion ------------------------------------------------------
    fuse = cfg.get('fuse') or {}
    image_ckpt = fuse.get('image_checkpoint')

    def fuse_ckpts(d, log):
        lidar, out = final_checkpoint(box_dir), osp.join(d, 'fused_init.pth')
        extra = [str(a) for a in fuse.get('args', [])]
        cmd = [py, FUSE, '--lidar', lidar]
        if image_ckpt:
            cmd += ['--image', osp.abspath(osp.join(ROOT, image_ckpt))]
        run(cmd + ['--out', out] + extra, log)
    fuse_dir = None if box_dir is None else pipe.stage(
        'fuse', dict(image=image_ckpt, args=fuse.get('args')),
        ['lidar_pretrain'], fuse_ckpts)

    # 5. teacher --------------------------------------------------------------
    teacher = cfg.teacher
    teacher_dir = None if fuse_dir is None else pipe.stage(
        'teacher', stage_key(teacher), ['fuse', 'split'],
        lambda d, log: train_and_test(
            d, log, teacher, labelled, dbinfos,
            extra={'load_from': osp.join(fuse_dir, 'fused_init.pth')}))

    # 6. pseudo labels --------------------------------------------------------
    pseudo = cfg.get('pseudo_label') or {}
    workers = int(pseudo.get('workers', 1))

    def make_pseudo(d, log):
        opts = data_root_options(teacher.config, data_root)
        opts['pseudo_label_dataloader.dataset.ann_file'] = point
        opts.update(flat_options(teacher.get('options')))
        opts.update(flat_options(pseudo.get('options')))
        opts = {k: v for k, v in opts.items()
                if not k.startswith(('train_', 'load_from'))}
        # processes do not change the output: not part of the stage key
        run_offline(py, PSEUDO, [
            teacher.config, final_checkpoint(teacher_dir), '--out-dir', d,
            '--train-pkl', labelled, point] +
            [str(a) for a in pseudo.get('args', [])] + cfg_options(opts),
            workers, log)
        if osp.isfile(osp.join(ROOT, PSEUDO_EVAL)):
            run([py, PSEUDO_EVAL, osp.join(d, MERGED), '--gt-pkl', train_pkl,
                 '--data-root', data_root, '--version', version, '--out',
                 osp.join(d, 'pseudo_eval.json')], log)
    pseudo_dir = None if teacher_dir is None else pipe.stage(
        'pseudo_label', dict(args=pseudo.get('args'),
                             opt=pseudo.get('options')),
        ['teacher', 'split'], make_pseudo)

    # 7. student --------------------------------------------------------------
    student = cfg.student
    student_dir = None if pseudo_dir is None else pipe.stage(
        'student', stage_key(student), ['pseudo_label', 'split'],
        lambda d, log: train_and_test(d, log, student,
                                      osp.join(pseudo_dir, MERGED), dbinfos))

    # 8. fully supervised -----------------------------------------------------
    full_dir = None
    if full is not None and student_dir is not None:
        full_dir = pipe.stage(
            'full', stage_key(full), data_inputs,
            lambda d, log: train_and_test(d, log, full, train_pkl,
                                          full_dbinfos))
        if full_dir is None:
            return None
    if student_dir is None:
        return None

    # 9. evaluate -------------------------------------------------------------
    def row(name, model, data, stage_dir, stage):
        metrics = read_json(osp.join(stage_dir, 'test_metrics.json'))
        return dict(row=name, model=model, data=data, stage=stage,
                    seconds=pipe.seconds.get(stage, 0.0),
                    **nus_summary(metrics))

    def collect(d, log):
        rows = [
            row(f'{ratio_txt} boxes only', 'CenterPoint (LiDAR pre-training)',
                f'{ratio_txt} labelled samples', box_dir, 'lidar_pretrain'),
            row('teacher', 'Point-DETR3D teacher',
                f'{ratio_txt} labelled; val with simulated points',
                teacher_dir, 'teacher'),
            row('student', 'CenterPoint two-view (Point-DETR3D)',
                f'{ratio_txt} boxes + pseudo boxes', student_dir, 'student')]
        if full_dir is not None:
            rows.append(row('fully supervised', 'CenterPoint',
                            '100% boxes', full_dir, 'full'))
        pseudo_eval = osp.join(pseudo_dir, 'pseudo_eval.json')
        p_res = (pseudo_summary(read_json(pseudo_eval))
                 if osp.isfile(pseudo_eval) else {})
        by = {r['row']: r for r in rows}
        s_map = by['student'].get('mAP')
        f_map = by.get('fully supervised', {}).get('mAP')
        ratio = 100.0 * s_map / f_map if s_map is not None and f_map \
            else None
        s_nds = by['student'].get('NDS')
        f_nds = by.get('fully supervised', {}).get('NDS')
        nds_ratio = 100.0 * s_nds / f_nds if s_nds is not None and f_nds \
            else None
        summary = read_json(osp.join(pseudo_dir, 'summary.json')) \
            if osp.isfile(osp.join(pseudo_dir, 'summary.json')) else None
        res = dict(rows=rows, pseudo_label_map=p_res.get('mAP'),
                   pseudo_label_nds=p_res.get('NDS'),
                   pseudo_label_eval=pseudo_eval
                   if osp.isfile(pseudo_eval) else None,
                   pseudo_label_summary=summary,
                   student_over_full_map=ratio,
                   student_over_full_nds=nds_ratio,
                   training_seed=seed,
                   split=dict((k, split[k]) for k in (
                       'ratio', 'split_by', 'seed', 'num_labelled',
                       'num_point')),
                   caveat=CAVEAT)
        p_line = (f'Pseudo labels of the {split["num_point"]} point-only '
                  f'train samples against their GT: mAP '
                  f'{fmt(p_res.get("mAP"))}, NDS* {fmt(p_res.get("NDS"))}.'
                  if osp.isfile(pseudo_eval) else
                  'Pseudo labels: not scored (tools/point_detr3d/'
                  'eval_pseudo_labels.py is missing).')
        text = (f'{cfg.get("title", "Point-DETR3D")}: nuScenes metrics on '
                f'val in % ({split["num_labelled"]} labelled / '
                f'{split["num_point"]} point-only train samples, '
                f'{split["split_by"]} split, ratio {ratio_txt}'
                + (f', training seed {seed}' if seed is not None else '') +
                '). '
                f'Student / fully supervised: mAP {fmt(ratio)} %, '
                f'NDS {fmt(nds_ratio)} %.\n\n{make_table(rows)}\n\n'
                f'{p_line}\n\n*{CAVEAT}\n')
        write_atomic(osp.join(d, 'results.json'), json.dumps(res, indent=2))
        write_atomic(osp.join(d, 'results.md'), text)
    inputs = ['lidar_pretrain', 'teacher', 'pseudo_label', 'student'] + (
        ['full'] if full_dir is not None else [])
    eval_dir = pipe.stage('evaluate', dict(title=cfg.get('title'),
                                           seed=seed), inputs, collect)
    if eval_dir is None:
        return None
    res = read_json(osp.join(eval_dir, 'results.json'))
    text = open(osp.join(eval_dir, 'results.md')).read()
    res['seconds'] = time.time() - pipe.start
    res['status'] = pipe.status
    write_atomic(osp.join(work_dir, 'results.json'),
                 json.dumps(res, indent=2))
    write_atomic(osp.join(work_dir, 'results.md'), text)
    print('\n' + text, flush=True)
    return res


if __name__ == '__main__':
    main()
