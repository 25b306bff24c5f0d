"""Shared fixtures. Tests never reach the network: W&B is disabled unless a test turns offline mode on."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

os.environ["WANDB_MODE"] = "disabled"
os.environ.setdefault("WANDB_SILENT", "true")

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


@pytest.fixture(scope="session")
def cifar10_folder(tmp_path_factory) -> Path:
    """The real CIFAR-10 JPEG copy, extracted once per session (skipped where it is not available)."""
    if not CIFAR10_JPG.is_file():
        pytest.skip(f"CIFAR-10 JPEG copy not found at {CIFAR10_JPG} (set SWAST_CIFAR10_JPG)")
    target = tmp_path_factory.mktemp("cifar10-jpg")
    with tarfile.open(CIFAR10_JPG) as tar:
        tar.extractall(target, filter="data")
    return target


def run_cli(*args: str, cwd: Path = ROOT, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    python = shutil.which("python") if os.environ.get("VIRTUAL_ENV") else None
    import sys

    return subprocess.run([python or sys.executable, "-m", "harness.run", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})
