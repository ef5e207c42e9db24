"""A seeded fuzz of the config: mutated copies of a config that uses every kind of study, a user
table, figure settings and both kinds of corpus. Wrong types, out-of-range and non-finite numbers,
unknown keys at every level, hostile names and shell metacharacters in every string must each be
rejected by load_config with a message naming the key, or accepted into a config whose whole DAG
(run configs, outputs, figures, captions) builds; never a traceback, never an accepted config that
fails later. A sample also goes through the command line (exit status 2, no traceback)."""

from __future__ import annotations

import copy
import random
import re
from pathlib import PurePosixPath
from typing import Any, Callable, NamedTuple

import pytest
import yaml
from tiny import REPO, TINY_CORPUS, TINY_STUDY

from hptransfer import cli
from hptransfer.config.defaults import deep_merge
from hptransfer.config.errors import ConfigError
from hptransfer.config.load import load_config
from hptransfer.config.runs import enabled_studies, model_depth, study_run_keys, width_cost
from hptransfer.figures.catalogue import all_figures, companion_studies, figure_settings
from hptransfer.report import figure_caption
from hptransfer.studies import kind_of, run_config, run_paths, study_outputs
from hptransfer.studies.lm import coordcheck_settings
from hptransfer.studies.samplewise import reference_keys

SEED = 20261204
CASES = 300
METACHARS = "'; rm -rf ~ $(touch pwned) `id` | cat > x & [a]* \"\n"
HOSTILE = ["../escape", "a/b", ".hidden", "x y", "$(touch pwned)", "`id`", "a;b", "", "é"]
FREE_TEXT = ("description",)  # strings that are prose: any text is valid
# numbers that may be negative: width exponents of a table, axis limits of a figure
SIGNED = re.compile(r"^parametrizations\.|\.(ylim|xlim)\[")
NAMED = ("corpora", "parametrizations", "studies", "figures")  # blocks whose keys are names
# other values of the enumerations in BASE (valid or not in context: either outcome, never a traceback)
ENUMS = {
    "kind": ["lm", "compare", "rf_ridge", "twolayer", "samplewise"],
    "source": ["shakespeare", "wikitext103", "textfiles", "digits", "cifar10"],
    "hp": ["lr", "beta1", "beta2", "momentum", "weight_decay"],
    "name": ["adam", "adamw", "sgd", "muon", "dion"],
    "block": ["llama", "gpt2"],
    "task": ["sphere", "kindex"],
    "device": ["auto", "cpu", "cuda"],
}

BASE: dict[str, Any] = {
    "corpora": {
        "tiny": dict(TINY_CORPUS),
        "files": {
            "source": "textfiles",
            "train_glob": str(REPO / "docs" / "*.md"),
            "val_glob": str(REPO / "README.md"),
            "vocab_size": 300,
        },
    },
    "parametrizations": {
        "flat": {"description": "µP with a flat hidden init", "roles": {"hidden": {"init": 0.5, "lr": {"adam": 0.9}}}}
    },
    "studies": {
        "lm": deep_merge(
            TINY_STUDY,
            {
                "description": "the tiny LM study",
                "parametrizations": ["mup", "flat"],
                "grid": [0.004, 0.016],
                "widths": [16, 32],
                "analysis": {"reference_width": 16, "bootstrap": {"n": 20, "level": 0.9, "seed": 0}},
                "coordcheck": {"enabled": True, "steps": 3},
            },
        ),
        "cmp": deep_merge(TINY_STUDY, {"kind": "compare", "corpus": "files", "parametrizations": ["sp", "mup"]}),
        "rf": {"kind": "rf_ridge", "psi1": 4.0, "psi2_curves": [4, 8], "psi2_rates": [4, 8, 16], "lam": [0.2, 0.4]},
        "sph": {
            "kind": "twolayer",
            "task": "sphere",
            "grid": [0.002, 0.008],
            "widths": [16, 32],
            "seeds": [0],
            "steps": 20,
            "batch_size": 16,
            "val_size": 64,
        },
        "dig": {
            "kind": "samplewise",
            "dataset": {"source": "digits", "val_size": 100},
            "grid": [0.01, 0.04],
            "widths": [16, 32],
            "seeds": [0],
            "training": {"steps": 20, "batch_size": 32, "log_every": 10, "checkpoint_every": 10},
            "ema": {"window_start": 2, "window_end": 10, "ramp_steps": 10, "tau_start": 1, "tau_end": 3},
            "samplewise": {"reference_width": 16, "easy_fraction": 0.25},
        },
    },
    "figures": {
        "fig06_lm": {"dpi": 100, "linearized": True},
        "fig10_lm": {"lr": 0.01, "k_max": 8, "log_k": False},
        "fig03_schematic": {"alpha": 1.0, "widths": [1, 2, 4], "annotate_width": 1},
        "fig09_lm": {"ylim": [-0.1, 0.2]},
    },
    "threads": {"train": 1, "analysis": 1},
    "device": "cpu",
    "slurm": {"train_mem_mb_base": 2000, "train_runtime_min_per_kwidth": 30},
    "x-notes": {"anything": [1, "two"]},
}


class Mutation(NamedTuple):
    label: str
    path: str  # the key a rejection must name
    change: Callable[[dict], Any]  # changes the config in place (returns None) or returns a replacement
    expect: str  # "invalid", "valid" or "either" (accepted only if its whole DAG builds)

    def applied(self) -> Any:
        cfg = copy.deepcopy(BASE)
        replaced = self.change(cfg)
        return replaced.config if isinstance(replaced, Replace) else cfg


class Replace(NamedTuple):
    """What a mutation of the whole config returns: the config that replaces it."""

    config: Any


def _key(path: str, part) -> str:
    return f"{path}[{part}]" if isinstance(part, int) else (f"{path}.{part}" if path else part)


def _nodes(node, path="", parts=()):
    """(dotted path, key parts, value) of every node below the top level, x- blocks skipped."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for k, v in items:
        if not parts and str(k).startswith("x-"):
            continue
        yield _key(path, k), (*parts, k), v
        yield from _nodes(v, _key(path, k), (*parts, k))


def _setter(parts: tuple, value) -> Callable[[dict], None]:
    def apply(cfg):
        node = cfg
        for p in parts[:-1]:
            node = node[p]
        node[parts[-1]] = copy.deepcopy(value)

    return apply


def _deleter(parts: tuple) -> Callable[[dict], None]:
    def apply(cfg):
        node = cfg
        for p in parts[:-1]:
            node = node[p]
        del node[parts[-1]]

    return apply


def _renamer(parts: tuple, new: str) -> Callable[[dict], None]:
    def apply(cfg):
        node = cfg
        for p in parts[:-1]:
            node = node[p]
        node[new] = node.pop(parts[-1])

    return apply


def mutations() -> list[Mutation]:
    out = [
        Mutation("whole config a list", "<top level>", lambda cfg: Replace([cfg]), "invalid"),
        Mutation("whole config empty", "<top level>", lambda cfg: Replace(None), "invalid"),
        Mutation("no studies", "studies", lambda cfg: cfg.update(studies={}), "invalid"),
    ]
    for path, parts, value in _nodes(BASE):
        signed = bool(SIGNED.search(path))
        wrong = {bool: "yes", int: "12", float: "0.5", str: 12, list: {"a": 1}, dict: [1]}[type(value)]
        out.append(Mutation(f"type {wrong!r}", path, _setter(parts, wrong), "invalid"))
        if isinstance(value, dict):
            bogus = _setter((*parts, "bogus_key"), 1)
            out.append(
                Mutation("unknown key", _key(path, "bogus_key") if parts[-1] not in NAMED else path, bogus, "invalid")
            )
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            for bad in (float("nan"), float("inf"), float("-inf"), 1e300, -(10**15)):
                out.append(Mutation(f"number {bad}", path, _setter(parts, bad), "invalid"))
            out.append(Mutation("number -1", path, _setter(parts, -1), "either" if signed else "invalid"))
            for odd in (0, 2.5, 10**7):
                out.append(Mutation(f"number {odd}", path, _setter(parts, odd), "either"))
        if isinstance(value, bool):
            out.append(Mutation("flipped", path, _setter(parts, not value), "either"))
        if isinstance(value, list):
            out.append(Mutation("empty list", path, _setter(parts, []), "invalid"))  # no list of BASE may be
        if not isinstance(parts[-1], int):
            out.append(Mutation("deleted", path, _deleter(parts), "either"))
        for other in ENUMS.get(parts[-1], []) if isinstance(value, str) else []:
            if other != value:
                out.append(Mutation(f"enum {other}", path, _setter(parts, other), "either"))
        if isinstance(value, str):
            free = parts[-1] in FREE_TEXT
            out.append(
                Mutation(
                    "shell metacharacters", path, _setter(parts, value + METACHARS), "valid" if free else "invalid"
                )
            )
        if len(parts) == 2 and parts[0] in NAMED:
            for name in HOSTILE:
                out.append(Mutation(f"name {name!r}", parts[0], _renamer(parts, name), "invalid"))
    return out


def _inside_results(path: str) -> bool:
    p = PurePosixPath(path)
    return not p.is_absolute() and p.parts[0] == "results" and ".." not in p.parts


def build_dag(cfg: dict) -> None:
    """What Snakemake computes from a loaded config before any job: every rule's inputs, outputs,
    params and resources, the figures with their settings and captions; every path inside results/."""
    paths = []
    for name, study in enabled_studies(cfg).items():
        kind = kind_of(study)
        paths += study_outputs(cfg, name) + run_paths(cfg, name)
        kind.describe(study)
        if kind.trains_per_run:
            kind.data_files(cfg, study), kind.data_dir(cfg, study)
            for key in study_run_keys(cfg, name):
                run_config(cfg, key).to_dict()
                width_cost(key.width, model_depth(study["model"], key.width))
                paths.append(key.path)
        if study["kind"] in ("lm", "compare") and study.get("coordcheck", {}).get("enabled"):
            coordcheck_settings(cfg, name)
        if study["kind"] == "samplewise":
            reference_keys(cfg, name)
    for stem, (spec, study) in all_figures(cfg).items():
        figure_settings(cfg, spec, stem)
        if study:
            companion_studies(cfg, spec, study)
        figure_caption(cfg, spec.figure_id, [f"results/studies/{study}/{n}.nc" for n in spec.inputs] if study else [])
        paths.append(f"results/figures/{stem}.pdf")
    assert all(_inside_results(p) for p in paths), [p for p in paths if not _inside_results(p)]


PROBLEM_LINE = re.compile(r"  (<top level>|[^ :]+(, [^ :]+)*): \S")  # "  <key>[, <key>…]: what is wrong"


def _strip_index(path: str) -> str:
    return re.sub(r"\[\d+\]$", "", path)


def check(m: Mutation, cfg: dict) -> str:
    """Load the mutated config; 'accepted' or 'rejected', asserting what the mutation expects."""
    try:
        loaded = load_config(cfg)
    except ConfigError as exc:
        msg = str(exc)
        assert m.expect != "valid", f"{m.label} at {m.path}: a valid config was rejected:\n{msg}"
        # a wrong value is named where it is; a change that is wrong only in context (a deleted block,
        # another kind) where its consequence shows, but always as "  <key>: what is wrong"
        if m.expect == "invalid":
            assert _strip_index(m.path) in msg, f"{m.label} at {m.path}: the message does not name the key:\n{msg}"
        assert all(PROBLEM_LINE.match(line) for line in msg.splitlines()[1:]), msg
        return "rejected"
    assert m.expect != "invalid", f"{m.label} at {m.path}: an invalid config was accepted"
    build_dag(loaded)  # accepted: nothing may fail later, at DAG time
    return "accepted"


def _sample() -> list[Mutation]:
    every = mutations()
    assert len(every) > 400  # the sample is drawn from all of them
    return random.Random(SEED).sample(every, CASES)


def test_the_base_config_is_valid_and_builds():
    build_dag(load_config(copy.deepcopy(BASE)))


def test_fuzzed_configs_are_rejected_naming_the_key_or_build(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # anything a mutation could make write would land here
    outcomes = {"rejected": 0, "accepted": 0}
    for i, m in enumerate(_sample()):
        cfg = m.applied()
        outcome = check(m, cfg)
        outcomes[outcome] += 1
        if i % 8 == 0:  # the command line gives the same verdict, as one line per problem
            path = tmp_path / f"case{i}.yaml"
            path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
            with pytest.raises(SystemExit) if outcome == "rejected" else _no_exit():
                cli.main(["validate-config", str(path)])
            err = capsys.readouterr().err
            assert "Traceback" not in err
            if outcome == "rejected":
                assert err.startswith("hptransfer validate-config: error: invalid config:\n"), err
    assert not list(tmp_path.glob("pwned")) and not (tmp_path / "x").exists()
    assert outcomes["rejected"] > 100 and outcomes["accepted"] > 5, outcomes


class _no_exit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
