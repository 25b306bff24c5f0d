"""`forgetting`: the samples the model forgets most often (Toneva et al. 2019), counted across rounds.

Why: samples that are learned and then forgotten again carry the most information; unforgettable ones
can be left out. A forgetting event is a sample that was classified correctly at the previous round's probe
and is misclassified now, so events are counted at the selection rounds (every R epochs), not after every
step as in the original: coarser, and free. Samples never classified correctly so far rank first (the
original counts them as forgotten infinitely often), then by events; ties are broken at random. Weights
are 1. The counts are the selector's state: they go into the run's checkpoint, so a resumed run counts
exactly what an uninterrupted one does.
"""

from __future__ import annotations

import torch

from harness.core.registry import register
from harness.training.selection import Coreset, Probe, SelectionContext, Selector


@register("selector", "forgetting")
class Forgetting(Selector):
    def __init__(self):
        self.events: torch.Tensor | None = None  # int64 [N]: forgetting events so far
        self.correct: torch.Tensor | None = None  # bool [N]: right at the last probe
        self.learned: torch.Tensor | None = None  # bool [N]: right at some probe

    def select(self, probe: Probe, budget: int, rng: torch.Generator, ctx: SelectionContext) -> Coreset:
        self.observe((probe.logits.argmax(1) == probe.labels).cpu())
        never = float(len(self.events) + 1)  # more than any count of events
        score = self.events.double().masked_fill(~self.learned, never)
        jitter = torch.rand(len(score), generator=rng, dtype=torch.float64) * 0.5  # ties only: scores are integers
        chosen = torch.argsort(score + jitter, descending=True)[:budget].to(probe.indices.device)
        return Coreset(probe.indices[chosen], torch.ones(budget, device=probe.indices.device))

    def observe(self, correct: torch.Tensor) -> None:
        """Record one probe's correctness (bool [N], CPU)."""
        if self.events is not None and len(self.events) != len(correct):
            raise ValueError(f"forgetting: the probe has {len(correct)} samples, the history {len(self.events)}")
        if self.events is None:
            self.events = torch.zeros(len(correct), dtype=torch.long)
            self.learned = correct.clone()
        else:
            self.events += self.correct & ~correct
            self.learned |= correct
        self.correct = correct.clone()

    def state_dict(self) -> dict:
        if self.events is None:
            return {}
        return {"events": self.events.clone(), "correct": self.correct.clone(), "learned": self.learned.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.events, self.correct, self.learned = (state.get(k) for k in ("events", "correct", "learned"))
