"""`random`: a uniformly drawn subset each round, weight 1 (a strong baseline, per CORDS and DeepCore)."""

import torch

from harness.core.registry import register
from harness.training.selection import Coreset, Probe, SelectionContext, Selector


@register("selector", "random")
class Random(Selector):
    needs_probe = False

    def select(self, probe: Probe, budget: int, rng: torch.Generator, ctx: SelectionContext) -> Coreset:
        chosen = torch.randperm(len(probe), generator=rng)[:budget].to(probe.indices.device)
        return Coreset(probe.indices[chosen], torch.ones(budget, device=probe.indices.device))
