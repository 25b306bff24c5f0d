"""Least-confidence selection: keep the samples the current model is least sure of, each with weight one.

A selector written outside `methods/`, as a researcher would write their own: registered on import, used by
`studies/new_selector.gin`."""

from __future__ import annotations

import torch

from harness.core.registry import register
from harness.training.selection import Coreset, Selector


@register("selector", "least_confident")
class LeastConfident(Selector):
    """The `budget` samples of lowest softmax confidence (at `temperature`), class-blind."""

    def __init__(self, temperature: float = 1.0):
        self.temperature = temperature

    def select(self, probe, budget, rng, ctx):
        confidence = (probe.logits / self.temperature).softmax(1).max(1).values
        chosen = confidence.argsort()[:budget]
        return Coreset(probe.indices[chosen], torch.ones(budget, device=chosen.device))
