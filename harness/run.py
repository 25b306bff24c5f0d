"""`python -m harness.run CONFIG.gin [MORE.gin...] [--gin_param BINDING]... [--out DIR]`: one training run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import submitit

from harness import config
from harness.core import records
from harness.core.errors import ConfigError, debugging, os_error_line
from harness.core.files import short_key
from harness.core.lockfile import Held
from harness.core.threads import torch_threads
from harness.execution.run_folder import execute

EPILOG = """\
examples:
  python -m harness.run gin/digits/swast_cut.gin
  python -m harness.run gin/cifar10/swast_cut.gin --gin_param "prune_rate = 0.7" --gin_param "seed = 1"
  python -m harness.run gin/cifar10/coreset_only.gin gin/scale/smoke.gin \\
      --gin_param "datasets.cifar10.source = 'folder'" --gin_param "data_root = 'data/cifar10-jpg'"

Later gin files and bindings override earlier ones. The run folder DIR/<run key>/ gets config.gin (every
parameter, defaults included; the run key is its sha256), metrics.jsonl, checkpoint.pt, W&B files, and
result.json last. Running the same configuration again resumes from the checkpoint, or returns the result
if the run already finished. While one process trains a run, another started on the same run exits
with code 3 and one line naming the holder (pid, host, SLURM job).
"""


HELD = 3  # the exit code when another process is training the run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.run",
        description="Train one network under one method (dense, pruning-only, coreset-only, SWaST-trim, "
                    "SWaST-cut, or any registered composition), configured by gin files.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("configs", nargs="+", metavar="CONFIG.gin", help="gin files, applied in order")
    parser.add_argument("--gin_param", action="append", default=[], metavar="BINDING",
                        help="a gin binding applied after the files, e.g. \"prune_rate = 0.7\" (repeatable)")
    parser.add_argument("--out", default="results/runs", metavar="DIR",
                        help="folder that holds the run folders (default: results/runs)")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an operating-system error (also: SWAST_DEBUG=1)")
    args = parser.parse_args(argv)

    import methods  # noqa: F401  (registers the selectors, pruners and methods)

    try:
        cfg = config.parse(args.configs, args.gin_param)
        result = execute(cfg, Path(args.out))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Held as e:  # another process trains this run now
        print(f"error: {e}", file=sys.stderr)
        return HELD
    except OSError as e:
        if args.debug or debugging():
            raise
        print(f"error: {os_error_line(e)} (the run resumes from its last checkpoint when started again)",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: the run resumes from its last checkpoint when started again", file=sys.stderr)
        return 130
    print(summary(result, Path(args.out) / cfg.short_key))
    return 0 if result["status"] == "ok" else 1


class RunBatch(submitit.helpers.Checkpointable):
    """What a suite's job executes: several runs in one process, each from strings (gin files, bindings, key).

    Checkpointable: on timeout or preemption submitit requeues the same call; finished runs are then skipped
    and the interrupted one resumes from its own checkpoint.
    """

    def __call__(self, runs: list[tuple[list[str], list[str], list[str], str]], runs_root: str,
                 threads: int | None = None) -> list[tuple[str, str]]:
        """`runs`: (gin files, bindings, shared bindings, run key) of each run (`config.parse`'s arguments)."""
        import methods  # noqa: F401  (registers the plug-ins in the job's process)

        with torch_threads(threads):  # the debug executor runs batches in the caller's process
            return self._run_all(runs, runs_root)

    def _run_all(self, runs: list[tuple[list[str], list[str], list[str], str]],
                 runs_root: str) -> list[tuple[str, str]]:
        outcome = []
        for files, bindings, shared, key in runs:
            try:
                cfg = config.parse(files, [*bindings, "runtime.progress = False"], shared)
                if cfg.key != key:
                    raise ConfigError(f"the configuration changed since submission (key {cfg.short_key}, "
                                      f"submitted {short_key(key)}); plan the suite again")
                outcome.append((key, execute(cfg, Path(runs_root))["status"]))
            except Held as e:  # another job or process trains it: it must not be trained twice
                outcome.append((key, f"held: {e}"))
            except Exception as e:  # one broken run must not take the rest of the batch with it
                outcome.append((key, f"error: {type(e).__name__}: {e}"))
        return outcome


def summary(result: dict, run_dir: Path) -> str:
    m, what = result["metrics"], records.describe(result["spec"])
    if result["status"] != "ok":
        return f"failed  {what}: {result['error']} -> {run_dir}/result.json"
    return (f"ok  {what}: test accuracy {m['test_accuracy']:.2f}% (best {m['best_test_accuracy']:.2f}%), "
            f"density {m['density']:.3f}, {m['time_s']['total']:.1f} s -> {run_dir}/result.json")


if __name__ == "__main__":
    sys.exit(main())
