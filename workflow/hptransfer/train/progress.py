"""What a user watching a long job reads in its log: one line per ``training.log_every`` steps with
the step, loss, learning rate, throughput, MFU against the device's peak, the EMA points' share of
the time, elapsed time and ETA (like nanoGPT's)."""

from __future__ import annotations

import time

import torch

from .device import peak_flops


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class Progress:
    """Throughput since the previous line; elapsed time and ETA since this job (re)started."""

    def __init__(
        self,
        step: int,
        total: int,
        items_per_step: int,
        item_name: str,
        flops_per_item: float,
        device: torch.device,
        precision: str,
    ):
        self.total, self.items_per_step, self.item_name = total, items_per_step, item_name
        self.flops_per_item = flops_per_item
        self.peak = peak_flops(device, precision)
        self.start = self.last = time.perf_counter()
        self.start_step = self.last_step = step
        self.ema_seconds = 0.0

    def line(self, step: int, loss: float, lr: float) -> str:
        now = time.perf_counter()
        rate = (step - self.last_step) * self.items_per_step / max(now - self.last, 1e-9)
        elapsed = now - self.start
        done = step - self.start_step
        eta = elapsed / done * (self.total - step) if done else float("nan")
        mfu = f"{100 * rate * self.flops_per_item / self.peak:.1f}%" if self.peak else "n/a"
        ema = f"{100 * self.ema_seconds / elapsed:.0f}%" if elapsed > 0 else "n/a"
        self.last, self.last_step = now, step
        return (
            f"step {step}/{self.total} loss {loss:.4f} lr {lr:.3g} {self.item_name}/s {rate:.0f} MFU {mfu} "
            f"EMA points {ema} elapsed {duration(elapsed)} ETA {duration(eta) if eta == eta else 'n/a'}"
        )
