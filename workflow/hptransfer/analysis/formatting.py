"""Number formatting shared by the markdown summaries and the report captions."""

from __future__ import annotations

import numpy as np

__all__ = ["format_number", "format_percent", "format_with_inf"]


def format_number(x, fmt: str = ".4g") -> str:
    """``x`` in ``fmt``, or "n/a" where it is not finite (a fit or interval that is missing)."""
    x = float(x)
    return "n/a" if not np.isfinite(x) else format(x, fmt)


def format_with_inf(x, fmt: str = ".3g") -> str:
    """``x`` in ``fmt`` with infinities spelt out: a transfer error is +inf where the transferred
    value diverges, which is a result, not a missing number; "n/a" only for NaN."""
    x = float(x)
    if np.isnan(x):
        return "n/a"
    if np.isinf(x):
        return "+inf" if x > 0 else "-inf"
    return format(x, fmt)


def format_percent(x) -> str:
    """A fraction as a percentage with two significant digits below 10% (a gap of 0.00044 is
    "0.044%", not "0.0%"), whole percents above; "n/a" where it is not finite."""
    x = float(x)
    if not np.isfinite(x):
        return "n/a"
    return f"{100 * x:.2g}%" if abs(x) < 0.1 else f"{100 * x:.0f}%"
