"""Shared fixtures. Tests never reach the network: W&B is disabled unless a test turns offline mode on."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

os.environ["WANDB_MODE"] = "disabled"
os.environ.setdefault("WANDB_SILENT", "true")
if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs one worker per core: one thread each, and in
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # the runs they start (read when torch loads, below)

import methods  # noqa: E402,F401  (registers the plug-ins, as the entry points do)
from harness import config  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CIFAR10_JPG = Path(os.environ.get("SWAST_CIFAR10_JPG", ROOT.parent / "shared" / "data" / "cifar10-jpg.tar.gz"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SWAST_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def parse(*files: str, bindings: tuple[str, ...] = (), quiet: bool = True) -> config.RunConfig:
    """Parse experiment files (relative to the project) with extra bindings; no progress bar by default."""
    extra = ("runtime.progress = False",) if quiet else ()
    return config.parse([str(ROOT / f) for f in files], [*extra, *bindings])


@contextlib.contextmanager
def file_lock(path: Path | str):
    """An exclusive lock that the test worker processes of `make test` (one per core) take in turn."""
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def machine_lock():
    """Held while a test changes the machine (installs packages, starts daemons): apt-get, or two clusters
    starting at once, would trip over each other."""
    return file_lock(Path(tempfile.gettempdir()) / "swast-bench-tests.lock")


@pytest.fixture(scope="session")
def cifar10_folder(tmp_path_factory) -> Path:
    """The real CIFAR-10 JPEG copy, extracted once per test session, which all workers share (skipped where
    the copy is not available)."""
    if not CIFAR10_JPG.is_file():
        pytest.skip(f"CIFAR-10 JPEG copy not found at {CIFAR10_JPG} (set SWAST_CIFAR10_JPG)")
    session = tmp_path_factory.getbasetemp()
    target = (session.parent if os.environ.get("PYTEST_XDIST_WORKER") else session) / "cifar10-jpg"
    with file_lock(f"{target}.lock"):
        if not (target / ".extracted").is_file():
            with tarfile.open(CIFAR10_JPG) as tar:
                tar.extractall(target, filter="data")
            (target / ".extracted").write_text("")
    return target


def run_cli(*args: str, module: str = "harness.run", timeout: int = 600) -> subprocess.CompletedProcess:
    """`python -m <module> args...` in a fresh process, from the project folder."""
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def local_cluster(command: str) -> subprocess.CompletedProcess:
    """`slurm/local-cluster.sh <command>` (up, down, status)."""
    return subprocess.run(["bash", str(ROOT / "slurm" / "local-cluster.sh"), command], capture_output=True,
                          text=True, timeout=1200)


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """Start (or find running) the one-node cluster; its `up` output."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("the test SLURM cluster needs root: slurm/local-cluster.sh installs packages and starts daemons")
    if not (Path("/etc/debian_version").is_file() and shutil.which("apt-get")):
        pytest.skip("the test SLURM cluster needs a Debian-like system with apt-get")
    with machine_lock():
        out = local_cluster("up")
    if out.returncode != 0:
        pytest.fail(f"slurm/local-cluster.sh up failed:\n{out.stdout}{out.stderr}")
    return out.stdout
