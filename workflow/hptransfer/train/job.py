"""One training job: a run config → run.nc, resuming from the checkpoint beside the output."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import xarray as xr

from ..config.run import RunConfig
from ..io import write_dataset
from .checkpoint import CHECKPOINT_NAME
from .device import resolve_device
from .engine import Run
from .samplewise import SamplewiseRun

log = logging.getLogger(__name__)


def make_run(cfg: RunConfig, data_dir: str | Path, device: torch.device) -> Run:
    """The run of a run config; image runs also keep per-example validation losses and, with the
    decomposition, the sample-wise components (:class:`hptransfer.train.samplewise.SamplewiseRun`)."""
    if cfg.is_image_run:
        return SamplewiseRun(cfg, data_dir, device)
    return Run(cfg, data_dir, device)


def train_run(
    cfg: RunConfig, data_dir: str | Path, out: str | Path, threads: int = 1, device: str = "auto"
) -> xr.Dataset:
    """Train one run to ``out`` (run.nc), resuming from ``out``'s directory checkpoint if present."""
    torch.set_num_threads(threads)
    out = Path(out)
    checkpoint = out.parent / CHECKPOINT_NAME
    run = make_run(cfg, data_dir, resolve_device(device))
    run.try_resume(checkpoint)
    run.fit(checkpoint)
    run.close()
    ds = run.to_dataset()
    write_dataset(ds, out)
    if checkpoint.exists() and not cfg.training.keep_checkpoint:
        checkpoint.unlink()
    log.info("wrote %s (status %s)", out, run.status)
    return ds
