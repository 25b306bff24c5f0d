"""`ccs`: coverage-centric stratified sampling over EL2N scores (CCS, Zheng et al. 2023).

Why: taking only the hardest samples collapses at small budgets; CCS keeps the whole difficulty range
covered. The `hard_cutoff` fraction of highest-scoring samples is dropped first (likely mislabelled; never
so many that fewer than `budget` remain), the rest is split into `bins` equal-width score strata, and the
budget is spread over the non-empty strata from the smallest up: each takes min(its size, what is left
divided by the strata left), drawn uniformly at random within the stratum. Weights are 1.
"""

from __future__ import annotations

import torch

from harness.core.errors import ConfigError
from harness.core.registry import register
from harness.training.selection import Coreset, Probe, SelectionContext, Selector
from methods.coresets._features import el2n


@register("selector", "ccs")
class CCS(Selector):
    def __init__(self, bins: int = 50, hard_cutoff: float = 0.0):
        if not (isinstance(bins, int) and bins >= 1):
            raise ConfigError(f"selectors.ccs.bins must be an integer >= 1, got {bins!r}")
        if not 0.0 <= hard_cutoff < 1.0:
            raise ConfigError(f"selectors.ccs.hard_cutoff must be in [0, 1), got {hard_cutoff!r}")
        self.bins, self.hard_cutoff = bins, hard_cutoff

    def select(self, probe: Probe, budget: int, rng: torch.Generator, ctx: SelectionContext) -> Coreset:
        scores = el2n(probe).cpu()
        n = len(scores)
        order = torch.argsort(scores, descending=True, stable=True)
        kept = order[min(int(self.hard_cutoff * n), n - budget):]
        chosen = stratified(scores[kept], budget, self.bins, rng)
        idx = kept[chosen].to(probe.indices.device)
        return Coreset(probe.indices[idx], torch.ones(budget, device=probe.indices.device))


def stratified(scores: torch.Tensor, budget: int, bins: int, rng: torch.Generator) -> torch.Tensor:
    """Positions of `budget` of `scores` (CPU), spread over equal-width score strata smallest stratum first."""
    lo, hi = float(scores.min()), float(scores.max())
    width = (hi - lo) / bins
    stratum = ((scores - lo) / width).long().clamp_(max=bins - 1) if width > 0 else torch.zeros_like(scores).long()
    sizes = torch.bincount(stratum, minlength=bins)
    strata = [int(s) for s in torch.argsort(sizes, stable=True) if sizes[s] > 0]
    left, picked = budget, []
    for i, s in enumerate(strata):
        take = min(int(sizes[s]), left // (len(strata) - i))
        members = (stratum == s).nonzero().squeeze(1)
        picked.append(members[torch.randperm(len(members), generator=rng)[:take]])
        left -= take
    return torch.cat(picked)
