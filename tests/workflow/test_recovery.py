"""Recovery after the Snakemake process is killed (a closed terminal, a rebooted login node): the
plain rerun names the next command, and the README's recovery line brings the run to completion
with the same datasets as an uninterrupted run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from workflow_utils import REPO, SMOKE, SNAKEMAKE, copy_workflow, snakemake

STUDY = "llama_adam_lr"
TARGET = (f"study_{STUDY}", "--configfile", SMOKE)  # the target before --configfile (it takes several)


def recovery_commands() -> list[list[str]]:
    """The README's recovery line, its `.venv/bin/snakemake` and `[--configfile <file>]` filled in
    for this test's command (so the test fails if the documented line stops working)."""
    paragraph = re.search(r"\*\*After a crash\*\*.*?\n\n", (REPO / "README.md").read_text(), re.DOTALL).group()
    commands = re.findall(r"`(\.venv/bin/snakemake [^`]+)`", paragraph)
    assert len(commands) == 2 and "--unlock" in commands[0], paragraph
    out = []
    for command in commands:
        args = [a for a in command.split()[1:] if a not in ("[--configfile", "<file>]")]
        args = ["2" if a == "all" else a for a in args]  # --cores all: the test's two cores
        out.append(args + ([] if "--cores" in args else ["--cores", "2"]) + list(TARGET))
    return out


def _datasets(root: Path) -> dict[str, bytes]:
    files = [*(root / "results/runs" / STUDY).rglob("*.nc"), *(root / "results/studies" / STUDY).glob("*.nc")]
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


@pytest.mark.slow
def test_killed_snakemake_recovers_with_the_documented_line_to_the_same_datasets(smoke_run, tmp_path):
    work = copy_workflow(tmp_path / "w")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [*SNAKEMAKE, "--cores", "2", *TARGET],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill takes its jobs with it, as a crash would
    )
    runs = work / "results/runs" / STUDY
    deadline = time.monotonic() + 600
    while len(list(runs.rglob("run.nc"))) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the workflow finished before it could be killed"
    assert len(list(runs.rglob("run.nc"))) < len(_datasets(smoke_run)), "nothing was left to do"

    # what a user sees on rerunning the same command names a flag of the recovery line: the stale
    # lock (--unlock) or, where the kill fell between a job's last write and its record, the
    # incomplete files (--rerun-incomplete)
    again = snakemake(work, "--cores", "2", *TARGET, check=False)
    named = {flag for flag in ("--unlock", "--rerun-incomplete") if flag in again.stdout + again.stderr}
    assert again.returncode != 0 and named, again.stderr[-3000:]
    commands = recovery_commands()
    assert named <= {arg for command in commands for arg in command}
    for command in commands:
        snakemake(work, *command, timeout=1200)
    assert _datasets(work) == _datasets(smoke_run)
