# Copyright (c) mmweak contributors.
from .word_embedding import SPECIAL_WORDS, WordEmbedding, load_vocab

__all__ = ['WordEmbedding', 'load_vocab', 'SPECIAL_WORDS']
