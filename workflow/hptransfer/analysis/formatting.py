"""Number formatting shared by the markdown summaries and the report captions."""

from __future__ import annotations

import numpy as np

__all__ = ["format_number", "format_with_inf"]


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
