"""Selection time of every registered selector on CIFAR-shaped probes, and the probe pass of the smoke model.

`make bench-selectors` (or `python -m benchmarks.selector_speed`) prints one table: for each selector, the
median wall time of `select` over a few repeats on precomputed probe tensors shaped like a ResNet-18 probe
of CIFAR-10 (N = 50,000, d = 512, 10 classes) and of CIFAR-100 (100 classes), at a 10% budget, and whether
exactly the budget came back; then the time of one probe pass of the smoke-scale model. The probes are
synthetic (non-negative "post-ReLU" embeddings around class means, logits from them) with a validation
probe of 10% for GLISTER: timings, not accuracy, are what this measures. A third probe, `reference`, is
the problem the reference GradMatch was timed on (`reference_probe`): for it the table also
gives the gradient-matching error of every weighted selector and, for GradMatch, how many picks were
dropped (each drop is a rank-one downdate of the class's system).

`--scaling` times every selector at the shapes of CIFAR-10 (50k x 512, 10 classes), Tiny ImageNet
(100k x 2048, 200 classes) and ImageNet-1k (1.28M x 2048, 1000 classes), 10% budget, each run in its own
process: the wall time of `select`, the process's peak resident memory (probe included) and the growth
exponent of the time in N between shapes. A run past `--limit-s` (10 minutes) or `--limit-gib` (20 GiB)
is stopped and says so in its cell ("over 10 min", "over 20 GiB"); the time limit counts from the end of
the probe's generation (which has a limit of its own, the same).

OpenMP threads that spin while they wait make every parallel operation of a selection loop wait for a
descheduled thread when other processes share the cores (5 to 10 times slower on a busy 2-core machine), so
this sets OMP_WAIT_POLICY=PASSIVE unless the environment already says otherwise; the header prints it.
"""

import os

if __name__ == "__main__":  # run as the benchmark (not imported): before torch loads OpenMP, which reads it once
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from harness.core import registry  # noqa: E402
from harness.core.rng import generator  # noqa: E402
from harness.training.selection import Probe, SelectionContext, check_coreset  # noqa: E402

SHAPES = {"CIFAR-10": 10, "CIFAR-100": 100}
N, D = 50_000, 512  # a ResNet-18 probe of CIFAR's training split
SCALING = {"CIFAR-10": (50_000, 512, 10), "Tiny ImageNet": (100_000, 2048, 200),
           "ImageNet-1k": (1_281_167, 2048, 1000)}
WEIGHTED = ("gradmatch", "craig")  # the selectors whose weights are not all 1


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


def reference_probe(per_class: int = 5000, d: int = D, num_classes: int = 10) -> Probe:
    """The reference GradMatch problem (the widely used OMP took 57.7 s on it, on a 2-core CPU): one generator
    seeded 0; per class c in turn h = |N(0, 1)| [per_class, d], then p = softmax(2 N(0, 1)) [per_class,
    num_classes]; logits log p, labels c. Class c's atoms are then [p_c − 1, (p_c − 1) h]. No validation
    split."""
    g = generator(0)
    hs, ps = [], []
    for _ in range(num_classes):
        hs.append(torch.randn(per_class, d, generator=g).abs_())
        ps.append(torch.softmax(2.0 * torch.randn(per_class, num_classes, generator=g), 1))
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    return Probe(labels=labels, indices=torch.arange(len(labels)), logits=torch.cat(ps).log(),
                 embeddings=torch.cat(hs))


def matching_error(probe: Probe, coreset, num_classes: int) -> float:
    """GradMatch's objective, per class: ‖sum_S w_i g_i − sum_all g_i‖ / ‖sum_all g_i‖ with g_i the class's
    per-gradient atom e_ic [1, h_i] (float64), averaged over the classes."""
    from methods.coresets._features import error_vectors, with_bias

    errors = []
    for c in range(num_classes):
        mine, chosen = probe.labels == c, probe.labels[coreset.indices] == c
        idx = coreset.indices[chosen]

        def atoms(rows, c=c):
            return error_vectors(probe.logits[rows], probe.labels[rows])[:, c:c + 1].double() * \
                with_bias(probe.embeddings[rows]).double()

        full = atoms(mine.nonzero().squeeze(1)).sum(0)
        got = (atoms(idx) * coreset.weights[chosen].double()[:, None]).sum(0)
        errors.append(float((got - full).norm() / full.norm()))
    return statistics.mean(errors)


def cifar_shaped_probe(num_classes: int) -> Probe:
    """The probe every selector timing uses: N x D, `num_classes` classes, a 10% validation probe."""
    return synthetic_probe(N, D, num_classes, seed=1, val=N // 10)


def time_selector(name: str, probe: Probe, budget: int, num_classes: int, repeats: int):
    """Median time of `select`, whether exactly the budget came back, the last coreset and the selector."""
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
    return statistics.median(times), exact, coreset, selector


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
    parser.add_argument("--scaling", action="store_true", help="the scaling table (CIFAR-10 to ImageNet shapes)")
    parser.add_argument("--shapes", nargs="*", default=None, help=f"--scaling: only these of {', '.join(SCALING)}")
    parser.add_argument("--device", default="cpu", help="--scaling: the device the probes live on")
    parser.add_argument("--limit-s", type=float, default=600.0, help="--scaling: time limit per run")
    parser.add_argument("--limit-gib", type=float, default=20.0, help="--scaling: memory limit per run")
    parser.add_argument("--one", nargs=2, metavar=("SELECTOR", "SHAPE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    import methods  # noqa: F401  (registers the selectors)

    names = args.selectors or [n for n in registry.names("selector") if n != "full"]
    if args.one:
        return scaling_run(*args.one, args.fraction, args.device)
    if args.scaling:
        return scaling_table(names, args.shapes or list(SCALING), args)
    budget = int(args.fraction * N + 0.5)
    probes = {f"{shape} ({k} classes)": cifar_shaped_probe(k) for shape, k in SHAPES.items()}
    probes["reference problem (CIFAR-10)"] = reference_probe()
    print(f"selection time, median of {args.repeats}, N = {N:,}, d = {D}, budget = {budget:,} "
          f"({args.fraction:g}), {torch.get_num_threads()} threads (OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY')}), device cpu, load average {os.getloadavg()[0]:.1f} at the start")
    print(f"| selector | {' | '.join(probes)} | matching error (reference) | exactly the budget |")
    print(f"|---|{'---:|' * len(probes)}---:|---|")
    for name in names:
        cells, exact, error = [], True, "—"
        for what, probe in probes.items():
            if probe.val is None and registry.build("selector", name).needs_val:
                cells.append("— (no validation split)")
                continue
            k = 10 if what.startswith("reference") else SHAPES[what.split(" (")[0]]
            seconds, ok, coreset, selector = time_selector(name, probe, budget, k, args.repeats)
            cells.append(f"{seconds:.2f} s")
            exact &= ok
            if what.startswith("reference"):
                if name in WEIGHTED:
                    error = f"{matching_error(probe, coreset, k):.4f}"
                if name == "gradmatch":
                    cells[-1] += f" ({selector.drops} drops)"
        print(f"| {name} | {' | '.join(cells)} | {error} | {'yes' if exact else 'NO'} |", flush=True)
    print()
    print(f"probe pass of the smoke model (ResNet-18, width 0.125), median of {args.repeats}")
    for what, seconds in probe_pass_time(args.repeats):
        print(f"| {what} | {seconds:.3f} s |")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


def scaled_probe(n: int, d: int, num_classes: int, device: str, val: bool) -> Probe:
    """`synthetic_probe`'s distribution at any size, generated in float32 chunks of 64k rows (so that the
    ImageNet shape needs its 10.5 GB of embeddings and little more), on `device`."""
    g = generator(1)
    means = torch.randn(num_classes, d, generator=g)

    def part(size: int) -> Probe:
        labels = torch.randperm(size, generator=g) % num_classes
        h = torch.empty(size, d, device=device)
        logits = torch.empty(size, num_classes, device=device)
        for at in range(0, size, 1 << 16):
            rows = labels[at:at + (1 << 16)]
            chunk = torch.relu(means[rows] + 2.0 * torch.randn(len(rows), d, generator=g))
            h[at:at + len(rows)] = chunk
            logits[at:at + len(rows)] = 2.0 * (chunk @ means.T) / d ** 0.5
        return Probe(labels=labels.to(device), indices=torch.arange(size, device=device), logits=logits,
                     embeddings=h)

    probe = part(n)
    if val:
        probe.val = part(n // 10)
    return probe


READY = "probe ready"  # what a cell prints once its probe exists: its time limit starts then


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def scaling_run(name: str, shape: str, fraction: float, device: str) -> int:
    """One cell of the scaling table, in its own process: prints one JSON line."""
    n, d, k = SCALING[shape]
    selector = registry.build("selector", name)
    probe = scaled_probe(n, d, k, device, selector.needs_val)
    budget = int(fraction * n + 0.5)
    ctx = SelectionContext(epoch=100, total_epochs=300, round=4, num_classes=k, lr=0.05, previous=None)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    print(READY, flush=True)
    start = time.perf_counter()
    coreset = selector.select(probe, budget, generator(0), ctx)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    check_coreset(coreset, budget, n, name)
    out = {"seconds": seconds, "peak_gib": peak_gib()}
    if device.startswith("cuda"):
        out["device_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    print(json.dumps(out), flush=True)
    return 0


def watched(command: list[str], limit_s: float, limit_gib: float) -> dict:
    """Run one cell; stop it past the time limit or the memory limit. The time limit counts from the line
    READY on its output (the probe's generation is not the selector's time), and until then bounds the
    generation alone."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    clock = [time.monotonic()]  # when the limit started: the start, then the READY line

    def read():
        for line in proc.stdout:
            if line.strip() == READY:
                clock[0] = time.monotonic()
            else:
                lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    peak = 0.0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as status:
                rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
            peak = max(peak, rss / 2 ** 20)
        except (OSError, StopIteration):
            pass
        if peak > limit_gib:
            proc.kill()
            proc.wait()
            return {"stopped": f"over {limit_gib:g} GiB"}
        if time.monotonic() - clock[0] > limit_s:
            proc.kill()
            proc.wait()
            return {"stopped": f"over {limit_s / 60:g} min"}
        time.sleep(0.1)
    reader.join()
    err = proc.stderr.read()
    if proc.returncode != 0:
        return {"stopped": f"failed: {(err.strip().splitlines() or ['?'])[-1][:80]}"}
    return json.loads(lines[-1])


def scaling_table(names: list[str], shapes: list[str], args) -> int:
    print(f"scaling: wall time of one `select` (10% budget) and the process's peak memory (probe included), "
          f"device {args.device}, {torch.get_num_threads()} threads, limits {args.limit_s / 60:g} min and "
          f"{args.limit_gib:g} GiB per run (the time after the probe's generation, the memory with it), load average "
          f"{os.getloadavg()[0]:.1f} at the start")
    heads = [f"{s} ({SCALING[s][0]:,} x {SCALING[s][1]}, {SCALING[s][2]} classes)" for s in shapes]
    print(f"| selector | {' | '.join(heads)} | growth exponent in N |")
    print(f"|---|{'---:|' * len(shapes)}---|")
    for name in names:
        cells, done = [], []
        for shape in shapes:
            command = [sys.executable, "-m", "benchmarks.selector_speed", "--one", name, shape,
                       "--fraction", str(args.fraction), "--device", args.device]
            if args.threads:
                command += ["--threads", str(args.threads)]
            result = watched(command, args.limit_s, args.limit_gib)
            if "stopped" in result:
                cells.append(result["stopped"])
            else:
                cells.append(f"{result['seconds']:.2f} s, {result['peak_gib']:.1f} GiB")
                done.append((SCALING[shape][0], result["seconds"]))
        pairs = zip(done, done[1:], strict=False)
        growth = [f"{math.log(t2 / t1) / math.log(n2 / n1):.2f}" for (n1, t1), (n2, t2) in pairs if t1 > 0 and t2 > 0]
        print(f"| {name} | {' | '.join(cells)} | {', '.join(growth) or '—'} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
