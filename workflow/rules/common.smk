# Config validation (before any job starts), wildcard constraints and input functions.
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))

from hptransfer.config.errors import ConfigError  # noqa: E402
from hptransfer.config.load import load_config  # noqa: E402
from hptransfer.config.runs import RunKey, enabled_studies, model_depth, width_cost  # noqa: E402
from hptransfer.figures.catalogue import (  # noqa: E402
    all_figures,
    idle_figure_settings,
    single_study_figures,
)
from hptransfer.studies import advice_targets as study_advice_targets  # noqa: E402
from hptransfer.studies import kind_of, run_config, run_paths, study_outputs  # noqa: E402

try:
    CFG = load_config(config)  # schema, cross-checks, data files of enabled studies, figure settings
except ConfigError as _exc:
    raise WorkflowError(str(_exc)) from None

# once, by the process the user started, not again by every job that re-parses the workflow
if workflow.is_main_process:
    for _note in idle_figure_settings(CFG):
        print(f"hptransfer: {_note}", file=sys.stderr)

PLOTS = Path("workflow/hptransfer/figures")
# the analysis code and the defaults it reads, an input of every analysis rule: a change to them
# redoes the (cheap) analyses and the figures drawn from them, never the training runs
ANALYSIS_CODE = sorted(
    str(p.relative_to(workflow.basedir))
    for p in [
        *(Path(workflow.basedir) / "workflow/hptransfer/analysis").glob("*.py"),
        Path(workflow.basedir) / "workflow/hptransfer/config/defaults.py",
    ]
)


def training_gpus():
    """GPUs a training job holds: one where training will run on CUDA, none on a CPU machine, so
    `--resources gpu=1` serialises training on a one-GPU workstation and CPU runs stay parallel."""
    if CFG["device"] == "cpu":
        return 0
    if CFG["device"] == "cuda":
        return CFG["slurm"]["train_gpus"]
    import shutil

    return CFG["slurm"]["train_gpus"] if shutil.which("nvidia-smi") else 0


def _alternation(names):
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) or "(?!)"


wildcard_constraints:
    study=_alternation(CFG["studies"]),
    param=_alternation(CFG["parametrizations"]),
    corpus=_alternation(CFG["corpora"]),
    width=r"[1-9][0-9]*",
    hp=r"lr|beta1|beta2|momentum|weight_decay",
    value=r"[0-9]+(\.[0-9]+)?",
    seed=r"[0-9]+",
    figure=_alternation(all_figures(CFG, enabled_only=False)),


def run_key(wc):
    return RunKey(wc.study, wc.param, int(wc.width), wc.hp, wc.value, int(wc.seed))


def study_of(wc):
    return CFG["studies"][wc.study]


def training_data(wc):
    """The data files a study's training jobs read (its kind says which)."""
    return kind_of(study_of(wc)).data_files(CFG, study_of(wc))


def training_data_dir(wc):
    return kind_of(study_of(wc)).data_dir(CFG, study_of(wc))


def figure_files(stems):
    return [f"results/figures/{stem}.{ext}" for stem in stems for ext in ("pdf", "png")]


def study_targets(name):
    """One study's datasets and the figures drawn from it alone (`snakemake study_<name>` builds
    just these; figures that set several studies side by side come with `all`)."""
    return study_outputs(CFG, name) + figure_files(single_study_figures(CFG, name))


def all_targets():
    """Every study's datasets and figures, and the report front page's table of verdicts."""
    studies = [t for name in enabled_studies(CFG) for t in study_outputs(CFG, name)]
    return studies + figure_files(all_figures(CFG)) + ["results/verdicts.rst"]


# ----------------------------------------------------------------------------- rule helpers


def train_mem_mb(wc, attempt):
    s = CFG["slurm"]
    return int(s["train_mem_mb_base"] + s["train_mem_mb_per_kwidth"] * int(wc.width) / 1024)


def train_runtime(wc, attempt):
    model = CFG["studies"][wc.study]["model"]
    depth = model_depth(model, int(wc.width))
    minutes = 10 + CFG["slurm"]["train_runtime_min_per_kwidth"] * width_cost(int(wc.width), depth) * 4
    return int(minutes * attempt)


def summary_inputs(wc):
    out = {"transfer": f"results/studies/{wc.study}/transfer.nc", "advice": f"results/studies/{wc.study}/advice.nc"}
    if CFG["studies"][wc.study].get("decomposition", {}).get("enabled", False):
        out["kappa"] = f"results/studies/{wc.study}/kappa.nc"
        out["sweep"] = f"results/studies/{wc.study}/sweep.nc"  # its runs' linearisation gap
    return out


VERDICT_DATASETS = ("transfer.nc", "comparison.nc", "rf.nc")


def verdict_inputs(wc):
    """The analysis datasets that carry each enabled study's verdict (transfer, comparison or rf):
    the inputs of the report front page's table (rule `verdicts`)."""
    return [
        path
        for name in enabled_studies(CFG)
        for path in study_outputs(CFG, name)
        if Path(path).name in VERDICT_DATASETS
    ]


def advice_targets(wc):
    """The advice's target widths (analysis.advise_widths, or multiples of the largest width)."""
    return study_advice_targets(CFG["studies"][wc.study])


def vocab_size(wc):
    """A language-model study's vocabulary size, for the advice's FLOP count (None for other kinds)."""
    study = CFG["studies"][wc.study]
    return CFG["corpora"][study["corpus"]]["vocab_size"] if "corpus" in study else None
