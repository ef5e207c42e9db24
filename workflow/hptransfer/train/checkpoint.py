"""Training checkpoints: written atomically, loaded with ``weights_only=True``, and resumed from only
by the job that wrote them. Kept apart from :mod:`hptransfer.io` so that the analysis environment,
which has no torch, can import that module.

A checkpoint that cannot be read (a node that died mid-write on a filesystem without atomic rename,
a disk error, a foreign file) is moved aside, never deleted, and the job starts afresh: a retry then
succeeds instead of failing on the same file until someone removes it by hand.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from pathlib import Path
from typing import Any

import torch

from ..io import remove_orphaned_temporaries, write_atomically

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"  # beside the job's output
UNREADABLE_SUFFIX = ".unreadable"  # checkpoint.pt.unreadable, .unreadable-1, … (kept for a post-mortem)


def read_checkpoint(path: str | os.PathLike, identity: str, device: str | None = None) -> dict | None:
    """The checkpoint at ``path`` if there is one and it was written by the job ``identity`` names
    (its ``"identity"`` entry), else None: a changed config starts afresh instead of resuming.

    Called once at the start of the job that owns ``path``, so the temporary files an earlier,
    killed writer left beside it are removed here; an unreadable checkpoint is moved aside."""
    for tmp in remove_orphaned_temporaries(path):
        log.warning("removed %s, left by a job killed while writing its checkpoint", tmp)
    path = Path(path)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - whatever makes it unreadable, the remedy is the same
        kept = set_aside(path)
        # the first sentence only: torch goes on to advise weights_only=False, which is never the remedy
        first = re.split(r"(?<=\.)\s", str(exc).strip(), maxsplit=1)[0] or "empty or truncated file"
        reason = f"{type(exc).__name__}: {first}"
        log.warning("checkpoint %s cannot be read (%s); kept as %s, starting afresh", path, reason, kept)
        return None
    if not isinstance(state, dict) or state.get("identity") != identity:
        log.warning("checkpoint %s belongs to another configuration; starting afresh", path)
        return None
    return state


def set_aside(path: Path) -> Path:
    """Rename ``path`` to the first free ``<name>.unreadable[-n]`` beside it; the new path."""
    names = (path.name + UNREADABLE_SUFFIX + (f"-{n}" if n else "") for n in itertools.count())
    target = next(path.with_name(name) for name in names if not path.with_name(name).exists())
    os.replace(path, target)
    return target


def write_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """``torch.save`` atomically: a job killed while checkpointing keeps its previous checkpoint."""
    return write_atomically(path, lambda tmp: torch.save(state, tmp))
