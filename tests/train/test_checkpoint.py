"""Checkpoints that cannot be read are moved aside and the run starts afresh (so a retry succeeds),
and the temporary files of a writer killed mid-checkpoint are removed when the job starts; for both
users of train/checkpoint.py, the LM/image engine and the batched two-layer trainer."""

from __future__ import annotations

import logging

import pytest
import torch
import xarray as xr
from tiny import tiny_run_config

from hptransfer.train import batched
from hptransfer.train.checkpoint import CHECKPOINT_NAME, read_checkpoint, write_checkpoint
from hptransfer.train.job import train_run

torch.set_num_threads(1)

# what a node that died mid-write, a disk error or a stray file leaves where the checkpoint was
UNREADABLE = {
    "truncated": lambda good: good[: len(good) // 2],
    "empty": lambda good: b"",
    "garbage": lambda good: b"not a checkpoint\n" * 64,
}


def _good_checkpoint_bytes(tmp_path) -> bytes:
    path = write_checkpoint({"identity": "x", "step": 3, "w": torch.ones(256)}, tmp_path / "good.pt")
    return path.read_bytes()


@pytest.mark.parametrize("damage", list(UNREADABLE))
def test_unreadable_checkpoint_is_set_aside_with_its_path_logged(tmp_path, caplog, damage):
    path = tmp_path / CHECKPOINT_NAME
    broken = UNREADABLE[damage](_good_checkpoint_bytes(tmp_path))
    path.write_bytes(broken)
    with caplog.at_level(logging.WARNING, logger="hptransfer"):
        assert read_checkpoint(path, "x") is None
    kept = tmp_path / f"{CHECKPOINT_NAME}.unreadable"
    assert not path.exists() and kept.read_bytes() == broken  # kept, not deleted
    assert str(path) in caplog.text and str(kept) in caplog.text
    assert "weights_only" not in caplog.text  # torch's advice to load unsafely is not passed on
    # a second bad checkpoint does not overwrite the first one kept
    path.write_bytes(b"again")
    assert read_checkpoint(path, "x") is None
    assert (tmp_path / f"{CHECKPOINT_NAME}.unreadable-1").read_bytes() == b"again"


def test_orphaned_temporaries_are_removed_at_the_start(tmp_path, caplog):
    path = tmp_path / CHECKPOINT_NAME
    orphans = [tmp_path / f".{CHECKPOINT_NAME}.abc123.tmp", tmp_path / f".{CHECKPOINT_NAME}.zz_9.tmp"]
    for orphan in orphans:
        orphan.write_bytes(b"half a checkpoint")
    unrelated = [tmp_path / ".run.nc.abc.tmp", tmp_path / "notes.tmp"]
    for other in unrelated:
        other.write_bytes(b"not ours")
    with caplog.at_level(logging.WARNING, logger="hptransfer"):
        assert read_checkpoint(path, "x") is None
    assert not any(o.exists() for o in orphans) and all(o.exists() for o in unrelated)
    assert all(str(o) in caplog.text for o in orphans)


@pytest.fixture(scope="module")
def lm_reference(tiny_corpus, tmp_path_factory):
    cfg = tiny_run_config(study={"training": {"steps": 20, "checkpoint_every": 5}})
    out = tmp_path_factory.mktemp("reference") / "run.nc"
    train_run(cfg, tiny_corpus, out)
    return cfg, out.read_bytes()


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_lm_run_with_an_unreadable_checkpoint_restarts_and_ends_as_an_uninterrupted_run(
    tiny_corpus, tmp_path, lm_reference, damage
):
    cfg, reference = lm_reference
    out = tmp_path / "run" / "run.nc"
    out.parent.mkdir()
    checkpoint = out.parent / CHECKPOINT_NAME
    checkpoint.write_bytes(UNREADABLE[damage](_good_checkpoint_bytes(tmp_path)))
    orphan = out.parent / f".{CHECKPOINT_NAME}.k1ll3d.tmp"
    orphan.write_bytes(b"a SIGKILL during a checkpoint write")
    train_run(cfg, tiny_corpus, out)
    assert out.read_bytes() == reference
    assert (out.parent / f"{CHECKPOINT_NAME}.unreadable").exists() and not orphan.exists()


def test_batched_width_job_with_an_unreadable_checkpoint_restarts_and_ends_as_an_uninterrupted_one(tmp_path):
    cfg = {"task": "sphere", "d": 8, "k": 3, "val_size": 128, "base_width": 16, "n_log": 3}
    args = (cfg, 16, [1e-2, 3e-2], [0, 1], 24, 16)
    fresh = batched.train_batched(*args)
    checkpoint = tmp_path / CHECKPOINT_NAME
    checkpoint.write_bytes(UNREADABLE["truncated"](_good_checkpoint_bytes(tmp_path)))
    (tmp_path / f".{CHECKPOINT_NAME}.x.tmp").write_bytes(b"orphan")
    resumed = batched.train_batched(*args, checkpoint=checkpoint, checkpoint_every=8)
    xr.testing.assert_identical(resumed, fresh)
    assert (tmp_path / f"{CHECKPOINT_NAME}.unreadable").exists()
    assert not (tmp_path / f".{CHECKPOINT_NAME}.x.tmp").exists()
