"""Workflow tests through the snakemake CLI: lint, config errors, job counts, the smoke preset end
to end, and rerun semantics (what a change invalidates, and nothing more)."""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr
from workflow_utils import (
    REPO,
    SMOKE,
    clone_run,
    copy_workflow,
    dry_run_jobs,
    load_yaml,
    placeholder_paper_data,
    snakemake,
    write_config,
)

from hptransfer.config.load import load_config, read_config_file
from hptransfer.config.runs import enabled_studies, study_run_keys
from hptransfer.figures.catalogue import all_figures, single_study_figures
from hptransfer.studies import run_owner
from hptransfer.studies.lm import coordcheck_block


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return placeholder_paper_data(copy_workflow(tmp_path_factory.mktemp("wf")))


def studies_of(cfg: dict, *kinds: str) -> dict:
    """The enabled studies of these kinds (the test's own count, independent of the registry)."""
    return {n: s for n, s in enabled_studies(cfg).items() if s["kind"] in kinds}


def expected_train_jobs(cfg: dict) -> int:
    """Unique training runs over enabled LM studies (shared runs are trained once)."""
    keys = {
        run_owner(cfg, k) for name in studies_of(cfg, "lm", "compare", "samplewise") for k in study_run_keys(cfg, name)
    }
    return len(keys)


def test_lint_is_clean(workdir):
    out = snakemake(workdir, "--lint")
    assert "Congratulations" in out.stdout + out.stderr


@pytest.mark.parametrize("config", ["config.yaml", SMOKE])
def test_dry_run_job_counts_match_the_grids(workdir, config):
    cfg = load_config(read_config_file(REPO / config))
    jobs = dry_run_jobs(workdir, "--configfile", config)
    assert jobs["train"] == expected_train_jobs(cfg)
    lm = studies_of(cfg, "lm")
    for name, s in lm.items():
        # each LM study alone trains exactly its grid (no sharing inside one study)
        assert len(list(study_run_keys(cfg, name))) == len(s["widths"]) * len(s["grid"]) * len(s["seeds"])
    twolayer = studies_of(cfg, "twolayer")
    assert jobs.get("twolayer_width", 0) == sum(len(s["widths"]) for s in twolayer.values())
    assert jobs["collect"] == len(studies_of(cfg, "lm", "compare", "twolayer", "samplewise"))
    assert jobs.get("rf_ridge", 0) == len(studies_of(cfg, "rf_ridge"))
    checked = [n for n, s in studies_of(cfg, "lm", "compare").items() if coordcheck_block(s)["enabled"]]
    assert jobs.get("coordcheck", 0) == jobs.get("figure_coordcheck", 0) == len(checked)


def test_default_shares_mup_runs_between_lr_study_and_comparison(workdir):
    cfg = load_config(read_config_file(REPO / "config.yaml"))
    compare = [k for k in study_run_keys(cfg, "param_compare")]
    owners = {k: run_owner(cfg, k) for k in compare}
    shared = [k for k, o in owners.items() if o.study != k.study]
    assert shared and all(k.param == "mup" for k in shared)
    assert len(shared) == len([k for k in compare if k.param == "mup"])


def test_invalid_config_fails_before_any_job_and_names_the_key(workdir, tmp_path):
    cfg = load_yaml(REPO / SMOKE)
    cfg["studies"]["llama_adam_lr"]["widths"] = [16, -32]
    bad = write_config(tmp_path / "bad.yaml", cfg)
    proc = snakemake(workdir, "-n", "--configfile", str(bad), check=False)
    assert proc.returncode != 0
    assert "studies.llama_adam_lr.widths[1]" in proc.stdout + proc.stderr
    assert not (workdir / "results").exists()


def test_idle_figure_setting_is_noted_once_when_the_workflow_is_parsed(workdir, tmp_path):
    cfg = load_yaml(REPO / SMOKE)
    # Fig 23 of the LR study needs a β-sweep companion, which the smoke preset does not enable
    cfg["figures"] = dict(cfg.get("figures") or {}, fig23_llama_adam_lr={"dpi": 90})
    proc = snakemake(workdir, "-n", "--configfile", str(write_config(tmp_path / "idle.yaml", cfg)))
    note = "hptransfer: figures.fig23_llama_adam_lr: has no effect, it needs a companion study"
    assert (proc.stdout + proc.stderr).count(note) == 1


@pytest.mark.slow
def test_smoke_preset_end_to_end(smoke_run):
    sweep = xr.open_dataset(smoke_run / "results/studies/llama_adam_lr/sweep.nc")
    cfg = load_yaml(REPO / SMOKE)["studies"]["llama_adam_lr"]
    assert dict(sweep.sizes)["width"] == len(cfg["widths"])
    assert dict(sweep.sizes)["lr"] == len(cfg["grid"])
    assert dict(sweep.sizes)["seed"] == len(cfg["seeds"])
    assert sweep["final_loss_ema"].dims == ("width", "lr", "seed")
    assert sweep["diverged"].dtype == bool
    for name in ("transfer.nc", "kappa.nc", "summary.md"):
        assert (smoke_run / "results/studies/llama_adam_lr" / name).stat().st_size > 0
    for ext in ("pdf", "png"):
        assert (smoke_run / f"results/figures/fig06_llama_adam_lr.{ext}").stat().st_size > 1000
    assert (smoke_run / "results/logs/runs/llama_adam_lr/mup/n16/lr0.004/s0.log").read_text().count("tokens/s") > 0


@pytest.mark.slow
def test_nothing_to_do_after_a_full_run(smoke_run):
    assert dry_run_jobs(smoke_run, "--configfile", SMOKE) == {}


@pytest.mark.slow
def test_changing_one_figure_setting_redraws_only_that_figure(smoke_run, tmp_path):
    work = clone_run(smoke_run, tmp_path / "w")
    cfg = load_yaml(work / SMOKE)
    cfg["figures"] = {"fig06_llama_adam_lr": {"dpi": 120}}
    changed = write_config(work / "changed.yaml", cfg)
    assert dry_run_jobs(work, "--configfile", str(changed)) == {"figure_fig06": 1, "all": 1}


def _jobs_after_editing(smoke_run: Path, tmp_path: Path, module: str) -> dict[str, int]:
    """The jobs a rerun of the finished smoke run would do after a comment is added to ``module``."""
    work = clone_run(smoke_run, tmp_path / "w")
    path = work / "workflow/hptransfer" / module
    path.write_text(path.read_text() + "\n# an edit\n")
    return dry_run_jobs(work, "--configfile", SMOKE)


@pytest.mark.slow
def test_changing_the_style_module_redraws_figures_only(smoke_run, tmp_path):
    jobs = _jobs_after_editing(smoke_run, tmp_path, "figures/style.py")
    assert jobs.pop("all") == 1
    assert jobs and all(rule.startswith("figure_") for rule in jobs)


@pytest.mark.slow
def test_changing_the_analysis_code_redoes_analyses_and_figures_not_training(smoke_run, tmp_path):
    jobs = _jobs_after_editing(smoke_run, tmp_path, "analysis/fits.py")
    assert {"transfer", "kappa", "advise", "summary", "compare"} <= set(jobs)
    assert any(rule.startswith("figure_") for rule in jobs)
    assert not {"prepare_data", "train", "collect", "twolayer_width", "rf_ridge"} & set(jobs)


@pytest.mark.slow
def test_adding_one_learning_rate_adds_exactly_its_runs(smoke_run, tmp_path):
    work = clone_run(smoke_run, tmp_path / "w")
    cfg = load_yaml(work / SMOKE)
    study = cfg["studies"]["llama_adam_lr"]
    study["grid"] = sorted(study["grid"] + [0.008])
    changed = write_config(work / "changed.yaml", cfg)
    jobs = dry_run_jobs(work, "--configfile", str(changed))
    assert jobs["train"] == len(study["widths"]) * len(study["seeds"])
    # the study's downstream redoes; other studies (sphere, rf_ridge) are untouched
    assert jobs["collect"] == 1 and jobs["transfer"] == 1
    assert "twolayer_width" not in jobs and "rf_ridge" not in jobs
    assert "prepare_data" not in jobs


@pytest.mark.slow
def test_changing_one_figure_module_redraws_only_that_figure(smoke_run, tmp_path):
    assert _jobs_after_editing(smoke_run, tmp_path, "figures/linearization.py") == {"figure_fig07": 1, "all": 1}


@pytest.mark.slow
def test_adding_one_width_adds_its_runs_and_redoes_that_study_alone(smoke_run, tmp_path):
    work = clone_run(smoke_run, tmp_path / "w")
    cfg = load_yaml(work / SMOKE)
    study = cfg["studies"]["llama_adam_lr"]
    study["widths"] = study["widths"] + [48]
    changed = write_config(work / "changed.yaml", cfg)
    jobs = dry_run_jobs(work, "--configfile", str(changed))
    assert jobs.pop("train") == len(study["grid"]) * len(study["seeds"])
    assert {jobs.pop(rule) for rule in ("collect", "transfer", "kappa", "advise", "summary", "verdicts", "all")} == {1}
    # figures of llama_adam_lr, each once; the comparison (its own widths), sphere and rf untouched
    assert jobs and all(rule.startswith("figure_") and n == 1 for rule, n in jobs.items())
    assert not {"figure_fig03", "figure_fig04", "figure_fig05", "compare", "figure_compare_sweeps"} & set(jobs)


@pytest.mark.parametrize("preset", ["workflow/presets/paper.yaml", "workflow/presets/workstation.yaml"])
def test_large_presets_build_their_dag_with_the_expected_job_counts(workdir, preset):
    cfg = load_config(read_config_file(REPO / preset), check_data=False)
    jobs = dry_run_jobs(workdir, "--configfile", preset)
    assert jobs["train"] == expected_train_jobs(cfg)
    # every paper figure once: each LM study draws the figures of its family (figures/catalogue.py)
    figures = {rule: n for rule, n in jobs.items() if rule.startswith("figure_fig")}
    assert {f"figure_fig{i:02d}" for i in (1, *range(6, 13), *range(18, 33))} <= set(figures)
    assert set(figures.values()) == {1}
    if preset.endswith("paper.yaml"):
        # paper §5.1: 5 widths × 8 learning rates × 3 seeds
        assert len(list(study_run_keys(cfg, "llama_adam_lr"))) == 120
        assert jobs["twolayer_width"] == 14 + 15 + 15


def test_gpu_comparison_preset_tests_the_adaptive_claim_at_its_scale(workdir):
    """workflow/presets/gpu.yaml: SP/µP/adaptive at widths 256–4096, fixed and growing depth, tuned
    at 256, with weight decay on (the adaptive scheme's exponent acts), at least 3 seeds."""
    preset = "workflow/presets/gpu.yaml"
    cfg = load_config(read_config_file(REPO / preset), check_data=False)
    jobs = dry_run_jobs(workdir, "--configfile", preset)
    studies = cfg["studies"]
    for s in studies.values():
        assert s["kind"] == "compare" and s["parametrizations"] == ["sp", "mup", "adaptive"]
        assert s["widths"][0] == 256 and s["analysis"]["reference_width"] == 256 and max(s["widths"]) >= 2048
        assert s["optimizer"]["name"] == "adamw" and s["optimizer"]["weight_decay"] > 0 and len(s["seeds"]) >= 3
    assert cfg["parametrizations"]["adaptive"]["roles"]["hidden"]["wd"] > 0
    assert studies["adaptive_growing_depth"]["model"]["depth_rule"]["rule"] == "grow"
    # 2 studies × 3 schemes × 5 widths × 10 values × 3 seeds, less the runs at width 256, where both
    # studies have depth 4 and so share them (3 schemes × 10 values × 3 seeds)
    assert jobs["train"] == expected_train_jobs(cfg) == 2 * 3 * 5 * 10 * 3 - 3 * 10 * 3
    assert jobs["compare"] == 2


def test_gpu_hour_preset_builds_the_lr_study_and_the_sp_comparison(workdir):
    preset = "workflow/presets/gpu-hour.yaml"
    cfg = load_config(read_config_file(REPO / preset), check_data=False)
    jobs = dry_run_jobs(workdir, "--configfile", preset)
    lm, compare = cfg["studies"]["llama_adam_lr"], cfg["studies"]["sp_vs_mup"]
    assert lm["widths"] == compare["widths"] == [128, 256, 512, 1024] and lm["decomposition"]["enabled"]
    # µP: 4 widths × 8 values × 2 seeds, shared with the comparison, which adds SP's
    assert jobs["train"] == expected_train_jobs(cfg) == 2 * 4 * 8 * 2
    assert {"figure_fig06", "figure_fig08", "figure_compare_transfer_error"} <= set(jobs)
    steps, batch, context = lm["training"]["steps"], lm["training"]["batch_size"], lm["model"]["context"]
    assert steps * batch * context < 10_000_000  # a run reads under a tenth of WikiText-103's ~120M tokens


@pytest.mark.parametrize("study", ["llama_adam_lr", "llama_muon_lr", "param_compare", "sphere", "digits_sgd"])
def test_study_target_builds_that_study_alone(workdir, study):
    """`snakemake study_<name>`: the runs the study reads (shared ones included), its analyses and
    the figures drawn from it alone; nothing of the other studies, even where it owns a figure that
    sets it beside them (llama_adam_lr's Fig 23 with the β sweeps, left to `all`)."""
    preset = "workflow/presets/workstation.yaml"
    cfg = load_config(read_config_file(REPO / preset))
    jobs = dry_run_jobs(workdir, "--configfile", preset, "--", f"study_{study}")
    kind = cfg["studies"][study]["kind"]
    runs = {run_owner(cfg, k) for k in study_run_keys(cfg, study)} if kind != "twolayer" else set()
    assert jobs.get("train", 0) == len(runs)
    assert jobs.get("twolayer_width", 0) == (len(cfg["studies"][study]["widths"]) if kind == "twolayer" else 0)
    assert jobs["collect"] == 1 and "rf_ridge" not in jobs
    alone = single_study_figures(cfg, study)
    assert sum(n for rule, n in jobs.items() if rule.startswith("figure_")) == len(alone) > 0
    if study == "llama_adam_lr":
        assert all_figures(cfg)["fig23_llama_adam_lr"][1] == study and "figure_fig23" not in jobs
    assert jobs[f"study_{study}"] == 1 and "all" not in jobs


def test_time_studies_runs_one_study_and_resumes_with_nothing_left(tmp_path):
    """benchmarks/time_studies.py: one TSV line per study with the jobs it ran; a rerun runs none."""
    import shutil
    import subprocess
    import sys

    work = copy_workflow(tmp_path / "w")
    shutil.copytree(REPO / "benchmarks", work / "benchmarks")
    expected = sum(dry_run_jobs(work, "--configfile", SMOKE, "--", "study_rf_ridge").values()) - 1

    def run() -> list[list[str]]:
        subprocess.run(
            [
                sys.executable,
                "benchmarks/time_studies.py",
                "--configfile",
                SMOKE,
                "--cores",
                "1",
                "--log",
                "results/benchmarks/studies.tsv",
                "rf_ridge",
            ],
            cwd=work,
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
        return [line.split("\t") for line in (work / "results/benchmarks/studies.tsv").read_text().splitlines()]

    first = run()
    assert [(s, int(j), rc) for s, j, _, rc in first] == [("rf_ridge", expected, "0")] and expected > 0
    assert (work / "results/studies/rf_ridge/rf.nc").exists()
    assert [(s, int(j)) for s, j, _, _ in run()[1:]] == [("rf_ridge", 0)]
