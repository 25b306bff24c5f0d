"""Analytic FLOPs: per layer from one traced forward, at the current masks, and integrated over a run.

A FLOP here is a multiply-accumulate of a Conv or Linear layer (DESIGN section 4; the RigL paper counts the
same way; PyTorch's own counter counts two FLOPs per multiply-accumulate). Per sample:
    conv    (1 - s) * k_h * k_w * (C_in / groups) * C_out * H_out * W_out  = (1 - s) * weight size * H_out * W_out
    linear  (1 - s) * in * out                                              (times any extra leading positions)
Normalisation, activations, pooling and additions are not counted.

Training cost per sample of a step: 3 f_S (forward, and the backward's two products) at the densities the
step trains with; RigL's update steps take the dense weight gradient, 2 f_S + f_D, which averaged over an
update interval is (3 f_S dT + 2 f_S + f_D) / (dT + 1). Magnitude pruning's f_S follows its schedule step
by step; ProbMask trains dense (f_D) until its mask is hard. Forward passes outside the step (the probe
pass of each selection round, state preservation's recording) cost f at the evaluated masks. The relative
cost is against dense training on the full training split for the same epochs, 3 f_D * N * epochs.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from harness.training.pruning import Pruner
from harness.training.sparsity import prunable_modules


@torch.no_grad()
def layer_flops(model: nn.Module, input_shape: tuple[int, ...], device: torch.device | str = "cpu",
                dry: bool = False) -> dict[str, int]:
    """Dense multiply-accumulates per sample of every Conv/Linear layer (keyed by its weight's name), from
    one eval-mode forward of a single zero input of shape `input_shape` (C, H, W). `dry`: the Conv/Linear
    layers compute nothing, each returns zeros of its output's shape and the rest of the network
    runs on those (what is counted are shapes: a model whose weights were never initialised is counted in
    milliseconds, harness.training.cost)."""
    modules = prunable_modules(model)
    out_positions: dict[str, int] = {}

    def record(name: str):
        def hook(module, inputs, output):
            channels = output.shape[1] if not isinstance(module, nn.Linear) else output.shape[-1]
            out_positions[name] = output.numel() // (output.shape[0] * channels)
        return hook

    handles = [m.register_forward_hook(record(name)) for name, m in modules.items()]
    if dry:
        for m in modules.values():
            m.forward = functools.partial(_empty_output, m)  # an instance attribute: removed below
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
        if dry:
            for m in modules.values():
                del m.forward
    missing = sorted(set(modules) - set(out_positions))
    if missing:
        raise ValueError(f"layers not reached by the forward pass: {', '.join(missing)}")
    return {name: _weight_size(m) * out_positions[name] for name, m in modules.items()}


def _empty_output(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Zeros of the shape `module` (Conv or Linear) would return for `x`."""
    if isinstance(module, nn.Linear):
        return x.new_zeros((*x.shape[:-1], module.out_features))
    sizes = []
    for i, n in enumerate(x.shape[2:]):
        if module.padding == "same":
            sizes.append(n)
            continue
        pad = 0 if module.padding == "valid" else module.padding[i]
        sizes.append((n + 2 * pad - module.dilation[i] * (module.kernel_size[i] - 1) - 1) // module.stride[i] + 1)
    return x.new_zeros((x.shape[0], module.out_channels, *sizes))


def _weight_size(module: nn.Module) -> int:
    original = getattr(getattr(module, "parametrizations", None), "weight", None)
    weight = original.original if original is not None else module.weight
    return weight.numel()


def sparse_flops(dense: dict[str, int], density: dict[str, float]) -> float:
    """Per-sample FLOPs at the given per-layer densities (layers not listed are dense)."""
    return sum(f * density.get(name, 1.0) for name, f in dense.items())


class TrainingFlops:
    """Training FLOPs of a run, accumulated step by step from the pruner's state (no host sync: densities
    are the pruner's Python counts, read again only when its masks change)."""

    def __init__(self, dense: dict[str, int], pruner: Pruner):
        self.dense = dense
        self.dense_total = float(sum(dense.values()))
        self.pruner = pruner
        self.total = 0.0
        self._version = None
        self._forward = 0.0

    def step(self, step: int, samples: int) -> None:
        """One training step over `samples` samples, with the masks it trains with."""
        if self.pruner.version != self._version:
            self._forward = sparse_flops(self.dense, self.pruner.train_density())
            self._version = self.pruner.version
        f = self._forward
        backward = f + (self.dense_total if self.pruner.dense_gradient(step) else f)
        self.total += (f + backward) * samples

    def forward(self, samples: int) -> None:
        """An inference pass over `samples` samples at the evaluated masks (probe, recording)."""
        self.total += self.inference() * samples

    def inference(self) -> float:
        """Per-sample inference FLOPs at the evaluated masks."""
        return sparse_flops(self.dense, self.pruner.density_by_layer())

    def dense_training(self, samples: int, epochs: int) -> float:
        """Dense training on `samples` samples for `epochs` epochs: the reference of relative FLOPs."""
        return 3.0 * self.dense_total * samples * epochs

    def state_dict(self) -> dict:
        return {"total": self.total}

    def load_state_dict(self, state: dict) -> None:
        self.total = state["total"]
