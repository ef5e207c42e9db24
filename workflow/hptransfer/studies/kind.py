"""What a kind of study is: one :class:`StudyKind` per kind, registered in :mod:`hptransfer.studies`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class StudyKind:
    """Everything the config code, the rules, ``collect`` and ``train`` need to know about one kind.

    name: the ``kind:`` of a study block. schema: its ``$defs`` entry in ``config/schema.yaml``.
    defaults: the study block's defaults (from :mod:`hptransfer.config.defaults`).
    problems(cfg, where, study): cross-field checks the schema cannot express, one line each.
    input_problems(cfg, where, study): the data files it names that are not there (checked for
    enabled studies when the config is loaded, so before any job), one line each.
    run_paths(cfg, name): the datasets its training writes (the inputs of its ``collect``); None for
    kinds trained one job per run (one run.nc per run, at the study that trains it).
    outputs(cfg, name): the study-level datasets it produces (its targets).
    run_config(cfg, key): one run's config, for kinds trained one job per run by the ``train`` rule.
    data_files(cfg, study) / data_dir(cfg, study): the data its training jobs read.
    collector: the function of :mod:`hptransfer.collect` that stacks its runs into sweep.nc.
    keeps_param_dim: its sweep keeps the ``param`` dim even with one parametrization (comparisons).
    describe(study): its key settings, one short phrase each (report captions).
    figures(): the figures of the catalogue it feeds.
    """

    name: str
    schema: str
    defaults: dict[str, Any]
    problems: Callable[[dict, str, dict], list[str]]
    run_paths: Callable[[dict, str], list[str]] | None  # None: one run.nc per run (see studies.run_paths)
    outputs: Callable[[dict, str], list[str]]
    describe: Callable[[dict], list[str]]
    run_config: Callable[[dict, Any], dict] | None = None
    data_files: Callable[[dict, dict], list[str]] | None = None
    data_dir: Callable[[dict, dict], str] | None = None
    collector: str | None = None
    keeps_param_dim: bool = False
    input_problems: Callable[[dict, str, dict], list[str]] | None = None

    def figures(self) -> tuple:
        """The catalogue's figures this kind can feed (the catalogue decides; each FigureSpec names the
        kinds it draws)."""
        from ..figures.catalogue import CATALOGUE

        return tuple(spec for spec in CATALOGUE if self.name in spec.kinds)

    @property
    def trains_per_run(self) -> bool:
        """Trained one job per (parametrization, width, value, seed) by the ``train`` rule."""
        return self.run_config is not None


def study_dir(name: str) -> str:
    return f"results/studies/{name}"
