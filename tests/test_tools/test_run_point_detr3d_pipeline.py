# Copyright (c) mmweak contributors.
"""tools/point_detr3d/run_pipeline.py end to end on a three-sample synthetic
nuScenes-layout set (2 train samples, 1 labelled, + 1 val sample) with every
model shrunk to an 8-channel, 64 x 64 pillar grid and one iteration: data,
split, LiDAR pre-training, fusion, teacher, pseudo labels, student, fully
supervised, results; then a run that reuses every stage, a run after the
student's ``finished`` flag is cleared (only the student runs again, resumed
from its checkpoint), and ``--from`` / ``--to``.

The tools run inside the test process (``MMWEAK_STAGE_INPROCESS=1``): the
commands are the same, mmdet3d is imported once instead of once per tool."""
import json
import os
import os.path as osp
import pickle
import re

import mmengine.config.config
import pytest
import torch

pytest.importorskip('mmdet3d')
pytest.importorskip('nuscenes')

from mmengine.logging import MMLogger  # noqa: E402

from mmweak.testing import (load_tool_script,  # noqa: E402
                            tiny_pillar_options)
from mmweak.utils.stage_pipeline import (INPROCESS_ENV,  # noqa: E402
                                         PipelineError)


STAGES = ['data', 'split', 'lidar_pretrain', 'fuse', 'teacher',
          'pseudo_label', 'student', 'full', 'evaluate']
CONFIGS = 'configs/point_detr3d/'
# the runner's training knobs: one epoch of batches of 2 (the teacher), one
# iteration of a batch of 2 (the students' iteration-based schedule)
TRAIN = {'train_cfg.max_epochs': 1, 'train_dataloader.batch_size': 2}
STUDENT_TRAIN = {'train_cfg.max_iters': 1, 'train_cfg.val_interval': 1,
                 'train_dataloader.batch_size': 2}
# one pass over the samples (no CBGS), for the CenterPoint models
ONE_PASS = {
    'train_dataloader.dataset.type': 'RepeatDataset',
    'train_dataloader.dataset.times': 1,
}
# every model shrunk to the tiny pillar grid (8 channels, 64 x 64; see
# mmweak.testing.tiny_pillar_options). The student: mmdet3d's Det3DDataset
# drops samples whose packed data_samples have no GT, and cannot read the
# two-view (MultiBranch) dict of samples
OPTIONS = dict(
    lidar_pretrain={**tiny_pillar_options('centerpoint'), **STUDENT_TRAIN,
                    **ONE_PASS},
    teacher={**tiny_pillar_options('point_detr3d'), **TRAIN},
    student={**tiny_pillar_options('two_view_centerpoint'),
             **STUDENT_TRAIN, **ONE_PASS},
    full={**tiny_pillar_options('centerpoint'), **STUDENT_TRAIN,
          **ONE_PASS})
TINY = """
_base_ = [{base!r}]
data_root = {root!r}
version = 'v1.0-mini'
generate = dict(args=['--num-samples-per-scene', 1, '--scenes', 'scene-0061',
                      'scene-0553', 'scene-0103', '--ground-points', 1500],
                max_sweeps=0)
split = dict(ratio=0.5)
"""


def _tiny_pipeline(tmp_path, repo_root) -> str:
    cfg = tmp_path / 'pipeline_tiny.py'
    text = TINY.format(
        base=osp.join(repo_root, CONFIGS, 'pipeline_synthetic-nus-r05.py'),
        root=str(tmp_path / 'nuscenes'))
    text += ''.join(f'{stage} = dict(options={options!r})\n'
                    for stage, options in OPTIONS.items())
    cfg.write_text(text)
    return str(cfg)


@pytest.fixture
def drop_new_loggers():
    """The in-process Runners leave MMLogger instances whose handlers write
    to this test's captured stdout: close them afterwards, so the later
    tests log to the logger that was current before."""
    before = set(MMLogger._instance_dict)
    yield
    for name in [n for n in MMLogger._instance_dict if n not in before]:
        logger = MMLogger._instance_dict.pop(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()


def _status(wd):
    return json.load(open(osp.join(wd, 'results.json')))['status']


def test_pipeline_runs_reuses_and_reruns_the_student(tmp_path, repo_root,
                                                     capsys, monkeypatch,
                                                     drop_new_loggers):
    monkeypatch.setenv(INPROCESS_ENV, '1')
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    # each Runner formats its config with yapf twice (log and dump, ~2 s
    # each here); the tools' output does not depend on that formatting
    monkeypatch.setattr(mmengine.config.config, 'FormatCode',
                        lambda text, **kwargs: (text, None))
    tool = load_tool_script(repo_root, 'tools/point_detr3d/run_pipeline.py')
    cfg = _tiny_pipeline(tmp_path, repo_root)
    wd = str(tmp_path / 'wd')

    # a stage before --from must have finished
    with pytest.raises(PipelineError, match='has not finished'):
        tool.main([cfg, '--work-dir', wd, '--from', 'teacher'])

    res = tool.main([cfg, '--work-dir', wd])
    out = out_first = capsys.readouterr().out
    assert res['status'] == {s: 'ran' for s in STAGES}
    assert [r['row'] for r in res['rows']] == [
        '50% boxes only', 'teacher', 'student', 'fully supervised']
    for row in res['rows']:
        assert 0.0 <= row['mAP'] <= 100.0 and 0.0 <= row['NDS'] <= 100.0
    assert res['split']['num_labelled'] == 1
    assert res['split']['num_point'] == 1
    # every command is printed; the data paths reach the stage configs
    split_dir = osp.join(wd, 'split')
    labelled = osp.join(split_dir, 'nuscenes_infos_train_r50_labelled.pkl')
    dbinfos = osp.join(split_dir, 'nuscenes_dbinfos_train_r50_labelled.pkl')
    merged = osp.join(wd, 'pseudo_label', 'nuscenes_infos_train_pseudo.pkl')
    fused = osp.join(wd, 'fuse', 'fused_init.pth')
    train_cmds = re.findall(r'\$ \S+ tools/train\.py (.*)', out)
    assert len(train_cmds) == 4
    box_cmd, teacher_cmd, student_cmd, full_cmd = train_cmds
    assert f'ann_file={labelled}' in box_cmd
    assert f'db_sampler.info_path={dbinfos}' in box_cmd
    assert f'load_from={fused}' in teacher_cmd
    assert f'ann_file={merged}' in student_cmd
    assert f'db_sampler.info_path={dbinfos}' in student_cmd
    assert osp.join(str(tmp_path), 'nuscenes', 'nuscenes_infos_train.pkl') \
        in full_cmd
    assert 'make_pseudo_labels.py' in out
    # the pipeline's seed and devkit version reach every trained stage
    assert res['training_seed'] == 0 and 'training seed 0' in out
    for cmd in train_cmds:
        assert 'randomness.seed=0' in cmd
        assert 'metainfo.version=v1.0-mini' in cmd
    # the student's pkl: the labelled sample's GT + the teacher's boxes
    with open(merged, 'rb') as f:
        infos = pickle.load(f)['data_list']
    assert [i.get('ann_type', 'box') for i in infos] == ['box', 'point']
    point_inst = infos[1]['instances']
    assert point_inst and all(i['is_pseudo'] for i in point_inst)
    assert not any(i.get('is_pseudo') for i in infos[0]['instances'])
    # the teacher started from the fused LiDAR weights
    init = torch.load(fused, map_location='cpu', weights_only=False)
    assert init['state_dict'] and all(
        k.startswith('pts_') and not k.startswith('pts_bbox_head.')
        for k in init['state_dict'])
    text = open(osp.join(wd, 'results.md')).read()
    assert 'NDS caveat' in text and '| student |' in text
    assert 'Student / fully supervised' in text
    saved = json.load(open(osp.join(wd, 'results.json')))
    assert saved['rows'] == json.loads(json.dumps(res['rows']))
    if osp.isfile(osp.join(repo_root,
                           'tools/point_detr3d/eval_pseudo_labels.py')):
        assert res['pseudo_label_eval'] is not None
        assert 0.0 <= res['pseudo_label_map'] <= 100.0
        assert 'eval_pseudo_labels.py' in out_first
    else:
        assert 'not scored' in text

    # nothing changed: every stage is reused, the figures are the same
    again = tool.main([cfg, '--work-dir', wd])
    out = capsys.readouterr().out
    assert out.count('reused (nothing changed)') == len(STAGES)
    assert '$ ' not in out
    assert again['rows'] == res['rows']

    # the student did not finish: only it runs again (resumed from its
    # checkpoint), the results it feeds are the same
    stamp = osp.join(wd, 'student', 'stage.json')
    state = json.load(open(stamp))
    state['finished'] = False
    json.dump(state, open(stamp, 'w'))
    third = tool.main([cfg, '--work-dir', wd])
    out = capsys.readouterr().out
    assert third['status'] == {
        s: 'resumed' if s == 'student' else 'reused' for s in STAGES}
    assert re.search(r'tools/train\.py \S+twoview\S+ .*--resume ', out)
    assert len(re.findall(r'\$ \S+ tools/\S+\.py', out)) == 2  # train+test
    assert _status(wd)['student'] == 'resumed'

    # --from / --to: the range only; the stages before --from are kept
    part = tool.main([cfg, '--work-dir', wd, '--from', 'fuse', '--to',
                      'teacher'])
    out = capsys.readouterr().out
    assert part is None
    assert re.search(r'\] data \(\d+ s elapsed\): kept \(before --from\)',
                     out)
    assert 'pseudo_label' in out and 'skipped (after --to)' in out


def test_option_and_metric_helpers(repo_root):
    tool = load_tool_script(repo_root, 'tools/point_detr3d/run_pipeline.py')
    # options given nested on the command line reach the tools dotted
    assert tool.flat_options({'train_cfg': {'max_epochs': 2}, 'a.b': [1],
                              'c': {}}) == {
        'train_cfg.max_epochs': 2, 'a.b': [1], 'c': {}}
    assert tool.flat_options(None) == {}
    metrics = {'NuScenes metric/pred_instances_3d_NuScenes/mAP': 0.25,
               'NuScenes metric/pred_instances_3d_NuScenes/NDS': 0.5,
               'NuScenes metric/pred_instances_3d_NuScenes/mAVE': 1.0,
               'NuScenes metric/pred_instances_3d_NuScenes/car_AP_dist_1.0':
               0.3}
    assert tool.nus_summary(metrics) == dict(mAP=25.0, NDS=50.0, mAVE=1.0)
    assert tool.pseudo_summary(dict(mean_ap=0.1, nd_score=0.2)) == dict(
        mAP=10.0, NDS=20.0)


def test_camera_pipeline_needs_its_image_checkpoint(tmp_path, repo_root):
    """The camera teacher's pipeline stops before the first stage when its
    FCOS3D checkpoint is unset or missing (no silent LiDAR-only fusion)."""
    tool = load_tool_script(repo_root, 'tools/point_detr3d/run_pipeline.py')
    cfg = osp.join(repo_root, CONFIGS, 'pipeline_pillar02-cam_nus-r05.py')
    wd = str(tmp_path / 'wd')
    with pytest.raises(FileNotFoundError, match='no such file'):
        tool.main([cfg, '--work-dir', wd, '--cfg-options',
                   f'fuse.image_checkpoint={tmp_path / "missing.pth"}'])
    with pytest.raises(ValueError, match='must name your FCOS3D'):
        tool.main([cfg, '--work-dir', wd, '--cfg-options',
                   'fuse.image_checkpoint=None'])
    assert not [d for d in os.listdir(wd)
                if osp.isdir(osp.join(wd, d))], 'no stage may have started'
    # the LiDAR-only pipeline needs none
    tool.check_image_checkpoint(tool.Config.fromfile(
        osp.join(repo_root, CONFIGS, 'pipeline_synthetic-nus-r05.py')))
