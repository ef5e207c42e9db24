"""Sample-wise analyses of the image MLP study (paper §4.6, §5.6; Figs 14–16).

Inputs: the study's sweep (``mci`` and ``val_loss_per_sample`` per run and validation example) and
the run datasets at the reference width and seed (for the per-example components ψ_ij).

* **MCI histogram** — the MCI of every validation example in the reference run (paper: n = 128,
  LR = 0.016).
* **Easy / hard subsets** — the ``easy_fraction`` (25%) of examples with the lowest reference MCI and
  the ``hard_fraction`` (5%) with the highest.
* **Subset sweeps** — the LR sweep re-evaluated on each subset: a sweep-like dataset whose
  ``final_loss_ema`` is the subset mean of the final per-example EMA loss (NaN where the run
  diverged), fed to the same :func:`~hptransfer.analysis.analyze_transfer`. No retraining.
* **Overlaps** — for widths n₁, n₂ at one LR, the hardest (or easiest) ``overlap_fraction`` (5%) sets
  S₁, S₂ of two runs; overlap = |S₁ ∩ S₂| / (fraction · P), averaged over seed pairs, excluding the
  identical run (s₁ = s₂) when n₁ = n₂. Diverged runs are left out. Random sets give ≈ fraction.
* **Examples** — the ``examples`` lowest- and highest-MCI images of the reference run with their
  ψ_ij, j = 1..``example_components`` (Fig 15).

Set sizes are round(fraction · P), at least 1; ties in MCI are broken by example index.
"""

from __future__ import annotations

import json
import logging
from typing import Callable

import numpy as np
import xarray as xr

from ..config import defaults
from ..io import describe

log = logging.getLogger(__name__)

DEFAULTS = defaults.SAMPLEWISE_ANALYSIS
SUBSETS = ("easy", "hard")


def settings_of(study_cfg: dict | None) -> dict:
    """The ``samplewise`` block of a study, with defaults."""
    return {**DEFAULTS, **{k: v for k, v in dict((study_cfg or {}).get("samplewise") or {}).items() if v is not None}}


# ------------------------------------------------------------------------------------ selections


def set_size(n_samples: int, fraction: float) -> int:
    return int(min(n_samples, max(1, round(fraction * n_samples))))


def extreme_indices(mci, fraction: float, side: str) -> np.ndarray:
    """Indices of the ``fraction`` of examples with the lowest (``side="low"``) or highest MCI.

    NaN MCI (a sample with no signal, or a diverged run) never counts as extreme; ties go to the
    lower example index."""
    mci = np.asarray(mci, dtype=np.float64)
    k = set_size(mci.size, fraction)
    finite = np.isfinite(mci)
    if side == "low":
        key = np.where(finite, mci, np.inf)
    elif side == "high":
        key = np.where(finite, -mci, np.inf)
    else:
        raise ValueError(f"side must be 'low' or 'high', got {side!r}")
    return np.sort(np.argsort(key, kind="stable")[:k])


def overlap_fraction(a, b, size: int) -> float:
    """|A ∩ B| / size for two index sets."""
    return len(np.intersect1d(a, b)) / size


def reference_run(sweep: xr.Dataset, settings: dict) -> tuple[int, float, int]:
    """(width, lr, seed) of the run whose MCI defines the subsets.

    Defaults: the smallest width, the smallest seed, and the grid LR with the lowest seed-mean final
    EMA loss at that width (diverged runs count as +inf)."""
    hp = sweep.attrs.get("hp", "lr")
    width = int(settings["reference_width"] or sweep["width"].values.min())
    seed = int(settings["reference_seed"] if settings["reference_seed"] is not None else sweep["seed"].values[0])
    if settings["reference_lr"] is not None:
        grid = sweep[hp].values
        lr = float(grid[np.argmin(np.abs(np.log(grid) - np.log(settings["reference_lr"])))])
    else:
        loss = sweep["final_loss_ema"].sel(width=width).mean("seed", skipna=False)
        lr = float(loss[hp].values[int(np.argmin(np.where(np.isfinite(loss.values), loss.values, np.inf)))])
    return width, lr, seed


# -------------------------------------------------------------------------------------- overlaps


def overlap_matrices(mci: xr.DataArray, fraction: float, hp: str = "lr") -> xr.Dataset:
    """Mean overlap of the hardest / easiest ``fraction`` sets over seed pairs, per (hp, width, width).

    ``mci``: (width, hp, seed, sample). Returns overlap_hard, overlap_easy (hp, width_a, width_b) and
    overlap_pairs (hp, width_a, width_b), the number of seed pairs averaged."""
    mci = mci.transpose("width", hp, "seed", "sample")
    widths, grid, seeds = mci["width"].values, mci[hp].values, mci["seed"].values
    P = mci.sizes["sample"]
    size = set_size(P, fraction)
    W, G = len(widths), len(grid)
    hard = np.full((G, W, W), np.nan)
    easy = np.full((G, W, W), np.nan)
    pairs = np.zeros((G, W, W), dtype=np.int64)
    values = mci.values
    for g in range(G):
        sets = {}
        for w in range(W):
            for s in range(len(seeds)):
                m = values[w, g, s]
                if np.isfinite(m).any():
                    sets[(w, s)] = (extreme_indices(m, fraction, "high"), extreme_indices(m, fraction, "low"))
        for a in range(W):
            for b in range(W):
                ov_h, ov_e = [], []
                for sa in range(len(seeds)):
                    for sb in range(len(seeds)):
                        if a == b and sa == sb:
                            continue
                        if (a, sa) not in sets or (b, sb) not in sets:
                            continue
                        ov_h.append(overlap_fraction(sets[(a, sa)][0], sets[(b, sb)][0], size))
                        ov_e.append(overlap_fraction(sets[(a, sa)][1], sets[(b, sb)][1], size))
                if ov_h:
                    hard[g, a, b], easy[g, a, b], pairs[g, a, b] = np.mean(ov_h), np.mean(ov_e), len(ov_h)
    dims = (hp, "width_a", "width_b")
    coords = {
        hp: grid,
        "width_a": ("width_a", widths, {"long_name": "width n of the first run of a pair", "units": "1"}),
        "width_b": ("width_b", widths, {"long_name": "width n of the second run of a pair", "units": "1"}),
    }
    what = f"{100 * fraction:g}%"
    ds = xr.Dataset(
        {
            "overlap_hard": (
                dims,
                hard,
                {"long_name": f"mean overlap of the hardest {what} (highest MCI) sets over seed pairs", "units": "1"},
            ),
            "overlap_easy": (
                dims,
                easy,
                {"long_name": f"mean overlap of the easiest {what} (lowest MCI) sets over seed pairs", "units": "1"},
            ),
            "overlap_pairs": (
                dims,
                pairs,
                {"long_name": "seed pairs averaged (identical runs excluded)", "units": "1"},
            ),
        },
        coords=coords,
    )
    return describe(ds)


# ---------------------------------------------------------------------------------- subset sweeps


def subset_sweep(
    sweep: xr.Dataset, index: np.ndarray, subset: str, widths=None, fraction: float | None = None
) -> xr.Dataset:
    """A sweep dataset whose metric ``final_loss_ema`` is the subset mean of the final per-example
    EMA loss (NaN for diverged runs), for :func:`~hptransfer.analysis.analyze_transfer`."""
    hp = sweep.attrs.get("hp", "lr")
    part = sweep if widths is None else sweep.sel(width=sorted(int(w) for w in widths))
    loss = part["val_loss_per_sample"].isel(sample=np.asarray(index)).mean("sample", skipna=False)
    loss = loss.where(~part["diverged"].astype(bool))
    pct = f"{100 * fraction:g}% " if fraction is not None else ""
    ds = xr.Dataset(
        {
            "final_loss_ema": loss.transpose("width", hp, "seed").assign_attrs(
                long_name=f"final EMA validation loss on the {subset} subset ({pct}of the examples, by MCI)",
                units=part["val_loss_per_sample"].attrs.get("units", ""),
            ),
            "diverged": part["diverged"].astype(bool),
        }
    )
    ds = describe(ds)
    ds.attrs = {
        "study": f"{sweep.attrs.get('study', '')} ({subset} {pct.strip()})".replace(" )", ")"),
        "hp": hp,
        "metric": "final_loss_ema",
        "kind": sweep.attrs.get("kind", "samplewise"),
        "subset": subset,
        "subset_size": int(len(index)),
        "config": sweep.attrs.get("config", "{}"),
    }
    return ds


# ------------------------------------------------------------------------------------ the analysis


def analyze_samplewise(
    sweep: xr.Dataset,
    reference: xr.Dataset,
    settings: dict | None = None,
    images: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict[str, xr.Dataset]:
    """samplewise.nc, sweep_easy.nc and sweep_hard.nc of a sample-wise study.

    ``reference``: the run dataset of the reference run (see :func:`reference_run`); ``images``: a
    function from validation indices to images in pixel space (len, H, W, C) in [0, 1]
    (:meth:`hptransfer.data.images.ImageArrays.raw_val`), or None (no example images stored).
    """
    settings = {**DEFAULTS, **(settings or {})}
    hp = sweep.attrs.get("hp", "lr")
    width, lr, seed = reference_run(sweep, settings)
    for name in ("mci", "psi"):
        if name not in reference:
            raise ValueError(f"the reference run has no {name!r}: was the decomposition enabled?")
    if bool(reference["diverged"]):
        raise ValueError(
            f"the reference run (width {width}, {hp} {lr:g}, seed {seed}) diverged; choose samplewise.reference_lr"
        )
    mci_ref = reference["mci"].values
    P = mci_ref.size
    easy = extreme_indices(mci_ref, settings["easy_fraction"], "low")
    hard = extreme_indices(mci_ref, settings["hard_fraction"], "high")

    overlaps = overlap_matrices(sweep["mci"], settings["overlap_fraction"], hp)
    examples, example_coords = _example_variables(reference, settings, images)
    data = {
        "mci_reference": ("sample", mci_ref, {"long_name": "mean component index of the reference run", "units": "1"}),
        "mci_mean": (
            ("width", hp, "seed"),
            sweep["mci"].mean("sample").transpose("width", hp, "seed").values,
            {"long_name": "mean MCI over the validation examples per run", "units": "1"},
        ),
        "val_label": ("sample", reference["val_label"].values, {"long_name": "class label", "units": "1"}),
        "easy": (
            "sample",
            np.isin(np.arange(P), easy),
            {"long_name": f"easy subset: lowest {100 * settings['easy_fraction']:g}% reference MCI", "units": "1"},
        ),
        "hard": (
            "sample",
            np.isin(np.arange(P), hard),
            {"long_name": f"hard subset: highest {100 * settings['hard_fraction']:g}% reference MCI", "units": "1"},
        ),
        **examples,
    }
    coords = {
        "sample": np.arange(P, dtype=np.int64),
        "width": sweep["width"].values,
        hp: sweep[hp].values,
        "seed": sweep["seed"].values,
        **example_coords,
    }
    ds = describe(xr.Dataset(data, coords=coords).merge(overlaps), _EXAMPLE_COORDINATES)
    ds.attrs = {
        "study": sweep.attrs.get("study", ""),
        "hp": hp,
        "reference_width": width,
        "reference_lr": lr,
        "reference_seed": seed,
        "n_samples": P,
        "n_components": int(reference.sizes["component"]),
        "easy_size": int(easy.size),
        "hard_size": int(hard.size),
        "overlap_size": set_size(P, settings["overlap_fraction"]),
        "mci_mean_reference": float(np.nanmean(mci_ref)),
        "settings": json.dumps(settings, sort_keys=True, default=float),
        "method": "MCI over the stored components (j <= min(width, max_components)); overlap = "
        "|S1 & S2| / (fraction * P) averaged over seed pairs, identical runs excluded",
    }
    log.info("reference run n=%d %s=%g seed %d: mean MCI %.3f", width, hp, lr, seed, ds.attrs["mci_mean_reference"])
    widths = settings["subset_widths"]
    return {
        "samplewise": ds,
        "sweep_easy": subset_sweep(sweep, easy, "easy", widths, settings["easy_fraction"]),
        "sweep_hard": subset_sweep(sweep, hard, "hard", widths, settings["hard_fraction"]),
    }


def _example_variables(reference: xr.Dataset, settings: dict, images) -> tuple[dict, dict]:
    """The ``examples`` validation examples at each end of the reference run's MCI order (NaN MCI
    left out): their index, MCI, label, first ``example_components`` components and, with
    ``images``, pixels. Returns the variables and their coordinates (side, rank, component)."""
    mci_ref = reference["mci"].values
    n_ex = min(int(settings["examples"]), mci_ref.size)
    n_comp = min(int(settings["example_components"]), reference.sizes["component"])
    order = np.argsort(np.where(np.isfinite(mci_ref), mci_ref, np.inf), kind="stable")
    finite = order[np.isfinite(mci_ref[order])]
    chosen = np.stack([finite[:n_ex], finite[::-1][:n_ex]])  # (side, rank)
    psi = reference["psi"].values[:, :n_comp]
    data = {
        "example_index": (("side", "rank"), chosen, {"long_name": "validation example (sample index)", "units": "1"}),
        "example_mci": (("side", "rank"), mci_ref[chosen], {"long_name": "MCI of the example", "units": "1"}),
        "example_label": (
            ("side", "rank"),
            reference["val_label"].values[chosen],
            {"long_name": "class label", "units": "1"},
        ),
        "example_psi": (
            ("side", "rank", "component"),
            psi[chosen],
            {
                "long_name": "per-example component psi_ij of the reference run",
                "units": reference["psi"].attrs.get("units", ""),
            },
        ),
    }
    if images is not None:
        pix = np.asarray(images(chosen.ravel()), dtype=np.float32)
        data["example_image"] = (
            ("side", "rank", "y", "x", "channel"),
            pix.reshape(*chosen.shape, *pix.shape[1:]),
            {"long_name": "validation image in pixel space [0, 1]", "units": "1"},
        )
    coords = {
        "side": ["lowest", "highest"],
        "rank": np.arange(1, n_ex + 1),
        "component": np.arange(1, n_comp + 1, dtype=np.int64),
    }
    return data, coords


_EXAMPLE_COORDINATES = {
    "side": ("end of the reference run's MCI order the examples come from (lowest | highest)", "1"),
    "rank": ("rank of the example from that end (1: the most extreme)", "1"),
}


def reference_run_path(run_paths: list[str], sweep: xr.Dataset, settings: dict) -> str:
    """The run.nc among ``run_paths`` that is the reference run (matched on its attributes)."""
    from ..io import NETCDF_ENGINE

    width, lr, seed = reference_run(sweep, settings)
    for path in run_paths:
        with xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
            a = dict(ds.attrs)
        if int(a["width"]) == width and int(a["seed"]) == seed and np.isclose(float(a["hp_value"]), lr):
            return path
    raise ValueError(f"no run dataset for the reference run (width {width}, lr {lr:g}, seed {seed})")
