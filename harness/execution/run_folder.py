"""One run, start to finish: build everything from a RunConfig, train (resuming from the run's checkpoint
if there is one), and write the run folder:

    config.gin            the canonical configuration (before training)
    metrics.jsonl         one line per epoch (as training goes)
    checkpoint.pt         the latest state (atomic; after the first epoch, then as often as writing it costs
                          at most CHECKPOINT_SHARE of the run's time, and after the last epoch); the one before
                          it is kept as checkpoint.prev.pt until the run ends (see `checkpoints`)
    run.lock              while a process trains the run: who (see `harness.core.lockfile`); another process
                          on the same run gets `lockfile.Held`, naming the holder, and trains nothing
    operative_config.gin  what gin actually injected (after training)
    result.json           the record (atomic, last): status ok or failed, metrics, history, environment

Bad input raises ConfigError before anything is written. A finished run with `status: ok` is not redone. A
`result.json` that is not a valid record (`records.result_problem`) counts as missing, with a warning.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import gin

from harness.config import RunConfig
from harness.core import files, records
from harness.core.errors import ConfigError
from harness.core.lockfile import Lock
from harness.core.numeric import json_safe
from harness.core.threads import torch_threads
from harness.execution import checkpoints
from harness.execution.build import build
from harness.execution.environment import run_environment
from harness.execution.reporters import RunLogger
from harness.training.loop import Diverged, Training

SCHEMA = records.SCHEMA
# Writing a checkpoint costs a fixed time (a ResNet-101 with its momentum is 340 MB, 0.3 to 0.6 s on a 2-core
# machine's disk), which on a fast GPU is a large part of a short epoch. After an epoch a run writes one when
# the time since the last one is at least its write time / CHECKPOINT_SHARE: every epoch for small models,
# every few seconds of training for large ones. A killed or requeued run redoes at most that much.
CHECKPOINT_SHARE = 0.05


def execute(cfg: RunConfig, runs_root: Path) -> dict:
    """Train the run described by `cfg` under `runs_root/<short key>/` and return its result record."""
    with torch_threads():  # `runtime.threads` holds for this run only: runs share a process in jobs and tests
        return _execute(cfg, Path(runs_root))


def _execute(cfg: RunConfig, runs_root: Path) -> dict:
    _check_writable(runs_root)
    run_dir = runs_root / cfg.short_key
    previous = _finished(cfg, run_dir, warn=False)
    if previous:
        return previous
    started = time.perf_counter()
    training = build(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    with Lock(run_dir / "run.lock", f"run {cfg.short_key} is being trained by"):
        return _finished(cfg, run_dir, warn=True) or _train(cfg, run_dir, training, started)


def _finished(cfg: RunConfig, run_dir: Path, warn: bool) -> dict | None:
    """The run's record if it finished ok (another process may have finished it meanwhile)."""
    record, problem = records.read_result(run_dir / "result.json", cfg.key)
    if problem and warn:
        print(f"warning: {run_dir}/result.json is not a valid record ({problem}); the run is trained again",
              file=sys.stderr)
    return record if record and record["status"] == "ok" else None


def _train(cfg: RunConfig, run_dir: Path, training: Training, started: float) -> dict:
    result_path = run_dir / "result.json"
    result_path.unlink(missing_ok=True)  # an earlier failed attempt's record
    files.write_text(run_dir / "config.gin", cfg.config_gin)
    elapsed_before, segments = 0.0, []
    state = checkpoints.load(run_dir, cfg.key, training.device)
    if state is not None:
        training.load_state_dict(state)
        elapsed_before = state.get("elapsed_s", 0.0)
        segments = state.get("segments", [])
    # each start or resume records where and how it trained: a resumed run may have moved machines
    segments.append({"from_epoch": training.epoch + 1, **run_environment(training)})

    logger = RunLogger(cfg, run_dir, training.history)
    status, error = "ok", None
    saved_at, save_s = time.perf_counter(), 0.0
    try:
        while not training.done:
            row = training.run_epoch()
            logger.epoch(row)
            now = time.perf_counter()
            if training.done or now - saved_at >= save_s / CHECKPOINT_SHARE:
                state = training.state_dict()
                state.update(key=cfg.key, elapsed_s=elapsed_before + now - started, segments=segments)
                checkpoints.save(run_dir, state)
                saved_at = time.perf_counter()
                save_s = saved_at - now
    except Diverged as e:
        status, error = "failed", str(e)
    except Exception as e:
        result = _record(cfg, training, "failed", f"{type(e).__name__}: {e}",
                         elapsed_before + time.perf_counter() - started, segments)
        try:  # on a full disk the record may not fit either: the original error is the one to report
            files.write_json(result_path, result)
            logger.finish(result)
        except OSError:
            pass
        raise

    files.write_text(run_dir / "operative_config.gin", gin.operative_config_str())
    result = _record(cfg, training, status, error, elapsed_before + time.perf_counter() - started, segments)
    files.write_json(result_path, result)
    checkpoints.finished(run_dir)
    logger.finish(result)
    return result


def _record(cfg: RunConfig, training: Training, status: str, error: str | None, total_s: float,
            segments: list[dict]) -> dict:
    dataset = training.data
    return json_safe({
        "schema": SCHEMA,
        "key": cfg.key,
        "status": status,
        "error": error,
        "config": cfg.text,
        "spec": cfg.spec,
        "metrics": training.metrics(total_s),
        "selection_epochs": list(training.schedule.selection_epochs),
        "random_coreset_epoch": training.schedule.random_epoch,
        "skipped_epochs": list(training.schedule.skipped_epochs),
        "warmup_epochs": training.schedule.warmup_epochs,
        "total_steps": training.schedule.total_steps,
        "data": {"source": dataset.source, "num_train": dataset.num_train,
                 "num_val": 0 if dataset.val_y is None else len(dataset.val_y),
                 "num_test": len(dataset.test_y), "num_noisy": int(dataset.noisy_mask.sum())},
        "history": training.history,
        "env": {**segments[-1], "segments": segments},  # the last segment's, and every segment's
    })


def _check_writable(folder: Path) -> None:
    """ConfigError unless run folders can be made under `folder`; creates nothing (a run that fails to build
    leaves no folder behind)."""
    existing = folder.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"output folder {str(folder)!r} cannot be made: {str(existing)!r} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"output folder {str(folder)!r} is not writable (permission denied on {str(existing)!r})")
