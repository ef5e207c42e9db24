"""Training checkpoints: written atomically, loaded with ``weights_only=True``, and resumed from only
by the job that wrote them. Kept apart from :mod:`hptransfer.io` so that the analysis environment,
which has no torch, can import that module."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from ..io import write_atomically

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"  # beside the job's output


def read_checkpoint(path: str | os.PathLike, identity: str, device: str | None = None) -> dict | None:
    """The checkpoint at ``path`` if there is one and it was written by the job ``identity`` names
    (its ``"identity"`` entry), else None: a changed config starts afresh instead of resuming."""
    if not Path(path).exists():
        return None
    state = torch.load(path, map_location=device, weights_only=True)
    if state.get("identity") != identity:
        log.warning("checkpoint %s belongs to another configuration; starting afresh", path)
        return None
    return state


def write_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """``torch.save`` atomically: a job killed while checkpointing keeps its previous checkpoint."""
    return write_atomically(path, lambda tmp: torch.save(state, tmp))
