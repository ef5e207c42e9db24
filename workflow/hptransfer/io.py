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


# ---------------------------------------------------------------------------------- descriptions

# Every variable and coordinate of every dataset carries a ``long_name`` and a ``units``
# (docs/outputs.md, "Properties shared by every dataset"). Units: "1" for dimensionless quantities,
# counts, indices, widths, hyperparameter values, flags and text; "steps" for optimizer steps; losses
# in their task's units (nats/token, nats/example, or "1" for a squared error of a dimensionless
# target); the analysis coordinate nu in its own (log2(lr), ...). A builder describes its own
# variables; the standard names below are described from here wherever a builder says nothing, and
# so are the run variables that run datasets written before they were all described lack (so that
# old runs still collect into a described sweep).
LOSS_UNITS = "<loss>"  # placeholder in DESCRIPTIONS: the dataset's loss units, given to describe()
DESCRIPTIONS: dict[str, tuple[str, str]] = {
    # coordinates
    "param": ("parametrization (scheme)", "1"),
    "parametrization": ("parametrization (scheme)", "1"),
    "width": ("width n", "1"),
    "depth": ("depth (number of blocks) at width n", "1"),
    "seed": ("random seed", "1"),
    "step": ("optimizer step", "steps"),
    "eval_step": ("EMA sample point (optimizer steps done)", "steps"),
    "analysis_step": ("analysis step of the decomposition (optimizer steps done)", "steps"),
    "k": ("number k of leading eigen-directions per layer", "1"),
    "topk": ("number k of leading eigen-directions per layer of the top-k curve", "1"),
    "sample": ("index of the validation example", "1"),
    "component": ("eigen-direction index j (by |lambda|, per layer and step)", "1"),
    "layer": ("layer", "1"),
    "lr": ("learning rate", "1"),
    "beta1": ("Adam beta1", "1"),
    "beta2": ("Adam beta2", "1"),
    "momentum": ("momentum", "1"),
    "weight_decay": ("weight decay", "1"),
    # run variables (run.nc, batch.nc) that datasets written before they were all described lack
    "diverged": ("run diverged (NaN/inf or loss above the bound)", "1"),
    "diverged_step": ("step of divergence (-1: none)", "steps"),
    "linearization_gap": ("|linearised - EMA final loss| / |EMA loss change|", "1"),
    "phi_topk": ("cumulative top-k linearised loss change phi^k up to the point", LOSS_UNITS),
    "phi_k": ("cumulative top-k linearised loss change phi^k (k directions per layer)", LOSS_UNITS),
    "final_loss_val": ("final validation loss", LOSS_UNITS),
    "loss_val": ("validation loss", LOSS_UNITS),
}
# The units of a two-layer study's loss, by batch.nc's ``loss`` attribute.
TWOLAYER_LOSS_UNITS = {"bce": "nats/example", "mse": "1"}


def _missing(attrs: dict, key: str) -> bool:
    value = attrs.get(key)
    return value is None or (isinstance(value, str) and not value.strip())


def describe(
    ds: xr.Dataset, descriptions: dict[str, tuple[str, str]] | None = None, loss_units: str | None = None
) -> xr.Dataset:
    """``ds`` (a shallow copy) with a ``long_name`` and ``units`` on every variable and coordinate that
    lacks one (absent or empty); an attribute it has is never replaced, no value changes.

    From ``descriptions`` (name → (long_name, units)), else :data:`DESCRIPTIONS`; units
    :data:`LOSS_UNITS` there become ``loss_units`` (left missing where that is None); a text or
    boolean variable with no units otherwise gets "1". Whatever is left undescribed is what
    :func:`undescribed` lists (the tests assert it is nothing).
    """
    table = {**DESCRIPTIONS, **(descriptions or {})}
    ds = ds.copy()
    for name, var in ds.variables.items():
        long_name, units = table.get(str(name), (None, None))
        if units == LOSS_UNITS:
            units = loss_units
        if units is None and var.dtype.kind in "USOb":
            units = "1"
        if long_name and _missing(var.attrs, "long_name"):
            var.attrs["long_name"] = long_name
        if units and _missing(var.attrs, "units"):
            var.attrs["units"] = units
    return ds


# What the analysis builders (transfer, kappa, comparison, advice) write as the units of a loss; they
# work on any sweep, so :func:`in_sweep_units` gives it the task's units once the sweep is known.
ANALYSIS_LOSS_UNITS = "loss"


def metric_units(sweep: xr.Dataset) -> str | None:
    """The units of a sweep's metric (``metric`` attribute; the task's loss units), None if unknown."""
    metric = sweep.attrs.get("metric", "final_loss_ema")
    return sweep[metric].attrs.get("units") if metric in sweep.variables else None


def in_sweep_units(ds: xr.Dataset, loss_units: str | None, hp: str) -> xr.Dataset:
    """An analysis dataset in the units of the sweep it came from (a shallow copy): a loss
    (:data:`ANALYSIS_LOSS_UNITS`, and a curvature's "loss/(…)") in ``loss_units`` where known, and
    values of the hyperparameter ``hp``, which builders label with its name, dimensionless ("1")."""
    ds = ds.copy()
    for var in ds.variables.values():
        units = var.attrs.get("units")
        if units == hp:
            var.attrs["units"] = "1"
        elif loss_units and units == ANALYSIS_LOSS_UNITS:
            var.attrs["units"] = loss_units
        elif loss_units and isinstance(units, str) and units.startswith(ANALYSIS_LOSS_UNITS + "/"):
            per = units[len(ANALYSIS_LOSS_UNITS) :]
            var.attrs["units"] = (f"({loss_units})" if "/" in loss_units else loss_units) + per
    return ds


def undescribed(ds: xr.Dataset) -> list[str]:
    """The variables and coordinates of ``ds`` without a non-empty ``long_name`` and ``units``."""
    return [
        f"{name} (no {' or '.join(k for k in ('long_name', 'units') if _missing(var.attrs, k))})"
        for name, var in ds.variables.items()
        if _missing(var.attrs, "long_name") or _missing(var.attrs, "units")
    ]


def json_attr(ds: xr.Dataset | xr.DataArray, key: str) -> Any:
    """Read back an attribute written as JSON by :func:`write_dataset`."""
    return json.loads(ds.attrs[key])


def open_dataset(path: str | os.PathLike) -> xr.Dataset:
    """Open fully into memory and close the file (safe on shared filesystems)."""
    with xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
        return ds.load()
