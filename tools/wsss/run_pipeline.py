# Copyright (c) mmweak contributors.
"""Run a whole image-label WSSS pipeline from one pipeline config.

    python tools/wsss/run_pipeline.py configs/wsss/pipeline_synthetic-voc.py \\
        [--work-dir work_dirs/wsss] [--retrain] [--cfg-options k=v ...]

The stages are the public tools, run in order exactly as a user would run
them by hand (each command is printed and logged):

1. (embedded set only) write the data set with
   ``tools/dataset_converters/make_synthetic_voc.py``;
2. Stage A: ``tools/train.py`` on the multi-label CAM config;
3. ``tools/wsss/make_cams.py``: multi-scale + flip CAMs of ``train_split``;
4. ``tools/wsss/eval_seeds.py``: CAM seeds scored on ``eval_split`` over the
   background-threshold sweep; the best threshold is chosen here, on the
   train split with its pixel labels, as the WSSS protocol does;
5. ``tools/wsss/make_pseudo_masks.py --method crf`` with that threshold;
6. ``tools/wsss/make_ir_labels.py`` then ``tools/train.py`` on the IRN
   config, then ``make_pseudo_masks.py --method irn --save-maps`` (random
   walk); the walk's background threshold is swept on ``eval_split`` like
   the seeds' (``eval_seeds.py`` on the saved maps) and
   ``make_pseudo_masks.py --method threshold`` writes the IRN masks with
   the best one;
7. (with a ``mars`` entry) Stage B': ``make_cls_labels.py`` writes the
   tags, ``tools/mars/debias_labels.py`` debiases the IRN masks (MARS,
   feature model named in its config) and the labels are scored like the
   masks, the planted biased classes separately;
8. Stage C: ``tools/train.py`` + ``tools/test.py`` of the mmseg segmenter on
   the IRN pseudo masks, of the MARS segmenter (student + EMA teacher) on
   the debiased labels, and of the fully supervised upper bound; once per
   training seed of ``segmenter.seeds`` (``--cfg-options
   segmenter.seeds=[0,1,2]``: the table shows mean and half-range);
9. (with ``mars``) ``debias_labels.py complement`` fills the 254 pixels of
   the debiased labels with the trained MARS segmenter's prediction
   restricted to the image's tags (its EMA teacher unless
   ``mars.complement_options`` says otherwise; the labels ``Y^co`` of the
   paper's Table 6), scored like the masks.

Every stage records a key (its settings, the keys of the stages it reads
and the sources of mmweak and the tools) in ``<stage dir>/stage.json``. A
stage whose key did not change is reused; an interrupted stage is resumed
(the offline tools skip finished files); a stage whose key changed starts
from an empty directory. The table goes to ``WORK_DIR/results.md`` and the
figures to ``WORK_DIR/results.json``.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

from mmengine.config import Config, DictAction

from mmweak.utils.stage_pipeline import (ROOT, Pipeline, cfg_options,
                                         config_dump, data_root_options,
                                         final_checkpoint, read_json, run,
                                         run_offline, source_hash,
                                         write_atomic)
from mmweak.wsss.data_io import split_list_path


def fmt(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.2f}'


def mean_of(runs: List[dict], key: str) -> Optional[float]:
    """Mean of ``key`` over the runs that report it (None if none does)."""
    values = [r[key] for r in runs if r.get(key) is not None]
    return sum(values) / len(values) if values else None


def fmt_runs(runs: List[Optional[float]]) -> str:
    """The value of one run, or ``mean ±half-range`` over several."""
    runs = [r for r in runs if r is not None]
    if len(runs) <= 1:
        return fmt(runs[0] if runs else None)
    return f'{sum(runs) / len(runs):.2f} ±{(max(runs) - min(runs)) / 2:.2f}'


def make_table(res: dict) -> str:
    lines = ['| Stage | Artefact | Split | mIoU | Precision | Recall | '
             'FP rate | FN rate | bg thr | s |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for row in res['rows']:
        lines.append('| ' + ' | '.join([
            row['stage'], row['artefact'], row['split'],
            fmt_runs(row.get('miou_runs', [row.get('miou')])),
            fmt(row.get('precision')),
            fmt(row.get('recall')), fmt(row.get('fp_rate')),
            fmt(row.get('fn_rate')),
            '-' if row.get('bg_thr') is None else f"{row['bg_thr']:.2f}",
            f"{row.get('seconds', 0):.0f}"]) + ' |')
    return '\n'.join(lines)


RATE_KEYS = (('iou', 'IoU'), ('precision', 'Precision'),
             ('recall', 'Recall'), ('fp_rate', 'FP rate'),
             ('fn_rate', 'FN rate'))


def class_rates(report: dict, classes) -> Dict[str, Dict[str, float]]:
    """Per-class IoU / precision / recall / FP / FN of a mask report, for
    ``classes`` and for the mean over the other foreground classes
    present."""
    names = report['class_names']
    per = report['per_class']
    out = {}
    for name in classes:
        if name not in names:
            raise KeyError(f'biased class {name!r} is not a class of the '
                           f'report ({names})')
        out[name] = {k: per[k][names.index(name)] for k, _ in RATE_KEYS}
    others = [i for i, n in enumerate(names)
              if i > 0 and n not in classes and per['iou'][i] is not None]
    if others:
        mean = {}
        for k, _ in RATE_KEYS:
            # precision is undefined (None) for a class never predicted
            vals = [per[k][i] for i in others if per[k][i] is not None]
            mean[k] = sum(vals) / len(vals) if vals else None
        out['other classes (mean)'] = mean
    return out


CO_ROW = 'IRN masks + MARS, 254 filled by the MARS segmenter'


def mars_share(rank_file: str) -> Optional[float]:
    """Share (%) of MARS's selected centroids that are true targets (the
    rank step's sanity metric; None without GT)."""
    from mmweak.utils.checkpoint import load_checkpoint_safely
    ranked = load_checkpoint_safely(rank_file, map_location='cpu')
    share = ranked.get('target_share')
    return None if share is None else 100.0 * float(share)


def mars_table(mars: dict) -> str:
    """Markdown: per-class rates of the base masks and the MARS labels."""
    lines = ['MARS on the IRN masks: the planted biased classes separately '
             '(FP rate = pixels labelled c that are not c in the GT, over '
             'TP + FP + FN; 254 counts as no label).',
             '',
             '| Class | Labels | ' + ' | '.join(t for _, t in RATE_KEYS) +
             ' |', '|---|---|' + '---|' * len(RATE_KEYS)]
    for cls in mars['before']:
        for tag, key in (('IRN masks', 'before'), ('+ MARS', 'after'),
                         ('+ MARS, 254 filled by the segmenter',
                          'complemented')):
            if key not in mars:
                continue
            vals = mars[key][cls]
            lines.append(f'| {cls} | {tag} | ' + ' | '.join(
                fmt(vals[k]) for k, _ in RATE_KEYS) + ' |')
    share = mars.get('target_share')
    lines.append('')
    lines.append('Selected centroids that are true targets (IoU > 0.3 '
                 f'with the GT; the paper: > 85 % on VOC): {fmt(share)} %. '
                 'Segmenter with MARS minus segmenter on the same IRN '
                 f'masks without it: {fmt(mars.get("segmenter_gain"))} '
                 'mIoU' + ('' if not mars.get('segmenter_gain_runs') else
                          ' (per seed ' + ' / '.join(
                              fmt(x) for x in mars['segmenter_gain_runs'])
                          + ')') + '.')
    return '\n'.join(lines) + '\n'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='pipeline config, e.g. '
                        'configs/wsss/pipeline_synthetic-voc.py')
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--retrain', action='store_true',
                        help='rerun every stage even if nothing changed')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override pipeline config keys')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    work_dir = osp.abspath(args.work_dir or osp.join(
        ROOT, 'work_dirs', osp.splitext(osp.basename(args.config))[0]))
    os.makedirs(work_dir, exist_ok=True)
    py = sys.executable
    data_root = osp.abspath(osp.join(ROOT, cfg.data_root))
    # stages: 13, the 6 of MARS, one per extra segmenter seed and segmenter
    n_extra = len(cfg.segmenter.get('seeds', [0])) - 1
    pipe = Pipeline(work_dir, args.retrain,
                    num_stages=(19 + 3 * n_extra if cfg.get('mars') else
                                13 + 2 * n_extra),
                    code_key=source_hash(), task='wsss')
    thr = cfg.seed_eval.thresholds
    # processes of the offline tools (not part of any stage key: the files
    # do not depend on it)
    workers = int(cfg.get('workers', 1))
    rows = []

    # 1. data ---------------------------------------------------------------
    def make_data(d, log):
        gen = cfg.get('synthetic')
        if gen is None:
            if not osp.isdir(data_root):
                raise FileNotFoundError(f'data_root {data_root} not found')
            return
        # --overwrite replaces only a set this generator wrote (it refuses
        # a folder without its synthetic_meta.json), so a set written by an
        # older generator version is renewed instead of stopping the demo
        run([py, 'tools/dataset_converters/make_synthetic_voc.py',
             '--out-dir', osp.join(ROOT, gen.out_dir), '--seed',
             str(gen.seed), '--overwrite'] + list(gen.get('args', [])), log)
    pipe.stage('data', dict(synthetic=cfg.get('synthetic'),
                            data_root=cfg.data_root), [], make_data)
    split_opt = ['--data-root', data_root]

    # 2. Stage A --------------------------------------------------------------
    stage_a_cfg = cfg.stage_a.config

    def train_stage_a(d, log):
        opts = data_root_options(stage_a_cfg, data_root)
        opts.update(cfg.stage_a.get('options', {}))
        run([py, 'tools/train.py', stage_a_cfg, '--work-dir', d] +
            cfg_options(opts), log)
    stage_a = pipe.stage('stage_a', dict(cfg=config_dump(stage_a_cfg),
                                         opt=cfg.stage_a.get('options')),
                         ['data'], train_stage_a)
    stage_a_ckpt = final_checkpoint(stage_a)

    # 3. CAMs -----------------------------------------------------------------
    def make_cams(d, log):
        run_offline(py, 'tools/wsss/make_cams.py', [
            stage_a_cfg, stage_a_ckpt, '--out-dir', osp.join(d, 'cams'),
            '--split', cfg.train_split, '--data-root', data_root] +
            list(cfg.cams.get('args', [])), workers, log)
    cams = pipe.stage('cams', dict(cams=cfg.cams, split=cfg.train_split),
                      ['stage_a'], make_cams)
    cam_dir = osp.join(cams, 'cams')

    # 4. seeds on the eval split (threshold chosen here) ---------------------
    def eval_seeds(d, log):
        run([py, 'tools/wsss/eval_seeds.py'] + split_opt +
            ['--split', cfg.eval_split, '--cam-dir', cam_dir,
             '--num-classes', str(cfg.num_classes), '--thresholds'] +
            [str(t) for t in thr] + ['--out-dir', d], log)
    seeds = pipe.stage('seed_eval', dict(thr=thr, split=cfg.eval_split),
                       ['cams'], eval_seeds)
    seed_res = read_json(osp.join(seeds, 'seed_eval.json'))
    bg_thr = seed_res['best_thr']
    rows.append(dict(stage='A', artefact='CAM seeds',
                     split=cfg.eval_split, bg_thr=bg_thr,
                     seconds=pipe.seconds['stage_a'] + pipe.seconds['cams'],
                     **seed_res['summary']))

    def eval_masks(name, mask_dir, inputs, full=False):
        def body(d, log):
            run([py, 'tools/wsss/eval_seeds.py'] + split_opt +
                ['--split', cfg.eval_split, '--mask-dir', mask_dir,
                 '--num-classes', str(cfg.num_classes), '--out-dir', d], log)
        out = pipe.stage(name, dict(split=cfg.eval_split), inputs, body)
        report = read_json(osp.join(out, 'seed_eval.json'))
        return report if full else report['summary']

    # 5. CRF pseudo masks ---------------------------------------------------
    def crf_masks(d, log):
        run_offline(py, 'tools/wsss/make_pseudo_masks.py', [
            '--method', 'crf', '--cam-dir', cam_dir] + split_opt +
            ['--split', cfg.train_split, '--out-dir', osp.join(d, 'masks'),
             '--bg-thr', str(bg_thr), '--crf-preset', cfg.crf.preset],
            workers, log)
    crf = pipe.stage('masks_crf', dict(crf=cfg.crf, bg_thr=bg_thr),
                     ['seed_eval'], crf_masks)
    t0 = pipe.seconds['masks_crf']
    summary = eval_masks('masks_crf_eval', osp.join(crf, 'masks'),
                         ['masks_crf'])
    rows.append(dict(stage='B', artefact=f'CRF masks ({cfg.crf.preset})',
                     split=cfg.eval_split, bg_thr=bg_thr, seconds=t0,
                     **summary))

    # 6. IRN ------------------------------------------------------------------
    irn = cfg.irn

    def ir_labels(d, log):
        run_offline(py, 'tools/wsss/make_ir_labels.py', [
            '--cam-dir', cam_dir] + split_opt + [
                '--split', cfg.train_split, '--out-dir',
                osp.join(d, 'ir_labels'), '--fg-thr', str(irn.fg_thr),
                '--bg-thr', str(irn.bg_thr)], workers, log)
    irl = pipe.stage('ir_labels', dict(fg=irn.fg_thr, bg=irn.bg_thr),
                     ['cams'], ir_labels)

    def train_irn(d, log):
        opts = data_root_options(irn.config, data_root)
        opts.update({'train_dataloader.dataset.data_prefix.seg_map_path':
                     osp.join(irl, 'ir_labels'),
                     'model.backbone.init_cfg.checkpoint': stage_a_ckpt})
        opts.update(irn.get('options', {}))
        run([py, 'tools/train.py', irn.config, '--work-dir', d] +
            cfg_options(opts), log)
    irn_dir = pipe.stage('irn', dict(cfg=config_dump(irn.config),
                                     opt=irn.get('options')),
                         ['ir_labels', 'stage_a'], train_irn)

    def irn_walk(d, log):
        run_offline(py, 'tools/wsss/make_pseudo_masks.py', [
            '--method', 'irn', '--cam-dir', cam_dir] + split_opt + [
                '--split', cfg.train_split, '--out-dir',
                osp.join(d, 'masks_default_thr'), '--save-maps',
                osp.join(d, 'maps'), '--irn-config', irn.config,
                '--irn-checkpoint', final_checkpoint(irn_dir), '--beta',
                str(irn.beta), '--exp-times', str(irn.exp_times),
                '--irn-scale', str(irn.get('scale', 1.0))], workers, log)
    walk = pipe.stage('irn_walk', dict(b=irn.beta, e=irn.exp_times,
                                       s=irn.get('scale', 1.0)), ['irn'],
                      irn_walk)
    walk_maps = osp.join(walk, 'maps')

    # the walk's background threshold, swept on the eval split like the
    # seeds' (IRN's 0.25 was chosen on VOC train in the same way)
    irn_thr = irn.sem_bg_thresholds

    def eval_walk(d, log):
        run([py, 'tools/wsss/eval_seeds.py'] + split_opt +
            ['--split', cfg.eval_split, '--cam-dir', walk_maps,
             '--num-classes', str(cfg.num_classes), '--thresholds'] +
            [str(t) for t in irn_thr] + ['--out-dir', d], log)
    walk_eval = pipe.stage('irn_walk_eval',
                           dict(thr=irn_thr, split=cfg.eval_split),
                           ['irn_walk'], eval_walk)
    walk_res = read_json(osp.join(walk_eval, 'seed_eval.json'))
    sem_bg_thr = walk_res['best_thr']

    def irn_masks(d, log):
        run_offline(py, 'tools/wsss/make_pseudo_masks.py', [
            '--method', 'threshold', '--cam-dir', walk_maps] + split_opt + [
                '--split', cfg.train_split, '--out-dir',
                osp.join(d, 'masks'), '--bg-thr', str(sem_bg_thr)],
            workers, log)
    irn_m = pipe.stage('masks_irn', dict(t=sem_bg_thr), ['irn_walk_eval'],
                       irn_masks)
    rows.append(dict(stage='B', artefact='IRN masks', split=cfg.eval_split,
                     bg_thr=sem_bg_thr,
                     seconds=sum(pipe.seconds[k] for k in (
                         'ir_labels', 'irn', 'irn_walk', 'masks_irn')),
                     **walk_res['summary']))

    # 7. Stage C --------------------------------------------------------------
    # `segmenter.seeds` trains every segmenter once per seed (the first
    # seed keeps the stage name, so a one-seed run's stages are reused);
    # the table shows the mean and half the range over the seeds
    seg_seeds = [int(x) for x in cfg.segmenter.get('seeds', [0])]

    def segmenter(name, config, inputs, options):
        runs = []
        for i, seed in enumerate(seg_seeds):
            opts = dict(options)
            if i > 0 or seed != 0:
                opts['randomness.seed'] = seed

            def body(d, log, opts=opts):
                roots = data_root_options(config, data_root)
                # the test below scores the final checkpoint on the same val
                # split, so validating at the end of training would repeat it
                run([py, 'tools/train.py', config, '--work-dir', d,
                     '--no-validate'] + cfg_options({**roots, **opts}), log)
                test_opts = {k: v for k, v in roots.items()
                             if k.startswith('test_dataloader')}
                test_opts.update(cfg.segmenter.get('test_options', {}))
                run([py, 'tools/test.py', config, final_checkpoint(d),
                     '--work-dir', d, '--out',
                     osp.join(d, 'test_metrics.json')] +
                    cfg_options(test_opts), log)
            stage = name if i == 0 else f'{name}_seed{seed}'
            out = pipe.stage(stage, dict(cfg=config_dump(config), opt=opts),
                             inputs, body)
            runs.append(read_json(osp.join(out, 'test_metrics.json')))
            if i > 0:
                pipe.seconds[name] += pipe.seconds[stage]
        return runs

    # 6b. MARS (Stage B'): the IRN masks debiased ---------------------------
    mars = cfg.get('mars')
    mars_eval = None
    if mars is not None:
        def make_tags(d, log):
            run([py, 'tools/dataset_converters/make_cls_labels.py'] +
                split_opt + ['--split', cfg.train_split, '--source', 'xml',
                             '--out', osp.join(d, 'cls_labels.json')], log)
        tags = pipe.stage('tags', dict(split=cfg.train_split), ['data'],
                          make_tags)
        tag_file = osp.join(tags, 'cls_labels.json')

        def tool_opts(out_dir, **extra):
            """``--cfg-options`` of the MARS tool: the data keys (IRN
            masks, tags), ``out_dir``, ``extra``, then ``mars.options``."""
            opts = {'img_dir': osp.join(data_root, 'JPEGImages'),
                    'img_list': split_list_path(data_root, cfg.train_split),
                    'label_dir': osp.join(irn_m, 'masks'),
                    'tags_file': tag_file, 'out_dir': out_dir, **extra}
            opts.update(mars.get('options', {}))
            return opts

        def debias(d, log):
            gt = ({'gt_dir': osp.join(data_root, mars.gt_dir)}
                  if mars.get('gt_dir') else {})
            opts = tool_opts(d, **gt)
            run_offline(py, 'tools/mars/debias_labels.py',
                        [mars.tool_config, 'all'] + cfg_options(opts),
                        workers, log)
        mars_dir = pipe.stage(
            'mars', dict(cfg=config_dump(mars.tool_config),
                         opt=mars.get('options'), gt=mars.get('gt_dir')),
            ['masks_irn', 'tags'], debias)
        mars_eval = eval_masks('mars_eval', osp.join(mars_dir, 'labels'),
                               ['mars'], full=True)
        share = mars_share(osp.join(mars_dir, 'debiased_centroids.pth'))
        rows.append(dict(stage="B'", artefact='IRN masks + MARS',
                         split=cfg.eval_split, seconds=pipe.seconds['mars'],
                         **mars_eval['summary']))

    seg = cfg.segmenter
    pseudo_opts = {'train_dataloader.dataset.data_prefix.seg_map_path':
                   osp.join(irn_m, 'masks')}
    pseudo_opts.update(seg.get('options', {}))
    m_pseudo = segmenter('seg_irn', seg.pseudo, ['masks_irn'], pseudo_opts)
    seg_rows = [('seg_irn', m_pseudo, 'segmenter on IRN masks')]
    if mars is not None:
        mars_opts = {
            'train_dataloader.dataset.data_prefix.seg_map_path':
            osp.join(mars_dir, 'labels'),
            'tag_file': tag_file,
            # a config variable is read where a dict uses it: set the key
            'train_dataloader.dataset.pipeline.2.tag_file': tag_file}
        mars_opts.update(mars.get('segmenter_options', {}))
        m_mars = segmenter('seg_mars', mars.segmenter, ['mars', 'tags'],
                           mars_opts)
        seg_rows.append(('seg_mars', m_mars,
                         'MARS segmenter on IRN masks + MARS'))

        # Y^co: the 254 pixels take the trained MARS segmenter's
        # tag-restricted prediction (the paper's Table 6 "+ complementing")
        seg_mars_dir = osp.join(work_dir, 'seg_mars')

        def complement(d, log):
            opts = tool_opts(
                d, debiased_dir=osp.join(mars_dir, 'labels'),
                segmenter_config=osp.join(seg_mars_dir,
                                          osp.basename(mars.segmenter)),
                segmenter_checkpoint=final_checkpoint(seg_mars_dir))
            opts.update(mars.get('complement_options', {}))
            run_offline(py, 'tools/mars/debias_labels.py',
                        [mars.tool_config, 'complement'] + cfg_options(opts),
                        workers, log)
        co_dir = pipe.stage('mars_complement',
                            dict(opt=mars.get('complement_options')),
                            ['seg_mars'], complement)
        co_eval = eval_masks('mars_complement_eval',
                             osp.join(co_dir, 'complemented'),
                             ['mars_complement'], full=True)
        rows.append(dict(stage="B'", artefact=CO_ROW, split=cfg.eval_split,
                         seconds=pipe.seconds['mars_complement'],
                         **co_eval['summary']))
    m_full = segmenter('seg_full', seg.full, ['data'],
                       dict(seg.get('options', {})))
    seg_rows.append(('seg_full', m_full,
                     'segmenter on GT masks (upper bound)'))
    seg_mean = {name: mean_of(m, 'mIoU') for name, m, _ in seg_rows}
    for name, m, artefact in seg_rows:
        rows.append(dict(stage='C', artefact=artefact,
                         split=seg.get('eval_split', 'val'),
                         miou=seg_mean[name],
                         miou_runs=[r.get('mIoU') for r in m],
                         seconds=pipe.seconds[name]))

    ratio = (100.0 * seg_mean['seg_irn'] / seg_mean['seg_full']
             if seg_mean['seg_irn'] is not None and seg_mean['seg_full']
             else None)
    res = dict(rows=rows, bg_thr=bg_thr, seed_curve=osp.join(
        seeds, 'seed_eval.json'), pseudo_over_full=ratio,
        segmenter_seeds=seg_seeds, seconds=time.time() - pipe.start)
    per_seed = ''
    if len(seg_seeds) > 1:
        res['pseudo_over_full_runs'] = [
            100.0 * a['mIoU'] / b['mIoU'] for a, b in zip(m_pseudo, m_full)]
        per_seed = ' (per seed ' + ' / '.join(
            fmt(x) for x in res['pseudo_over_full_runs']) + ')'
    seeds_text = ('' if len(seg_seeds) == 1 else
                  ' Segmenters: mean ±half-range over training seeds ' +
                  ', '.join(str(x) for x in seg_seeds) + '.')
    text = (f'{cfg.get("title", "WSSS")}; mIoU etc. in %; seeds and pseudo '
            f'masks scored on `{cfg.eval_split}` (its pixel labels also '
            'chose the background threshold, as the WSSS protocol does), '
            f'segmenters on `{seg.get("eval_split", "val")}`. Segmenter on '
            f'IRN masks / fully supervised: {fmt(ratio)} %{per_seed}.'
            f'{seeds_text} {res["seconds"]:.0f} s in all.\n\n'
            f'{make_table(res)}\n')
    if mars is not None:
        gain = (seg_mean['seg_mars'] - seg_mean['seg_irn']
                if seg_mean['seg_mars'] is not None and
                seg_mean['seg_irn'] is not None else None)
        res['mars'] = dict(
            target_share=share, biased_classes=list(mars.biased_classes),
            # the walk sweep's report at its best threshold scores exactly
            # the IRN masks written with that threshold
            before=class_rates(walk_res, mars.biased_classes),
            after=class_rates(mars_eval, mars.biased_classes),
            complemented=class_rates(co_eval, mars.biased_classes),
            segmenter_gain=gain)
        if len(seg_seeds) > 1:
            res['mars']['segmenter_gain_runs'] = [
                a['mIoU'] - b['mIoU'] for a, b in zip(m_mars, m_pseudo)]
        text += '\n' + mars_table(res['mars'])
    write_atomic(osp.join(work_dir, 'results.json'),
                 json.dumps(res, indent=2))
    write_atomic(osp.join(work_dir, 'results.md'), text)
    print('\n' + text, flush=True)
    return res


if __name__ == '__main__':
    main()
