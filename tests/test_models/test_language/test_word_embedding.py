# Copyright (c) mmweak contributors.
"""WordEmbedding: seeded random vectors, GloVe text and .npy loading with
norm-matched fill-in, and reconstruction targets that no optimiser step
changes while the matching copy trains."""
import json

import numpy as np
import pytest
import torch

from mmweak.models.language import WordEmbedding


def test_random_is_seeded_and_has_specials_and_categories():
    a = WordEmbedding(['man', 'left'], dim=8, seed=3)
    b = WordEmbedding(['man', 'left'], dim=8, seed=3)
    assert torch.equal(a.targets, b.targets)
    assert {'<pad>', '<unk>', '<none>', 'traffic', 'light'} <= set(a.words)
    assert a.ids(['man', 'zebra-ish'])[1] == a.index['<unk>']
    cats = a.category_vectors(target=True)
    tl = a.category_index['traffic light']
    want = (a.targets[a.index['traffic']] + a.targets[a.index['light']]) / 2
    torch.testing.assert_close(cats[tl], want)


def test_targets_stay_frozen_after_an_optimiser_step():
    emb = WordEmbedding(['man', 'left', 'car'], dim=8)
    assert emb.inputs.weight.requires_grad
    assert all(p is not emb.targets for p in emb.parameters())
    before_t = emb.targets.clone()
    before_i = emb.inputs.weight.detach().clone()
    opt = torch.optim.Adam(emb.parameters(), lr=0.1)
    ids = emb.ids(['man', 'left'])
    loss = ((emb.inputs(ids) - torch.nn.functional.embedding(
        ids, emb.targets) - 1)**2).mean()
    loss.backward()
    opt.step()
    assert torch.equal(emb.targets, before_t)
    assert not torch.equal(emb.inputs.weight.detach(), before_i)


def test_glove_text_and_npy(tmp_path):
    glove = tmp_path / 'glove.txt'
    glove.write_text('man 1 0 0 0\nleft 0 2 0 0\nunused 9 9 9 9\n')
    emb = WordEmbedding(['man', 'left', 'car'], dim=4, init='file',
                        file=str(glove))
    assert not emb.inputs.weight.requires_grad  # frozen by default
    torch.testing.assert_close(emb.targets[emb.index['left']],
                               torch.tensor([0., 2., 0., 0.]))
    # a missing word gets the file's mean norm (1.5)
    assert float(emb.targets[emb.index['car']].norm()) == pytest.approx(1.5)
    np.save(tmp_path / 'm.npy', np.eye(2, 4, dtype=np.float32))
    (tmp_path / 'm.json').write_text(json.dumps(['man', 'left']))
    emb2 = WordEmbedding(['man', 'left'], dim=4, init='file',
                         file=str(tmp_path / 'm.npy'),
                         vocab_file=str(tmp_path / 'm.json'))
    torch.testing.assert_close(emb2.targets[emb2.index['left']],
                               torch.tensor([0., 1., 0., 0.]))
    with pytest.raises(ValueError, match='dim=5'):
        WordEmbedding(['man'], dim=5, init='file', file=str(glove))
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        WordEmbedding(['man'], dim=4, init='file', file='nope.txt')


def test_vocab_file_missing_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='vocab.json'):
        WordEmbedding(str(tmp_path / 'vocab.json'), dim=4)
