"""`magnitude`: gradual magnitude pruning (Zhu & Gupta, 2017), the simplest online pruner.

Each layer's sparsity rises from 0 to its target along the cubic schedule
s(t) = s_f * (1 - (1 - (t - t1)/(t2 - t1))^3) between t1 = begin * T and t2 = end * T (T = the run's total
optimizer steps; 0.16 and 0.6 as ProbMask's budget schedule), pruning every `delta_t` steps the
smallest-magnitude weights of each layer. Pruned weights stay pruned: masks only shrink.
"""

from __future__ import annotations

import torch

from harness.errors import ConfigError
from harness.masks import Pruner, exact_zero_count
from harness.registry import register


@register("pruner", "magnitude")
class Magnitude(Pruner):
    def __init__(self, begin: float = 0.16, end: float = 0.6, delta_t: int = 100):
        if not 0.0 <= begin < end <= 1.0:
            raise ConfigError(f"pruners.magnitude needs 0 <= begin < end <= 1, got begin={begin}, end={end}")
        if delta_t < 1:
            raise ConfigError(f"pruners.magnitude.delta_t must be >= 1, got {delta_t}")
        self.begin, self.end, self.delta_t = begin, end, delta_t

    def setup(self, seed: int) -> None:
        self.first = int(self.begin * self.total_steps)
        self.last = max(self.first + 1, int(self.end * self.total_steps))

    def schedule(self, done: int) -> float:
        """Fraction of the final sparsity reached after `done` optimizer steps."""
        progress = min(max((done - self.first) / (self.last - self.first), 0.0), 1.0)
        return 1.0 - (1.0 - progress) ** 3

    def after_step(self, step: int) -> None:
        done = step + 1
        if self.first <= done <= self.last and ((done - self.first) % self.delta_t == 0 or done == self.last):
            self.prune(self.schedule(done))
        self.apply_masks()

    @torch.no_grad()
    def prune(self, fraction: float) -> None:
        for name, p in self.params.items():
            zeros = exact_zero_count(p.numel(), self.targets[name] * fraction)
            score = p.abs().flatten().masked_fill(~self.masks[name].flatten(), -1.0)  # pruned stay pruned
            mask = torch.ones(p.numel(), dtype=torch.bool, device=p.device)
            mask[torch.topk(score, zeros, largest=False, sorted=False).indices] = False
            self.masks[name] = mask.view_as(p)
