# Copyright (c) mmweak contributors.
"""A tiny end-to-end WSSS run through tools/wsss/run_pipeline.py: synthetic
VOC-layout data, Stage A, CAMs, seed sweep, CRF and IRN pseudo masks, two
MARS debiasing of the IRN masks, two Stage C iterations of the pseudo-mask,
MARS and fully supervised segmenters; then a second run that reuses every
stage."""
import json
import os.path as osp
import re

import pytest

from mmweak.testing import load_tool_script


def _tiny_pipeline(tmp_path, repo_root) -> str:
    out = tmp_path / 'svoc'
    cfg = tmp_path / 'pipeline_tiny.py'
    base = osp.join(repo_root, 'configs', 'wsss', 'pipeline_synthetic-voc.py')
    cfg.write_text(f"""
_base_ = [{base!r}]
synthetic = dict(out_dir={str(out)!r}, seed=0, args=[
    '--num-train', '4', '--num-aug', '2', '--num-val', '2',
    '--width-range', '48', '56', '--height-range', '40', '48'])
data_root = {str(out / 'VOCdevkit' / 'VOC2012')!r}
workers = 1
stage_a = dict(options={{'train_cfg.max_epochs': 1,
                         'train_dataloader.batch_size': 2,
                         'train_dataloader.num_workers': 0}})
cams = dict(args=['--scales', '1.0', '0.5'])
seed_eval = dict(thresholds=(0.1, 0.5, 0.1))
irn = dict(options={{'train_cfg.max_epochs': 1,
                     'train_dataloader.batch_size': 2,
                     'train_dataloader.num_workers': 0}})
_seg = {{'train_cfg.max_iters': 2, 'train_cfg.val_interval': 2,
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0}}
segmenter = dict(options=_seg)
mars = dict(options={{'kmeans_iters': 5, 'crf': None}},
            segmenter_options=_seg)
""")
    return str(cfg)


@pytest.mark.heavy
def test_pipeline_runs_every_stage_then_reuses_them(tmp_path, repo_root,
                                                    capsys):
    tool = load_tool_script(repo_root, 'tools/wsss/run_pipeline.py')
    cfg = _tiny_pipeline(tmp_path, repo_root)
    wd = str(tmp_path / 'wd')
    res = tool.main([cfg, '--work-dir', wd])
    artefacts = [r['artefact'] for r in res['rows']]
    assert artefacts == [
        'CAM seeds', 'CRF masks (psa)', 'IRN masks', 'IRN masks + MARS',
        'IRN masks + MARS, 254 filled by the MARS segmenter',
        'segmenter on IRN masks', 'MARS segmenter on IRN masks + MARS',
        'segmenter on GT masks (upper bound)']
    for row in res['rows']:
        assert row['miou'] is None or 0.0 <= row['miou'] <= 100.0
    # the background thresholds come from the train-split sweeps
    assert res['bg_thr'] in (0.1, 0.2, 0.3, 0.4, 0.5)
    walk_thr = res['rows'][2]['bg_thr']
    assert 0.05 <= walk_thr <= 0.95 and walk_thr == json.load(open(osp.join(
        wd, 'irn_walk_eval', 'seed_eval.json')))['best_thr']
    ids = open(osp.join(tmp_path, 'svoc', 'VOCdevkit', 'VOC2012',
                        'ImageSets', 'Segmentation', 'trainaug.txt')).read()
    for img_id in ids.split():
        for stage in ('cams/cams', 'masks_crf/masks', 'irn_walk/maps',
                      'masks_irn/masks', 'mars/labels',
                      'mars_complement/complemented'):
            ext = '.npy' if stage.endswith(('cams', 'maps')) else '.png'
            assert osp.isfile(osp.join(wd, stage, img_id + ext))
    with open(osp.join(wd, 'results.json')) as f:
        assert json.load(f)['rows'] == json.loads(json.dumps(res['rows']))
    text = open(osp.join(wd, 'results.md')).read()
    assert 'IRN masks' in text and '| boat | + MARS |' in text
    mars = res['mars']
    assert mars['biased_classes'] == ['boat', 'train']
    assert set(mars['before']) >= {'boat', 'train'}
    assert mars['after']['boat'].keys() == mars['before']['boat'].keys()
    assert mars['complemented']['boat'].keys() == mars['before'][
        'boat'].keys()
    assert '| boat | + MARS, 254 filled by the segmenter |' in text
    assert mars['target_share'] is None or 0 <= mars['target_share'] <= 100
    # the MARS segmenter trained on the debiased labels with the tags
    seg_log = open(osp.join(wd, 'seg_mars', 'stage.log')).read()
    assert osp.join(wd, 'mars', 'labels') in seg_log
    assert osp.join(wd, 'tags', 'cls_labels.json') in seg_log
    # the complemented labels: the debiased labels with no 254 left, the
    # other pixels unchanged
    import numpy as np
    from PIL import Image
    for img_id in ids.split():
        db = np.asarray(Image.open(osp.join(wd, 'mars', 'labels',
                                            img_id + '.png')))
        co = np.asarray(Image.open(osp.join(wd, 'mars_complement',
                                            'complemented', img_id + '.png')))
        assert not (co == 254).any()
        np.testing.assert_array_equal(co[db != 254], db[db != 254])
    capsys.readouterr()

    # nothing changed: every stage is reused, the figures are the same
    again = tool.main([cfg, '--work-dir', wd])
    out = capsys.readouterr().out
    assert out.count('reused (nothing changed)') == 19
    assert [r.get('miou') for r in again['rows']] == [
        r.get('miou') for r in res['rows']]

    # more segmenter seeds (MARS left out to keep the test short): the
    # earlier stages and seed 0 are reused, each segmenter trains once more
    # with the seed, the table shows mean and half-range
    capsys.readouterr()
    seeds = tool.main([cfg, '--work-dir', wd, '--cfg-options',
                       'segmenter.seeds=[0,1]', 'mars=None'])
    out = capsys.readouterr().out
    assert out.count('reused (nothing changed)') == 13
    for name in ('seg_irn_seed1', 'seg_full_seed1'):
        seed_log = open(osp.join(wd, name, 'stage.log')).read()
        # the config dump of the training names the seed
        assert re.search(r'randomness = dict\(.*seed=1\b', seed_log)
    assert not osp.exists(osp.join(wd, 'seg_mars_seed1'))
    seg_rows = [r for r in seeds['rows'] if r['stage'] == 'C']
    assert [r['artefact'] for r in seg_rows] == [
        'segmenter on IRN masks', 'segmenter on GT masks (upper bound)']
    for before, row in zip([res['rows'][5], res['rows'][7]], seg_rows):
        assert len(row['miou_runs']) == 2
        assert row['miou_runs'][0] == before['miou']
        if None not in row['miou_runs']:
            assert row['miou'] == pytest.approx(sum(row['miou_runs']) / 2)
    assert len(seeds['pseudo_over_full_runs']) == 2
    assert 'training seeds 0, 1' in open(osp.join(wd, 'results.md')).read()
