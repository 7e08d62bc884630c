"""Argument checks for the spherical 3-spin model: say what was given and what is allowed."""

from __future__ import annotations

import math
import numbers


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def check_dimension(d) -> int:
    """d ≥ 3 (the sphere S^{d−1}(√d) of the 3-spin model; the Bessel order d/2 − 1 ≥ ½)."""
    if not _is_int(d) or d < 3:
        raise ValueError(f"d (dimension) must be an integer >= 3; got {d!r}.")
    return int(d)


def check_width(n) -> int:
    """n ≥ 1 kernel units."""
    if not _is_int(n) or n < 1:
        raise ValueError(f"n (number of kernel units) must be an integer >= 1; got {n!r}.")
    return int(n)


def check_alpha(alpha) -> float:
    """α > 0, finite (inverse squared width of the Gaussian kernel)."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be a finite number > 0; got {alpha!r}.") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"alpha must be a finite number > 0; got {alpha!r}.")
    return value


def check_batch_size(batch_size) -> int | None:
    """``None`` (exact gradient oracle) or an integer m ≥ 1 of fresh uniform points."""
    if batch_size is None:
        return None
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(
            f"batch_size must be an integer >= 1 (fresh points per gradient) or None "
            f"(exact gradient); got {batch_size!r}."
        )
    return int(batch_size)


def check_c0(c0) -> float:
    """c0 ≥ 0, finite (half-width of the uniform law of the initial weights)."""
    try:
        value = float(c0)
    except (TypeError, ValueError):
        raise ValueError(f"c0 must be a finite number >= 0; got {c0!r}.") from None
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"c0 must be a finite number >= 0; got {c0!r}.")
    return value
