"""`magnitude`: gradual magnitude pruning (Zhu & Gupta, 2017), the simplest online pruner.

Each layer's sparsity rises from 0 to its target along the cubic schedule
s(t) = s_f * (1 - (1 - (t - t1)/(t2 - t1))^3) between t1 = begin * T and t2 = end * T (T = the run's length
on its clock: optimizer steps by default, as Zhu & Gupta count, or epochs; 0.16 and 0.6 as ProbMask's budget
schedule), pruning every `delta_t` steps the smallest-magnitude weights of each layer to exactly its
current count. Pruned weights stay pruned: masks only shrink. The masks live in the shared mechanism
(`harness.training.pruning`).
"""

from __future__ import annotations

import torch

from harness.core.errors import ConfigError
from harness.core.registry import register
from harness.training.pruning import Pruner, clock_kind, cubic_ramp
from harness.training.sparsity import zero_count


@register("pruner", "magnitude")
class Magnitude(Pruner):
    def __init__(self, begin: float = 0.16, end: float = 0.6, delta_t: int = 100, clock: str = "steps"):
        if not 0.0 <= begin < end <= 1.0:
            raise ConfigError(f"pruners.magnitude needs 0 <= begin < end <= 1, got begin={begin}, end={end}")
        if not isinstance(delta_t, int) or delta_t < 1:
            raise ConfigError(f"pruners.magnitude.delta_t must be an integer >= 1, got {delta_t!r}")
        self.begin, self.end, self.delta_t = begin, end, delta_t
        self.clock_kind = clock_kind("magnitude", clock)

    def set_schedule(self) -> None:
        self.first, self.last = self.clock.span(self.begin, self.end)  # the ramp's ends on the clock
        self.first_step, self.last_step = self.clock.step_at(self.first), self.clock.step_at(self.last)

    def schedule(self, done: int) -> float:
        """Fraction of the final sparsity reached after `done` optimizer steps."""
        return cubic_ramp(self.clock.time(done), self.first, self.last)

    def prunes_after(self, done: int) -> bool:
        first, last = self.first_step, self.last_step
        return first <= done <= last and ((done - first) % self.delta_t == 0 or done == last)

    def after_step(self, step: int) -> None:
        done = step + 1
        if self.prunes_after(done):
            self.prune(self.schedule(done))
        self.apply_masks()

    @torch.no_grad()
    def prune(self, fraction: float) -> None:
        for name, p in self.params.items():
            zeros = self.zeros_at(name, fraction)
            if zeros == self.zeros[name]:
                continue
            score = p.abs().flatten().masked_fill(~self.masks[name].flatten(), -1.0)  # pruned stay pruned
            mask = torch.ones(p.numel(), dtype=torch.bool, device=p.device)
            mask[torch.topk(score, zeros, largest=False, sorted=False).indices] = False
            self.set_mask(name, mask, zeros)

    def zeros_at(self, name: str, fraction: float) -> int:
        """Layer `name`'s zeros at `fraction` of its final sparsity."""
        return zero_count(self.sizes[name], self.targets[name] * fraction)

    def density_changes(self) -> list[int]:
        points = {*range(self.first_step, self.last_step + 1, self.delta_t), self.last_step}
        return sorted(d for d in points if d >= 1 and self.prunes_after(d))

    def planned_zeros(self, done: int) -> dict[str, int]:
        """The counts of the last pruning at or before `done` steps (none before the ramp: its fraction is 0)."""
        last = min(done, self.last_step)
        if last < self.first_step:
            return dict.fromkeys(self.masked, 0)
        fraction = self.schedule(last if last == self.last_step else
                                 self.first_step + (last - self.first_step) // self.delta_t * self.delta_t)
        return {name: self.zeros_at(name, fraction) for name in self.masked}
