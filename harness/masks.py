"""The mask mechanism every hard-mask pruner shares, and the Pruner interface the loop calls.

A pruner owns boolean masks keyed by parameter name. After every optimizer step the masks are applied to
the weights *and* to the optimizer's per-parameter state (momentum, Adam moments), so neither the step nor
weight decay moves a pruned weight, and a regrown weight starts from a clean state. No monkey-patching of
`optimizer.step`, no hooks or parametrizations on the forward pass.
"""

from __future__ import annotations

import torch
from torch import nn


class Pruner:
    """Base class of online pruners (register subclasses with `@register("pruner", name)`).

    The loop calls `attach` once, then per training step: backward -> `before_step(step)` (may update
    masks from the dense gradients; returns True when that update replaces this step's optimizer step, as
    RigL does) -> `optimizer.step()` unless replaced -> `after_step(step)` (may update masks; re-applies
    them). Subclasses override `setup`, `before_step` and `after_step` and keep `self.masks` current.
    """

    def attach(self, model: nn.Module, optimizer: torch.optim.Optimizer, targets: dict[str, float],
               total_steps: int, seed: int) -> None:
        """Take over `model`'s parameters listed in `targets` (name -> final sparsity)."""
        named = dict(model.named_parameters())
        self.params = {name: named[name] for name in targets}
        self.targets = dict(targets)
        self.optimizer = optimizer
        self.total_steps = total_steps
        self.masks = {name: torch.ones_like(p, dtype=torch.bool) for name, p in self.params.items()}
        self.setup(seed)
        self.apply_masks()

    def setup(self, seed: int) -> None:
        """Initial masks (dense unless overridden)."""

    def before_step(self, step: int) -> bool:
        return False

    def after_step(self, step: int) -> None:
        self.apply_masks()

    @torch.no_grad()
    def apply_masks(self) -> None:
        for name, p in self.params.items():
            mask = self.masks[name]
            p.mul_(mask)
            for value in self.optimizer.state.get(p, {}).values():
                if torch.is_tensor(value) and value.shape == p.shape:
                    value.mul_(mask)

    def zero_counts(self) -> dict[str, int]:
        """Pruned (masked-out) weights per layer."""
        return {name: int((~m).sum()) for name, m in self.masks.items()}

    def density_by_layer(self) -> dict[str, float]:
        return {name: float(m.float().mean()) for name, m in self.masks.items()}

    def state_dict(self) -> dict:
        return {"masks": {n: m.clone() for n, m in self.masks.items()}}

    def load_state_dict(self, state: dict) -> None:
        for name, mask in state["masks"].items():
            self.masks[name].copy_(mask)
        self.apply_masks()


def exact_zero_count(size: int, sparsity: float) -> int:
    """The number of zeros a layer of `size` weights has at `sparsity` (rounded half up)."""
    return min(size, int(size * sparsity + 0.5))
