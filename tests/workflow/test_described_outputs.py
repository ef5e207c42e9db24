"""The smoke run's datasets keep the outputs contract's promise (docs/outputs.md): every variable and
coordinate of every dataset under results/ has a non-empty long_name and units."""

from __future__ import annotations

import pytest

from hptransfer.io import open_dataset, undescribed


@pytest.mark.slow
def test_every_variable_and_coordinate_of_every_dataset_is_described(smoke_run):
    paths = sorted((smoke_run / "results").rglob("*.nc"))
    kinds = {p.name for p in paths}
    assert {"run.nc", "batch.nc", "sweep.nc", "transfer.nc", "advice.nc", "kappa.nc", "comparison.nc", "rf.nc"} <= kinds
    missing = {str(p.relative_to(smoke_run)): undescribed(open_dataset(p)) for p in paths}
    missing = {path: names for path, names in missing.items() if names}
    assert not missing, "\n".join(f"{path}: {', '.join(names)}" for path, names in missing.items())
