"""Per-layer target sparsities from a prune rate, a scope and a distribution.

Prunable tensors are chosen by allow-list: the weights of Conv and Linear layers. The classifier is the
model's `fc`. Layers given a fixed sparsity (the classifier under the `backbone` scope) sit outside the
distribution's budget, as in RigL's `custom_sparsity_map`: the prune rate is the sparsity of the rest.
"""

from __future__ import annotations

import math

from torch import nn

from harness.settings import SparsitySettings

PRUNABLE_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def prunable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """Conv and Linear weights by parameter name, in module order."""
    return {f"{name}.weight": m.weight for name, m in model.named_modules() if isinstance(m, PRUNABLE_MODULES)}


def classifier_weight(model: nn.Module) -> str:
    fc = getattr(model, "fc", None)
    for name, p in model.named_parameters():
        if fc is not None and p is fc.weight:
            return name
    raise ValueError(f"{type(model).__name__} has no `fc` classifier layer")


def layer_targets(model: nn.Module, rate: float, scope: str, settings: SparsitySettings) -> dict[str, float]:
    """Target sparsity (fraction of zeros) per prunable weight tensor; layers not listed stay dense."""
    if scope == "none":
        return {}
    weights = prunable_weights(model)
    fc = classifier_weight(model)
    if scope == "fc":
        return {fc: rate}
    shapes = {n: tuple(p.shape) for n, p in weights.items()}
    fixed = {fc: settings.fc_rate} if scope == "backbone" else {}
    pool = {n: s for n, s in shapes.items() if n not in fixed}
    dist = erk(pool, rate) if settings.distribution == "erk" else {n: rate for n in pool}
    return {**dist, **fixed}


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
        dense.add(max(over, key=lambda n: raw[n]))
    return {n: 0.0 if n in dense else 1.0 - scale * raw[n] for n in shapes}
