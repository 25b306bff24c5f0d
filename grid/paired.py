"""The unit of evidence when two methods are compared: the per-seed differences of a metric, paired by seed,
their mean and a 95% confidence interval from Student's t (n - 1 degrees of freedom)."""

from __future__ import annotations

import math
from dataclasses import dataclass

LEVEL = 0.95


@dataclass(frozen=True)
class Paired:
    mean: float
    n: int
    low: float | None = None  # the interval needs two pairs at least
    high: float | None = None

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and (self.low > 0 or self.high < 0)


def paired(differences: list[float], level: float = LEVEL) -> Paired | None:
    """Mean of `differences` (ours minus the baseline's at the same seed) with its `level` interval from
    Student's t; None without any pair."""
    n = len(differences)
    if n == 0:
        return None
    mean = sum(differences) / n
    if n < 2:
        return Paired(mean, n)
    from scipy.stats import t

    std = math.sqrt(sum((d - mean) ** 2 for d in differences) / (n - 1))
    half = float(t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return Paired(mean, n, mean - half, mean + half)
