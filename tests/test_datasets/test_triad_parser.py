# Copyright (c) mmweak contributors.
"""TriadParser: the rule backend's fallbacks (object := subject, no relation
-> <none>), relations found after the subject, the file backend and the
COCO synonym mapping."""
import json

import pytest

from mmweak.datasets import (NONE_RELATION, TriadParser,
                             map_to_coco_category)


@pytest.mark.parametrize('sentence,triad', [
    ('left man', ('man', 'left', 'man')),
    ('man', ('man', NONE_RELATION, 'man')),
    ('the man', ('man', NONE_RELATION, 'man')),
    ('man to the left of the car', ('man', 'left', 'car')),
    ('white car above a dog', ('car', 'above', 'dog')),
    ('biggest dog', ('dog', 'biggest', 'dog')),
    ('red car', ('car', 'red', 'car')),
    ('woman holding umbrella', ('woman', 'holding', 'umbrella')),
])
def test_rule_backend(sentence, triad):
    assert TriadParser('rule')(sentence.split()) == triad


def test_file_backend(tmp_path):
    path = tmp_path / 'triads.json'
    path.write_text(json.dumps(
        {'7': dict(subject='guy', relation='near', object='bus')}))
    parser = TriadParser('file', file=str(path))
    assert parser(['anything'], 7) == ('guy', 'near', 'bus')
    with pytest.raises(KeyError, match='sentence 8'):
        parser(['left', 'man'], 8)
    fallback = TriadParser('file', file=str(path), fallback=True)
    assert fallback(['left', 'man'], 8) == ('man', 'left', 'man')
    with pytest.raises(FileNotFoundError, match='missing.json'):
        TriadParser('file', file=str(tmp_path / 'missing.json'))
    path.write_text(json.dumps({'1': {'subject': 'x'}}))
    with pytest.raises(ValueError, match='triads.json'):
        TriadParser('file', file=str(path))


def test_category_synonyms():
    assert map_to_coco_category('guy') == 'person'
    assert map_to_coco_category('puppy') == 'dog'
    assert map_to_coco_category('light') == 'traffic light'
    assert map_to_coco_category('blorp') is None
