# Copyright (c) mmweak contributors.
"""Word vectors of DTMR's triads: matching inputs and frozen reconstruction
targets (Sun et al., TPAMI 2021, arXiv 2106.04053, section 3)."""
import json
import os.path as osp
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmweak.datasets.triad_parser import COCO_CATEGORY_NAMES, NONE_RELATION
from mmweak.registry import MODELS

SPECIAL_WORDS = ('<pad>', '<unk>', NONE_RELATION)


def load_vocab(vocab: Union[str, Sequence[str]]) -> List[str]:
    """A word list from a JSON list file (or the list itself), with the
    special words and every word of the 80 COCO category names added."""
    if isinstance(vocab, str):
        if not osp.isfile(vocab):
            raise FileNotFoundError(f'vocabulary file {vocab} not found (make '
                                    'it with tools/dtmr/'
                                    'build_vocab_and_triads.py)')
        with open(vocab) as f:
            words = json.load(f)
        if not isinstance(words, list):
            raise ValueError(f'{vocab}: expected a JSON list of words')
    else:
        words = list(vocab)
    seen = dict.fromkeys(SPECIAL_WORDS)
    for w in list(words) + [p for n in COCO_CATEGORY_NAMES
                            for p in n.split()]:
        seen.setdefault(str(w).lower(), None)
    return list(seen)


def _read_vectors(file: str, vocab_file: Optional[str], words: List[str],
                  dim: int) -> dict:
    """``{word: vector}`` for the vocabulary words found in a GloVe text
    file, or in a ``.npy`` matrix with its vocab JSON."""
    if not osp.isfile(file):
        raise FileNotFoundError(f'word vector file {file} not found')
    wanted, found = set(words), {}
    if file.endswith('.npy'):
        if vocab_file is None or not osp.isfile(vocab_file):
            raise FileNotFoundError(
                f'{file}: a .npy matrix needs its vocab JSON (vocab_file='
                f'{vocab_file!r} not found)')
        mat = np.load(file)
        with open(vocab_file) as f:
            names = json.load(f)
        if mat.ndim != 2 or mat.shape != (len(names), dim):
            raise ValueError(f'{file}: shape {mat.shape} does not match '
                             f'{len(names)} words of {vocab_file} x dim '
                             f'{dim}')
        for i, w in enumerate(names):
            if w in wanted:
                found[w] = mat[i]
        return found
    with open(file, encoding='utf8') as f:
        for lineno, line in enumerate(f, 1):
            parts = line.rstrip().split(' ')
            if parts[0] not in wanted:
                continue
            if len(parts) != dim + 1:
                raise ValueError(f'{file}:{lineno}: {len(parts) - 1} values, '
                                 f'expected dim={dim}')
            found[parts[0]] = np.asarray(parts[1:], dtype=np.float32)
    return found


@MODELS.register_module()
class WordEmbedding(BaseModule):
    """Word vectors with a trainable matching copy and a frozen target copy.

    DTMR uses the same word vectors as matching queries and as the MSE
    reconstruction targets (TPAMI 2021, eqs. 9-11). Training the targets
    would let them collapse (all vectors to zero gives zero loss), so the
    targets are a **buffer** that no optimiser sees; only the matching
    copy (``inputs``) may train.

    ``init='file'`` loads GloVe text (``word v1 ... vD`` per line) or a
    ``.npy`` matrix with its vocab JSON; words missing from the file get
    seeded Gaussian vectors scaled to the file's mean norm. ``init='random'``
    draws seeded Gaussian vectors of unit RMS ("learned from scratch"). No
    download ever happens.

    Multi-word COCO categories ("traffic light") are the mean of their word
    vectors (:meth:`phrase`).

    Args:
        vocab (str | Sequence[str]): JSON list file of words, or the list;
            ``<pad>``, ``<unk>``, ``<none>`` and the COCO category words are
            always added.
        dim (int): Vector size. Defaults to 300.
        init (str): ``'random'`` or ``'file'``. Defaults to 'random'.
        file (str, optional): GloVe text or ``.npy`` file (``init='file'``).
        vocab_file (str, optional): The word list of a ``.npy`` file.
        trainable_inputs (bool, optional): Train the matching copy. Defaults
            to None: True for ``'random'``, False for ``'file'``.
        seed (int): Seed of the random vectors. Defaults to 0.
    """

    def __init__(self,
                 vocab: Union[str, Sequence[str]],
                 dim: int = 300,
                 init: str = 'random',
                 file: Optional[str] = None,
                 vocab_file: Optional[str] = None,
                 trainable_inputs: Optional[bool] = None,
                 seed: int = 0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if init not in ('random', 'file'):
            raise ValueError(f"init must be 'random' or 'file', got {init!r}")
        self.words = load_vocab(vocab)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.dim = dim
        self.init = init
        gen = torch.Generator().manual_seed(seed)
        table = torch.randn(len(self.words), dim, generator=gen)
        if init == 'file':
            if file is None:
                raise ValueError("WordEmbedding(init='file') needs `file`")
            found = _read_vectors(file, vocab_file, self.words, dim)
            if not found:
                raise ValueError(f'{file}: none of the {len(self.words)} '
                                 'vocabulary words is in the file')
            mean_norm = float(np.mean([np.linalg.norm(v)
                                       for v in found.values()]))
            table = table / table.norm(dim=1, keepdim=True) * mean_norm
            for w, v in found.items():
                table[self.index[w]] = torch.as_tensor(v, dtype=torch.float32)
        table[self.index['<pad>']] = 0
        if trainable_inputs is None:
            trainable_inputs = init == 'random'
        self.inputs = nn.Embedding.from_pretrained(
            table.clone(), freeze=not trainable_inputs)
        self.register_buffer('targets', table.clone())
        # word ids of the category names (padded with <pad>) for phrases
        cat_ids = [[self.index[p] for p in n.split()]
                   for n in COCO_CATEGORY_NAMES]
        width = max(len(c) for c in cat_ids)
        self.category_index = {n: i for i, n in enumerate(COCO_CATEGORY_NAMES)}
        self.register_buffer(
            'category_words',
            torch.tensor([c + [0] * (width - len(c)) for c in cat_ids]),
            persistent=False)

    def init_weights(self) -> None:
        """The tables are set in ``__init__``; nothing to re-initialise."""

    def ids(self, words: Sequence[str]) -> torch.Tensor:
        """Vocabulary ids of words (``<unk>`` for unknown ones)."""
        unk = self.index['<unk>']
        return torch.tensor([self.index.get(w, unk) for w in words],
                            dtype=torch.long,
                            device=self.targets.device)

    def phrase(self, word_ids: torch.Tensor, target: bool = False
               ) -> torch.Tensor:
        """Mean vector of padded word ids (..., L) -> (..., dim)."""
        vec = F.embedding(word_ids, self.targets) if target else \
            self.inputs(word_ids)
        mask = (word_ids != self.index['<pad>']).unsqueeze(-1).float()
        return (vec * mask).sum(-2) / mask.sum(-2).clamp(min=1)

    def category_vectors(self, target: bool = False) -> torch.Tensor:
        """(80, dim) vectors of the COCO category names."""
        return self.phrase(self.category_words, target)

    def nearest_category(self, word_ids: torch.Tensor) -> torch.Tensor:
        """Index of the most cosine-similar COCO category (frozen vectors;
        meaningful with ``init='file'``)."""
        words = F.normalize(F.embedding(word_ids, self.targets), dim=-1)
        cats = F.normalize(self.category_vectors(target=True), dim=-1)
        return (words @ cats.t()).argmax(-1)
