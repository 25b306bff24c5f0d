"""The mask mechanism every hard-mask pruner shares, and the Pruner interface the loop calls.

A pruner owns boolean masks keyed by parameter name, one per layer that has zeros to hold (a layer whose
target is dense gets no mask and costs nothing). After every optimizer step the masks are applied to the
weights *and* to the optimizer's per-parameter state (momentum, Adam moments) with two fused multiplies
(by a copy of each mask in the weights' dtype: multiplying by a bool tensor is several times slower),
so neither the step nor weight decay moves a pruned weight and a regrown weight starts from a clean state.
No monkey-patching of `optimizer.step`, no hooks or parametrizations on the forward pass. Gradients are
left dense: a pruner that needs the dense gradient (RigL) reads `p.grad` in `before_step`.

Pruners keep the number of zeros of each mask as a Python int next to it (`set_mask`), so densities and
FLOPs are known without reading anything back from the device.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.core.errors import ConfigError
from harness.training.schedule import CLOCKS, Clock
from harness.training.sparsity import zero_count


class Pruner:
    """Base class of online pruners (register subclasses with `@register("pruner", name)`).

    The loop calls `attach` once, then per training step: backward -> `before_step(step)` (may update
    masks from the dense gradients; returns True when that update replaces this step's optimizer step, as
    RigL does) -> `optimizer.step()` unless replaced -> `after_step(step)` (may update masks; re-applies
    them). `step` counts optimizer steps from 0. Subclasses override `setup`, `before_step` and
    `after_step` and change masks only through `set_mask`.

    `samples_in_forward`: the pruner draws a random mask inside the forward pass (ProbMask), which
    torch.compile cannot capture; runs with it are not compiled unless `runtime.compile = True` says so.
    `learns_layout`: the pruner learns how each group's budget splits between its layers (ProbMask), so every
    layer of a group with anything to prune is its to mask, those the layout leaves dense included; only the
    group totals of the targets bind it. `self.groups` holds those groups (all of them, for other pruners).

    A pruner's schedule (when it updates, how far its ramps have gone) reads `self.clock` (harness.training.schedule),
    of the kind `clock_kind` names: optimizer steps or epochs, usually the pruner's `clock` argument.
    """

    samples_in_forward: bool = False
    learns_layout: bool = False
    clock_kind: str = "steps"

    def attach(self, model: nn.Module, optimizer: torch.optim.Optimizer, targets: dict[str, float],
               groups: dict[str, list[str]], epoch_steps: tuple[int, ...] | list[int], seed: int) -> None:
        """Take over `model`'s parameters listed in `targets` (name -> final sparsity); `groups` are the layers
        that share one budget (harness.training.sparsity.budget_groups), `epoch_steps` the optimizer steps each epoch of
        the run will take, `seed` the pruner's own seed."""
        named = dict(model.named_parameters())
        self.model = model
        self.optimizer = optimizer
        self.seed = seed
        self.plan(targets, groups, {name: named[name].numel() for name in targets}, epoch_steps)
        self.params = {name: named[name] for name in self.masked}
        self.masks = {name: torch.ones_like(p, dtype=torch.bool) for name, p in self.params.items()}
        self.factors = {name: torch.ones_like(p) for name, p in self.params.items()}
        self.zeros = dict.fromkeys(self.params, 0)
        self.version = 0  # bumped whenever a mask changes
        self.setup(seed)
        self.apply_masks()

    def plan(self, targets: dict[str, float], groups: dict[str, list[str]], sizes: dict[str, int],
             epoch_steps: tuple[int, ...] | list[int]) -> None:
        """What `attach` sets that is no tensor: the targets, the layers to mask (`masked`) and the schedule
        (`set_schedule`), from the layers' sizes alone. A pruner planned so, without a model, answers the
        planning questions below (harness.training.cost counts a run's FLOPs with them)."""
        self.clock = Clock(self.clock_kind, epoch_steps)
        self.total_steps = self.clock.total_steps
        self.targets = dict(targets)
        self.sizes = {name: sizes[name] for name in targets}
        self.final_zeros = {name: zero_count(self.sizes[name], s) for name, s in targets.items()}
        self.groups = {g: names for g, names in groups.items()
                       if names and (not self.learns_layout or sum(self.final_zeros[n] for n in names))}
        learned = {n for names in self.groups.values() for n in names} if self.learns_layout else set()
        self.masked = [name for name in targets if name in learned or self.final_zeros[name] > 0]
        self.set_schedule()

    def set_schedule(self) -> None:
        """The schedule's points on `self.clock` (no tensors: `plan` calls it too)."""

    def setup(self, seed: int) -> None:
        """Initial masks (dense unless overridden)."""

    def forward_generator(self) -> torch.Generator | None:
        """The generator the pruner draws from inside the training forward (ProbMask's mask samples), if
        any: a pass that must leave training untouched saves and restores its state."""
        return None

    def before_step(self, step: int) -> bool:
        return False

    def after_step(self, step: int) -> None:
        self.apply_masks()

    def set_mask(self, name: str, mask: torch.Tensor, zeros: int) -> None:
        """Replace a layer's mask; `zeros` is its number of False entries (the caller constructed it so)."""
        p = self.params[name]
        self.masks[name] = mask.view_as(p)
        self.factors[name] = torch.empty_like(p).copy_(self.masks[name])  # p's dtype and memory layout
        self.zeros[name] = zeros
        self.version += 1

    @torch.no_grad()
    def apply_masks(self) -> None:
        """Weights and the optimizer's per-weight state times the masks (two fused multiplies)."""
        if not self.params:
            return
        params, masks = list(self.params.values()), list(self.factors.values())
        torch._foreach_mul_(params, masks)
        buffers, buffer_masks = [], []
        state = self.optimizer.state
        for p, mask in zip(params, masks, strict=True):
            for value in state.get(p, {}).values():
                if torch.is_tensor(value) and value.shape == p.shape:
                    buffers.append(value)
                    buffer_masks.append(mask)
        if buffers:
            torch._foreach_mul_(buffers, buffer_masks)

    # -- what the harness reads -----------------------------------------------------------------------

    def zero_counts(self) -> dict[str, int]:
        """Pruned (masked-out) weights per targeted layer, as the model is evaluated now."""
        return {name: self.zeros.get(name, 0) for name in self.targets}

    def density_by_layer(self) -> dict[str, float]:
        """Kept fraction per targeted layer, as the model is evaluated now."""
        return {name: 1.0 - zeros / self.sizes[name] for name, zeros in self.zero_counts().items()}

    def train_density(self) -> dict[str, float]:
        """Kept fraction per targeted layer that a training step computes with (FLOPs accounting)."""
        return self.density_by_layer()

    def dense_gradient(self, step: int) -> bool:
        """Whether `step` computes the dense weight gradient (RigL's update steps; FLOPs accounting)."""
        return False

    # -- planning: a run's masks ahead of time, from `plan` alone (harness.training.cost) ------------------

    def planned_zeros(self, done: int) -> dict[str, int]:
        """Zeros of each masked layer after `done` optimizer steps, as the masks evaluate then (what
        `zero_counts` would say). Exact for a pruner whose counts follow its schedule; a pruner that learns its
        layout gives the layout's split. A pruner that cannot say raises NotImplementedError."""
        if not self.masked:
            return {}
        raise NotImplementedError(f"{type(self).__name__} does not plan its masks (Pruner.planned_zeros)")

    def planned_density(self, done: int) -> dict[str, float]:
        """`density_by_layer` after `done` steps, planned."""
        zeros = self.planned_zeros(done)
        return {name: 1.0 - zeros.get(name, 0) / self.sizes[name] for name in self.targets}

    def planned_train_density(self, done: int) -> dict[str, float]:
        """`train_density` of step number `done`, planned."""
        return self.planned_density(done)

    def density_changes(self) -> list[int]:
        """The numbers of steps done after which the planned training densities may change, in order."""
        return []

    def dense_gradient_steps(self) -> list[int]:
        """Every step for which `dense_gradient` is true, in order."""
        return []

    # -- checkpoints ----------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {"masks": {n: m.clone() for n, m in self.masks.items()}, "zeros": dict(self.zeros)}

    def load_state_dict(self, state: dict) -> None:
        for name, mask in state["masks"].items():
            self.set_mask(name, mask.to(self.params[name].device), state["zeros"][name])
        self.apply_masks()


def clock_kind(pruner: str, clock: str) -> str:
    """A pruner's `clock` argument, checked: 'steps' or 'epochs'."""
    if clock not in CLOCKS:
        raise ConfigError(f"pruners.{pruner}.clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
    return clock


def cubic_ramp(done: float, first: float, last: float) -> float:
    """Zhu & Gupta's gradual schedule: 0 until `first`, 1 - (1 - progress)^3 up to `last` (> `first`), then 1
    (in steps or epochs, whichever clock reads `done`)."""
    progress = min(max((done - first) / (last - first), 0.0), 1.0)
    return 1.0 - (1.0 - progress) ** 3
