"""Where and how a run trained, for result.json's `env`: versions, device, threads, commit, fast path."""

from __future__ import annotations

import os
import platform
import subprocess

import torch

from harness.core.files import PROJECT_ROOT
from harness.training.loop import Training


def run_environment(training: Training) -> dict:
    """result.json's `env`: where the run trained, and how (the fast path's switches)."""
    return {**environment(training.device), **training.fastpath.record()}


def environment(device: torch.device) -> dict:
    return {
        "python": platform.python_version(),
        "torch": str(torch.__version__),  # a plain str: the checkpoint keeps the segments
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
        "threads": torch.get_num_threads(),
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None
