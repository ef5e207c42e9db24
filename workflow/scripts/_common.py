"""Shared start of every rule script: logging to the rule's log file (failures included) and the package
on sys.path."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

# The rule scripts import the package from the checkout, so a plain `snakemake` works without
# installing it; an installed copy (conda env, pip) takes precedence only if it comes first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")


def setup_logging(snakemake) -> logging.Logger:
    log_file = snakemake.log[0] if snakemake.log else None
    logging.basicConfig(
        level=logging.INFO,
        filename=log_file,
        filemode="w",
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    log = logging.getLogger(f"hptransfer.rule.{snakemake.rule}")
    if log_file:
        log_failures(log)
    return log


def failure_reason(exc: BaseException) -> str:
    """One line that says why: the exception's type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def log_failures(log: logging.Logger) -> None:
    """Write why the job ends early into the rule's log, not only to Snakemake's console: an
    uncaught exception (its traceback, then one line that names it) and a SIGTERM (SLURM's time
    limit, a preemption, scancel). The log is what `show-failed-logs` prints and what stays behind."""
    console_hook = sys.excepthook

    def log_exception(kind, exc, tb):
        log.error("uncaught exception", exc_info=(kind, exc, tb))
        log.error("job failed: %s", failure_reason(exc))
        console_hook(kind, exc, tb)

    def log_termination(signum, frame):
        log.error("job failed: terminated by %s (a time limit, a preemption or a cancel)", signal.Signals(signum).name)
        # unwinds like an exception, so atomic writers remove their temporary files on the way out
        raise SystemExit(128 + signum)

    sys.excepthook = log_exception
    signal.signal(signal.SIGTERM, log_termination)
