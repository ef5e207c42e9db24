"""Corpora → tokenizer → token arrays: determinism, exact round trips, splits, offline sources, errors."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from tiny import TINY_CORPUS
from tokenizers import Tokenizer

from hptransfer.data.corpus import (
    EOS,
    corpus_texts,
    encode_docs,
    load_token_arrays,
    prepare_corpus,
    shakespeare_texts,
    split_wikitext_articles,
    truncate_docs,
)

FILES = ("tokenizer.json", "train.bin", "val.bin", "meta.json")

ARIEL = """[ARIEL sings]
Full fathom five thy father lies:
Of his bones are coral made:
Those are pearls that were his eyes:
Nothing of him that doth fade
But doth suffer a sea-change
Into something rich and strange.
"""

UNICODE = "naïve café — Größe ½ 東京タワー 😀🎉\n\tTabs,  double  spaces,\r\nCRLF … “quotes” ‘too’ \x00 end"


def _documents(ids: np.ndarray, eos: int) -> list[np.ndarray]:
    """Split a flat token array at the end-of-text tokens (each document ends with one)."""
    assert ids[-1] == eos
    cuts = np.flatnonzero(ids == eos)
    return np.split(ids, cuts + 1)[:-1]


def _decode_docs(tok: Tokenizer, ids: np.ndarray, eos: int) -> list[str]:
    return [tok.decode(d[:-1].tolist()) for d in _documents(ids, eos)]


# ---------------------------------------------------------------------------------- shakespeare


def test_prepare_is_byte_identical(tiny_corpus, tmp_path):
    again = tmp_path / "again"
    prepare_corpus(dict(TINY_CORPUS), again)
    for name in FILES:
        assert (tiny_corpus / name).read_bytes() == (again / name).read_bytes(), name
    # no stray temporary files from the atomic writes
    assert sorted(p.name for p in again.iterdir()) == sorted(FILES)


def test_meta_and_arrays(tiny_corpus):
    train, val, meta = load_token_arrays(tiny_corpus)
    assert meta["vocab_size"] == TINY_CORPUS["vocab_size"]
    assert meta["dtype"] == "uint16" and train.dtype == np.uint16 and val.dtype == np.uint16
    assert (tiny_corpus / "train.bin").stat().st_size == 2 * meta["train_tokens"] == 2 * train.size
    assert (tiny_corpus / "val.bin").stat().st_size == 2 * meta["val_tokens"] == 2 * val.size
    assert int(train.max()) < meta["vocab_size"] and int(val.max()) < meta["vocab_size"]
    tok = Tokenizer.from_file(str(tiny_corpus / "tokenizer.json"))
    assert meta["eos_id"] == tok.token_to_id(EOS)
    assert int((train == meta["eos_id"]).sum()) == meta["train_documents"]
    assert int((val == meta["eos_id"]).sum()) == meta["val_documents"] == len(TINY_CORPUS["val_works"])
    assert meta["config"] == TINY_CORPUS
    # BPE actually compresses (a byte-level tokenizer without merges would give ~1 token per char)
    assert meta["train_tokens"] < 0.85 * TINY_CORPUS["max_train_chars"]


def test_token_arrays_decode_to_the_exact_text(tiny_corpus):
    """train.bin is the (truncated) training text and val.bin the held-out works, token for token."""
    train, val, meta = load_token_arrays(tiny_corpus)
    tok = Tokenizer.from_file(str(tiny_corpus / "tokenizer.json"))
    train_docs, val_docs = corpus_texts(TINY_CORPUS)
    assert _decode_docs(tok, np.asarray(train), meta["eos_id"]) == train_docs
    assert _decode_docs(tok, np.asarray(val), meta["eos_id"]) == val_docs
    assert sum(map(len, train_docs)) == TINY_CORPUS["max_train_chars"]


@pytest.mark.parametrize("text", [ARIEL, UNICODE, " leading space", "", "\n\n\n", "a" * 300])
def test_tokenizer_round_trip(tiny_corpus, text):
    tok = Tokenizer.from_file(str(tiny_corpus / "tokenizer.json"))
    ids = tok.encode(text).ids
    assert tok.decode(ids) == text
    assert all(0 <= i < tok.get_vocab_size() for i in ids)


def test_split_by_work(tmp_path):
    cfg = {"source": "shakespeare", "vocab_size": 300, "val_works": ["tempest", "sonnets"], "max_train_chars": 300_000}
    meta = prepare_corpus(cfg, tmp_path / "c")
    assert meta["val_documents"] == 2
    assert meta["train_documents"] == 3  # 133k + 140k chars, then the truncated third work
    train, val, meta = load_token_arrays(tmp_path / "c")
    tok = Tokenizer.from_file(str(tmp_path / "c" / "tokenizer.json"))
    train_text = "".join(_decode_docs(tok, np.asarray(train), meta["eos_id"]))
    val_text = "".join(_decode_docs(tok, np.asarray(val), meta["eos_id"]))
    assert "Full fathom five thy father lies" in val_text
    assert "Shall I compare thee to a summer's day?" in val_text
    assert "Full fathom five" not in train_text and "ARIEL" not in train_text
    assert "ALL'S WELL THAT ENDS WELL" in train_text
    # the character budget truncates the training split only
    assert len(train_text) == 300_000 and len(val_text) > 150_000


def test_shakespeare_source_holds_out_whole_works():
    train, val = shakespeare_texts({"val_works": ["hamlet", "tempest"]})
    assert len(val) == 2 and len(train) == 40
    assert all("Full fathom five" not in t for t in train)
    assert any("Full fathom five" in v for v in val)
    assert all("To be, or not to be" not in t for t in train)


def test_unknown_val_work_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"val_works.*unknown works \['hamletz'\]"):
        prepare_corpus({"source": "shakespeare", "vocab_size": 300, "val_works": ["hamletz"]}, tmp_path)


def test_truncate_docs():
    assert truncate_docs(["abcd", "efgh", "ij"], 6) == ["abcd", "ef"]
    assert truncate_docs(["abcd"], 100) == ["abcd"]
    assert truncate_docs(["abcd", "efgh"], 4) == ["abcd"]


def test_existing_tokenizer_is_reused(tiny_corpus, tmp_path):
    cfg = dict(TINY_CORPUS, tokenizer=str(tiny_corpus / "tokenizer.json"), vocab_size=999)
    meta = prepare_corpus(cfg, tmp_path / "reuse")
    assert meta["vocab_size"] == TINY_CORPUS["vocab_size"]
    for name in ("train.bin", "val.bin", "tokenizer.json"):
        assert (tmp_path / "reuse" / name).read_bytes() == (tiny_corpus / name).read_bytes()


def test_tokenizer_without_eos_is_rejected(tmp_path):
    from tokenizers import models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        ["some text without specials"],
        trainers.BpeTrainer(vocab_size=270, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )
    tok.save(str(tmp_path / "t.json"))
    with pytest.raises(ValueError, match="endoftext"):
        prepare_corpus(dict(TINY_CORPUS, tokenizer=str(tmp_path / "t.json")), tmp_path / "out")


# ------------------------------------------------------------------------------ wikitext (offline)


def _wiki_article(title: str, n_par: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    words = [
        "the",
        "game",
        "of",
        "album",
        "river",
        "was",
        "released",
        "in",
        "@-@",
        "<unk>",
        ",",
        ".",
        "Valkyria",
        "1995",
        "station",
        "Japanese",
        "戦場",
        "série",
    ]
    out = [f" = {title} = \n", " \n"]
    for p in range(n_par):
        if p == 1:
            out += [f" = = Section {p} = = \n", " \n"]
        if p == 2:
            out += [" = = = Sub @-@ section = = = \n", " \n"]
        out += [" " + " ".join(rng.choice(words, size=60)) + " \n", " \n"]
    return "".join(out)


@pytest.fixture
def wiki_dir(tmp_path):
    root = tmp_path / "wikitext-103-raw"
    root.mkdir()
    train = [_wiki_article(f"Article {i}", 4, i) for i in range(3)]
    valid = [_wiki_article(f"Held out {i}", 3, 100 + i) for i in range(2)]
    (root / "wiki.train.raw").write_text(" \n" + "".join(train), encoding="utf-8")
    (root / "wiki.valid.raw").write_text(" \n" + "".join(valid), encoding="utf-8")
    return root, train, valid


def test_split_wikitext_articles(wiki_dir):
    root, train, _ = wiki_dir
    articles = split_wikitext_articles((root / "wiki.train.raw").read_text(encoding="utf-8"))
    assert articles == train  # subsection headings (= = … = =) stay inside their article


def test_wikitext_from_local_directory_offline(wiki_dir, tmp_path, monkeypatch):
    root, train, valid = wiki_dir
    monkeypatch.setitem(sys.modules, "datasets", None)  # any `import datasets` would now fail
    cfg = {"source": "wikitext103", "path": str(root), "vocab_size": 300}
    meta = prepare_corpus(cfg, tmp_path / "wt")
    assert (meta["train_documents"], meta["val_documents"]) == (3, 2)
    tr, va, meta = load_token_arrays(tmp_path / "wt")
    tok = Tokenizer.from_file(str(tmp_path / "wt" / "tokenizer.json"))
    assert _decode_docs(tok, np.asarray(tr), meta["eos_id"]) == train
    assert _decode_docs(tok, np.asarray(va), meta["eos_id"]) == valid


def test_wikitext_missing_file(wiki_dir, tmp_path):
    root, _, _ = wiki_dir
    (root / "wiki.valid.raw").unlink()
    with pytest.raises(FileNotFoundError, match="wiki.valid.raw"):
        prepare_corpus({"source": "wikitext103", "path": str(root), "vocab_size": 300}, tmp_path / "x")


# ----------------------------------------------------------------------------------- text files


def test_textfiles_glob_source(tmp_path):
    (tmp_path / "train" / "sub").mkdir(parents=True)
    (tmp_path / "val").mkdir()
    texts = {
        "train/a.txt": "First training file.\n" * 50,
        "train/b.txt": "Zweite Datei, ünïcode.\n" * 50,
        "train/sub/c.txt": "nested file\n" * 50,
        "train/skip.md": "not matched\n",
        "val/v.txt": "Validation text here.\n" * 20,
    }
    for name, text in texts.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    cfg = {
        "source": "textfiles",
        "vocab_size": 300,
        "train_glob": str(tmp_path / "train" / "**" / "*.txt"),
        "val_glob": str(tmp_path / "val" / "*.txt"),
    }
    meta = prepare_corpus(cfg, tmp_path / "out")
    assert (meta["train_documents"], meta["val_documents"]) == (3, 1)
    tr, va, meta = load_token_arrays(tmp_path / "out")
    tok = Tokenizer.from_file(str(tmp_path / "out" / "tokenizer.json"))
    # sorted file order, so the same files always give the same array
    assert _decode_docs(tok, np.asarray(tr), meta["eos_id"]) == [
        texts["train/a.txt"],
        texts["train/b.txt"],
        texts["train/sub/c.txt"],
    ]
    assert _decode_docs(tok, np.asarray(va), meta["eos_id"]) == [texts["val/v.txt"]]


def test_textfiles_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_glob"):
        prepare_corpus(
            {
                "source": "textfiles",
                "vocab_size": 300,
                "train_glob": str(tmp_path / "*.nothing"),
                "val_glob": str(tmp_path / "*.nothing"),
            },
            tmp_path / "o",
        )
    (tmp_path / "a.txt").write_text("some training text\n")
    with pytest.raises(ValueError, match="val_glob"):
        prepare_corpus(
            {"source": "textfiles", "vocab_size": 300, "train_glob": str(tmp_path / "*.txt")}, tmp_path / "o"
        )


# ---------------------------------------------------------------------------------------- dtype


class _StubTokenizer:
    """Just what encode_docs needs, with a configurable vocabulary size."""

    def __init__(self, vocab: int):
        self.vocab = vocab

    def token_to_id(self, token):
        return self.vocab - 1 if token == EOS else None

    def get_vocab_size(self):
        return self.vocab

    def encode_batch(self, docs):
        class Enc:
            def __init__(self, ids):
                self.ids = ids

        return [Enc([ord(c) for c in d]) for d in docs]


@pytest.mark.parametrize(
    "vocab, dtype", [(300, np.uint16), (65536, np.uint16), (65537, np.uint32), (100_000, np.uint32)]
)
def test_token_dtype_fits_vocab(vocab, dtype):
    ids = encode_docs(_StubTokenizer(vocab), ["ab", "c"])
    assert ids.dtype == dtype
    assert ids.tolist() == [97, 98, vocab - 1, 99, vocab - 1]


def test_meta_json_is_canonical(tiny_corpus):
    text = (tiny_corpus / "meta.json").read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
