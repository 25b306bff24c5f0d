"""`python -m benchmarks speed` (`make bench`): the harness against the simplest loop that could do the same
work, side by side in one process, and the cost of launching a run.

Training loop. For each method (dense, coreset-only, pruning-only with RigL, SWaST-cut with complete state
preservation) a real `Training` is built from the method's digits experiment (`gin/digits/<method>.gin`,
ResNet-18 at width 0.125, batch 32, on the CPU) and brought past its first selection, so the coreset, its
weights and the recorded logits exist. A bare loop written below then gets a copy of the same model, an SGD
optimizer with the same settings (lr, momentum, nesterov, weight decay) and the same training set (all of
digits, or the coreset with its weights). Its epoch is a device permutation cut into the same number of
equally sized slices as the harness's batches, each slice gathered, cropped and flipped with the same
augmentation function the harness uses (`harness.data.augment.crop_flip`: the augmentation itself is not under
test, the loop around it is), turned into floats, standardised, and trained on with plain cross-entropy (the
coreset's weighted cross-entropy, plus lambda times the KL to the recorded logits for SWaST-cut); the epoch's
mean loss is read once at the end, as the harness reads it. Pruning-only and SWaST-cut give the bare loop its
own RigL pruner, attached to its model exactly as the run attaches the harness's one and called with the same
step numbers (`before_step` replacing the optimizer step on update steps, `after_step` re-applying the masks);
the bare loop starts from the run's masks and optimizer state: RigL's own cost is measured by `make
bench-pruners`; here it is in both loops. A repetition is `Training._train_epoch` (whole epochs, enough of
them for at least `--min-steps` steps) against the same number of bare epochs over the same window of steps;
harness and bare repetitions alternate, so both see the same machine load, and each ratio is the median over
repetitions of harness time / bare time of the pair. Times are the process's CPU time (one thread): on cores
shared with other jobs, wall time also counts the moments the process waits for a core, which neither loop
causes (the wall-time ratio is recorded next to it). Selection and evaluation are outside the timed window.

Probe pass: `harness.training.selection.probe_pass` over the training split against a bare eval-mode, no-grad
forward over the same slices (the model's logits, concatenated), alternating the same way.

Launching: a whole `python -m harness.run` smoke run (the SWaST-cut digits experiment, one thread, W&B
disabled) in a fresh process; what is not training, selection or evaluation (interpreter and import start,
gin parsing, building, checkpoints, writing the run folder and result.json) is the launch overhead, shown as
a share of the process's wall time, next to the start-up any PyTorch training script pays (a process that
imports torch and builds an SGD optimizer), timed alternately with it.

Selectors: every registered selector's time on a probe shaped like CIFAR-10's (N = 50,000, d = 512, 10%),
as `make bench-selectors` times it (which adds the CIFAR-100 shape and the probe pass of the smoke model).

Prints a table and writes results/bench/speed.json (device, versions, date, load averages, threads, the
timings and a `ratios` object). Torch uses one thread by default (`--threads`): with two threads on busy
cores every parallel region waits for a descheduled thread and times stretch many-fold. OpenMP threads
wait passively (OMP_WAIT_POLICY=PASSIVE) unless the environment says otherwise.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.selector_speed import D, N, cifar_shaped_probe, time_selector
from harness import config
from harness.core import files, registry
from harness.core.files import PROJECT_ROOT
from harness.core.rng import derive_seed
from harness.core.threads import torch_threads
from harness.data.augment import crop_flip
from harness.execution.build import build
from harness.execution.environment import environment
from harness.training.loop import Training
from harness.training.selection import probe_pass
from harness.training.sparsity import budget_groups, layer_targets

METHODS = {  # ratio name -> experiment file
    "dense": "gin/digits/dense.gin",
    "coreset_only": "gin/digits/coreset_only.gin",
    "rigl": "gin/digits/pruning_only.gin",
    "swast_cut": "gin/digits/swast_cut.gin",
}
BINDINGS = ("runtime.progress = False", "runtime.device = 'cpu'", "runtime.wandb_mode = 'disabled'")
TARGETS = {"dense": 1.05, "coreset_only": 1.05, "rigl": 1.05, "swast_cut": 1.10}
LAUNCH_RUN = "gin/digits/swast_cut.gin"
BARE_START = "import torch; torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)"


class BareLoop:
    """The simplest training loop over the same work as a harness `Training` (see the module docstring)."""

    def __init__(self, training: Training):
        cfg, data = training.cfg, training.data
        self.model = copy.deepcopy(training.model)
        t = cfg.train
        self.opt = torch.optim.SGD(self.model.parameters(), lr=training.optimizer.param_groups[0]["lr"],
                                   momentum=t.momentum, nesterov=t.nesterov, weight_decay=t.weight_decay)
        self.pruner = None
        if cfg.method.prunes:
            self.pruner = registry.build("pruner", cfg.method.pruner)
            targets = layer_targets(self.model, cfg.method.prune_rate, cfg.method.scope, cfg.sparsity)
            self.pruner.attach(self.model, self.opt, targets, budget_groups(targets, self.model, cfg.method.scope),
                               training.schedule.epoch_steps, derive_seed(cfg.experiment.seed, "pruner"))
            self.pruner.load_state_dict(training.pruner.state_dict())  # the masks the run has reached
        self.opt.load_state_dict(training.optimizer.state_dict())  # and its momentum
        self.x, self.y = data.train_x, data.train_y
        self.pad, self.flip = data.augment.pad, data.augment.flip
        self.scale = (1.0 / (255.0 * data.std)).view(1, -1, 1, 1)
        self.shift = (data.mean / data.std).view(1, -1, 1, 1)
        full = len(training.subset) == data.num_train
        self.indices = training.subset.indices
        self.weights = None if full else training.subset.weights
        pres = training.preservation
        self.targets = pres.targets if pres.active else None
        self.lam = pres.weight
        self.batches = math.ceil(len(self.indices) / t.batch_size)
        self.g = torch.Generator().manual_seed(0)

    def epoch(self, step: int) -> tuple[float, int]:
        n = len(self.indices)
        perm = torch.randperm(n, generator=self.g)
        total = torch.zeros(())
        self.model.train()
        for b in range(self.batches):
            pos = perm[b * n // self.batches:(b + 1) * n // self.batches]
            idx = self.indices[pos]
            x = self.x[idx]
            if self.pad or self.flip:
                x = crop_flip(x, self.pad, self.flip, self.g)
            logits = self.model(x.float().mul_(self.scale).sub_(self.shift))
            if self.weights is None:
                loss = F.cross_entropy(logits, self.y[idx])
            else:
                w = self.weights[pos]
                loss = (F.cross_entropy(logits, self.y[idx], reduction="none") * w).sum() / w.sum()
            objective = loss
            if self.targets is not None:
                kl = F.kl_div(F.log_softmax(logits, 1), self.targets[pos], log_target=True, reduction="none")
                objective = loss + self.lam * kl.sum(1).mean()
            self.opt.zero_grad(set_to_none=True)
            objective.backward()
            if self.pruner is None:
                self.opt.step()
            else:
                if not self.pruner.before_step(step):
                    self.opt.step()
                self.pruner.after_step(step)
            step += 1
            total += loss.detach()
        return float(total) / self.batches, step


def prepared(name: str) -> Training:
    """The method's digits run, built and trained up to (and through) its first selection epoch."""
    cfg = config.parse([str(PROJECT_ROOT / METHODS[name])], BINDINGS)
    training = build(cfg)
    first = training.schedule.selection_epochs[0] if training.schedule.selection_epochs else 1
    while training.epoch < first:
        training.run_epoch()
    return training


def compare_loop(name: str, repeats: int, min_steps: int) -> dict:
    training = prepared(name)
    bare = BareLoop(training)
    t = training.epoch + 1
    steps_per_epoch = bare.batches
    epochs = max(1, math.ceil(min_steps / steps_per_epoch))
    start_step = training.step

    def harness_rep():
        training.step = start_step
        for _ in range(epochs):
            training._train_epoch(t)

    def bare_rep():
        step = start_step
        for _ in range(epochs):
            _, step = bare.epoch(step)

    return {"experiment": METHODS[name], "samples": len(training.subset), "steps": epochs * steps_per_epoch,
            **pairs(harness_rep, bare_rep, repeats)}


def pairs(harness, bare, repeats: int) -> dict:
    """`harness` and `bare` alternately (which goes first alternates too), `repeats` times each after one
    warm-up pair: median CPU and wall
    seconds of each, and the median over pairs of the CPU-time ratio (and of the wall-time ratio)."""
    cpu, wall = {"harness": [], "bare": []}, {"harness": [], "bare": []}
    for r in range(repeats + 1):
        order = (("harness", harness), ("bare", bare))
        for side, fn in order if r % 2 else order[::-1]:
            began, began_cpu = time.perf_counter(), time.process_time()
            fn()
            if r:
                cpu[side].append(time.process_time() - began_cpu)
                wall[side].append(time.perf_counter() - began)
    ratios = [h / b for h, b in zip(cpu["harness"], cpu["bare"], strict=True)]
    wall_ratios = [h / b for h, b in zip(wall["harness"], wall["bare"], strict=True)]
    return {"harness_cpu_s": statistics.median(cpu["harness"]), "bare_cpu_s": statistics.median(cpu["bare"]),
            "harness_wall_s": statistics.median(wall["harness"]), "bare_wall_s": statistics.median(wall["bare"]),
            "ratio": statistics.median(ratios), "wall_ratio": statistics.median(wall_ratios),
            "ratio_quartiles": [round(q, 4) for q in (statistics.quantiles(ratios, n=4)[::2] if len(ratios) > 1
                                                      else ratios * 2)],
            "pair_ratios": [round(x, 4) for x in ratios]}


def compare_probe(repeats: int) -> dict:
    training = prepared("dense")
    model, data, bs = training.model, training.data, training.eval_batch
    scale = (1.0 / (255.0 * data.std)).view(1, -1, 1, 1)
    shift = (data.mean / data.std).view(1, -1, 1, 1)

    @torch.no_grad()
    def bare_forward():
        model.eval()
        out = torch.cat([model(data.train_x[s:s + bs].float().mul_(scale).sub_(shift))
                         for s in range(0, len(data.train_x), bs)])
        model.train()
        return out

    return {"samples": data.num_train, "batch": bs,
            **pairs(lambda: probe_pass(model, data.train_x, data.train_y, training.normalize, bs), bare_forward,
                    repeats)}


def launch_overhead(repeats: int, threads: int) -> dict:
    """Wall time of whole smoke-run processes, the part of it that is not training, selection or evaluation,
    and, alternating with them, the floor any PyTorch training script pays: a process that imports torch
    and builds an SGD optimizer (which loads PyTorch's compiler stack)."""
    walls, overheads, floors = [], [], []
    env = {**os.environ, "WANDB_MODE": "disabled"}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            began = time.perf_counter()
            subprocess.run([sys.executable, "-m", "harness.run", LAUNCH_RUN, "--out", out,
                            "--gin_param", "runtime.progress = False", "--gin_param", f"runtime.threads = {threads}",
                            "--gin_param", "runtime.device = 'cpu'"],
                           cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)
            wall = time.perf_counter() - began
            (result,) = Path(out).glob("*/result.json")
            timed = json.loads(result.read_text())["metrics"]["time_s"]
        walls.append(wall)
        overheads.append(wall - timed["train"] - timed["selection"] - timed["eval"])
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", BARE_START], cwd=PROJECT_ROOT, env=env, check=True)
        floors.append(time.perf_counter() - began)
    shares = [o / w for o, w in zip(overheads, walls, strict=True)]
    return {"experiment": LAUNCH_RUN, "wall_s": statistics.median(walls), "overhead_s": statistics.median(overheads),
            "share": statistics.median(shares), "bare_start_s": statistics.median(floors)}


def selector_times(names: list[str] | None, repeats: int) -> dict:
    """Each selector's time on a probe shaped like a ResNet-18 probe of CIFAR-10 (N = 50,000, d = 512, 10
    classes, a 10% budget; `make bench-selectors` adds the CIFAR-100 shape): the median of `repeats`."""
    names = names or [n for n in registry.names("selector") if n != "full"]
    classes, budget = 10, N // 10
    probe = cifar_shaped_probe(classes)
    print(f"\nselection time, CIFAR-10-shaped probe (N = {N:,}, d = {D}, 10% budget), median of {repeats}:")
    times = {}
    for name in names:
        seconds, exact, _, _ = time_selector(name, probe, budget, classes, repeats)
        if not exact:
            raise RuntimeError(f"selector {name!r} did not return exactly its budget")
        times[name] = seconds
        print(f"| {name} | {seconds:.2f} s |", flush=True)
    return {"samples": N, "dim": D, "classes": classes, "budget": budget, "seconds": times,
            "load_average": load()}


def quartiles(r: dict) -> str:
    low, high = r["ratio_quartiles"]
    return f"{low:.2f}-{high:.2f}"


def load() -> float:
    return round(os.getloadavg()[0], 2)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--table2"]:
        from benchmarks import gpu_time

        return gpu_time.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks speed", description=__doc__.split("\n\n")[0],
                                     epilog="--table2 [OPTIONS]: the paper's Table 2 configuration timed end to end "
                                     "(the GPU benchmark; `python -m benchmarks speed --table2 --help`)")
    parser.add_argument("--repeats", type=int, default=21, help="timed pairs per comparison (default 21)")
    parser.add_argument("--min-steps", type=int, default=20, help="training steps per repetition, at least")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--launch-repeats", type=int, default=3, help="smoke-run processes (0: skip)")
    parser.add_argument("--selectors", nargs="+", metavar="NAME", help="selectors to time (default: all)")
    parser.add_argument("--selector-repeats", type=int, default=3, help="timed selections each (0: skip)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--out", default="results/bench/speed.json", help="where to write the JSON record")
    args = parser.parse_args(argv)
    import methods  # noqa: F401  (registers the pruners, selectors and methods)

    with torch_threads(args.threads):  # the benchmark's thread count does not outlive it (tests call main in-process)
        return measure(args)


def measure(args: argparse.Namespace) -> int:
    record = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": environment(torch.device("cpu"))["device"],
        "python": platform.python_version(), "torch": torch.__version__, "threads": args.threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "repeats": args.repeats,
        "load_average_start": list(os.getloadavg()),
        "loop": {}, "ratios": {}, "targets": TARGETS,
    }
    print(f"harness / bare loop, median of {args.repeats} alternating pairs, digits on the CPU, "
          f"{args.threads} thread(s), OMP_WAIT_POLICY={record['omp_wait_policy']}, torch {torch.__version__}")
    print("| what | samples | steps | harness CPU | bare CPU | ratio | quartiles | wall ratio | target | load |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.methods:
        r = compare_loop(name, args.repeats, args.min_steps)
        r["load_average"] = load()
        record["loop"][name] = r
        record["ratios"][name] = r["ratio"]
        print(f"| {name} | {r['samples']} | {r['steps']} | {r['harness_cpu_s']:.3f} s | {r['bare_cpu_s']:.3f} s | "
              f"{r['ratio']:.3f}x | {quartiles(r)} | {r['wall_ratio']:.3f}x | {TARGETS[name]:.2f}x | "
              f"{r['load_average']:.1f} |",
              flush=True)
    p = compare_probe(args.repeats)
    p["load_average"] = load()
    record["probe"] = p
    record["ratios"]["probe"] = p["ratio"]
    print(f"| probe pass | {p['samples']} | - | {p['harness_cpu_s']:.3f} s | {p['bare_cpu_s']:.3f} s | "
          f"{p['ratio']:.3f}x | {quartiles(p)} | {p['wall_ratio']:.3f}x | - | {p['load_average']:.1f} |", flush=True)
    if args.selector_repeats:
        record["selectors"] = selector_times(args.selectors, args.selector_repeats)
    if args.launch_repeats:
        lo = launch_overhead(args.launch_repeats, args.threads)
        lo["load_average"] = load()
        record["launch"] = lo
        print(f"\nlaunch overhead of a smoke run ({lo['experiment']}, median of {args.launch_repeats}): "
              f"{lo['overhead_s']:.2f} s of {lo['wall_s']:.2f} s ({100 * lo['share']:.0f}%), of which "
              f"{lo['bare_start_s']:.2f} s any PyTorch script pays (start, import torch, build an optimizer); "
              f"load {lo['load_average']:.1f}")
    record["load_average_end"] = list(os.getloadavg())
    files.write_json(Path(args.out), record)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
