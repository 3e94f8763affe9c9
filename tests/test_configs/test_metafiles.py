# Copyright (c) mmweak contributors.
"""The model index: every method folder has a README and a metafile that
model_index.yml imports, and every metafile entry points at a real config."""
import glob
import os.path as osp

import pytest
import yaml

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METHODS = sorted(
    osp.basename(osp.dirname(p))
    for p in glob.glob(osp.join(ROOT, 'configs', '*', ''))
    if osp.basename(osp.dirname(p)) != '_base_')


def _load(path):
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f)


def test_model_index_imports_every_method_metafile():
    index = _load(osp.join(ROOT, 'model_index.yml'))
    expected = {f'configs/{m}/metafile.yml' for m in METHODS}
    assert set(index['Import']) == expected
    for rel in index['Import']:
        assert osp.isfile(osp.join(ROOT, rel)), rel


@pytest.mark.parametrize('method', METHODS)
def test_metafile_entries_point_at_configs(method):
    folder = osp.join(ROOT, 'configs', method)
    assert osp.isfile(osp.join(folder, 'README.md'))
    meta = _load(osp.join(folder, 'metafile.yml'))
    collections = {c['Name'] for c in meta['Collections']}
    names = [m['Name'] for m in meta['Models']]
    assert len(names) == len(set(names)), f'duplicate model names: {names}'
    for model in meta['Models']:
        where = f'{method}/metafile.yml: {model["Name"]}'
        assert model['In Collection'] in collections, where
        config = model['Config']
        assert config.startswith(f'configs/{method}/'), where
        assert osp.isfile(osp.join(ROOT, config)), where
        assert model['Name'] == osp.splitext(osp.basename(config))[0], where
        for result in model.get('Results') or []:
            assert {'Task', 'Dataset', 'Metrics'} <= set(result), where
            assert all(isinstance(v, (int, float))
                       for v in result['Metrics'].values()), where
