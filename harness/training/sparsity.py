"""Per-layer target sparsities from a prune rate, a scope and a distribution.

Prunable tensors are chosen by allow-list: the weights of Conv and Linear layers. The classifier is the
model's `fc`. Layers given a fixed sparsity (the classifier under the `backbone` scope) sit outside the
distribution's budget, as in RigL's `custom_sparsity_map`: the prune rate is the sparsity of the rest.

Targets are exact: every layer's sparsity is zeros/size for a whole number of zeros, and the layers that
share a distribution together hold round(rate * their size) zeros (largest remainders), so a pruner that
meets each layer's count meets the prune rate to the weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from harness.core.sections import SparsitySettings

PRUNABLE_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def prunable_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Conv and Linear modules keyed by the name of their weight, in module order."""
    return {f"{name}.weight": m for name, m in model.named_modules() if isinstance(m, PRUNABLE_MODULES)}


def prunable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """Conv and Linear weights by parameter name, in module order."""
    return {name: m.weight for name, m in prunable_modules(model).items()}


def classifier_weight(model: nn.Module) -> str:
    fc = getattr(model, "fc", None)
    if isinstance(fc, PRUNABLE_MODULES):
        for name, m in model.named_modules():
            if m is fc:
                return f"{name}.weight"
    raise ValueError(f"{type(model).__name__} has no `fc` classifier layer")


def zero_count(size: int, sparsity: float) -> int:
    """The number of zeros a layer of `size` weights has at `sparsity` (rounded half up)."""
    return min(size, int(size * sparsity + 0.5))


@dataclass(frozen=True)
class Layout:
    """What the sparsity layout reads of a model: the shapes of its prunable weights (in module order) and
    the name of its classifier's weight."""

    shapes: dict[str, tuple[int, ...]]
    classifier: str

    @staticmethod
    def of(model: nn.Module | Layout) -> Layout:
        if isinstance(model, Layout):
            return model
        return Layout({n: tuple(p.shape) for n, p in prunable_weights(model).items()}, classifier_weight(model))

    @property
    def sizes(self) -> dict[str, int]:
        return {n: math.prod(shape) for n, shape in self.shapes.items()}


def layer_targets(model: nn.Module | Layout, rate: float, scope: str, settings: SparsitySettings) -> dict[str, float]:
    """Target sparsity (fraction of zeros, an exact count over the size) per prunable weight tensor of a model
    (or of its `Layout`).

    Layers not listed stay dense; listed layers may have target 0 (ERK can leave a small layer dense)."""
    if scope == "none":
        return {}
    layout = Layout.of(model)
    sizes, fc = layout.sizes, layout.classifier
    if scope == "fc":
        return {fc: zero_count(sizes[fc], rate) / sizes[fc]}
    fixed = {fc: zero_count(sizes[fc], settings.fc_rate) / sizes[fc]} if scope == "backbone" else {}
    shapes = {n: shape for n, shape in layout.shapes.items() if n not in fixed}
    dist = erk(shapes, rate) if settings.distribution == "erk" else {n: rate for n in shapes}
    zeros = apportion({n: dist[n] * sizes[n] for n in shapes}, zero_count(sum(sizes[n] for n in shapes), rate))
    return {**{n: zeros[n] / sizes[n] for n in shapes}, **fixed}


def budget_groups(targets: dict[str, float], model: nn.Module | Layout, scope: str) -> dict[str, list[str]]:
    """The layers of `targets` that share one budget: under the `backbone` scope the classifier (fixed at its
    own rate) apart from the rest, under `fc` the classifier alone, under `all` every layer together. A
    pruner that learns the layout (ProbMask) keeps each group's total and splits it as it learns."""
    if scope != "backbone":
        return {scope: list(targets)} if targets else {}
    fc = Layout.of(model).classifier
    return {"backbone": [n for n in targets if n != fc], "fc": [n for n in targets if n == fc]}


def erk(shapes: dict[str, tuple[int, ...]], sparsity: float) -> dict[str, float]:
    """Erdos-Renyi-Kernel: density of layer l proportional to sum(dims)/prod(dims), scaled so that the
    layers together keep (1 - sparsity) of their weights; a layer whose density would exceed 1 is made
    dense and the rest re-solved, until none does."""
    sizes = {n: math.prod(s) for n, s in shapes.items()}
    raw = {n: sum(s) / sizes[n] for n, s in shapes.items()}
    keep_total = (1.0 - sparsity) * sum(sizes.values())
    dense: set[str] = set()
    while True:
        budget = keep_total - sum(sizes[n] for n in dense)
        scale = budget / sum(raw[n] * sizes[n] for n in shapes if n not in dense)
        over = [n for n in shapes if n not in dense and scale * raw[n] > 1.0]
        if not over:
            break
        dense.update(over)
    return {n: 0.0 if n in dense else 1.0 - scale * raw[n] for n in shapes}


def apportion(shares: dict[str, float], total: int) -> dict[str, int]:
    """Whole numbers close to `shares` that add up to `total`: floors, then one more for the largest
    remainders (ties in order)."""
    counts = {n: math.floor(x) for n, x in shares.items()}
    missing = total - sum(counts.values())
    by_remainder = sorted(shares, key=lambda n: counts[n] - shares[n])  # largest remainder first
    for n in by_remainder[:max(missing, 0)]:
        counts[n] += 1
    return counts
