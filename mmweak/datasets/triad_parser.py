# Copyright (c) mmweak contributors.
"""Triads (subject, relation, object) of referring expressions and the COCO
category mapping of their subjects (DTMR, Sun et al., TPAMI 2021,
arXiv 2106.04053, section 3.1).

The parser runs in the data pipeline (the dataset calls it once per
sentence while it loads the refs), so a triad is plain words by the time a
batch reaches the model: the model only looks the words up in its
vocabulary. That keeps ``datasets`` free of ``models`` imports.
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from .coco_wsss import COCO_WSSS_CLASSES

#: The word used when a sentence has no relation (spec section 3).
NONE_RELATION = '<none>'

#: The 80 COCO thing names in category-id order.
COCO_CATEGORY_NAMES: Tuple[str, ...] = COCO_WSSS_CLASSES[1:]

#: Built-in synonym table: head nouns of referring expressions -> COCO name.
#: Used when the word vectors carry no meaning (``init='random'``).
COCO_SYNONYMS: Dict[str, str] = {
    **{w: 'person' for w in (
        'man', 'men', 'woman', 'women', 'guy', 'guys', 'boy', 'girl', 'lady',
        'kid', 'child', 'person', 'people', 'player', 'batter', 'catcher',
        'umpire', 'skier', 'surfer', 'baby', 'dude', 'gentleman', 'mom',
        'dad', 'he', 'she', 'someone', 'adult', 'teen', 'chef')},
    **{w: 'car' for w in ('car', 'cars', 'auto', 'sedan', 'vehicle', 'suv',
                          'taxi', 'van')},
    **{w: 'dog' for w in ('dog', 'dogs', 'puppy', 'pup')},
    **{w: 'cat' for w in ('cat', 'cats', 'kitten', 'kitty')},
    **{w: 'bottle' for w in ('bottle', 'bottles', 'jar')},
    **{w: 'chair' for w in ('chair', 'chairs', 'seat', 'stool')},
    **{w: 'couch' for w in ('couch', 'sofa')},
    **{w: 'tv' for w in ('tv', 'television', 'monitor', 'screen')},
    **{w: 'motorcycle' for w in ('motorcycle', 'motorbike', 'bike')},
    **{w: 'airplane' for w in ('airplane', 'plane', 'jet')},
    **{w: 'dining table' for w in ('table', 'desk')},
    **{w: 'cell phone' for w in ('phone', 'cellphone')},
    **{w: 'potted plant' for w in ('plant', 'plants')},
    **{w: 'donut' for w in ('donut', 'doughnut')},
    **{w: 'sheep' for w in ('sheep', 'lamb')},
    **{w: 'cow' for w in ('cow', 'cows', 'bull', 'calf')},
    **{w: 'horse' for w in ('horse', 'horses', 'pony')},
    **{w: 'elephant' for w in ('elephant', 'elephants')},
    **{w: 'teddy bear' for w in ('teddy', )},
}
for _name in COCO_CATEGORY_NAMES:
    COCO_SYNONYMS.setdefault(_name, _name)
    COCO_SYNONYMS.setdefault(_name.split()[-1], _name)

STOPWORDS = frozenset((
    'a', 'an', 'the', 'this', 'that', 'these', 'those', 'of', 'to', 'is',
    'are', 'and', 'or', 'its', 'his', 'her', 'their', 'it', 'one', 'ones',
    'who', 'which', 'at', 'from', 'side', 'most', 'very', 'very', 'just',
    'thing', 'guy\'s', 's', 'part', 'some', 'any', 'picture', 'pic', 'image',
    'photo', 'not', 'only', 'first', 'second', 'third', 'other', 'two',
    'three', 'far'))
COLOR_WORDS = frozenset((
    'red', 'green', 'blue', 'yellow', 'orange', 'purple', 'pink', 'brown',
    'black', 'white', 'gray', 'grey', 'dark', 'light', 'silver', 'gold',
    'tan', 'beige'))
SIZE_WORDS = frozenset((
    'big', 'bigger', 'biggest', 'large', 'larger', 'largest', 'small',
    'smaller', 'smallest', 'tiny', 'tiniest', 'tall', 'taller', 'tallest',
    'short', 'shorter', 'shortest', 'little', 'huge', 'long'))
#: Relation lexicon of the rule backend (spec section 3).
RELATION_WORDS = frozenset((
    'left', 'right', 'top', 'bottom', 'middle', 'center', 'front', 'back',
    'behind', 'near', 'next', 'closest', 'nearest', 'closer', 'farthest',
    'above', 'below', 'under', 'on', 'in', 'with', 'holding', 'wearing', 'by',
    'beside', 'between'))
#: Location words (the ones looked up anywhere in the sentence).
LOCATION_WORDS = frozenset((
    'left', 'right', 'top', 'bottom', 'middle', 'center', 'front', 'back',
    'behind', 'closest', 'nearest', 'closer', 'farthest', 'higher', 'lower',
    'above', 'below', 'under', 'upper', 'leftmost', 'rightmost'))

Triad = Tuple[str, str, str]


def map_to_coco_category(word: str) -> Optional[str]:
    """The COCO category name of a head noun via the synonym table (None if
    the word is not in it)."""
    return COCO_SYNONYMS.get(word.lower())


class TriadParser:
    """Sentence -> (subject, relation, object) triad.

    Backends:

    - ``'rule'`` (no dependencies): an approximation of the reference's
      rules on ``refer-parser2`` output, applied to the lower-cased tokens.
      Subject: the first token that is not a stopword, colour, size or
      location word. Relation: the first relation-lexicon word after the
      subject; else a location word anywhere; else a colour, then a size
      word; else ``'<none>'``. Object: the first noun-like token after the
      relation; else the subject ("left man" -> (man, left, man)).
    - ``'file'``: a JSON ``{sent_id: {"subject", "relation", "object"}}``
      (converted ``refer-parser2`` output or human triads); sentences missing
      from the file fall back to the rule backend when ``fallback=True``.
    - ``'spacy'`` (optional): the head noun of the dependency parse as the
      subject, its first preposition as the relation and that preposition's
      object; needs spaCy and ``spacy_model`` installed. Never required.

    Args:
        backend (str): ``'rule'`` (default), ``'file'`` or ``'spacy'``.
        file (str, optional): The triads JSON of the ``file`` backend.
        fallback (bool): ``file`` backend: parse sentences missing from the
            file with the rules instead of raising. Defaults to False.
        spacy_model (str): spaCy model name. Defaults to 'en_core_web_sm'.
    """

    def __init__(self,
                 backend: str = 'rule',
                 file: Optional[str] = None,
                 fallback: bool = False,
                 spacy_model: str = 'en_core_web_sm') -> None:
        if backend not in ('rule', 'file', 'spacy'):
            raise ValueError(f"TriadParser backend must be 'rule', 'file' or "
                             f"'spacy', got {backend!r}")
        self.backend = backend
        self.fallback = fallback
        self.table: Dict[str, Triad] = {}
        self._nlp = None
        if backend == 'file':
            if file is None or not osp.isfile(file):
                raise FileNotFoundError(
                    f'TriadParser(backend="file"): triads file {file!r} not '
                    'found')
            with open(file) as f:
                raw = json.load(f)
            for sent_id, t in raw.items():
                try:
                    self.table[str(sent_id)] = (str(t['subject']),
                                                str(t['relation']),
                                                str(t['object']))
                except (KeyError, TypeError) as e:
                    raise ValueError(
                        f'{file}: entry {sent_id!r} needs "subject", '
                        f'"relation" and "object", got {t!r}') from e
        elif backend == 'spacy':
            try:
                import spacy
            except ImportError as e:  # pragma: no cover - optional
                raise ImportError('TriadParser(backend="spacy") needs spaCy '
                                  '(pip install spacy)') from e
            self._nlp = spacy.load(spacy_model)  # pragma: no cover

    def __call__(self,
                 tokens: Sequence[str],
                 sent_id: Optional[int] = None) -> Triad:
        """Parse one sentence given as tokens (``sent_id`` for ``file``)."""
        if self.backend == 'file':
            triad = self.table.get(str(sent_id))
            if triad is not None:
                return triad
            if not self.fallback:
                raise KeyError(f'sentence {sent_id} has no triad in the '
                               'triads file (set fallback=True to parse it '
                               'with the rules)')
        elif self.backend == 'spacy':  # pragma: no cover - optional
            return self._parse_spacy(tokens)
        return parse_triad_rules(tokens)

    def _parse_spacy(self, tokens: Sequence[str]) -> Triad:  # pragma: no cover
        doc = self._nlp(' '.join(tokens))
        root = next((t for t in doc if t.dep_ == 'ROOT'), None)
        if root is None or root.pos_ not in ('NOUN', 'PROPN', 'PRON'):
            return parse_triad_rules(tokens)
        subject = root.text.lower()
        relation, obj = NONE_RELATION, subject
        for child in root.children:
            if child.dep_ == 'prep':
                relation = child.text.lower()
                pobj = [c for c in child.subtree if c.dep_ == 'pobj']
                if pobj:
                    obj = pobj[0].text.lower()
                break
            if child.text.lower() in LOCATION_WORDS | SIZE_WORDS:
                relation = child.text.lower()
        return subject, relation, obj


def _noun_like(tok: str) -> bool:
    return (tok.isalpha() and tok not in STOPWORDS
            and tok not in COLOR_WORDS and tok not in SIZE_WORDS
            and tok not in RELATION_WORDS and tok not in LOCATION_WORDS)


def parse_triad_rules(tokens: Sequence[str]) -> Triad:
    """The ``rule`` backend of :class:`TriadParser` (see there)."""
    toks = [str(t).lower() for t in tokens]
    sub_idx = next((i for i, t in enumerate(toks) if _noun_like(t)), None)
    if sub_idx is None:
        # no noun at all ("left", "the big one"): the last word stands in
        if not toks:
            return NONE_RELATION, NONE_RELATION, NONE_RELATION
        subject = toks[-1]
        sub_idx = len(toks) - 1
    else:
        subject = toks[sub_idx]
    rel_idx = next((i for i in range(sub_idx + 1, len(toks))
                    if toks[i] in RELATION_WORDS), None)
    if rel_idx is None:
        for lexicon in (LOCATION_WORDS, COLOR_WORDS, SIZE_WORDS):
            rel_idx = next((i for i, t in enumerate(toks)
                            if t in lexicon and i != sub_idx), None)
            if rel_idx is not None:
                break
    if rel_idx is None:
        return subject, NONE_RELATION, subject
    relation = toks[rel_idx]
    obj = next((toks[i] for i in range(rel_idx + 1, len(toks))
                if _noun_like(toks[i]) and i != sub_idx), subject)
    return subject, relation, obj


def load_triads_file(path: str) -> Dict[str, Triad]:
    """The ``{sent_id: triad}`` table of a triads JSON."""
    return TriadParser('file', file=path).table


def triad_words(triads: List[Triad]) -> List[str]:
    """All words of some triads, in first-seen order."""
    seen: Dict[str, None] = {}
    for t in triads:
        for w in t:
            seen.setdefault(w, None)
    return list(seen)
