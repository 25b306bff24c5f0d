"""`el2n`: the samples with the highest (or lowest) EL2N score ‖softmax(z) − onehot(y)‖₂ under the current
model, what the paper uses on ImageNet.

Why the switch: EL2N (Paul et al. 2021) keeps the hardest samples, which helps early; the paper prefers
the lowest scores once half of training is done, when the hardest samples are mostly noise (its own
modification, Appendix D). A coreset chosen at epoch t counts as late when (t − 1) / total_epochs >=
`switch_at`; `early`/`late` say which end of the ranking each phase keeps ('high' or 'low'). The ranking
is global by default, as in the original and the paper; adaptive rounds then tend to concentrate on a few
classes (on `digits`, 2 to 4 of the 10 after the first rounds), so `per_class = True` ranks within each
class under the class budgets GradMatch and Moderate use. Ties by position; weights are 1.
"""

from __future__ import annotations

import torch

from harness.core.errors import ConfigError
from harness.core.registry import register
from harness.training.selection import ClassLayout, Coreset, Probe, SelectionContext, Selector, class_budgets
from methods.coresets._features import el2n

ENDS = ("high", "low")


@register("selector", "el2n")
class EL2N(Selector):
    def __init__(self, switch_at: float = 0.5, early: str = "high", late: str = "low", per_class: bool = False):
        if not 0.0 <= switch_at <= 1.0:
            raise ConfigError(f"selectors.el2n.switch_at must be in [0, 1], got {switch_at!r}")
        for name, value in (("early", early), ("late", late)):
            if value not in ENDS:
                raise ConfigError(f"selectors.el2n.{name} must be one of {', '.join(ENDS)}, got {value!r}")
        self.switch_at, self.early, self.late, self.per_class = switch_at, early, late, per_class

    def end(self, ctx: SelectionContext) -> str:
        """Which end of the ranking the round at `ctx` keeps."""
        return self.late if (ctx.epoch - 1) / ctx.total_epochs >= self.switch_at else self.early

    def select(self, probe: Probe, budget: int, rng: torch.Generator, ctx: SelectionContext) -> Coreset:
        scores, high = el2n(probe), self.end(ctx) == "high"
        if not self.per_class:
            chosen = torch.argsort(scores, descending=high, stable=True)[:budget]
        else:
            groups = ClassLayout.of(probe.labels, ctx.num_classes).groups()
            budgets = class_budgets(probe.labels, budget, ctx.num_classes)
            chosen = torch.cat([g[torch.argsort(scores[g], descending=high, stable=True)[:k]]
                                for g, k in zip(groups, budgets, strict=True)])
        return Coreset(probe.indices[chosen], torch.ones(budget, device=probe.indices.device))
