"""Per-class work of the selectors, one class per CPU thread: the one place that runs classes concurrently."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch


def in_parallel(task, items: list, device: torch.device) -> list:
    """`task` of every item, in order. On the CPU each task runs single-threaded, and with more than one
    torch thread the tasks run concurrently, one per thread (a pursuit is a chain of products too small to
    split well; the cores then share its memory traffic); the thread count is restored afterwards. So the
    results do not depend on the thread count."""
    if device.type != "cpu":
        return [task(item) for item in items]
    threads = torch.get_num_threads()

    def single(item):
        torch.set_num_threads(1)  # in this thread of the pool
        return task(item)

    torch.set_num_threads(1)
    try:
        if threads == 1 or len(items) < 2:
            return [task(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
            return list(pool.map(single, items))
    finally:
        torch.set_num_threads(threads)
