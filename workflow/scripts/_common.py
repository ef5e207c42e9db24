"""Shared start of every rule script: logging to the rule's log file and the package on sys.path."""

from __future__ import annotations

import logging
import os
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
    return logging.getLogger(f"hptransfer.rule.{snakemake.rule}")
