"""Number checks shared by every layer: what counts as a finite number, strict-JSON values, and when two
floats (a setting read back from a table) are the same."""

from __future__ import annotations

import math

TOLERANCE = 1e-9  # settings like 0.1 come back from JSON and pandas as the same float, or within this


def finite(value) -> bool:
    """A real number (not a bool) that is neither NaN nor infinite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def json_safe(value):
    """NaN and infinity become None, in nested dicts and lists too: result.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def same(values, target):
    """`values == target`, floats to within TOLERANCE; elementwise on a pandas column or numpy array."""
    if isinstance(target, float):
        values = values.astype(float) if hasattr(values, "astype") else float(values)
        return abs(values - target) < TOLERANCE
    return values == target
