"""Corpora, tokenizers and token arrays."""
from .corpus import load_token_arrays, prepare_corpus

__all__ = ["prepare_corpus", "load_token_arrays"]
