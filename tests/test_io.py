"""hptransfer.io: what the workflow writes is readable by the user's group (modes from the umask, as a
plain open() would give), and the temporary files of killed writers are found and removed."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager

import numpy as np
import pytest
import xarray as xr

from hptransfer.io import remove_orphaned_temporaries, write_bytes, write_dataset, write_text


@contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


WRITERS = {
    "dataset": lambda path: write_dataset(xr.Dataset({"x": ("i", np.arange(3.0))}), path),
    "text": lambda path: write_text("summary\n", path),
    "bytes (figures, token arrays)": lambda path: write_bytes(b"\x89PNG", path),
}


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
@pytest.mark.parametrize("writer", list(WRITERS))
def test_outputs_get_the_mode_of_the_users_umask(tmp_path, writer, mask, mode):
    path = tmp_path / "out" / "file"
    with umask(mask):
        WRITERS[writer](path)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert not list(path.parent.glob(".*.tmp"))


def test_remove_orphaned_temporaries_removes_only_those_of_the_path(tmp_path):
    path = tmp_path / "run.nc"
    orphans = [tmp_path / ".run.nc.a1b2.tmp", tmp_path / ".run.nc.x.tmp"]
    others = [tmp_path / ".run.ncx.a.tmp", tmp_path / ".sweep.nc.a.tmp", tmp_path / "run.nc"]
    for p in orphans + others:
        p.write_bytes(b"")
    assert remove_orphaned_temporaries(path) == sorted(orphans)
    assert all(p.exists() for p in others) and not any(p.exists() for p in orphans)
