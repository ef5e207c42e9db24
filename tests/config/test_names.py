"""Names that become path components (studies, corpora, parametrization tables, figure stems) are
restricted by the schema, and every path the workflow writes stays inside results/."""

from __future__ import annotations

import copy
import os
from pathlib import PurePosixPath

import pytest
from tiny import raw_config
from workflow_utils import copy_workflow, snakemake, write_config

from hptransfer.config.errors import ConfigError
from hptransfer.config.load import load_config
from hptransfer.config.runs import corpus_dir, study_run_keys
from hptransfer.figures.catalogue import all_figures
from hptransfer.studies import run_paths, study_outputs

HOSTILE = [
    "../../../escape_rf",
    "a/b",
    "/abs",
    "..",
    ".hidden",
    "with space",
    "$(touch pwned)",
    "`id`",
    "a;rm -rf ~",
    "tab\tname",
    "new\nline",
    "",
    "x" * 101,
    "ünïcode",
]

RF = {"kind": "rf_ridge", "psi2_curves": [4, 8], "psi2_rates": [4, 8, 16], "simulation": {"d": 10, "n_draws": 1}}


def _renamed(where: str, name: str) -> dict:
    """The tiny config with one name in ``where`` replaced by ``name`` (references kept consistent)."""
    cfg = raw_config()
    if where == "studies":
        cfg["studies"][name] = cfg["studies"].pop("s")
    elif where == "corpora":
        cfg["corpora"][name] = cfg["corpora"].pop("tiny")
        cfg["studies"]["s"]["corpus"] = name
    elif where == "parametrizations":
        cfg["parametrizations"] = {name: {"roles": {"hidden": {"init": 0.5}}}}
        cfg["studies"]["s"]["parametrizations"] = [name]
    else:
        cfg["figures"] = {name: {"dpi": 100}}
    return cfg


@pytest.mark.parametrize("where", ["studies", "corpora", "parametrizations", "figures"])
@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_hostile_names_are_rejected_naming_the_key(where, name):
    with pytest.raises(ConfigError) as info:
        load_config(_renamed(where, name))
    msg = str(info.value)
    assert f"  {where}: {name!r} is not a valid name" in msg, msg


def test_the_reported_escape_is_rejected_before_any_job():
    cfg = raw_config()
    cfg["studies"]["../../../escape_rf"] = copy.deepcopy(RF)
    with pytest.raises(ConfigError, match=r"studies: '\.\./\.\./\.\./escape_rf' is not a valid name"):
        load_config(cfg)


# names at the edges of what the pattern allows: leading dash and digit, dots inside and at the end
EDGE = {"study": "-a.b_c", "rf": "9x..y.", "corpus": "c.-_9", "table": "t..1"}


def _edge_config() -> dict:
    cfg = raw_config()
    cfg["corpora"] = {EDGE["corpus"]: cfg["corpora"]["tiny"]}
    study = cfg["studies"].pop("s")
    study |= {"corpus": EDGE["corpus"], "parametrizations": [EDGE["table"], "mup"], "widths": [16, 32]}
    cfg["parametrizations"] = {EDGE["table"]: {"roles": {"hidden": {"init": 0.5}}}}
    cfg["studies"] = {EDGE["study"]: study, EDGE["rf"]: copy.deepcopy(RF)}
    return cfg


def _inside_results(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return not PurePosixPath(path).is_absolute() and parts[0] == "results" and ".." not in parts


def test_every_output_path_of_the_package_stays_inside_results():
    cfg = load_config(_edge_config())
    paths = [corpus_dir(EDGE["corpus"])]
    for name in cfg["studies"]:
        paths += study_outputs(cfg, name) + run_paths(cfg, name)
        paths += [key.path for key in study_run_keys(cfg, name)] if "grid" in cfg["studies"][name] else []
    paths += [f"results/figures/{stem}.png" for stem in all_figures(cfg)]
    assert len(paths) > 20
    outside = [p for p in paths if not _inside_results(p) or os.path.normpath(p) != p]
    assert not outside


def test_every_file_snakemake_plans_stays_inside_results(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    write_config(work / "names.yaml", _edge_config())
    out = snakemake(work, "-n", "--configfile", "names.yaml", "--summary").stdout
    planned = [line.split("\t")[0] for line in out.splitlines() if "\t" in line and not line.startswith("output_file")]
    assert any(EDGE["study"] in p for p in planned) and any(EDGE["table"] in p for p in planned)
    assert [p for p in planned if not _inside_results(p) or os.path.normpath(p) != p] == []
