"""The training step never waits for the host: no value is read back from the device per batch.

Every Python-level way of reading a tensor's value on the host (`.item()`, `.tolist()`, `.cpu()`, `.numpy()`,
`bool()`, `float()`, `int()`, use as an index) is counted while `Training._train_epoch` runs one epoch with
few batches and one with many: the count must be the same (the epoch's one read of its losses), whatever the
number of batches. Where CUDA exists, the same holds for every synchronisation CUDA reports
(`torch.cuda.set_sync_debug_mode`), reads inside PyTorch's own C++ included, in an epoch after a warm-up one
(with the GPU fast path on, as runs have it there: bf16, channels-last, the compiled training forward).
"""

import warnings

import pytest
import torch
from conftest import parse

from harness.execution.build import build

READS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__")
EXPERIMENTS = {"dense": "gin/digits/dense.gin", "coreset_only": "gin/digits/coreset_only.gin",
               "swast_cut": "gin/digits/swast_cut.gin"}  # swast_cut: RigL updates and state preservation
BATCHES = {"dense": (128, 8), "coreset_only": (64, 4), "swast_cut": (64, 4)}  # few, many batches per epoch
LIMIT = {"dense": ("data.train_limit = 384",)}  # a shorter full-data epoch


def ready(method: str, batch_size: int, device: str = "cpu"):
    """A digits run at `batch_size`, its first coreset selected (state preservation recorded), or on the
    full data for dense."""
    training = build(parse(EXPERIMENTS[method], bindings=(
        "epochs = 6", "train.selection_interval = 2", f"train.batch_size = {batch_size}",
        f"runtime.device = '{device}'", "runtime.threads = 1", *LIMIT.get(method, ()))))
    if training.schedule.selection_epochs:
        training._select(training.schedule.selection_epochs[0])
    return training


def host_reads(training, monkeypatch) -> int:
    """How many times one training epoch reads a tensor's value on the host."""
    count = 0

    def counted(original):
        def read(self, *args, **kwargs):
            nonlocal count
            count += 1
            return original(self, *args, **kwargs)
        return read

    with monkeypatch.context() as m:
        for name in READS:
            m.setattr(torch.Tensor, name, counted(getattr(torch.Tensor, name)))
        training._train_epoch(training.epoch + 1)
    return count


def batches(training) -> int:
    n = len(training.subset)
    return -(-n // training.cfg.train.batch_size)


@pytest.mark.parametrize("method", list(EXPERIMENTS))
def test_an_epoch_reads_from_the_device_as_often_with_many_batches_as_with_few(method, monkeypatch):
    few, many = (ready(method, b) for b in BATCHES[method])
    assert batches(many) >= 8 * batches(few) >= 8
    if method == "swast_cut":
        assert many.preservation.active and many.pruner.params
    assert host_reads(many, monkeypatch) == host_reads(few, monkeypatch) <= 1


def test_the_count_sees_a_read_per_batch(monkeypatch):
    """The check itself can fail: a step that reads its loss (`loss.item()`) is caught."""
    few, many = (ready("swast_cut", b) for b in BATCHES["swast_cut"])
    for training in (few, many):
        after_step = training.pruner.after_step

        def reading_after_step(step, after_step=after_step, training=training):
            after_step(step)
            next(training.model.parameters()).sum().item()

        monkeypatch.setattr(training.pruner, "after_step", reading_after_step)
    extra_few, extra_many = host_reads(few, monkeypatch), host_reads(many, monkeypatch)
    assert extra_many - extra_few == batches(many) - batches(few) > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA's synchronisation report needs a GPU")
@pytest.mark.parametrize("method", list(EXPERIMENTS))
def test_on_cuda_an_epoch_synchronises_as_often_with_many_batches_as_with_few(method):
    counts = []
    for batch_size in BATCHES[method]:
        training = ready(method, batch_size, device="cuda")
        training._train_epoch(training.epoch + 1)  # warm-up: the fast path compiles, cuDNN picks its kernels
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                training._train_epoch(training.epoch + 1)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        counts.append(sum("synchroniz" in str(w.message) for w in caught))
    assert counts[0] == counts[1]
