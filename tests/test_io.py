"""hptransfer.io: what the workflow writes is readable by the user's group (modes from the umask, as a
plain open() would give), the temporary files of killed writers are found and removed, and describe()
gives every variable and coordinate a long_name and units without replacing any it has."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager

import numpy as np
import pytest
import xarray as xr

from hptransfer.io import (
    DESCRIPTIONS,
    describe,
    remove_orphaned_temporaries,
    undescribed,
    write_bytes,
    write_dataset,
    write_text,
)


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


def test_describe_fills_standard_names_text_and_flags_and_replaces_nothing():
    ds = xr.Dataset(
        {
            "loss": ("step", [2.0, 1.0], {"long_name": "a loss", "units": "nats/token"}),
            "verdict": ((), "fast", {"long_name": "the verdict", "units": ""}),
            "flag": ("step", [True, False], {"long_name": "a flag"}),
            "mystery": ("step", [0.0, 1.0]),
        },
        coords={"step": [0, 1], "width": 16, "lr": ("lr", [0.1], {"long_name": "Adam learning rate"})},
    )
    out = describe(ds)
    assert out["step"].attrs == {"long_name": "optimizer step", "units": "steps"}
    assert out["width"].attrs == dict(zip(("long_name", "units"), DESCRIPTIONS["width"]))
    assert out["lr"].attrs == {"long_name": "Adam learning rate", "units": "1"}  # its own long_name kept
    assert out["verdict"].attrs["units"] == out["flag"].attrs["units"] == "1"  # text and flags: "1"
    assert out["loss"].attrs == ds["loss"].attrs
    assert undescribed(out) == ["mystery (no long_name or units)"]
    assert undescribed(describe(ds, {"mystery": ("something", "1")})) == []
    assert "units" not in ds["step"].attrs and ds["verdict"].attrs["units"] == ""  # the input is unchanged
    xr.testing.assert_equal(out, ds)


def test_describe_gives_loss_units_only_where_it_knows_them():
    ds = xr.Dataset({"phi_k": ("k", [-0.1, -0.2]), "diverged": ((), False)}, coords={"k": [1, 2]})
    assert undescribed(describe(ds)) == ["phi_k (no units)"]
    out = describe(ds, loss_units="nats/example")
    assert out["phi_k"].attrs["units"] == "nats/example" and out["diverged"].attrs["units"] == "1"
    assert undescribed(out) == []


def test_descriptions_survive_the_file(tmp_path):
    ds = describe(xr.Dataset({"diverged": ("seed", [True, False])}, coords={"seed": [0, 1]}))
    write_dataset(ds, tmp_path / "d.nc")
    with xr.open_dataset(tmp_path / "d.nc") as back:
        assert undescribed(back) == []
