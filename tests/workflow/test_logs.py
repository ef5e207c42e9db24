"""A failed job's rule log (results/logs/...) holds its traceback and a one-line reason, not only
Snakemake's console: what the SLURM profile's show-failed-logs prints and what stays behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from workflow_utils import REPO, SNAKEMAKE

SCRIPTS = REPO / "workflow" / "scripts"


def _rule_script(tmp_path: Path, body: str) -> Path:
    """A script started as Snakemake starts a rule's `script:` (a fresh interpreter that imports
    _common first and finds a `snakemake` object), for a failure mode no valid config produces."""
    script = tmp_path / "job.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys, types
            sys.path.insert(0, {str(SCRIPTS)!r})
            snakemake = types.SimpleNamespace(log=[{str(tmp_path / "job.log")!r}], rule="demo")
            from _common import setup_logging
            log = setup_logging(snakemake)
            log.info("started")
            """
        )
        + textwrap.dedent(body)
    )
    return script


def test_an_uncaught_exception_goes_to_the_log_with_a_one_line_reason(tmp_path):
    script = _rule_script(tmp_path, "raise ValueError(\"corpus val_works: unknown works ['hamlett']\")\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    log = (tmp_path / "job.log").read_text()
    assert "Traceback (most recent call last)" in log
    assert log.rstrip().splitlines()[-1].endswith("job failed: ValueError: corpus val_works: unknown works ['hamlett']")
    assert "ValueError" in proc.stderr  # Snakemake's console still shows it


def test_a_sigterm_is_logged_as_the_reason(tmp_path):
    script = _rule_script(tmp_path, 'print("ready", flush=True)\nimport time\ntime.sleep(60)\n')
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)  # what SLURM sends at a time limit, and scancel
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    log = (tmp_path / "job.log").read_text()
    assert "job failed: terminated by SIGTERM" in log


def test_a_failing_rule_job_leaves_its_error_in_its_log(tmp_path):
    """The real prepare_data script through Snakemake: its log names the error."""
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent(
            f"""
            rule prepare_data:
                output:
                    meta="results/data/wiki/meta.json",
                log:
                    "results/logs/data/wiki.log",
                params:
                    corpus={{"source": "wikitext103", "path": "no/such/dir", "vocab_size": 300}},
                script:
                    {str(SCRIPTS / "prepare_data.py")!r}
            """
        )
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    t0 = time.monotonic()
    proc = subprocess.run(
        [*SNAKEMAKE, "--cores", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode != 0, proc.stderr[-2000:]
    log = (tmp_path / "results/logs/data/wiki.log").read_text()
    assert "Traceback" in log and "job failed: FileNotFoundError: corpus path: missing WikiText files" in log, (
        log,
        time.monotonic() - t0,
    )
