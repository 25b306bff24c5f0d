"""One holder at a time, across processes and hosts: for a run folder (one process trains a run) and a suite's
ledger (one submitter at a time), on a local disk or on the shared filesystems of SLURM clusters (NFS), where
`flock` cannot be relied on.

The lock is a file created atomically: the holder writes its identity (one JSON object: host, pid, the
process's start time, SLURM job, since when, a unique token) into a file of its own, then hard-links it to the
lock's name; `os.link` fails when the name exists, atomically on NFSv3 and later (where links are not
supported, an `O_CREAT | O_EXCL` create stands in). While it holds the lock, a thread of the holder touches the
file every HEARTBEAT_S seconds. Release removes the file (also on failure and Ctrl-C: `with` or `finally`).

A lock is stale, and taken over with a one-line warning, when its holder is
  - on this host: a process that no longer runs (gone or a zombie), or whose start time differs from the one
    recorded (its pid now belongs to another process);
  - in a SLURM job that `squeue` no longer shows running (checked only where `squeue` is on PATH), or in this
    very job's earlier incarnation (a requeued job keeps its id);
  - anywhere else: silent, its file not touched for stale_s seconds (STALE_S by default: generous, far more
    than a heartbeat, so that a slow filesystem or a clock skew between hosts never breaks a live lock).
Taking over goes through a short-lived second lock (`<name>.break`), and removes the lock only if it still
holds what was judged stale, so two processes that both find it stale never remove each other's fresh lock.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

HEARTBEAT_S = 60.0
STALE_S = 15 * 60.0  # without heartbeat, for a holder whose liveness cannot be checked otherwise
BREAK_STALE_S = 60.0  # a `.break` lock is held for milliseconds; one this old was left by a killed process
SLURM_ALIVE = {"RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "STOPPED", "SIGNALING", "RESIZING",
               "STAGE_OUT"}


class Held(Exception):
    """The lock is held by a live holder; the message names it in one line."""

    def __init__(self, what: str, holder: dict):
        super().__init__(f"{what} {describe(holder)}")
        self.holder = holder


def describe(holder: dict) -> str:
    """`pid N on host H (job J) since T` (what is known of it)."""
    if not holder:
        return "an unknown process (its lock file is empty or damaged)"
    text = f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"
    if holder.get("job"):
        text += f" (job {holder['job']})"
    if isinstance(holder.get("since"), int | float):
        text += " since " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder["since"]))
    return text


def identity() -> dict:
    """This process as a lock records it."""
    env = os.environ
    if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
        job = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    else:
        job = env.get("SLURM_JOB_ID")
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": process_start(os.getpid()), "job": job,
            "slurm_job_id": env.get("SLURM_JOB_ID"), "since": time.time(), "token": uuid.uuid4().hex}


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat), None where unknown."""
    fields = _stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (state first), None where unreadable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[-1].split()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat(pid)
    return not (fields and fields[0] in ("Z", "X"))  # a zombie is dead, only not yet reaped


def slurm_state(job_id: str) -> str | None:
    """The job's state as `squeue` shows it, "" when it is no longer queued, None when unknown (no SLURM
    tools here, or `squeue` failed)."""
    if not shutil.which("squeue"):
        return None
    try:
        out = subprocess.run(["squeue", "-h", "-j", str(job_id), "-o", "%T"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode == 0:
        lines = out.stdout.split()
        return lines[0].upper() if lines else ""
    return "" if "invalid job id" in out.stderr.lower() else None


def stale_reason(holder: dict, mtime: float, stale_s: float = STALE_S) -> str | None:
    """Why the holder is gone, or None while it may be alive."""
    me = identity()
    pid = holder.get("pid")
    if holder.get("host") == me["host"] and isinstance(pid, int):
        if not pid_alive(pid):
            return "its process is gone"
        start = holder.get("start")
        if start is not None and process_start(pid) not in (None, start):
            return "its pid now belongs to another process"
        return None
    job = holder.get("slurm_job_id")
    if job:
        if job == me["slurm_job_id"]:
            return f"it was an earlier run of this SLURM job ({job}, requeued)"
        state = slurm_state(job)
        if state is not None:
            return None if state in SLURM_ALIVE else f"its SLURM job {job} is {state.lower() or 'no longer queued'}"
    silent = time.time() - mtime
    if silent > stale_s:
        return f"no heartbeat for {silent / 60:.0f} min"
    return None


class Lock:
    """`with Lock(path, what):` holds the lock or raises Held (`what` starts its message: "run X is being
    trained by"); `wait` seconds to wait for the holder first; `heartbeat`: touch the file while held."""

    def __init__(self, path: Path, what: str = "locked by", *, wait: float = 0.0, heartbeat: bool = True,
                 stale_s: float = STALE_S, poll_s: float = 0.1):
        self.path = Path(path)
        self.what, self.wait, self.heartbeat, self.stale_s, self.poll_s = what, wait, heartbeat, stale_s, poll_s
        self.holder: dict | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> Lock:
        deadline = time.monotonic() + self.wait
        breaking_until = time.monotonic() + 5.0  # a stale lock another process is taking over: see who won
        while True:
            me = identity()
            if _create(self.path, json.dumps(me)):
                self.holder = me
                break
            seen = _read(self.path)
            if seen is None:
                continue  # released just now
            text, mtime = seen
            holder = _parse(text)
            reason = stale_reason(holder, mtime, self.stale_s)
            if reason and _break(self.path, text):
                print(f"warning: {self.path} was held by {describe(holder)}, but {reason}: taken over",
                      file=sys.stderr)
                continue
            if time.monotonic() >= max(deadline, breaking_until if reason else 0.0):
                raise Held(self.what, holder)
            time.sleep(self.poll_s)
        if self.heartbeat:
            self._stop.clear()
            self._thread = threading.Thread(target=self._beat, name=f"heartbeat {self.path}", daemon=True)
            self._thread.start()
        return self

    def release(self) -> None:
        if self.holder is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        seen = _read(self.path)
        if seen is not None and _parse(seen[0]).get("token") == self.holder["token"]:  # not taken over meanwhile
            self.path.unlink(missing_ok=True)
        self.holder = None

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):  # the next beat tries again; only a long silence makes it stale
                os.utime(self.path)

    def __enter__(self) -> Lock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _create(path: Path, text: str) -> bool:
    """Create `path` holding `text` if no file has that name; True if this call created it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    own = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    with open(own, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(own, path)
        return True
    except FileExistsError:
        return False
    except OSError as e:
        try:
            if os.stat(own).st_nlink == 2:  # NFS: the link was made, only its reply was lost
                return True
        except OSError:
            pass
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
            raise
        return _create_exclusive(path, text)  # a filesystem without hard links
    finally:
        own.unlink(missing_ok=True)


def _create_exclusive(path: Path, text: str) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return True


def _read(path: Path) -> tuple[str, float] | None:
    """The lock file's text and modification time, None when there is no lock file."""
    try:
        mtime = path.stat().st_mtime
        return path.read_text(errors="replace"), mtime
    except FileNotFoundError:
        return None


def _parse(text: str) -> dict:
    try:
        holder = json.loads(text)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _break(path: Path, seen: str) -> bool:
    """Remove the stale lock at `path` if it still holds `seen`; False when another process is at it."""
    breaker = path.with_name(path.name + ".break")
    if not _create(breaker, json.dumps(identity())):
        old = _read(breaker)
        if old is not None and time.time() - old[1] > BREAK_STALE_S:
            breaker.unlink(missing_ok=True)  # left by a process killed while breaking
        return False
    try:
        now = _read(path)
        if now is not None and now[0] == seen:
            path.unlink(missing_ok=True)
        return True
    finally:
        breaker.unlink(missing_ok=True)
