"""`rigl`: Rigging the Lottery (Evci et al., 2020), the paper's default pruner: sparse from the first step,
with the connectivity rewired every `delta_t` steps.

Initial masks are random with each layer's exact count of zeros (ERK layout by default). At step t (the
t-th optimizer step, t = delta_t, 2 delta_t, ... while c(t) < T_end = t_end * C, with c(t) the clock's
reading after t steps and C the run's length on it) RigL replaces the optimizer step with an update: in
each layer it drops the floor(f(t) * n_active) active weights of smallest magnitude, f(t) = alpha/2 (1 +
cos(pi c(t) / T_end)), and grows as many inactive ones (the just-dropped included) with the largest
dense-gradient magnitude. The clock (`clock`) is the reference's by default, optimizer steps, and C is then
the steps the run actually takes, after coreset subsampling; 'epochs' spreads T_end and f over epochs.
Genuinely new connections start at zero weight and zero momentum; a weight dropped and regrown in the same
update keeps its value and momentum. Exact ties (zero weights, zero gradients) are broken at random,
seeded by (seed, t), so a resumed run repeats every update.
"""

from __future__ import annotations

import math

import torch

from harness.core.errors import ConfigError
from harness.core.registry import register
from harness.core.rng import derive_seed, generator
from harness.training.pruning import Pruner, clock_kind


@register("pruner", "rigl")
class RigL(Pruner):
    def __init__(self, delta_t: int = 100, t_end: float = 0.75, alpha: float = 0.3, clock: str = "steps"):
        if not isinstance(delta_t, int) or delta_t < 1:
            raise ConfigError(f"pruners.rigl.delta_t must be an integer >= 1, got {delta_t!r}")
        if not 0.0 < t_end <= 1.0:
            raise ConfigError(f"pruners.rigl.t_end must be in (0, 1], got {t_end!r}")
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"pruners.rigl.alpha must be in [0, 1], got {alpha!r}")
        self.delta_t, self.t_end, self.alpha = delta_t, t_end, alpha
        self.clock_kind = clock_kind("rigl", clock)

    def set_schedule(self) -> None:
        self.end = self.clock.point(self.t_end)  # T_end on the clock

    def setup(self, seed: int) -> None:
        self.updates = 0
        g = generator(derive_seed(seed, "rigl", "init"))
        for name, p in self.params.items():
            zeros = self.final_zeros[name]
            mask = torch.ones(p.numel(), dtype=torch.bool)
            mask[torch.randperm(p.numel(), generator=g)[:zeros]] = False
            self.set_mask(name, mask.to(p.device), zeros)

    def updates_at(self, step: int) -> bool:
        t = step + 1
        return t % self.delta_t == 0 and self.clock.time(t) < self.end

    def drop_fraction(self, t: int) -> float:
        return self.alpha / 2 * (1 + math.cos(math.pi * self.clock.time(t) / self.end))

    def before_step(self, step: int) -> bool:
        if not self.updates_at(step):
            return False
        self.update(step + 1)
        return True

    def dense_gradient(self, step: int) -> bool:
        return self.updates_at(step)

    def dense_gradient_steps(self) -> list[int]:
        return [t - 1 for t in range(self.delta_t, self.total_steps + 1, self.delta_t) if self.updates_at(t - 1)]

    def planned_zeros(self, done: int) -> dict[str, int]:
        """Each layer's final count from the first step (updates move weights, not counts)."""
        return {name: self.final_zeros[name] for name in self.masked}

    @torch.no_grad()
    def update(self, t: int) -> None:
        fraction = self.drop_fraction(t)
        for name, p in self.params.items():
            active = p.numel() - self.zeros[name]
            count = int(fraction * active)
            if count == 0:
                continue
            g = generator(derive_seed(self.seed, "rigl", t, name), p.device)
            mask = self.masks[name].flatten()
            drop = _break_ties(p.abs().flatten(), -1.0, g).masked_fill_(~mask, math.inf)
            kept = mask.clone()
            kept[torch.topk(drop, count, largest=False, sorted=False).indices] = False
            grad = p.grad.abs().flatten() if p.grad is not None else torch.zeros_like(drop)
            grow = _break_ties(grad, -1.0, g).masked_fill_(kept, -math.inf)
            kept[torch.topk(grow, count, sorted=False).indices] = True
            self.set_mask(name, kept, self.zeros[name])
        self.updates += 1

    def state_dict(self) -> dict:
        return {**super().state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.updates = state["updates"]


def _break_ties(score: torch.Tensor, below: float, g: torch.Generator) -> torch.Tensor:
    """`score` (>= 0) with its exact zeros replaced by random values in (below, 0]: they rank below every
    positive score, in random order among themselves."""
    noise = torch.rand(score.shape, generator=g, device=score.device, dtype=score.dtype).mul_(below)
    return torch.where(score == 0, noise, score)
