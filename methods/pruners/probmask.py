"""`probmask`: probabilistic masking (Zhou et al., 2021): every prunable weight has a keep probability
s in [0, 1], trained jointly with the weights, and a hard mask is drawn from the scores at the end.

Training forward: w * m with m = sigmoid((logit(s) + L) / tau), L logistic noise (a binary-concrete
sample, one per layer per forward; the reference draws two forwards per step, our loop does one), tau
annealed linearly from `temperature_start` to `temperature_end` over the run. The scores take an Adam step
(`score_lr`) after every optimizer step and are then projected onto {0 <= s <= 1, sum(s) <= K} by
bisection on a shift v (s <- clamp(s - v, 0, 1)), with one budget K per group: the classifier apart from
the backbone. Every prunable weight of the scope has a score, the layers that the sparsity layout (ERK)
would leave dense included: a group keeps exactly what the layout gives its layers in total (the backbone
at the prune rate, the classifier at its own rate), and how that total splits between its layers is
learned, as in the reference, which learns one budget over every prunable layer. K follows the cubic
schedule k = k_f + (1 - k_f)(1 - (t - t1)/(t2 - t1))^3 between t1 = begin * T and t2 = end * T, and the
temperature falls over T, with T the run's length on the pruner's clock: epochs by default, the
reference's clock (it anneals once per epoch; ours moves within an epoch in proportion to its steps), or
optimizer steps (`clock = 'steps'`).

The soft mask is a parametrization of the masked weights, registered by this pruner alone, so hard-mask
pruners never pay for it. Evaluation during training (test accuracy, probe passes, state preservation)
uses the hard mask the run would end with if it stopped now: the top-K scores of each group at the
current budget. After `hard_after * T` steps (default: after the last step) the mask becomes exactly that
at the final budget and frozen, and the shared hard-mask mechanism keeps it from then on. Training is
dense until then (every weight takes part in the forward), and the FLOPs accounting counts it so.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from harness.core.errors import ConfigError
from harness.core.registry import register
from harness.core.rng import derive_seed, generator
from harness.training.pruning import Pruner, clock_kind, cubic_ramp
from harness.training.sparsity import zero_count

EPS = 1e-12  # keeps logit(s) finite at s = 0 and s = 1 (and the gradient there of order one)
NOISE_EPS = 1e-6


@register("pruner", "probmask")
class ProbMask(Pruner):
    samples_in_forward = True  # a fresh binary-concrete sample per training forward
    learns_layout = True  # every layer of the scope is scored; only each group's total is given

    def __init__(self, begin: float = 0.16, end: float = 0.6, temperature_start: float = 1.0,
                 temperature_end: float = 0.03, score_lr: float = 6e-3, score_init: float = 1.0,
                 bisection_steps: int = 16, hard_after: float = 1.0, clock: str = "epochs"):
        if not 0.0 <= begin < end <= 1.0:
            raise ConfigError(f"pruners.probmask needs 0 <= begin < end <= 1, got begin={begin}, end={end}")
        if not 0.0 < temperature_end <= temperature_start:
            raise ConfigError("pruners.probmask needs 0 < temperature_end <= temperature_start, got "
                              f"{temperature_start} -> {temperature_end}")
        if score_lr <= 0 or not 0.0 < score_init <= 1.0:
            raise ConfigError(f"pruners.probmask needs score_lr > 0 and score_init in (0, 1], got {score_lr}, "
                              f"{score_init}")
        if not isinstance(bisection_steps, int) or bisection_steps < 1:
            raise ConfigError(f"pruners.probmask.bisection_steps must be an integer >= 1, got {bisection_steps!r}")
        if not end <= hard_after <= 1.0:
            raise ConfigError(f"pruners.probmask.hard_after must be in [end, 1] = [{end}, 1], got {hard_after!r}")
        self.begin, self.end = begin, end
        self.temperature_start, self.temperature_end = temperature_start, temperature_end
        self.score_lr, self.score_init = score_lr, score_init
        self.bisection_steps, self.hard_after = bisection_steps, hard_after
        self.clock_kind = clock_kind("probmask", clock)

    def set_schedule(self) -> None:
        self.first, self.last = self.clock.span(self.begin, self.end)  # the budget ramp's ends on the clock
        self.hard_step = max(1, self.clock.step_at(self.clock.point(self.hard_after)))

    def setup(self, seed: int) -> None:
        self.slices: dict[str, tuple[str, int, int]] = {}
        self.scores: dict[str, torch.Tensor] = {}
        self.group_zeros: dict[str, int] = {}
        for group, names in self.groups.items():
            offset = 0
            for name in names:
                self.slices[name] = (group, offset, offset + self.sizes[name])
                offset += self.sizes[name]
            device = self.params[names[0]].device
            self.scores[group] = torch.full((offset,), self.score_init, device=device, requires_grad=True)
            self.group_zeros[group] = sum(self.final_zeros[n] for n in names)
        self.done = 0
        self.temperature = self.temperature_start
        self.hard = not self.params  # nothing to learn: a prune rate that leaves every layer dense
        self._eval_masks: dict[str, torch.Tensor] | None = None
        if self.hard:
            return
        self.score_optimizer = torch.optim.Adam(list(self.scores.values()), lr=self.score_lr)
        self.noise = generator(derive_seed(seed, "probmask"), next(iter(self.scores.values())).device)
        modules = dict(self.model.named_modules())
        for name in self.params:
            module_name, _, tensor = name.rpartition(".")
            parametrize.register_parametrization(modules[module_name], tensor, _SoftMask(self, name), unsafe=True)

    # -- schedules ------------------------------------------------------------------------------------

    def budget(self, group: str, done: int) -> int:
        """Weights group `group` keeps after `done` steps (the cubic schedule, an exact count)."""
        n = self.scores[group].numel()
        return n - zero_count(n, self.group_zeros[group] / n * cubic_ramp(self.clock.time(done), self.first,
                                                                          self.last))

    def temperature_after(self, done: int) -> float:
        progress = min(self.clock.time(done) / self.clock.total, 1.0)
        return self.temperature_start + (self.temperature_end - self.temperature_start) * progress

    # -- the soft mask --------------------------------------------------------------------------------

    def scores_of(self, name: str) -> torch.Tensor:
        group, start, stop = self.slices[name]
        return self.scores[group][start:stop].view_as(self.params[name])

    def sample(self, name: str) -> torch.Tensor:
        """A binary-concrete sample of layer `name`'s mask (differentiable in its scores)."""
        s = self.scores_of(name)
        u = torch.rand(s.shape, generator=self.noise, device=s.device).clamp_(NOISE_EPS, 1 - NOISE_EPS)
        odds = (s + EPS) * u / ((1 - s + EPS) * (1 - u))  # logit(s) + logit(u) = log(odds): one logarithm
        return torch.sigmoid(torch.log(odds) / self.temperature)

    def eval_mask(self, name: str) -> torch.Tensor:
        if self._eval_masks is None:
            self._eval_masks = self._top_scores({g: self.budget(g, self.done) for g in self.groups})
        return self._eval_masks[name]

    @torch.no_grad()
    def _top_scores(self, keep: dict[str, int]) -> dict[str, torch.Tensor]:
        """Per layer, whether its weight is among the `keep[group]` highest scores of its group."""
        masks = {}
        for group, names in self.groups.items():
            flat = self.scores[group]
            chosen = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
            chosen[torch.topk(flat, keep[group], sorted=False).indices] = True
            for name in names:
                _, start, stop = self.slices[name]
                masks[name] = chosen[start:stop].view_as(self.params[name])
        return masks

    # -- the loop's hooks -----------------------------------------------------------------------------

    def after_step(self, step: int) -> None:
        if self.hard:
            self.apply_masks()
            return
        self.score_optimizer.step()
        self.score_optimizer.zero_grad(set_to_none=True)
        self.done = step + 1
        self.project()
        self.temperature = self.temperature_after(self.done)
        self._eval_masks = None
        if self.done >= self.hard_step:
            self.harden()

    @torch.no_grad()
    def project(self) -> None:
        for group, flat in self.scores.items():
            flat.clamp_(0.0, 1.0)
            budget = self.budget(group, self.done)
            if budget < flat.numel():
                flat.sub_(_shift(flat, budget, self.bisection_steps)).clamp_(min=0.0)

    def harden(self) -> None:
        """Freeze the mask: the top scores of each group at its final budget, held by the shared mechanism."""
        masks = self._top_scores({g: self.scores[g].numel() - self.group_zeros[g] for g in self.groups})
        zeros = torch.stack([(~m).sum() for m in masks.values()]).tolist()  # once per run
        for (name, mask), count in zip(masks.items(), zeros, strict=True):
            self.set_mask(name, mask, count)
        self.hard = True
        self._eval_masks = None
        self.apply_masks()

    def forward_generator(self) -> torch.Generator | None:
        return None if self.hard else self.noise

    # -- what the harness reads -----------------------------------------------------------------------

    def zero_counts(self) -> dict[str, int]:
        if self.hard or not self.params:
            return super().zero_counts()
        masks = {name: self.eval_mask(name) for name in self.params}
        zeros = dict(zip(masks, torch.stack([(~m).sum() for m in masks.values()]).tolist(), strict=True))
        return {name: zeros.get(name, 0) for name in self.targets}

    def train_density(self) -> dict[str, float]:
        return super().train_density() if self.hard else dict.fromkeys(self.targets, 1.0)

    # -- planning -------------------------------------------------------------------------------------

    def planned_zeros(self, done: int) -> dict[str, int]:
        """Each layer at its target's share of the ramp: the layout's split of the group totals, which the
        run learns for itself (so an estimate, exact only in each group's total)."""
        ramp = 1.0 if done >= self.hard_step else cubic_ramp(self.clock.time(done), self.first, self.last)
        return {name: zero_count(self.sizes[name], self.targets[name] * ramp) for name in self.masked}

    def planned_train_density(self, done: int) -> dict[str, float]:
        return self.planned_density(done) if done >= self.hard_step or not self.masked else \
            dict.fromkeys(self.targets, 1.0)

    def density_changes(self) -> list[int]:
        return [self.hard_step] if self.masked else []

    # -- checkpoints ----------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        state = {**super().state_dict(), "done": self.done, "hard": self.hard}
        if self.scores:
            state.update(scores={g: s.detach().clone() for g, s in self.scores.items()},
                         score_optimizer=self.score_optimizer.state_dict(), noise=self.noise.get_state())
        return state

    def load_state_dict(self, state: dict) -> None:
        if self.scores:
            with torch.no_grad():
                for group, scores in state["scores"].items():
                    self.scores[group].copy_(scores)
            self.score_optimizer.load_state_dict(state["score_optimizer"])
            self.noise.set_state(state["noise"])
        self.done, self.hard = state["done"], state["hard"]
        self.temperature = self.temperature_after(self.done)
        self._eval_masks = None
        super().load_state_dict(state)


class _SoftMask(nn.Module):
    """The parametrization w -> w * mask of one layer: a fresh sample in training mode, the current hard
    mask in evaluation mode, nothing once the mask is hard (the shared mechanism zeroes the weights)."""

    def __init__(self, pruner: ProbMask, name: str):
        super().__init__()
        self.pruner, self.name = pruner, name

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.pruner.hard:
            return weight
        if self.training:
            return weight * self.pruner.sample(self.name)
        return weight * self.pruner.eval_mask(self.name)


def _shift(s: torch.Tensor, budget: int, steps: int) -> torch.Tensor:
    """The v >= 0 with sum(clamp(s - v, 0, 1)) <= budget, by `steps` bisections on the device (no host sync;
    for s in [0, 1] the sum is max(s - v, 0) summed, decreasing in v). v = 0 when the budget holds."""
    lo, hi = s.new_zeros(()), s.max()
    buffer = torch.empty_like(s)
    for _ in range(steps):
        mid = (lo + hi) / 2
        over = torch.sub(s, mid, out=buffer).clamp_(min=0.0).sum() > budget
        lo, hi = torch.where(over, mid, lo), torch.where(over, hi, mid)
    return torch.where(s.sum() > budget, hi, lo.new_zeros(()))
