"""`python -m benchmarks {list,plan,run,status,collect} SUITE ...`: the paper's tables and figures as suites of runs;
`python -m benchmarks rekey`: finished runs carried over to today's run keys;
`python -m benchmarks speed`: the harness against bare PyTorch.

  list                      the suites
  plan SUITE                the runs, how many are done, the compute they need, how they would be sent
  run SUITE                 send the runs without a valid result.json (packed several per job); --wait to wait
  status SUITE              done / failed / started / missing (--follow: until nothing is in flight)
  collect SUITE             read the results and write results/tables/SUITE.{md,tex} (--format csv: the long
                            table, one row per run) and/or results/figures/SUITE.{png,pdf,csv}
  rekey                     move the run folders whose key changed only by parameters added at their defaults to
                            their new key (--dry-run: only say what would move); report the runs that really changed
  speed [OPTIONS]           the harness's loop, probe pass and launching against bare PyTorch, side by side
                            (writes results/bench/speed.json; `python -m benchmarks speed --help` for options)

SUITE is a suite's name (`list`) or a study file (studies/*.gin, or your own). --gin FILE and --gin_param
BINDING make a variant of it: the same grid with them applied to every run.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and sys.argv[1:2] == ["speed"]:  # before torch loads OpenMP, which reads it once
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import importlib  # noqa: E402
import pkgutil  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import benchmarks  # noqa: E402
from grid.suite import ALL_SCALES, CPU_SEEDS, SEEDS, TABLE_FORMATS, Suite, default_seeds, write_table  # noqa: E402
from harness.core.errors import ConfigError, debugging, os_error_line  # noqa: E402
from harness.core.files import PROJECT_ROOT, short_key  # noqa: E402

EXECUTORS = ("auto", "slurm", "local", "debug")
STUDIES = PROJECT_ROOT / "studies"


def suites() -> dict[str, Suite]:
    """The paper's suites written in Python (`benchmarks/*.py`) and the studies in `studies/*.gin`, by name."""
    from grid.study import load

    found = {}
    for info in pkgutil.iter_modules(benchmarks.__path__):
        if info.name.startswith("_") or info.name in ("suite", "speed"):
            continue
        module = importlib.import_module(f"benchmarks.{info.name}")
        if isinstance(getattr(module, "SUITE", None), Suite):
            found[module.SUITE.name] = module.SUITE
    for path in sorted(STUDIES.glob("*.gin")):
        study = load(path)
        if study.name in found:
            raise ConfigError(f"study {path} is named {study.name!r}, as another suite is")
        found[study.name] = study
    return dict(sorted(found.items()))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["speed"]:
        from benchmarks import speed

        return speed.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("list", "plan", "run", "status", "collect", "rekey"))
    parser.add_argument("suite", nargs="?")
    parser.add_argument("--gin", action="append", default=[], metavar="FILE",
                        help="a variant of the suite: this gin file applies to every run, after the run's own "
                        "files and bindings (repeatable)")
    parser.add_argument("--gin_param", action="append", default=[], metavar="BINDING",
                        help="a variant of the suite: this binding applies to every run that reads it; one that no "
                        "run reads is an error (repeatable)")
    parser.add_argument("--variant", metavar="NAME", help="the variant's name (default: from its files and "
                        "bindings, e.g. table5+selector=hardest)")
    parser.add_argument("--scale", default="smoke", choices=ALL_SCALES)
    parser.add_argument("--seeds", type=int, help=f"seeds per cell (default {SEEDS}; {CPU_SEEDS} at cpu scale)")
    parser.add_argument("--executor", default="auto", choices=EXECUTORS,
                        help="auto: SLURM when `srun` is on PATH, else local processes")
    parser.add_argument("--cluster", metavar="PROFILE.gin", help="cluster profile, e.g. slurm/example.gin")
    parser.add_argument("--results", default="results", metavar="DIR",
                        help="results folder: runs/, tables/, figures/ and submitit/ go under it "
                        "(default: results)")
    parser.add_argument("--jobs", type=int, metavar="N", help="local executor: jobs at once (default: one per GPU, "
                        "else one per CPU core)")
    parser.add_argument("--retry-failed", action="store_true", help="run: send failed runs again")
    parser.add_argument("--wait", action="store_true", help="run: wait for the jobs to finish")
    parser.add_argument("--follow", action="store_true", help="status: follow until nothing is in flight")
    parser.add_argument("--format", action="append", choices=("md", "tex", "csv"),
                        help="collect: what to write (repeatable; default: md and tex); csv: the long table, one row "
                        "per run, to results/tables/SUITE.csv")
    parser.add_argument("--dry-run", action="store_true", help="rekey: print what would be carried over, write nothing")
    args = parser.parse_args(argv)
    args.seeds_asked = args.seeds  # a study's own study.seeds applies unless --seeds is given
    args.seeds = default_seeds(args.scale) if args.seeds is None else args.seeds

    import methods  # noqa: F401  (the plug-ins the suites' runs use)

    try:
        return COMMANDS[args.command](args)
    except ConfigError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    except OSError as e:
        if debugging():
            raise
        print(f"error: {os_error_line(e)}", file=sys.stderr)
        return 1


def _suite(args) -> Suite:
    known = suites()
    if args.suite and args.suite.endswith(".gin"):
        from grid.study import load

        suite = load(args.suite)
        if args.seeds_asked is None and suite.seeds is not None:
            args.seeds = suite.seeds
    elif args.suite not in known:
        raise ConfigError(f"unknown suite {args.suite!r}; suites: {', '.join(known)}, or a study file (.gin)")
    else:
        suite = known[args.suite]
    if args.gin or args.gin_param:
        from grid.variant import Variant

        return Variant(suite, tuple(args.gin), tuple(args.gin_param), args.variant)
    if args.variant:
        raise ConfigError("--variant names a variant: give its --gin files or --gin_param bindings too")
    return suite


def _kind(args) -> str:
    if args.executor != "auto":
        return args.executor
    return "slurm" if shutil.which("srun") else "local"


def _profile(args):
    from grid.cluster import ClusterProfile, load

    return load(args.cluster) if args.cluster else ClusterProfile()


def _concurrency(args, kind: str, profile) -> int:
    """How many jobs run at once: the array parallelism on SLURM; locally --jobs (default: one per GPU, else
    one per CPU core)."""
    if kind == "slurm":
        return profile.array_parallelism
    if args.jobs:
        return args.jobs
    import os

    import torch

    return torch.cuda.device_count() or os.cpu_count() or 1


def _work(suite: Suite, args):
    from grid.launch import Work

    return [Work(p.files, p.bindings, p.key, p.shared) for p in suite.plan(args.scale, args.seeds)]


def _paths(args, suite: Suite):
    root = Path(args.results)
    return root / "runs", root / "submitit" / suite.name, root / "tables", root / "figures"


def cmd_list(args) -> int:
    known = suites()
    width = max(map(len, known))
    for name, suite in known.items():
        print(f"{name:{width}s}  {suite.title}")
    return 0


def cmd_plan(args) -> int:
    from grid import compute
    from grid.launch import Ledger, run_state

    suite = _suite(args)
    planned = suite.plan(args.scale, args.seeds)
    runs_root, jobs_folder, *_ = _paths(args, suite)
    state_of = {p.key: run_state(runs_root, p.key) for p in planned}
    states = Counter(state_of.values())
    held = Ledger(jobs_folder).live_keys()
    cost = compute.count(planned)
    print(f"{suite.title}: {len(planned)} runs at {args.scale} scale, {args.seeds} seeds")
    cells = Counter((p.spec["dataset"], p.spec["model"], p.spec["method"]) for p in planned)
    flops = compute.by_cell(planned, cost)
    widths = [max(13, *(len(cell[i]) for cell in cells)) for i in range(3)]
    for cell, n in sorted(cells.items()):
        names = " ".join(f"{name:{width}s}" for name, width in zip(cell, widths, strict=True))
        print(f"  {names} {n:4d} runs {compute.si(flops[cell]):>7s}FLOPs")
    print("state: " + ", ".join(f"{states[s]} {s}" for s in ("done", "failed", "started", "missing")) +
          f"; {len(held)} held by live jobs")
    print(_estimate(planned, runs_root, {k for k, state in state_of.items() if state != "done"}, cost))
    kind = _kind(args)
    profile = _profile(args)
    todo = len(planned) - states["done"]
    print(_sending(kind, profile, todo, _concurrency(args, kind, profile)))
    return 0


def _estimate(planned, runs_root: Path, todo: set[str], cost) -> str:
    """The compute line (the analytic training FLOPs of the runs to go, keys `todo`) and the time lines (per
    model and dataset, at the rate measured on finished runs, or assumed from the paper's Table 2, said which)."""
    from grid import compute

    if not todo:
        return f"compute: nothing to go; the {len(planned)} runs took {compute.si(sum(cost.flops.values()))}FLOPs"
    groups = compute.groups(planned, cost, todo, runs_root)
    unknown = [k for k in todo if k in cost.unknown]
    lines = [f"compute: {len(todo)} runs to go, {compute.si(sum(g.flops for g in groups))}FLOPs of training "
             "(analytic: steps x sparse FLOPs, probe and recording passes; a FLOP is a multiply-accumulate)" +
             (f"; {len(unknown)} runs not counted: {cost.unknown[unknown[0]]}" if unknown else "")]
    if not groups:
        return lines[0]
    assumed = next((g.rate for g in groups if g.rate.assumed), None)
    lines.append(f"time: about {compute.duration(sum(g.seconds for g in groups))} of device time, one run at a time" +
                 (f"; where no run of the model and dataset has finished, at {compute.si(assumed.flops_per_s)}FLOP/s "
                  f"({assumed.basis})" if assumed else ""))
    width = max(len(f"{g.model} on {g.dataset}") for g in groups)
    for g in groups:
        rate = "" if g.rate == assumed else f" at {compute.si(g.rate.flops_per_s)}FLOP/s ({g.rate.basis})"
        lines.append(f"  {g.model + ' on ' + g.dataset:{width}s} {g.runs:4d} runs {compute.si(g.flops):>7s}FLOPs "
                     f"{compute.duration(g.seconds):>9s}{rate}")
    return "\n".join(lines)


def _sending(kind: str, profile, todo: int, concurrency: int) -> str:
    import math

    if kind == "slurm":
        jobs = math.ceil(todo / profile.runs_per_job) if todo else 0
        lines = [f"sending: a SLURM job array of {jobs} tasks, {profile.runs_per_job} run(s) each; sbatch options:"]
        options = {"partition": profile.partition or "(the cluster's default)",
                   "array": f"0-{max(jobs - 1, 0)}%{min(max(jobs, 1), profile.array_parallelism)}",
                   "time": f"{profile.timeout_min} min", "cpus-per-task": profile.cpus_per_task,
                   "mem": f"{profile.mem_gb:g} GB", "gpus-per-node": profile.gpus_per_node,
                   "signal": f"USR2@{profile.signal_delay_s} (checkpoint and requeue before the time limit)",
                   **profile.additional_parameters}
        lines += [f"  --{k} {v}" for k, v in options.items()]
        lines += [f"  setup: {line}" for line in profile.setup]
        return "\n".join(lines)
    jobs = min(todo, concurrency)
    return f"sending: {jobs} {kind} job(s) running {todo} runs, one after the other within each job"


def cmd_run(args) -> int:
    from grid.launch import damaged_results, send

    suite = _suite(args)
    runs_root, jobs_folder, *_ = _paths(args, suite)
    work = _work(suite, args)
    kind = _kind(args)
    profile = _profile(args)
    concurrency = _concurrency(args, kind, profile)
    for problem in damaged_results(runs_root, [w.key for w in work]):
        print(f"warning: {problem}", file=sys.stderr)
    sent, jobs = send(work, runs_root, jobs_folder, kind, profile, concurrency, args.retry_failed)
    done = len(work) - len(sent)
    if not sent:
        print(f"{suite.name}: nothing to send ({done} of {len(work)} runs done or in flight)")
    else:
        print(f"{suite.name}: sent {len(sent)} runs in {len(jobs)} {kind} job(s) "
              f"({done} of {len(work)} already done or in flight); jobs: {jobs_folder}")
        if args.wait:
            _wait(jobs, work, runs_root)
    if args.wait:
        return _report(work, runs_root)
    return 0


def _wait(jobs, work, runs_root: Path) -> None:
    import submitit
    from tqdm import tqdm

    from grid.launch import run_state

    total = len(work)
    with tqdm(total=total, unit="run", desc="runs done", file=sys.stderr, dynamic_ncols=True) as bar:
        for job in jobs:
            if isinstance(job, submitit.DebugJob):
                job.result()  # a debug job runs in this process when its result is asked for
        while True:
            done = sum(run_state(runs_root, w.key) in ("done", "failed") for w in work)
            bar.update(done - bar.n)
            if all(job.done() for job in jobs):
                break
            time.sleep(2)
    for job in jobs:
        try:
            for key, outcome in job.result():
                if outcome not in ("ok", "failed"):
                    print(f"run {short_key(key)}: {outcome}", file=sys.stderr)
        except Exception as e:  # the job itself died (killed, out of memory, ...)
            print(f"job {job.job_id} ended without a result: {str(e).splitlines()[0] if str(e) else e}",
                  file=sys.stderr)


def _report(work, runs_root: Path) -> int:
    from grid.launch import run_state

    states = Counter(run_state(runs_root, w.key) for w in work)
    print(", ".join(f"{states[s]} {s}" for s in ("done", "failed", "started", "missing")))
    return 0 if states["done"] == len(work) else 1


def cmd_status(args) -> int:
    from grid.launch import Ledger, damaged_results

    suite = _suite(args)
    runs_root, jobs_folder, *_ = _paths(args, suite)
    work = _work(suite, args)
    ledger = Ledger(jobs_folder)
    for problem in damaged_results(runs_root, [w.key for w in work]):
        print(f"warning: {problem}", file=sys.stderr)
    while True:
        held = ledger.live_keys()
        code = _report(work, runs_root)
        print(f"{len(held)} runs held by live jobs")
        if not args.follow or not held:
            return code
        time.sleep(10)


def cmd_collect(args) -> int:
    from grid.collection import collect

    suite = _suite(args)
    runs_root, _, tables, figures = _paths(args, suite)
    keys = list(dict.fromkeys(suite.collected(args.scale, args.seeds)))
    collection = collect(runs_root, keys)
    for problem in collection.problems:
        print(f"warning: {problem}", file=sys.stderr)
    missing = len(keys) - len(collection.frame)
    if missing:
        print(f"warning: {missing} of {len(keys)} runs have no result yet; their cells show what exists",
              file=sys.stderr)
    formats = tuple(args.format or TABLE_FORMATS)
    written = []
    table = suite.table(collection, args.scale, args.seeds)
    if table is not None and set(formats) & set(TABLE_FORMATS):
        written += write_table(table, tables, args.scale, tuple(f for f in formats if f in TABLE_FORMATS))
    if "csv" in formats:
        from harness.core import files

        path = tables / f"{suite.name}.csv"
        long = suite.long_table(collection, args.scale, args.seeds)
        files.write_text(path, long.to_csv(index=False, float_format="%.6g"))
        written.append(path)
    plot = suite.figure(collection, args.scale, args.seeds)
    if plot is not None:
        from grid.plotting import save

        written += save(plot, figures)
    print(f"{suite.name}: {len(collection.ok)} of {len(keys)} runs collected -> "
          + ", ".join(str(p) for p in written))
    return 0


def cmd_rekey(args) -> int:
    """Exit 1 when a run folder could not be handled (unreadable, or its new folder exists)."""
    from grid.rekey import REFUSED, UNCHANGED, UNREADABLE, rekey, summary

    if args.suite is not None:
        raise ConfigError(f"rekey takes no suite (got {args.suite!r}): it goes through every run under --results")
    outcomes = rekey(Path(args.results) / "runs", dry_run=args.dry_run)
    for outcome in outcomes:
        if outcome.kind != UNCHANGED:
            print(outcome.line(args.dry_run))
    print(summary(outcomes, args.dry_run))
    return 1 if any(o.kind in (UNREADABLE, REFUSED) for o in outcomes) else 0


COMMANDS = {"list": cmd_list, "plan": cmd_plan, "run": cmd_run, "status": cmd_status, "collect": cmd_collect,
            "rekey": cmd_rekey}

if __name__ == "__main__":
    sys.exit(main())
