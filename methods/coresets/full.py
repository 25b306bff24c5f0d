"""`full`: every training sample, weight 1 (the methods that train on the full data)."""

import torch

from harness.core.errors import ConfigError
from harness.core.registry import register
from harness.training.selection import Coreset, Probe, SelectionContext, Selector


@register("selector", "full")
class Full(Selector):
    needs_probe = False

    def select(self, probe: Probe, budget: int, rng: torch.Generator, ctx: SelectionContext) -> Coreset:
        if budget != len(probe):
            raise ConfigError(f"selector 'full' keeps all {len(probe)} samples; coreset_fraction must be 1 "
                              f"(it asks for {budget})")
        return Coreset(probe.indices.clone(), torch.ones(budget, device=probe.indices.device))
