"""Selection time of every registered selector on CIFAR-shaped probes, and the probe pass of the smoke model.

`make bench-selectors` (or `python -m benchmarks.selector_speed`) prints one table: for each selector, the
median wall time of `select` over a few repeats on precomputed probe tensors shaped like a ResNet-18 probe
of CIFAR-10 (N = 50,000, d = 512, 10 classes) and of CIFAR-100 (100 classes), at a 10% budget, and whether
exactly the budget came back; then the time of one probe pass of the smoke-scale model. The probes are
synthetic (non-negative "post-ReLU" embeddings around class means, logits from them) with a validation
probe of 10% for GLISTER: timings, not accuracy, are what this measures.

OpenMP threads that spin while they wait make every parallel operation of a selection loop wait for a
descheduled thread when other processes share the cores (5 to 10 times slower on a busy 2-core machine), so
this sets OMP_WAIT_POLICY=PASSIVE unless the environment already says otherwise; the header prints it.
"""

import os

if __name__ == "__main__":  # run as the benchmark (not imported): before torch loads OpenMP, which reads it once
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from harness.core import registry  # noqa: E402
from harness.core.rng import generator  # noqa: E402
from harness.training.selection import Probe, SelectionContext, check_coreset  # noqa: E402

SHAPES = {"CIFAR-10": 10, "CIFAR-100": 100}
N, D = 50_000, 512  # a ResNet-18 probe of CIFAR's training split


def synthetic_probe(n: int, d: int, num_classes: int, seed: int = 0, val: int = 0, spread: float = 1.0) -> Probe:
    """A probe like a trained network's: embeddings relu(class mean + noise) [n, d], logits from their
    similarity to the class means (most samples right, some confidently wrong), balanced labels."""
    g = generator(seed)
    means = torch.randn(num_classes, d, generator=g)

    def part(size: int) -> Probe:
        labels = torch.randperm(size, generator=g) % num_classes
        h = torch.relu(means[labels] + spread * torch.randn(size, d, generator=g) * 2.0)
        logits = 4.0 * (h @ means.T) / (d ** 0.5) / (1.0 + spread)
        return Probe(labels=labels, indices=torch.arange(size), logits=logits, embeddings=h)

    probe = part(n)
    if val:
        probe.val = part(val)
    return probe


def cifar_shaped_probe(num_classes: int) -> Probe:
    """The probe every selector timing uses: N x D, `num_classes` classes, a 10% validation probe."""
    return synthetic_probe(N, D, num_classes, seed=1, val=N // 10)


def time_selector(name: str, probe: Probe, budget: int, num_classes: int, repeats: int) -> tuple[float, bool]:
    selector = registry.build("selector", name)
    ctx = SelectionContext(epoch=100, total_epochs=300, round=4, num_classes=num_classes, lr=0.05, previous=None)
    times, exact = [], True
    for r in range(repeats):
        start = time.perf_counter()
        coreset = selector.select(probe, budget, generator(r), ctx)
        times.append(time.perf_counter() - start)
        try:
            check_coreset(coreset, budget, len(probe), name)
        except RuntimeError:
            exact = False
    return statistics.median(times), exact


def probe_pass_time(repeats: int) -> list[tuple[str, float]]:
    """One probe pass of the smoke-scale model (ResNet-18 at width 0.125) over digits' training split and
    over a CIFAR-10-shaped smoke split (2,000 images of 3x32x32)."""
    from harness import models  # noqa: F401  (registers the architectures)
    from harness.data.augment import Normalize
    from harness.training.selection import probe_pass

    rows = []
    g = generator(0)
    for what, shape, n in (("digits train split (1,294 x 1x8x8)", (1, 8, 8), 1294),
                           ("CIFAR-10 smoke split (2,000 x 3x32x32)", (3, 32, 32), 2000)):
        model = registry.build("model", "resnet18", num_classes=10, in_channels=shape[0], width=0.125)
        x = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)
        y = torch.randint(0, 10, (n,), generator=g)
        norm = Normalize(torch.full((shape[0],), 128.0), torch.full((shape[0],), 64.0))
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            probe_pass(model, x, y, norm, 1024)
            times.append(time.perf_counter() - start)
        rows.append((what, statistics.median(times)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.selector_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per cell; the median is shown")
    parser.add_argument("--fraction", type=float, default=0.1, help="coreset fraction (default 0.1)")
    parser.add_argument("--selectors", nargs="*", default=None, help="only these (default: all but 'full')")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    import methods  # noqa: F401  (registers the selectors)

    names = args.selectors or [n for n in registry.names("selector") if n != "full"]
    budget = int(args.fraction * N + 0.5)
    probes = {shape: cifar_shaped_probe(k) for shape, k in SHAPES.items()}
    print(f"selection time, median of {args.repeats}, N = {N:,}, d = {D}, budget = {budget:,} "
          f"({args.fraction:g}), {torch.get_num_threads()} threads (OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY')}), device cpu, load average {os.getloadavg()[0]:.1f} at the start")
    print(f"| selector | {' | '.join(f'{s} ({k} classes)' for s, k in SHAPES.items())} | exactly the budget |")
    print(f"|---|{'---:|' * len(SHAPES)}---|")
    for name in names:
        cells, exact = [], True
        for shape, k in SHAPES.items():
            seconds, ok = time_selector(name, probes[shape], budget, k, args.repeats)
            cells.append(f"{seconds:.2f} s")
            exact &= ok
        print(f"| {name} | {' | '.join(cells)} | {'yes' if exact else 'NO'} |", flush=True)
    print()
    print(f"probe pass of the smoke model (ResNet-18, width 0.125), median of {args.repeats}")
    for what, seconds in probe_pass_time(args.repeats):
        print(f"| {what} | {seconds:.3f} s |")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
