"""``hptransfer advise``: the transfer advice for one study's results directory at any target width.

It reads what the workflow wrote (``results/studies/<study>/transfer.nc``; sweep.nc beside it for the
study block, which the FLOP count needs; the corpus's ``results/data/<corpus>/meta.json`` or an
advice.nc for a language model's vocabulary) and renders the same bullets as summary.md's advice
section (:mod:`~hptransfer.analysis.advice_summary`).
"""

from __future__ import annotations

import json
from pathlib import Path

import xarray as xr

from ..io import open_dataset
from .advice import advise
from .advice_summary import advice_lines
from .flops import CostModel, cost_model

__all__ = ["NoAdvice", "advise_study"]


class NoAdvice(Exception):
    """The study's results cannot support advice at that width; the message says why and what to do."""


def transfer_path(results: str | Path) -> Path:
    """transfer.nc of a study's results directory, or ``results`` itself when it names the file."""
    path = Path(results)
    candidate = path / "transfer.nc" if path.is_dir() else path
    if not candidate.is_file():
        where = f"{path} has no transfer.nc" if path.is_dir() else f"{path} is not a file"
        raise FileNotFoundError(
            2, f"{where}; give a study's results directory (results/studies/<study>) or its transfer.nc", str(path)
        )
    return candidate


def _study_block(directory: Path) -> dict | None:
    sweep = directory / "sweep.nc"
    if not sweep.is_file():
        return None
    return json.loads(open_dataset(sweep).attrs.get("config", "null"))


def _vocab_size(directory: Path, block: dict, given: int | None) -> int | None:
    """The vocabulary of an LM study: given, else recorded in an advice.nc beside, else the prepared
    corpus's meta.json (results/data/<corpus>/, two levels above results/studies/<study>/)."""
    if given is not None:
        return given
    advice = directory / "advice.nc"
    if advice.is_file():
        recorded = json.loads(open_dataset(advice).attrs.get("cost_model", "null")) or {}
        if "vocab_size" in recorded:
            return int(recorded["vocab_size"])
    meta = directory.parent.parent / "data" / str(block.get("corpus")) / "meta.json"
    return int(json.loads(meta.read_text())["vocab_size"]) if meta.is_file() else None


def study_cost_model(directory: Path, vocab_size: int | None = None) -> CostModel | None:
    """The FLOP count of the study whose results are in ``directory`` (None where it cannot be had)."""
    block = _study_block(directory)
    if block is None:
        return None
    return cost_model(block, _vocab_size(directory, block, vocab_size))


def _parts(advice: xr.Dataset) -> list[tuple[str, xr.Dataset]]:
    if "param" in advice.dims:
        return [(str(p), advice.sel(param=p)) for p in advice["param"].values]
    return [("", advice)]


def _reason(part: xr.Dataset) -> str:
    """Why a parametrization has no advice at the (single) target ("" where it has)."""
    return str(part["refusal"].values) or str(part["target_note"].values[0])


def advise_study(results: str | Path, width: int, budget: float | None = None, vocab_size: int | None = None) -> str:
    """The advice at ``width`` as markdown (per parametrization where there are several);
    :class:`NoAdvice` where the data cannot support any."""
    path = transfer_path(results)
    transfer = open_dataset(path)
    cost = study_cost_model(path.parent, vocab_size)
    advice = advise(transfer, [int(width)], cost, budget)
    parts = _parts(advice)
    reasons = [f"{name}: {_reason(part)}" if name else _reason(part) for name, part in parts]
    if all(_reason(part) for _, part in parts):
        raise NoAdvice("; ".join(dict.fromkeys(reasons)))
    study = transfer.attrs.get("study", path.parent.name)
    lines = [f"# Transfer advice: {study}, target width {int(width)}", ""]
    for name, part in parts:
        # a parametrization that cannot support advice says why (advice_lines' refusal bullet)
        lines += ([f"## Parametrization `{name}`", ""] if name else []) + advice_lines(part) + [""]
    if cost is None:
        lines.append("(no FLOP count: sweep.nc or, for a language model, the vocabulary size is missing)")
    return "\n".join(lines).rstrip() + "\n"
