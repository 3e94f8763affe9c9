# Copyright (c) mmweak contributors.
"""tools/analysis_tools/eval_wsol_maps.py on a tiny SyntheticWSOL split."""
import json
import os.path as osp

import numpy as np
import pytest

from mmweak.registry import DATASETS
from mmweak.testing import load_tool_script

DATASET = dict(type='SyntheticWSOL',
               num_classes=4,
               num_samples=6,
               img_size=32,
               split='test',
               pipeline=[dict(type='PackWSOLInputs')])


@pytest.fixture(scope='module')
def tool(repo_root):
    return load_tool_script(repo_root,
                            'tools/analysis_tools/eval_wsol_maps.py')


@pytest.fixture()
def setup(tmp_path):
    config = tmp_path / 'synthetic_cfg.py'
    config.write_text(f"default_scope = 'mmweak'\n"
                      f'test_dataloader = dict(dataset={DATASET!r})\n')
    dataset = DATASETS.build(DATASET)
    samples = [dataset[i]['data_samples'] for i in range(len(dataset))]
    stems = [osp.splitext(osp.basename(s.img_path))[0] for s in samples]
    # perfect maps: the GT masks themselves
    maps = {
        stem: s.gt_mask.numpy().astype(np.float32)
        for stem, s in zip(stems, samples)
    }
    labels = [int(s.gt_label) for s in samples]
    return str(config), maps, stems, labels


def test_perfect_npy_maps_score_full_localization(tool, setup, tmp_path):
    config, maps, _, _ = setup
    map_dir = tmp_path / 'maps'
    map_dir.mkdir()
    for stem, score in maps.items():
        np.save(map_dir / f'{stem}.npy', score)
    out = tmp_path / 'metrics.json'
    metrics = tool.main([config, str(map_dir), '--out', str(out)])
    assert metrics['wsol/gt_known_loc'] == 100.
    # paper preset (default): fixed-tau BoxAcc, no MaxBoxAccV2
    assert metrics['wsol/boxacc_iou50'] == 100.
    assert 'wsol/maxboxacc_v2_iou50' not in metrics
    assert metrics['wsol/pxap'] == pytest.approx(100.)
    # no scores given: class-dependent metrics are not reported
    assert 'wsol/top1_cls' not in metrics and 'wsol/top1_loc' not in metrics
    saved = json.loads(out.read_text())
    assert saved['metrics'] == metrics and saved['preset'] == 'paper'


def test_npz_maps_with_scores_report_classification(tool, setup, tmp_path):
    config, maps, stems, labels = setup
    archive = tmp_path / 'maps.npz'
    np.savez(archive, **maps)
    scores = {}
    for i, (stem, label) in enumerate(zip(stems, labels)):
        vector = np.full(4, 0.1, dtype=np.float32)
        # the first two images are classified wrongly
        vector[(label + 1) % 4 if i < 2 else label] = 0.7
        scores[stem] = vector
    np.savez(tmp_path / 'scores.npz', **scores)
    metrics = tool.main([
        config,
        str(archive), '--scores',
        str(tmp_path / 'scores.npz'), '--preset', 'choe'
    ])
    assert metrics['wsol/top1_cls'] == pytest.approx(100 * 4 / 6)
    assert metrics['wsol/top1_loc'] == pytest.approx(100 * 4 / 6)
    assert metrics['wsol/top5_cls'] == 100.
    assert 'wsol/maxboxacc' in metrics


def test_missing_map_names_the_image(tool, setup, tmp_path):
    config, maps, stems, _ = setup
    map_dir = tmp_path / 'maps'
    map_dir.mkdir()
    for stem in stems[1:]:
        np.save(map_dir / f'{stem}.npy', maps[stem])
    with pytest.raises(FileNotFoundError, match=stems[0]):
        tool.main([config, str(map_dir)])


def test_raw_maps_need_normalize(tool, setup, tmp_path):
    config, maps, _, _ = setup
    archive = tmp_path / 'raw.npz'
    np.savez(archive, **{k: v * 7. + 3. for k, v in maps.items()})
    with pytest.raises(ValueError, match='--normalize'):
        tool.main([config, str(archive)])
    metrics = tool.main([config, str(archive), '--normalize'])
    assert metrics['wsol/gt_known_loc'] == 100.
