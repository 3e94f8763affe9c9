# Copyright (c) mmweak contributors.
"""The model index: every method folder has a README and a metafile that
model_index.yml imports, every metafile entry points at a real config, and
`Results` hold only figures mmweak measured with the config named (the
papers' figures are quoted in the method READMEs, never in the index)."""
import glob
import os.path as osp
import re

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


# `Source: measured by mmweak (<command>; <protocol notes>)`; the command is
# a `make` target or a script (`tools/...py`).
MEASURED = re.compile(r'^measured by mmweak \((?P<how>.+)\)$', re.S)


@pytest.mark.parametrize('method', METHODS)
def test_metafile_results_are_measured_by_mmweak(method):
    meta = _load(osp.join(ROOT, 'configs', method, 'metafile.yml'))
    for model in meta['Models']:
        where = f'{method}/metafile.yml: {model["Name"]}'
        if 'Results' not in model:
            continue  # a model without results is a valid index entry
        results = model['Results']
        assert isinstance(results, list) and results, (
            f'{where}: drop the empty Results key instead')
        assert osp.isfile(osp.join(ROOT, model['Config'])), where
        for result in results:
            source = result.get('Source')
            assert isinstance(source, str), (
                f'{where}: every result needs a Source naming how mmweak '
                'measured it')
            source = ' '.join(source.split())
            assert 'quoted' not in source.lower(), (
                f'{where}: quoted figures belong in the README, not in '
                f'Results ({source!r})')
            match = MEASURED.match(source)
            assert match, f'{where}: Source {source!r} is not "measured by ' \
                'mmweak (<command>; ...)"'
            how = match.group('how')
            assert 'make ' in how or '.py' in how, (
                f'{where}: Source {source!r} names no command')


def test_model_index_reader_accepts_models_without_results():
    """The reader of mim (`mim search`) and mmpretrain's ModelHub."""
    modelindex = pytest.importorskip('modelindex.load_model_index')
    index = modelindex.load(osp.join(ROOT, 'model_index.yml'))
    index.build_models_with_collections()
    expected = {
        m['Name']
        for method in METHODS
        for m in _load(osp.join(ROOT, 'configs', method, 'metafile.yml'))
        ['Models']
    }
    assert {m.name for m in index.models} == expected
    assert any(m.results is None for m in index.models)
    for model in index.models:
        for result in model.results or []:
            assert result.task and result.dataset and result.metrics, \
                model.name
