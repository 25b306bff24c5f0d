"""A RunConfig made into a Training ready to start: device, threads, seed, dataset, model, selector, pruner."""

from __future__ import annotations

import torch

from harness import config
from harness.config import RunConfig
from harness.core import registry
from harness.core.errors import ConfigError
from harness.data import loading
from harness.training.loop import Training


def build(cfg: RunConfig) -> Training:
    """Data, model, selector and pruner for `cfg`, wired into a Training that has not started."""
    config.activate(cfg)
    device = resolve_device(cfg.runtime.device)
    if cfg.runtime.threads:
        torch.set_num_threads(cfg.runtime.threads)
    torch.manual_seed(cfg.experiment.seed)
    dataset = load_dataset(cfg, device)
    if cfg.model.head_classes is not None and cfg.model.head_classes < dataset.num_classes:
        raise ConfigError(f"model.head_classes is {cfg.model.head_classes}, fewer than the "
                          f"{dataset.num_classes} classes of {cfg.experiment.dataset}")
    model = registry.build("model", cfg.experiment.model, num_classes=cfg.model.head_classes or dataset.num_classes,
                           in_channels=dataset.in_channels).to(device)
    selector = registry.build("selector", cfg.method.selector)
    pruner = registry.build("pruner", cfg.method.pruner)
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
