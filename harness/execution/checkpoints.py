"""A run's checkpoints: `checkpoint.pt`, the latest state (written atomically), and `checkpoint.prev.pt`, the
one before it (a hard link to it renamed into place before a new one is written, so `checkpoint.pt` is never
missing; removed when the run finishes).

A checkpoint that cannot be loaded (truncated, corrupt) is not obeyed: it is moved aside as
`<name>.corrupt-<time>` with a one-line warning, and the run resumes from the previous checkpoint, else from
the start (also when there is only the previous one: on a filesystem without hard links, a run killed between
renaming the latest and writing the new one).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch

from harness.core import files

LATEST, PREVIOUS = "checkpoint.pt", "checkpoint.prev.pt"


def save(run_dir: Path, state: dict) -> None:
    latest = run_dir / LATEST
    if latest.is_file():
        _keep_as_previous(latest, run_dir / PREVIOUS)
    files.save_torch(latest, state)


def _keep_as_previous(latest: Path, previous: Path) -> None:
    """`previous` becomes the file `latest` is now, while `latest` stays in place until the new one replaces it."""
    link = previous.with_name(f".{previous.name}.{os.getpid()}")
    link.unlink(missing_ok=True)
    try:
        os.link(latest, link)
    except OSError:  # a filesystem without hard links: renamed, `latest` is missing until the new one is written
        os.replace(latest, previous)
        return
    os.replace(link, previous)


def load(run_dir: Path, key: str, device) -> dict | None:
    """The newest loadable checkpoint of run `key`, None when there is none (the run starts from the start)."""
    for name in (LATEST, PREVIOUS):
        path = run_dir / name
        if not path.is_file():
            continue
        try:
            state = torch.load(path, map_location=device, weights_only=True)
        except OSError:
            raise
        except Exception as e:  # a truncated or corrupt file raises one of several types
            aside = path.with_name(f"{name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(path, aside)
            then = ("trying the previous one" if name == LATEST and (run_dir / PREVIOUS).is_file()
                    else "the run starts from the beginning")
            reason = str(e).splitlines()[0][:120] if str(e) else ""
            print(f"warning: {path} cannot be loaded ({type(e).__name__}: {reason}); moved aside as {aside.name}, "
                  f"{then}", file=sys.stderr)
            continue
        if isinstance(state, dict) and state.get("key") == key:
            return state
    return None


def finished(run_dir: Path) -> None:
    """The run has its result: the previous checkpoint is no longer needed."""
    (run_dir / PREVIOUS).unlink(missing_ok=True)
