"""Drive the snakemake CLI on a temporary copy of the workflow (shared by the workflow tests)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
SMOKE = "workflow/presets/smoke.yaml"
# What a checkout of the workflow consists of (results/, .snakemake/, .venv/ are not copied).
WORKFLOW_FILES = ("Snakefile", "config.yaml", "pyproject.toml", "workflow", "envs")


# The local files the paper preset reads (workflow/presets/paper.yaml, relative to the checkout), as
# placeholders: enough for its config to load and its DAG to build where the real corpora are absent.
PAPER_DATA = (
    "data/wikitext-103-raw/wiki.train.raw",
    "data/wikitext-103-raw/wiki.valid.raw",
    "data/fineweb/train/part-0.txt",
    "data/fineweb/val/part-0.txt",
)


def placeholder_paper_data(root: Path) -> Path:
    for name in PAPER_DATA:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("placeholder\n")
    return root


def copy_workflow(dst: Path) -> Path:
    """The files a user's checkout has (no results, no caches, no virtual environment)."""
    dst.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=ignore)
        else:
            shutil.copy2(src, dst / name)
    return dst


def clone_run(src: Path, dst: Path) -> Path:
    """A copy of a finished workflow directory with results and Snakemake metadata (mtimes kept)."""
    shutil.copytree(src, dst, symlinks=True)
    return dst


def snakemake(workdir: Path, *args: str, timeout: int = 900, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([*SNAKEMAKE, *args], cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def dry_run_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Job counts per rule of a dry run ({} when nothing is to be done)."""
    proc = snakemake(workdir, "-n", "--quiet", "rules", *args)
    text = proc.stdout + proc.stderr
    if "Nothing to be done" in text:
        return {}
    counts = {}
    in_table = False
    for line in text.splitlines():
        if re.match(r"^job\s+count\s*$", line.strip()):
            in_table = True
            continue
        if in_table:
            m = re.match(r"^([A-Za-z_][\w]*)\s+(\d+)\s*$", line.strip())
            if m and m.group(1) != "total":
                counts[m.group(1)] = int(m.group(2))
            elif line.strip().startswith("total"):
                break
    if not counts:
        raise AssertionError(f"could not parse the dry run:\n{text[-3000:]}")
    return counts


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())
