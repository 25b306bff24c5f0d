"""`moderate`: per class, the samples at a moderate distance from the class centre (Moderate coreset,
Xia et al. 2023), what the paper uses on TinyImageNet.

Why: easy samples sit near the centre and hard or mislabelled ones far away; the median distance is a
robust proxy for the whole distribution, so the samples ranked around it are kept. The centre is the
coordinate-wise median of the class's penultimate features (what the authors' code uses; their paper says
mean), the distance Euclidean (computed in float64 so ties and near-ties rank reproducibly). Unlike the
authors' code, which ranks all samples together, the window is taken per class, so the coreset keeps the
class balance: for a class of n samples and a budget of k, the samples ranked (n − k) // 2 to
(n − k) // 2 + k − 1 by distance (ties by position). Weights are 1.
"""

from __future__ import annotations

import torch

from harness.core.registry import register
from harness.training.selection import ClassLayout, Coreset, Probe, SelectionContext, Selector, class_budgets


@register("selector", "moderate")
class Moderate(Selector):
    def select(self, probe: Probe, budget: int, rng: torch.Generator, ctx: SelectionContext) -> Coreset:
        groups = ClassLayout.of(probe.labels, ctx.num_classes).groups()
        picked = []
        for members, k in zip(groups, class_budgets(probe.labels, budget, ctx.num_classes), strict=True):
            dist = centre_distances(probe.embeddings[members])
            start = (len(members) - k) // 2
            picked.append(members[torch.argsort(dist, stable=True)[start:start + k]])
        return Coreset(probe.indices[torch.cat(picked)], torch.ones(budget, device=probe.indices.device))


def centre_distances(h: torch.Tensor) -> torch.Tensor:
    """Euclidean distance of each row to the coordinate-wise median of the rows (the mean of the two middle
    values for an even count), float64."""
    h = h.double()
    n, columns = len(h), h.T.contiguous()
    centre = (columns.kthvalue((n + 1) // 2, dim=1).values + columns.kthvalue(n // 2 + 1, dim=1).values) / 2
    return (h - centre).norm(dim=1)
