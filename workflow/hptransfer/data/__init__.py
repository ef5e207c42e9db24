"""Corpora and tokenizers (:mod:`.corpus`) and image data sets (:mod:`.images`).

Nothing is imported here: the analysis environment reads validation images through
:mod:`.images` without the tokenizer and corpus dependencies that :mod:`.corpus` needs.
"""
