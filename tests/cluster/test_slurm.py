"""The SLURM profile against a real SLURM: a single-node cluster on localhost (slurm_cluster.py).

* ``test_smoke_through_slurm_matches_local``: one study of the smoke preset (its training runs, the
  data job, the grouped analysis and a figure) through Snakemake's SLURM executor, with the user
  profile (workflow/profiles/slurm) and only the overrides a laptop-sized cluster needs
  (tests/cluster/profile), ends with the same datasets as the local run of the whole preset
  (``smoke_run`` in tests/conftest.py, shared with the workflow tests).
* ``test_cancelled_training_job_resumes``: a training job is cancelled with ``scancel`` after it
  wrote a checkpoint; Snakemake resubmits it, the retry resumes from the checkpoint, and the
  workflow completes with every output, the resumed run identical to an uninterrupted one.

Without SLURM (``slurmctld``, ``sinfo``, ... missing) or without root (slurmd runs as root) the
cluster tests are skipped with the reason, except under ``CI=true``, where they fail instead:
``.ci/install-system.sh`` installs slurm-wlm and munge. The static checks of the profile at the end
of this module need no cluster.

Datasets are compared first with xarray (``assert_identical``: values, coordinates, attributes),
which names the variable that differs, then byte for byte: training runs on CPU with the same
thread count in both runs and datasets carry no timestamps, so the workflow promises identical
bytes (measured: all run.nc, sweep/transfer/kappa/comparison datasets and summaries, and even the
PNGs, are byte-identical between the SLURM and the local run). A byte difference with an
xarray-identical dataset would point at the writer (encoding, HDF5 library), not at SLURM.

Measured on 2 cores shared with other work (load 4-7): cluster start 0.1-1.2 s; the whole smoke
preset through SLURM took 780 s (55 jobs; each SLURM job runs Snakemake twice, in sbatch and in
srun, and each Snakemake parses the workflow, importing torch), hence one study only; scancel test
270-320 s.

Every Snakemake run is bounded with ``timeout -s INT`` (a stuck Snakemake ignores SIGTERM but
stops on SIGINT, cancelling its SLURM jobs); the daemons are stopped by the test, by process id.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from slurm_cluster import SlurmCluster, missing_commands  # noqa: E402
from workflow_utils import SMOKE, copy_workflow  # noqa: E402  (tests/, on sys.path via conftest)

REPO = Path(__file__).resolve().parents[2]
USER_PROFILE = REPO / "workflow" / "profiles" / "slurm" / "config.yaml"
TEST_OVERRIDES = Path(__file__).resolve().parent / "profile" / "config.yaml"
SMOKE_TIMEOUT_S = 1200  # a local smoke run: 2-10 min on 2 shared cores
SLURM_TIMEOUT_S = 1800  # through SLURM: 5-13 min (every job parses the workflow twice)
DATASETS = ("sweep.nc", "transfer.nc", "kappa.nc")


# ------------------------------------------------------------------------------------- helpers


def require_slurm() -> None:
    """Skip (fail under CI=true) where a localhost SLURM cannot be started."""
    problems = []
    missing = missing_commands()
    if missing:
        problems.append(f"SLURM/munge programs missing: {', '.join(missing)} (install them with .ci/install-system.sh)")
    if os.geteuid() != 0:
        problems.append("the localhost cluster needs root (slurmd runs as SlurmdUser=root)")
    if not problems:
        return
    reason = "no localhost SLURM: " + "; ".join(problems)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} — CI=true, where the cluster tests must run, not be skipped")
    pytest.skip(reason)


def merge_profile(base: dict, overrides: dict) -> dict:
    """Overrides applied to a profile: mappings merged key by key, a None value deletes the key."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_profile(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def write_test_profile(dest: Path, cores: int | None = None) -> Path:
    """The user profile with the test cluster's overrides, as a profile directory. ``cores``: the
    CPUs of the test node, the most one (group) job may ask for; more would never be scheduled."""
    profile = merge_profile(yaml.safe_load(USER_PROFILE.read_text()), yaml.safe_load(TEST_OVERRIDES.read_text()))
    profile["cores"] = min(profile.get("cores", 1), cores or os.cpu_count() or 1)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return dest


def snakemake(
    workdir: Path, *args: str, env: dict | None = None, timeout: int = SMOKE_TIMEOUT_S, background: bool = False
):
    """Snakemake in ``workdir``, bounded by ``timeout -s INT`` (and a KILL 30 s later)."""
    cmd = ["timeout", "-s", "INT", "-k", "30", str(timeout), sys.executable, "-m", "snakemake", *args]
    env = dict(env or os.environ)
    env.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")
    with open(workdir / "snakemake.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    if background:
        return proc
    return finish(proc, workdir)


def stop(proc: subprocess.Popen) -> None:
    """Interrupt a Snakemake still running (SIGINT: it cancels its SLURM jobs), then kill it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # `timeout` passes it on to Snakemake
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def finish(proc: subprocess.Popen, workdir: Path) -> str:
    try:
        proc.wait()
    finally:
        stop(proc)
    text = (workdir / "snakemake.log").read_text(errors="replace")
    assert proc.returncode == 0, (
        f"snakemake exited {proc.returncode} in {workdir}"
        f"{' (timed out)' if proc.returncode in (124, 130, 137) else ''}:\n" + text[-6000:]
    )
    return text


def smoke_config_args() -> list[str]:
    # the smoke preset trains on CPU (device: cpu): the test cluster has no GPU, and the same device
    # keeps the numbers equal to the local run's
    return ["--configfile", SMOKE]


# What the run through SLURM builds: one language-model study of the smoke preset, its analyses
# and a figure (training jobs, the data job and a group job); the rest of the preset only adds
# more jobs of the same kinds, already covered by the local run.
SLURM_STUDY = "llama_adam_lr"
SLURM_TARGETS = (
    *(f"results/studies/{SLURM_STUDY}/{name}" for name in (*DATASETS, "summary.md")),
    f"results/figures/fig06_{SLURM_STUDY}.png",
)


def outputs(workdir: Path) -> set[str]:
    """Result files, relative to results/ (logs, benchmarks and SLURM logs aside)."""
    root = workdir / "results"
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and p.parts[len(root.parts)] not in ("logs", "benchmarks")
    }


def assert_same_datasets(a: Path, b: Path, names) -> None:
    import xarray as xr

    for rel in names:
        with xr.open_dataset(a / rel) as x, xr.open_dataset(b / rel) as y:
            xr.testing.assert_identical(x.load(), y.load())


def study_datasets(workdir: Path) -> list[str]:
    return sorted(str(p.relative_to(workdir)) for p in (workdir / "results" / "studies").rglob("*.nc"))


def jobcomp(cluster: SlurmCluster) -> list[dict[str, str]]:
    """Finished jobs from the cluster's jobcomp/filetxt log (key=value per line)."""
    path = cluster.root / "log" / "jobcomp.txt"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        rows.append(dict(kv.split("=", 1) for kv in line.split() if "=" in kv))
    return rows


def dag_seconds(workdir: Path, *args: str) -> float:
    """Wall time of a dry run (the DAG of a preset built and printed as a summary): for the paper
    preset at scale (``dag_seconds(copy, "--configfile", "workflow/presets/paper.yaml")``)."""
    t0 = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", *args],
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return time.monotonic() - t0


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    require_slurm()
    c = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    c.start()
    print(f"\nSLURM cluster up in {c.startup_seconds:.1f} s ({c.cpus} CPUs, {c.memory_mb} MB)")
    try:
        yield c
    finally:
        pids = c.pids()
        c.stop()
        alive = {d: p for d, p in pids.items() if _pid_alive(p)}
        assert not alive, f"SLURM daemons still running: {alive}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory, cluster):
    """One copy of the workflow for every run of this module (the checkout may change meanwhile)."""
    return copy_workflow(tmp_path_factory.mktemp("snapshot"))


def checkout(snapshot: Path, dest: Path) -> Path:
    shutil.copytree(snapshot, dest)
    return dest


@pytest.fixture
def profile(tmp_path, cluster):
    return write_test_profile(tmp_path / "profile", cores=cluster.cpus)


# ------------------------------------------------------------------------------- cluster tests


@pytest.mark.cluster
@pytest.mark.slow
def test_smoke_through_slurm_matches_local(cluster, snapshot, smoke_run, profile, tmp_path):
    wd = checkout(snapshot, tmp_path / "wf")
    t0 = time.monotonic()
    log = snakemake(
        wd,
        *SLURM_TARGETS,
        "--workflow-profile",
        str(profile),
        *smoke_config_args(),
        env=cluster.env,
        timeout=SLURM_TIMEOUT_S,
    )
    print(f"\nSLURM smoke run: {time.monotonic() - t0:.0f} s")

    # the jobs really went through SLURM: one per training job, one for the data, analysis grouped
    jobs = [j for j in jobcomp(cluster) if j.get("WorkDir") == str(wd)]
    assert jobs and all(j["JobState"] == "COMPLETED" for j in jobs), jobs
    slurm_logs = wd / "results" / "logs" / "slurm"
    n_train = len(list((slurm_logs / "rule_train").rglob("*.log")))
    assert n_train == len(list((wd / "results" / "runs").rglob("run.nc"))) > 0
    assert list(slurm_logs.glob("rule_prepare_data/*/*.log"))
    groups = list(slurm_logs.glob("group_analysis*/*.log"))
    assert groups, "the analysis rules did not run as group jobs"
    assert not list(slurm_logs.glob("rule_collect")) and not list(slurm_logs.glob("rule_figure_*"))
    assert "steps (100%) done" in log

    # the same results as the local run of the whole preset (tests/conftest.py: smoke_run)
    assert all((wd / target).exists() for target in SLURM_TARGETS)
    assert outputs(wd) <= outputs(smoke_run), sorted(outputs(wd) - outputs(smoke_run))
    names = study_datasets(wd)
    assert {Path(n).name for n in names} >= set(DATASETS)
    assert_same_datasets(wd, smoke_run, names)
    # ... and, as the workflow promises (no timestamps, deterministic CPU training), the same bytes
    for rel in (
        names
        + [str(p.relative_to(wd)) for p in (wd / "results").rglob("*.md")]
        + [str(p.relative_to(wd)) for p in (wd / "results" / "runs").rglob("*.nc")]
    ):
        assert (wd / rel).read_bytes() == (smoke_run / rel).read_bytes(), rel


@pytest.mark.cluster
@pytest.mark.slow
def test_cancelled_training_job_resumes(cluster, snapshot, profile, tmp_path):
    """scancel a running training job once it has checkpointed; the retry resumes and completes."""
    wd = checkout(snapshot, tmp_path / "wf")
    # The smoke preset's language-model study alone, one seed, training long enough (~10 s) to be
    # cancelled in the middle; its figures are left out (test_smoke_... covers them).
    preset = yaml.safe_load((wd / SMOKE).read_text())
    study_name, study = next((n, s) for n, s in preset["studies"].items() if s["kind"] == "lm")
    preset["studies"] = {study_name: study}
    study["seeds"] = [0]
    study["training"].update(steps=200, checkpoint_every=10, log_every=50)
    sys.path.insert(0, str(snapshot / "workflow"))
    from hptransfer.figures.catalogue import global_figures, study_figures

    stems = [*study_figures(study_name, study), *global_figures()]
    preset["figures"] = {stem: {"enabled": False} for stem in stems}
    (wd / "workflow/presets/scancel.yaml").write_text(yaml.safe_dump(preset, sort_keys=False))
    width, value = max(study["widths"]), study["grid"][len(study["grid"]) // 2]
    run = f"{study_name}/mup/n{width}/{study['hp']}{value}/s0"
    run_dir, run_log = Path(f"results/runs/{run}"), Path(f"results/logs/runs/{run}.log")
    comment = f"rule_train_wildcards_{study_name}_mup_{width}_{study['hp']}_{value}_0"
    args = ["--configfile", "workflow/presets/scancel.yaml"]

    t0 = time.monotonic()
    proc = snakemake(
        wd, "--workflow-profile", str(profile), *args, env=cluster.env, timeout=SLURM_TIMEOUT_S, background=True
    )
    job_id = None
    try:
        deadline = time.monotonic() + SLURM_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            if job_id is None:  # find the job by the comment the SLURM executor gives it
                q = cluster.run("squeue", "-h", "-t", "R", "-o", "%i|%k", check=False)
                job_id = next(
                    (line.split("|")[0] for line in q.stdout.splitlines() if line.split("|", 1)[-1] == comment), None
                )
            if job_id and (wd / run_dir / "checkpoint.pt").exists():
                cluster.run("scancel", job_id)
                break
            time.sleep(0.1)
        else:
            pytest.fail(
                f"never saw job {comment} running with a checkpoint (job id {job_id}); "
                "snakemake log:\n" + (wd / "snakemake.log").read_text()[-4000:]
            )
        cancelled_at = time.monotonic() - t0
        log = finish(proc, wd)
    finally:
        stop(proc)
    print(
        f"\nscancel test: job {job_id} cancelled at {cancelled_at:.0f} s, "
        f"workflow done at {time.monotonic() - t0:.0f} s"
    )

    # SLURM cancelled the job, Snakemake saw it fail and resubmitted it, and the retry resumed
    states = {j["JobId"]: j["JobState"] for j in jobcomp(cluster) if j.get("WorkDir") == str(wd)}
    assert states.pop(job_id) == "CANCELLED", states
    assert set(states.values()) == {"COMPLETED"}, states
    assert len(list((wd / "results/logs/slurm/rule_train").glob(f"*{width}_{study['hp']}_{value}_0/*.log"))) == 2
    assert re.search(rf"SLURM-job '{job_id}' failed", log), log[-3000:]
    text = (wd / run_log).read_text()
    m = re.search(r"resumed from \S*checkpoint\.pt at step (\d+)", text)
    assert m, f"the retry did not resume from the checkpoint; its log:\n{text}"
    assert 10 <= int(m.group(1)) < study["training"]["steps"]
    assert not (wd / run_dir / "checkpoint.pt").exists()  # removed once the run finished
    assert "steps (100%) done" in log

    # nothing lost: every output of the workflow is there ...
    runs = {f"runs/{study_name}/mup/n{w}/{study['hp']}{v}/s0/run.nc" for w in study["widths"] for v in study["grid"]}
    studies = {f"studies/{study_name}/{x}" for x in ("sweep.nc", "transfer.nc", "kappa.nc", "summary.md")}
    assert runs | studies <= outputs(wd), sorted(runs | studies - outputs(wd))
    # ... and the resumed run equals an uninterrupted one, trained locally
    ref = checkout(snapshot, tmp_path / "ref")
    shutil.copy2(wd / "workflow/presets/scancel.yaml", ref / "workflow/presets/scancel.yaml")
    shutil.copytree(wd / "results" / "data", ref / "results" / "data")  # same corpus settings
    snakemake(ref, str(run_dir / "run.nc"), "--cores", "1", *args)
    assert_same_datasets(wd, ref, [str(run_dir / "run.nc")])
    assert (wd / run_dir / "run.nc").read_bytes() == (ref / run_dir / "run.nc").read_bytes()


# ------------------------------------------------------------------- static checks (no cluster)

TRAINING_RULES = {"train", "twolayer_width"}


def workflow_rules() -> set[str]:
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "--list-rules"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return {line.strip() for line in out.stdout.splitlines() if re.fullmatch(r"\w+", line.strip())}


def test_profile_covers_every_rule():
    """Training rules get a GPU each; every other rule except prepare_data (and the target rules
    `all` and `study_<name>`, local and jobless) runs in the grouped analysis job: a new rule must
    be placed in the profile."""
    profile = yaml.safe_load(USER_PROFILE.read_text())
    rules = workflow_rules()
    targets = {"all"} | {rule for rule in rules if rule.startswith("study_")}
    assert TRAINING_RULES | {"prepare_data", "collect", "all", "study_llama_adam_lr"} <= rules, rules
    small = rules - TRAINING_RULES - {"prepare_data"} - targets
    assert small <= set(profile["groups"]), f"not grouped: {sorted(small - set(profile['groups']))}"
    assert set(profile["groups"].values()) == {"analysis"}
    for rule in TRAINING_RULES:
        assert profile["set-resources"][rule]["gpu"] == 1, rule
        assert rule not in profile["groups"]
    assert "prepare_data" not in profile["groups"]


def test_profile_settings():
    profile = yaml.safe_load(USER_PROFILE.read_text())
    assert profile["executor"] == "slurm"
    assert profile["retries"] >= 1 and profile["keep-going"] and profile["rerun-incomplete"]
    assert profile["latency-wait"] >= 30
    for key in ("slurm_partition", "slurm_account"):
        assert "CHANGE-ME" in profile["default-resources"][key]
    for rule in TRAINING_RULES:
        assert "CHANGE-ME" in profile["set-resources"][rule]["slurm_partition"]
    # mem_mb and runtime of training come from the rule (scaled by width), not from the profile
    assert not {"mem_mb", "runtime"} & set(profile["set-resources"]["train"])


def test_profile_dry_run(tmp_path):
    """The user profile is accepted by Snakemake and its SLURM plugin (a dry run submits nothing)."""
    wd = copy_workflow(tmp_path / "wf")
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--workflow-profile", str(USER_PROFILE.parent), *smoke_config_args()],
        cwd=wd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout + out.stderr
    assert "Group job analysis" in text, text[-3000:]
