"""`python -m benchmarks.pruner_speed` (`make bench-pruners`): the CPU time of a training step with each
online pruner, relative to the same step without pruning, measured side by side in one process.

Two identical CIFAR ResNet-18s (width 16 by default: a width multiplier of 0.25) train on the same random
32x32 batches with the paper's SGD; one of them carries the pruner, attached as a run attaches it (the
SWaST-cut layout: backbone by ERK at the prune rate, classifier at 0.9) to a run of 1,000 steps. The steps
alternate between the two models, so both see the same machine, and are timed with the process's CPU
clock. The timed window is one update interval (the default `delta_t` of 100 steps) in the middle of the
pruning schedule, steps 200 to 299: it holds one RigL update (t = 300), one magnitude pruning step (t =
260) and ProbMask's budget projection on every step. The ratio is the pruned model's CPU time over the
plain model's, summed over the window.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

import methods  # noqa: F401  (registers the pruners)
from harness.core import registry
from harness.core.sections import SparsitySettings
from harness.models import resnet
from harness.training.sparsity import budget_groups, layer_targets

TOTAL_STEPS, START = 1000, 200


def sgd(model: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)


def timed_step(model, opt, x, y, pruner=None, step: int = 0) -> float:
    """One training step as the harness's loop takes it; returns its CPU seconds."""
    start = time.process_time()
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    if pruner is None:
        opt.step()
    else:
        if not pruner.before_step(step):
            opt.step()
        pruner.after_step(step)
    return time.process_time() - start


def measure(name: str, width: float, batch: int, steps: int, rate: float, warmup: int) -> dict:
    torch.manual_seed(0)
    plain = resnet.resnet18(num_classes=10, in_channels=3, width=width)
    pruned = resnet.resnet18(num_classes=10, in_channels=3, width=width)
    pruned.load_state_dict(plain.state_dict())
    plain_opt, pruned_opt = sgd(plain), sgd(pruned)
    pruner = registry.build("pruner", name)
    targets = layer_targets(pruned, rate, "backbone", SparsitySettings())
    pruner.attach(pruned, pruned_opt, targets, budget_groups(targets, pruned, "backbone"), [TOTAL_STEPS], 0)
    g = torch.Generator().manual_seed(0)
    base, with_pruner = [], []
    for i in range(warmup + steps):
        step = START - warmup + i
        x, y = torch.randn(batch, 3, 32, 32, generator=g), torch.randint(0, 10, (batch,), generator=g)
        a = timed_step(plain, plain_opt, x, y)
        b = timed_step(pruned, pruned_opt, x, y, pruner, step)
        if i >= warmup:
            base.append(a)
            with_pruner.append(b)
    return {"pruner": name, "plain_ms": 1e3 * sum(base) / steps, "pruned_ms": 1e3 * sum(with_pruner) / steps,
            "ratio": sum(with_pruner) / sum(base), "slowest_ms": 1e3 * max(with_pruner)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pruner_speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pruners", nargs="+", default=["rigl", "magnitude", "probmask"])
    parser.add_argument("--width", type=float, default=0.25, help="width multiplier (0.25: 16 stem channels)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100, help="timed steps (one update interval by default)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--prune_rate", type=float, default=0.9)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: PyTorch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"CIFAR ResNet-18, {round(64 * args.width)} stem channels, batch {args.batch} of 32x32, SWaST-cut layout at "
          f"prune rate {args.prune_rate}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
          f"steps {START}-{START + args.steps - 1} of {TOTAL_STEPS}")
    print(f"{'pruner':<10} {'plain ms/step':>14} {'pruned ms/step':>15} {'ratio':>7} {'slowest step ms':>16}")
    for name in args.pruners:
        r = measure(name, args.width, args.batch, args.steps, args.prune_rate, args.warmup)
        print(f"{r['pruner']:<10} {r['plain_ms']:>14.1f} {r['pruned_ms']:>15.1f} {r['ratio']:>6.3f}x "
              f"{r['slowest_ms']:>16.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
