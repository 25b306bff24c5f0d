"""torch's CPU thread count for one piece of work: several runs (a job's batch, the tests, a benchmark) share
a process, and a count one of them sets must not outlive it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(count: int | None = None) -> Iterator[None]:
    """Set the count inside (when given; the work may also set it) and restore the caller's after."""
    previous = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
