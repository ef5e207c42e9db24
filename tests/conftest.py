"""Shared fixtures: a tiny tokenized corpus, tiny run configs (see tiny.py), the smoke preset run once
per session; and the settings every test shares (one torch thread, a non-interactive matplotlib)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest
import torch
from tiny import TINY_CORPUS, tiny_run_config

from hptransfer.data.corpus import prepare_corpus

matplotlib.use("Agg")
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """Directory with tokenizer.json, train.bin, val.bin and meta.json of the tiny corpus."""
    out = tmp_path_factory.mktemp("corpus") / "tiny"
    prepare_corpus(dict(TINY_CORPUS), out)
    return out


@pytest.fixture
def make_run_config():
    return tiny_run_config


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The smoke preset run once per test session in a fresh copy of the workflow. Shared by the
    workflow tests (end to end, rerun semantics: each clones it before changing anything) and the
    SLURM tests (the local reference a run through SLURM must reproduce)."""
    from workflow_utils import SMOKE, copy_workflow, snakemake

    work = copy_workflow(tmp_path_factory.mktemp("smoke") / "wf")
    snakemake(work, "--cores", "2", "--configfile", SMOKE, timeout=1200)
    return work
