"""Learning-rate schedules and the paper's EMA window / subsampling schedules (§4.1, §5)."""

from __future__ import annotations

import math

from ..config.run import EMA


def lr_factor(step: int, total: int, kind: str = "wsd", warmup: float = 0.04, cooldown: float = 0.2) -> float:
    """Multiplier of the peak learning rate at optimizer step ``step`` (0-based) of ``total``.

    WSD: linear warmup from 0 over ``warmup``·total steps, constant, then a linear cooldown to 0 over
    the last ``cooldown``·total steps. Cosine: the same warmup, then half a cosine to 0.
    """
    n_warm = int(round(warmup * total))
    if step < n_warm:
        return (step + 1) / n_warm
    if kind == "constant":
        return 1.0
    if kind == "cosine":
        progress = (step - n_warm) / max(1, total - n_warm)
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    n_cool = int(round(cooldown * total))
    if step >= total - n_cool:
        return (total - step) / n_cool
    return 1.0


def _ramp(step: int, start: float, end: float, ramp_steps: int) -> float:
    if ramp_steps <= 0 or step >= ramp_steps:
        return end
    return start + (end - start) * step / ramp_steps


def ema_decay(step: int, ema: EMA) -> float:
    """α_t: the effective window W_t = 1/(1-α_t) rises linearly in W (paper §4.1)."""
    window = _ramp(step, ema.window_start, ema.window_end, ema.ramp_steps)
    return 1.0 - 1.0 / window


def ema_interval(step: int, ema: EMA) -> int:
    """τ_t: subsampling interval of the analysed EMA trajectory, rounded to an integer."""
    return max(1, int(round(_ramp(step, ema.tau_start, ema.tau_end, ema.ramp_steps))))


def ema_sample_steps(total: int, ema: EMA, extra: tuple[int, ...] = ()) -> list[int]:
    """Steps s_0 = 0 < s_1 < … ≤ total at which the EMA trajectory is analysed.

    The final step and any ``extra`` steps (analysis steps) are always included, so that φ^k can be
    read exactly there.
    """
    steps, s = [0], 0
    while True:
        s += ema_interval(s, ema)
        if s >= total:
            break
        steps.append(s)
    steps.append(total)
    return sorted(set(steps) | {e for e in extra if 0 < e <= total})
