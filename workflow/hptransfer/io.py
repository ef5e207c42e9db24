"""Deterministic, atomic dataset and file writing.

Every dataset of the workflow goes through :func:`write_dataset` so that the same inputs give the
same bytes (no timestamps, no history attribute) and a killed job never leaves a half-written file
that Snakemake could mistake for a result.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

NETCDF_ENGINE = "netcdf4"


def atomic_path(path: str | os.PathLike) -> tuple[Path, Path]:
    """A temporary sibling of ``path`` (same filesystem, so the final rename is atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return path, Path(tmp)


def temporary_siblings(path: str | os.PathLike) -> list[Path]:
    """The temporary files :func:`atomic_path` made for ``path`` and a killed writer left behind."""
    path = Path(path)
    return sorted(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))


def remove_orphaned_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary siblings of ``path`` (a SIGKILL between write and rename leaves them);
    call only where no other writer of ``path`` runs, such as at the start of the job that owns it."""
    removed = temporary_siblings(path)
    for tmp in removed:
        tmp.unlink(missing_ok=True)
    return removed


def _readable_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give under the current umask (0644 under 022):
    mkstemp's 0600 would otherwise survive the rename and hide results from the user's group."""
    return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask, read where Linux shows it; elsewhere set and restored, which for that
    instant applies 022 to files other threads create."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Umask:")), 8)
    except (OSError, StopIteration, ValueError):
        umask = os.umask(0o022)
        os.umask(umask)
        return umask


def _commit(tmp: Path, path: Path) -> None:
    os.chmod(tmp, _readable_mode())
    os.replace(tmp, path)


def write_atomically(path: str | os.PathLike, write) -> Path:
    """Call ``write(tmp)`` on a temporary sibling, then rename it over ``path``."""
    path, tmp = atomic_path(path)
    try:
        write(tmp)
        _commit(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_dataset(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` as netCDF-4 atomically; nested attributes are stored as JSON strings."""
    ds = ds.copy()
    ds.attrs = {k: _attr_value(v) for k, v in ds.attrs.items()}
    for name in ds.variables:
        ds[name].attrs = {k: _attr_value(v) for k, v in ds[name].attrs.items()}
        ds[name].encoding = {}
    return write_atomically(path, lambda tmp: ds.to_netcdf(tmp, engine=NETCDF_ENGINE, format="NETCDF4"))


def write_text(text: str, path: str | os.PathLike) -> Path:
    return write_atomically(path, lambda tmp: tmp.write_text(text))


def write_bytes(data: bytes, path: str | os.PathLike) -> Path:
    return write_atomically(path, lambda tmp: tmp.write_bytes(data))


def _attr_value(value: Any) -> Any:
    """netCDF attributes hold scalars, strings and 1-D arrays; anything nested becomes JSON."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (str, int, float, np.integer, np.floating)):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "if":
        return value
    return json.dumps(value, sort_keys=True, default=_json_default)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def json_attr(ds: xr.Dataset | xr.DataArray, key: str) -> Any:
    """Read back an attribute written as JSON by :func:`write_dataset`."""
    return json.loads(ds.attrs[key])


def open_dataset(path: str | os.PathLike) -> xr.Dataset:
    """Open fully into memory and close the file (safe on shared filesystems)."""
    with xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
        return ds.load()
