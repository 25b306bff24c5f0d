"""How the model executes on the training device: numeric precision, memory layout and compilation.

Three switches of `runtime` (outside the run key, like the device: they change how fast a run computes, and
its numbers only within floating-point tolerance), each `'auto'` by default, which turns it on where it pays
off, on a CUDA GPU, and leaves the CPU path as plain float32 eager PyTorch:

- `precision`: 'bf16' runs every forward pass (training, evaluation, probe passes) under bfloat16 autocast;
  weights, gradients, optimizer state, losses and what selectors read stay float32. 'fp32' is plain.
- `channels_last`: the model's weights and every input batch in NHWC layout (what tensor cores want).
- `compile`: the training forward pass through `torch.compile`. Dynamo keys its cache on the model's code,
  not the instance, so the runs that one job trains one after the other reuse the first run's compiled code
  (the same architecture and batch shapes compile once per process). Evaluation and probe passes stay eager.
  Compiling a ResNet takes a minute or more, which only a long run earns back: 'auto' compiles on a GPU
  when the run takes at least COMPILE_MIN_STEPS optimizer steps (the paper's CIFAR runs take 1,896 with 1%
  coresets to 105,600 dense; smoke runs a few hundred). A guess until a GPU measures where it pays.
  Nor does 'auto' compile a run whose pruner samples its mask inside the forward pass (ProbMask): the
  graph would break at every layer.

On CUDA, cuDNN also benchmarks its convolution algorithms (`torch.backends.cudnn.benchmark`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from harness.core.sections import Runtime

COMPILE_MIN_STEPS = 5000
COMPILE_BACKEND = "inductor"  # tests on the CPU swap in 'aot_eager': the same capture, without code generation


@dataclass(frozen=True)
class FastPath:
    """The resolved switches for one run on one device (recorded in result.json's `env`)."""

    precision: str  # 'fp32' | 'bf16'
    channels_last: bool
    compile: bool
    device_type: str

    @staticmethod
    def resolve(runtime: Runtime, device: torch.device, total_steps: int, traceable: bool = True) -> FastPath:
        """`traceable`: whether torch.compile can capture the training forward (False with ProbMask)."""
        cuda = device.type == "cuda"
        precision = runtime.precision
        if precision == "auto":
            precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
        return FastPath(precision=precision,
                        channels_last=cuda if runtime.channels_last == "auto" else runtime.channels_last,
                        compile=(cuda and traceable and total_steps >= COMPILE_MIN_STEPS) if runtime.compile == "auto"
                        else runtime.compile,
                        device_type=device.type)

    def prepare(self, model: nn.Module) -> None:
        """Put the model's weights in this path's memory layout, in place (before an optimizer holds them)."""
        if self.device_type == "cuda":
            torch.backends.cudnn.benchmark = True
        if self.channels_last:
            model.to(memory_format=torch.channels_last)

    def training_forward(self, model: nn.Module) -> nn.Module:
        """What the training step calls: the model itself, or a compiled view of it sharing its parameters."""
        return torch.compile(model, backend=COMPILE_BACKEND) if self.compile else model

    def autocast(self) -> contextlib.AbstractContextManager:
        """The context every forward pass runs in (the probe pass apart: `train.probe_precision`)."""
        return autocast(self.device_type, self.precision)

    def record(self) -> dict:
        return {"precision": self.precision, "channels_last": self.channels_last, "compile": self.compile}


def autocast(device_type: str, precision: str) -> contextlib.AbstractContextManager:
    """bfloat16 autocast for 'bf16', nothing for 'fp32'."""
    if precision == "bf16":
        return torch.autocast(device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
