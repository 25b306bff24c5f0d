"""Sending planned runs to an executor (SLURM job arrays through submitit, local processes, or in-process for
tests), packed several per job, and keeping track of what was sent.

Only run keys without a valid `result.json` are sent (failed ones too with `retry_failed`), minus those a
live job already holds; `send` decides and records under the ledger's lock, so two submitters at once never
send the same run (a malformed result.json counts as none: `records.result_problem`). A job
receives strings only (gin files, bindings, run keys), parses its own configuration (`gin.clear_config()`
first) and writes one `result.json` per run; a requeued job (timeout,
preemption) skips finished runs and resumes the interrupted one from its checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

from grid.cluster import ClusterProfile, executor
from harness.core import files, records
from harness.core.lockfile import Held, Lock


@dataclass(frozen=True)
class Work:
    """One run as a job receives it."""

    files: tuple[str, ...]
    bindings: tuple[str, ...]
    key: str
    shared: tuple[str, ...] = ()  # the suite's shared bindings (`harness.config.parse`)


def run_state(runs_root: Path, key: str) -> str:
    """'done', 'failed', 'started' (a run folder without a result: running, or interrupted) or 'missing'."""
    folder = Path(runs_root) / files.short_key(key)
    record, _ = records.read_result(folder / "result.json", key)
    if record is not None:
        return "done" if record["status"] == "ok" else "failed"
    return "started" if (folder / "config.gin").exists() else "missing"


def damaged_results(runs_root: Path, keys) -> list[str]:
    """One line for each run whose result.json exists but is not a valid record (it counts as missing)."""
    out = []
    for key in keys:
        path = Path(runs_root) / files.short_key(key) / "result.json"
        _, problem = records.read_result(path, key)
        if problem:
            out.append(f"invalid result, counted as missing ({problem}): {path}")
    return out


def to_send(work: list[Work], runs_root: Path, retry_failed: bool, held: set[str]) -> list[Work]:
    wanted = {"missing", "started", *(("failed",) if retry_failed else ())}
    return [w for w in work if w.key not in held and run_state(runs_root, w.key) in wanted]


def pack(work: list[Work], jobs: int) -> list[list[Work]]:
    """Split `work` into at most `jobs` batches of nearly equal size, keeping the order."""
    if not work:
        return []
    size = math.ceil(len(work) / max(1, jobs))
    return [work[i:i + size] for i in range(0, len(work), size)]


class Ledger:
    """What was submitted for a suite: one JSON line per job (id, executor kind, run keys)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / "jobs.jsonl"

    def lock(self, wait: float = 600.0) -> Lock:
        """Held while a submitter reads the ledger, sends jobs and records them: one submitter at a time."""
        return Lock(self.folder / "jobs.lock", f"the ledger {self.path} is held by", wait=wait)

    def record(self, kind: str, job_id: str, keys: list[str]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps({"kind": kind, "job_id": job_id, "keys": keys, "submitted": time.time()}) + "\n")

    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line cut by a crash
        return out

    def live_keys(self) -> set[str]:
        """Run keys held by jobs that are queued or running now."""
        held: set[str] = set()
        for entry in self.entries():
            if job_alive(entry, self.folder):
                held.update(entry["keys"])
        return held


def job_alive(entry: dict, folder: Path) -> bool:
    if entry["kind"] == "slurm":
        import submitit

        state = submitit.SlurmJob(folder=folder, job_id=entry["job_id"]).state
        return state.upper() in {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING",
                                 "SUSPENDED", "UNKNOWN", "READY"}
    if entry["kind"] == "local":
        try:
            pid = int(entry["job_id"])
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return b"submitit" in f.read()
        except (OSError, ValueError):
            return False
    return False


def send(work: list[Work], runs_root: Path, folder: Path, kind: str, profile: ClusterProfile, concurrency: int,
         retry_failed: bool = False) -> tuple[list[Work], list]:
    """Under the ledger's lock: the runs to send (`to_send`), and the jobs sent for them (recorded)."""
    ledger = Ledger(folder)
    try:
        with ledger.lock():
            chosen = to_send(work, runs_root, retry_failed, ledger.live_keys())
            return chosen, (submit(chosen, runs_root, folder, kind, profile, concurrency) if chosen else [])
    except Held as e:
        from harness.core.errors import ConfigError

        raise ConfigError(f"{e} (another submission of this suite); try again when it is done") from None


def submit(work: list[Work], runs_root: Path, folder: Path, kind: str, profile: ClusterProfile, concurrency: int):
    """Send `work` as jobs and return them. On SLURM: one job array, `profile.runs_per_job` runs per task.
    Locally (submitit starts every local job at once): `concurrency` jobs sharing the runs and the CPU cores."""
    from harness.run import RunBatch

    if kind == "slurm":
        batches = pack(work, math.ceil(len(work) / profile.runs_per_job))
        threads = profile.cpus_per_task  # PyTorch's own choice may count CPUs the job was not given
    else:
        batches = pack(work, concurrency)
        threads = max(1, (os.cpu_count() or 1) // len(batches))
    ex = executor(profile, folder / "%j", kind)
    runs_root = Path(runs_root).resolve()
    jobs = []
    if kind == "slurm" and len(batches) > 1:
        with ex.batch():
            for batch in batches:
                jobs.append(ex.submit(RunBatch(), [_plain(w) for w in batch], str(runs_root), threads))
    else:
        jobs = [ex.submit(RunBatch(), [_plain(w) for w in batch], str(runs_root), threads) for batch in batches]
    ledger = Ledger(folder)
    for job, batch in zip(jobs, batches, strict=True):
        ledger.record(kind, str(job.job_id), [w.key for w in batch])
    return jobs


def _plain(w: Work) -> tuple:
    return (list(w.files), list(w.bindings), list(w.shared), w.key)
