"""Atomic file writes: a reader (or a crash) never sees half a result, config or checkpoint."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import torch

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the repository: gin files and results are found from it

_UMASK = os.umask(0)
os.umask(_UMASK)


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def short_key(key: str) -> str:
    """A run's folder name under the runs folder, and how messages name the run: its key's first 16 hex digits."""
    return key[:16]


def write_text(path: Path, text: str) -> None:
    _atomic(path, lambda f: f.write(text.encode()))


def write_bytes(path: Path, data: bytes) -> None:
    _atomic(path, lambda f: f.write(data))


def write_json(path: Path, data) -> None:
    _atomic(path, lambda f: f.write((json.dumps(data, indent=1, allow_nan=False) + "\n").encode()))


def save_torch(path: Path, state: dict) -> None:
    """Serialised in memory first: torch's writer turns a full disk into an opaque RuntimeError, a plain write
    into the OSError (ENOSPC) it is."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    _atomic(path, lambda f: f.write(buffer.getbuffer()))


def read_json(path: Path):
    """The parsed file, or None when it is missing or unreadable (a partial or corrupt file)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
