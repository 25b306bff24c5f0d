"""One runner per run folder, one submitter per suite ledger: the lock file, its staleness rules, and runs and
submissions started at once."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from conftest import ROOT, parse, run_cli

from grid.launch import Ledger
from harness.core import lockfile
from harness.core.lockfile import Held, Lock
from harness.execution.run_folder import execute
from harness.run import HELD, RunBatch, main
from harness.training.loop import Training

SHORT = ("epochs = 6", "train.selection_interval = 2")
DIGITS = "gin/digits/swast_cut.gin"


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def plant(path, mtime=None, **holder) -> None:
    """A lock file as another holder would have left it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"since": time.time(), "token": "planted", **holder}))
    if mtime is not None:
        os.utime(path, (mtime, mtime))


# -- the lock file ----------------------------------------------------------------------------------------


def test_a_held_lock_names_its_holder_and_is_released_after_use(tmp_path):
    path = tmp_path / "run.lock"
    with Lock(path, "run x is being trained by") as lock:
        holder = json.loads(path.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        assert holder["start"] == lockfile.process_start(os.getpid()) and holder["token"] == lock.holder["token"]
        with pytest.raises(Held) as e:
            Lock(path, "run x is being trained by").acquire()
        assert str(e.value).startswith(f"run x is being trained by pid {os.getpid()} on host {socket.gethostname()}"
                                       " since ")
    assert not path.exists()


def test_a_lock_records_its_slurm_job(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "130")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "123")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "4")
    with Lock(tmp_path / "l"), pytest.raises(Held, match=r"\(job 123_4\) since"):
        Lock(tmp_path / "l").acquire()


def test_a_lock_of_a_dead_process_on_this_host_is_taken_over(tmp_path, capsys):
    path = tmp_path / "run.lock"
    plant(path, host=socket.gethostname(), pid=dead_pid())
    with Lock(path) as lock:
        assert json.loads(path.read_text())["token"] == lock.holder["token"]
    assert "its process is gone: taken over" in capsys.readouterr().err


def test_a_lock_whose_pid_now_belongs_to_another_process_is_taken_over(tmp_path, capsys):
    path = tmp_path / "run.lock"
    plant(path, host=socket.gethostname(), pid=os.getpid(), start="1")  # this pid, but started at another time
    with Lock(path):
        pass
    assert "its pid now belongs to another process" in capsys.readouterr().err


def test_a_lock_from_another_host_is_stale_only_after_its_heartbeat_stops(tmp_path, capsys):
    path = tmp_path / "run.lock"
    plant(path, host="elsewhere", pid=1)
    with pytest.raises(Held, match="pid 1 on host elsewhere"):
        Lock(path).acquire()
    old = time.time() - lockfile.STALE_S - 60
    os.utime(path, (old, old))
    with Lock(path):
        pass
    assert "no heartbeat for 16 min: taken over" in capsys.readouterr().err


def test_a_lock_in_a_slurm_job_is_stale_when_squeue_no_longer_shows_it_running(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    squeue = bin_dir / "squeue"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    path = tmp_path / "run.lock"
    plant(path, host="node7", pid=1, job="55", slurm_job_id="55", mtime=time.time() - 10 * lockfile.STALE_S)
    squeue.write_text("#!/bin/sh\necho RUNNING\n")
    squeue.chmod(0o755)
    with pytest.raises(Held, match=r"pid 1 on host node7 \(job 55\)"):  # however old its heartbeat
        Lock(path).acquire()
    for gone in ("echo PENDING", "true", "echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1"):
        squeue.write_text(f"#!/bin/sh\n{gone}\n")
        plant(path, host="node7", pid=1, slurm_job_id="55")
        with Lock(path):
            pass
    monkeypatch.setenv("SLURM_JOB_ID", "55")  # this very job, requeued: the holder was its earlier run
    squeue.write_text("#!/bin/sh\necho RUNNING\n")
    plant(path, host="node7", pid=1, slurm_job_id="55")
    with Lock(path):
        pass


def test_the_heartbeat_keeps_the_lock_fresh(tmp_path, monkeypatch):
    monkeypatch.setattr(lockfile, "HEARTBEAT_S", 0.01)
    path = tmp_path / "run.lock"
    with Lock(path):
        os.utime(path, (1, 1))
        deadline = time.time() + 60
        while path.stat().st_mtime == 1 and time.time() < deadline:
            time.sleep(0.01)
        assert path.stat().st_mtime > 1


def test_without_hard_links_the_lock_is_an_exclusive_create(tmp_path, monkeypatch):
    def no_link(src, dst):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(lockfile.os, "link", no_link)
    path = tmp_path / "run.lock"
    with Lock(path), pytest.raises(Held):
        Lock(path).acquire()
    assert not path.exists() and list(tmp_path.iterdir()) == []  # no own file left behind


# -- runs -------------------------------------------------------------------------------------------------


def test_a_run_held_by_another_process_is_not_trained_and_the_cli_names_the_holder(tmp_path, capsys):
    cfg = parse(DIGITS, bindings=SHORT)
    run_dir = tmp_path / cfg.short_key
    args = [str(ROOT / DIGITS), *(a for b in SHORT for a in ("--gin_param", b)), "--out", str(tmp_path)]
    with Lock(run_dir / "run.lock"):  # this process stands for the other: its pid is alive, on this host
        assert main(args) == HELD
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: run {cfg.short_key} is being trained by pid {os.getpid()} on host ")
        assert len(err.splitlines()) == 1
        [(key, outcome)] = RunBatch()([([str(ROOT / DIGITS)], list(SHORT), [], cfg.key)], str(tmp_path))
        assert key == cfg.key and outcome.startswith(f"held: run {cfg.short_key} is being trained by pid ")
        assert sorted(p.name for p in run_dir.iterdir()) == ["run.lock"]  # nothing trained, nothing written
    assert execute(cfg, tmp_path)["status"] == "ok"


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, RuntimeError])
def test_the_lock_is_released_when_a_run_ends_fails_or_is_interrupted(tmp_path, monkeypatch, interruption):
    cfg = parse(DIGITS, bindings=SHORT)
    lock = tmp_path / cfg.short_key / "run.lock"
    run_epoch = Training.run_epoch

    def interrupted(self):
        assert lock.exists()
        if self.epoch == 2:
            raise interruption("stop")
        return run_epoch(self)

    monkeypatch.setattr(Training, "run_epoch", interrupted)
    with pytest.raises(interruption):
        execute(cfg, tmp_path)
    assert not lock.exists()
    monkeypatch.setattr(Training, "run_epoch", run_epoch)
    assert execute(cfg, tmp_path)["status"] == "ok" and not lock.exists()


# Each process counts the epochs it trains into EPOCHS_LOG, signals it is ready, and waits for the go.
STARTER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from harness.training.loop import Training
    from harness.run import main
    log, ready, go = (Path(p) for p in sys.argv[1:4])
    run_epoch = Training.run_epoch
    def counted(self):
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {self.epoch + 1}\\n")
        return run_epoch(self)
    Training.run_epoch = counted
    ready.write_text("")
    while not go.exists():
        time.sleep(0.005)
    sys.exit(main(sys.argv[4:]))
""")


@pytest.mark.slow
def test_two_processes_started_together_train_the_run_once(tmp_path):
    cfg = parse(DIGITS, bindings=("epochs = 6", "runtime.threads = 1"))
    log, go = tmp_path / "epochs.log", tmp_path / "go"
    args = [DIGITS, "--gin_param", "epochs = 6", "--gin_param", "runtime.threads = 1", "--gin_param",
            "runtime.progress = False", "--out", str(tmp_path / "runs")]
    procs = [subprocess.Popen([sys.executable, "-c", STARTER, str(log), str(tmp_path / f"ready{i}"), str(go), *args],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    deadline = time.time() + 300
    while not all((tmp_path / f"ready{i}").exists() for i in range(2)) and time.time() < deadline:
        time.sleep(0.01)
    go.write_text("")
    outs = [(p.wait(timeout=600), *p.communicate()) for p in procs]

    trained = [line.split() for line in log.read_text().splitlines()]
    assert len({pid for pid, _ in trained}) == 1 and [int(e) for _, e in trained] == [1, 2, 3, 4, 5, 6]
    winner = next(i for i, p in enumerate(procs) if str(p.pid) == trained[0][0])
    assert outs[winner][0] == 0, outs[winner][2]
    code, out, err = outs[1 - winner]
    # the other one found it held (one line naming the holder), or finished: then it returned the record
    assert (code == HELD and err.strip() == err.strip().splitlines()[0]
            and err.startswith(f"error: run {cfg.short_key} is being trained by pid {procs[winner].pid} on host ")
            or code == 0 and out.startswith("ok ")), (code, out, err)
    run_dir = tmp_path / "runs" / cfg.short_key
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 6
    assert json.loads((run_dir / "result.json").read_text())["status"] == "ok"
    assert not (run_dir / "run.lock").exists()


@pytest.mark.slow
def test_a_lock_left_by_a_killed_run_is_taken_over_and_the_run_completes(tmp_path):
    args = [DIGITS, "--gin_param", "epochs = 40", "--gin_param", "runtime.progress = False", "--gin_param",
            "runtime.threads = 1", "--out", str(tmp_path)]
    cfg = parse(DIGITS, bindings=("epochs = 40", "runtime.threads = 1"))
    run_dir = tmp_path / cfg.short_key
    proc = subprocess.Popen([sys.executable, "-m", "harness.run", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    metrics = run_dir / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "result.json").exists(), "the run finished before it could be killed"
    assert json.loads((run_dir / "run.lock").read_text())["pid"] == proc.pid  # left behind

    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert f"was held by pid {proc.pid} on host {socket.gethostname()}" in again.stderr
    assert "its process is gone: taken over" in again.stderr
    assert json.loads((run_dir / "result.json").read_text())["status"] == "ok"
    assert len(metrics.read_text().splitlines()) == 40
    assert not (run_dir / "run.lock").exists()
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"] == 40


# -- suite submissions ------------------------------------------------------------------------------------

# Each process sends random handfuls of 60 runs, 25 times, through `grid.launch.send` (as `benchmarks run`
# does), to an executor that only hands out job ids; every job counts as alive.
SUBMITTER = textwrap.dedent("""
    import random, sys, time, uuid
    from pathlib import Path
    from grid import launch
    from grid.cluster import ClusterProfile

    class Executor:
        def submit(self, *args):
            time.sleep(0.002)
            return type("Job", (), {"job_id": uuid.uuid4().hex})()

    launch.executor = lambda *args: Executor()
    launch.job_alive = lambda entry, folder: True
    root, ready, go = (Path(p) for p in sys.argv[1:4])
    work = [launch.Work(("x.gin",), (), f"{i:064x}") for i in range(60)]
    ready.write_text("")
    while not go.exists():
        time.sleep(0.005)
    rng = random.Random(sys.argv[4])
    for _ in range(25):
        launch.send(rng.sample(work, 5), root / "runs", root / "jobs", "local", ClusterProfile(), 2)
""")


@pytest.mark.slow
def test_two_submitters_at_once_never_send_the_same_run(tmp_path):
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", SUBMITTER, str(tmp_path), str(tmp_path / f"ready{i}"), str(go),
                               str(i)], cwd=ROOT, stderr=subprocess.PIPE, text=True) for i in range(2)]
    deadline = time.time() + 300
    while not all((tmp_path / f"ready{i}").exists() for i in range(2)) and time.time() < deadline:
        time.sleep(0.01)
    go.write_text("")
    for p in procs:
        assert p.wait(timeout=600) == 0, p.stderr.read()
    sent = [key for entry in Ledger(tmp_path / "jobs").entries() for key in entry["keys"]]
    assert len(sent) == len(set(sent)) > 5  # each run sent once, by one of the two
    assert not (tmp_path / "jobs" / "jobs.lock").exists()


def test_a_held_ledger_makes_a_second_submission_fail_in_one_line(tmp_path, monkeypatch):
    from grid import launch
    from harness.core.errors import ConfigError

    with Ledger(tmp_path).lock():
        monkeypatch.setattr(Ledger, "lock", lambda self, wait=0.0: Lock(self.folder / "jobs.lock",
                                                                         f"the ledger {self.path} is held by"))
        with pytest.raises(ConfigError, match=r"ledger .* is held by pid \d+ on host .* \(another submission"):
            launch.send([], tmp_path / "runs", tmp_path, "debug", None, 1)
