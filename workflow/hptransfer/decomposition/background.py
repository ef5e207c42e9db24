"""The decomposition of EMA points off the training loop's critical path.

An EMA point hands its (gradient, step) snapshot to :class:`Decomposer`, which updates the
accumulator and returns Φ after the update. Inline (the default on a CPU) it does so at once; in
the background it does so in one worker thread, in order, on its own CUDA stream, so that the
eigenvalue work of one point overlaps the training steps up to the next. At most ``max_pending``
snapshots wait (each holds a gradient and a step of every parameter); the run collects the results
in order where it needs them (checkpoints, the end).
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Mapping

import numpy as np
import torch

from .accumulator import SpectrumAccumulator


class Decomposer:
    def __init__(self, accumulator: SpectrumAccumulator, device: torch.device, background: bool, max_pending: int = 2):
        self.accumulator = accumulator
        self.device = device
        self.max_pending = max_pending
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="decomposition") if background else None
        self.stream = torch.cuda.Stream(device) if background and device.type == "cuda" else None
        self.pending: deque[tuple[Future, object]] = deque()

    @property
    def background(self) -> bool:
        return self.executor is not None

    def submit(
        self, grads: Mapping[str, torch.Tensor] | None, deltas: Mapping[str, torch.Tensor] | None, tag: object
    ) -> None:
        """Decompose one analysed step (none for the first point) and queue Φ after it under ``tag``."""
        if self.executor is None:
            future: Future = Future()
            future.set_result(self._update(grads, deltas, None))
        else:
            ready = None
            if self.stream is not None:  # the snapshot is complete once the main stream got there
                ready = torch.cuda.Event()
                ready.record()
            future = self.executor.submit(self._update, grads, deltas, ready)
        self.pending.append((future, tag))

    def _update(self, grads, deltas, ready) -> np.ndarray:
        if grads is None:
            return self.accumulator.phi_k
        if self.stream is None:
            self.accumulator.update(grads, deltas)
            return self.accumulator.phi_k
        with torch.cuda.stream(self.stream):
            self.stream.wait_event(ready)
            self.accumulator.update(grads, deltas)  # ends with a copy to the host: the stream is done
        return self.accumulator.phi_k

    def results(self, wait_all: bool = False) -> list[tuple[object, np.ndarray]]:
        """(tag, Φ) of the finished points, oldest first: all of them with ``wait_all``, else the
        ones beyond ``max_pending`` (waiting for them) plus any already done."""
        out = []
        while self.pending and (wait_all or len(self.pending) > self.max_pending or self.pending[0][0].done()):
            future, tag = self.pending.popleft()
            out.append((tag, future.result()))
        return out

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True)
