"""A RunConfig made into a Training ready to start: device, threads, seed, dataset, model, selector, pruner."""

from __future__ import annotations

import torch

from harness import config
from harness.config import RunConfig
from harness.core import registry
from harness.core.errors import ConfigError
from harness.data import loading
from harness.training.loop import Training

# A run on the CPU computes with this many threads unless `runtime.threads` says otherwise: the numbers of a
# CPU run depend on its thread count (the order of its reductions), and a fixed count makes a key's result the
# same however it was launched (`harness.run`, a suite with any --jobs). On a GPU the count only sets the
# CPU-side work, so the process's own is kept there.
CPU_THREADS = 1


def build(cfg: RunConfig) -> Training:
    """Selector, pruner, data and model for `cfg` (in that order: the ones that need no data fail first),
    wired into a Training that has not started."""
    config.activate(cfg)
    device = resolve_device(cfg.runtime.device)
    threads = cfg.runtime.threads or (CPU_THREADS if device.type == "cpu" else None)
    if threads:
        torch.set_num_threads(threads)
    selector = registry.build("selector", cfg.method.selector)
    pruner = registry.build("pruner", cfg.method.pruner)
    torch.manual_seed(cfg.experiment.seed)
    dataset = load_dataset(cfg, device)
    if cfg.model.head_classes is not None and cfg.model.head_classes < dataset.num_classes:
        raise ConfigError(f"model.head_classes is {cfg.model.head_classes}, fewer than the "
                          f"{dataset.num_classes} classes of {cfg.experiment.dataset}")
    model = registry.build("model", cfg.experiment.model, num_classes=cfg.model.head_classes or dataset.num_classes,
                           in_channels=dataset.in_channels).to(device)
    return Training(cfg, dataset, model, selector, pruner, device)


def load_dataset(cfg: RunConfig, device: torch.device) -> loading.Dataset:
    """The run's dataset on `device` (ConfigError, saying where it looked, when it is not there)."""
    return loading.load(cfg.experiment.dataset, cfg.data, cfg.experiment.seed, device,
                            root=cfg.runtime.data_root, download=cfg.runtime.download,
                            cache_dir=cfg.runtime.cache_dir, workers=cfg.runtime.loader_workers)


def resolve_device(name: str) -> torch.device:
    """`runtime.device` as a torch device ('auto': CUDA when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"runtime.device is {name!r} but CUDA is not available here; use 'auto' or 'cpu'")
    return device
