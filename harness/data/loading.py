"""Datasets: sources that read raw images, and the preparation every run applies to them.

A source returns `RawData` (uint8 [N, C, H, W] images, int64 labels, its own train/test split and the
augmentation that suits it). `load` then makes the run's `Dataset`: a stratified validation split with a
fixed seed, optional stratified size limits, symmetric label noise with its mask, per-channel statistics,
and everything moved to the training device, where batches are later sliced, augmented and normalised.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from harness.core import files, registry
from harness.core.errors import ConfigError
from harness.core.rng import derive_seed, generator
from harness.core.sections import DataSettings

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
SPLIT_SEED = 0  # validation split and size limits: the same for every run and seed


@dataclass(frozen=True)
class Augment:
    """Training-time augmentation: random translation by up to `pad` pixels, random horizontal flip."""

    pad: int = 0
    flip: bool = False


@dataclass
class RawData:
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    augment: Augment
    source: str  # where it was read from, for the record
    stats: tuple[torch.Tensor, torch.Tensor] | None = None  # channel mean and std, when known without a pass


@dataclass
class Dataset:
    """A run's data, on its device. `noisy_mask[i]` says whether training label i was corrupted."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    val_x: torch.Tensor | None
    val_y: torch.Tensor | None
    noisy_mask: torch.Tensor
    num_classes: int
    mean: torch.Tensor
    std: torch.Tensor
    augment: Augment
    source: str

    @property
    def num_train(self) -> int:
        return len(self.train_y)

    @property
    def in_channels(self) -> int:
        return self.train_x.shape[1]

    @property
    def has_noise(self) -> bool:
        return bool(self.noisy_mask.any())


def load(name: str, settings: DataSettings, seed: int, device: torch.device, *, root: str, download: bool,
         cache_dir: str | None, workers: int = 0) -> Dataset:
    """Read dataset `name` from its source and prepare it for one run (see the module docstring)."""
    entry = registry.entry("dataset", name)
    offered = {"root": root, "download": download, "cache_dir": resolve_cache_dir(cache_dir), "workers": workers}
    raw: RawData = registry.build("dataset", name, **{k: v for k, v in offered.items() if k in entry.parameters()})
    num_classes = len(raw.classes)

    split = generator(SPLIT_SEED)
    train_x, train_y, val_x, val_y = raw.train_x, raw.train_y, None, None
    if settings.val_fraction > 0:
        val_idx, train_idx = stratified_split(train_y, round_half_up(settings.val_fraction * len(train_y)), split)
        val_x, val_y = train_x[val_idx], train_y[val_idx]
        train_x, train_y = train_x[train_idx], train_y[train_idx]
    if settings.train_limit is not None and settings.train_limit < len(train_y):
        keep, _ = stratified_split(train_y, settings.train_limit, split)
        train_x, train_y = train_x[keep], train_y[keep]
    test_x, test_y = raw.test_x, raw.test_y
    if settings.test_limit is not None and settings.test_limit < len(test_y):
        keep, _ = stratified_split(test_y, settings.test_limit, split)
        test_x, test_y = test_x[keep], test_y[keep]
    if val_x is not None and settings.test_limit is not None and settings.test_limit < len(val_y):
        keep, _ = stratified_split(val_y, settings.test_limit, split)
        val_x, val_y = val_x[keep], val_y[keep]

    train_y, noisy = corrupt_labels(train_y, settings.label_noise, num_classes, generator(derive_seed(seed, "noise")))
    mean, std = raw.stats if raw.stats is not None else channel_stats(train_x)
    augment = raw.augment if settings.augment else Augment()
    move = lambda t: None if t is None else t.to(device)  # noqa: E731
    return Dataset(
        name=name,
        train_x=move(train_x), train_y=move(train_y),
        test_x=move(test_x), test_y=move(test_y),
        val_x=move(val_x), val_y=move(val_y),
        noisy_mask=move(noisy), num_classes=num_classes,
        mean=move(mean), std=move(std), augment=augment, source=raw.source,
    )


def round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def stratified_split(labels: torch.Tensor, count: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Choose `count` indices with class proportions kept (largest remainders), return (chosen, rest), sorted."""
    n = len(labels)
    classes, sizes = torch.unique(labels, return_counts=True)
    exact = sizes.double() * count / n
    quota = exact.floor().long()
    short = count - int(quota.sum())
    if short > 0:
        quota[torch.argsort(exact - quota, descending=True, stable=True)[:short]] += 1
    order = torch.randperm(n, generator=gen)
    chosen = []
    for c, q in zip(classes.tolist(), quota.tolist(), strict=True):
        members = order[labels[order] == c]
        chosen.append(members[:q])
    chosen = torch.cat(chosen).sort().values
    mask = torch.ones(n, dtype=torch.bool)
    mask[chosen] = False
    return chosen, mask.nonzero().flatten()


def corrupt_labels(labels: torch.Tensor, rate: float, num_classes: int, gen: torch.Generator):
    """Symmetric label noise: exactly round(rate*N) labels, each moved to a uniformly drawn *other* class.
    Returns the new labels and the boolean mask of corrupted positions."""
    n = len(labels)
    count = round_half_up(rate * n)
    mask = torch.zeros(n, dtype=torch.bool)
    if count == 0:
        return labels.clone(), mask
    if num_classes < 2:
        raise ConfigError("label_noise needs at least two classes")
    chosen = torch.randperm(n, generator=gen)[:count]
    offset = torch.randint(1, num_classes, (count,), generator=gen)
    noisy = labels.clone()
    noisy[chosen] = (labels[chosen] + offset) % num_classes
    mask[chosen] = True
    return noisy, mask


def channel_stats(x: torch.Tensor, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of uint8 images, in [0, 1] units."""
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk].double().div_(255.0)
        total += part.sum(dim=(0, 2, 3))
        squares += part.square().sum(dim=(0, 2, 3))
    count = len(x) * x.shape[2] * x.shape[3]
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(1e-12).sqrt()
    return mean.float(), std.float()


def resolve_cache_dir(cache_dir: str | None) -> Path:
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get("SWAST_CACHE"):
        return Path(os.environ["SWAST_CACHE"]).expanduser()
    return Path.home() / ".cache" / "swast-bench"


# ---------------------------------------------------------------------------------------------------
# Class-per-folder image trees, decoded once into a cached tensor file.


def read_image_folder(folder: Path, cache_dir: Path) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Images under `folder/<class>/...` (any depth) as uint8 [N, 3, H, W], labelled by sorted class name."""
    paths, labels, classes = list_image_folder(folder)
    x, y = read_images(paths, labels, cache_dir)
    return x, y, classes


def list_image_folder(folder: Path) -> tuple[list[Path], list[int], list[str]]:
    """The image files under `folder/<class>/...` (any depth), their labels (by sorted class name), the classes."""
    if not folder.is_dir():
        raise ConfigError(f"no folder {folder}: expected {folder}/<class>/<image files>")
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    if not classes:
        raise ConfigError(f"no class folders in {folder}: expected {folder}/<class>/<image files>")
    paths, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted((folder / name).rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(path)
                labels.append(label)
    if not paths:
        raise ConfigError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {folder}")
    return paths, labels, classes


def read_images(paths: list[Path], labels: list[int], cache_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode image files into uint8 [N, 3, H, W] once; later calls read the cached tensors, keyed by the
    files' paths, sizes and modification times and their labels."""
    fingerprint = hashlib.sha256()
    for path, label in zip(paths, labels, strict=True):
        st = path.stat()
        fingerprint.update(f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\0{label}\n".encode())
    cache = cache_dir / f"images-{fingerprint.hexdigest()[:20]}.pt"
    if cache.is_file():
        cached = torch.load(cache, weights_only=True)
        return cached["x"], cached["y"]
    x, y = _decode_images(paths), torch.tensor(labels, dtype=torch.int64)
    with contextlib.suppress(OSError):  # an unwritable cache only costs decoding time next run
        files.save_torch(cache, {"x": x, "y": y})
    return x, y


def _decode_images(files: list[Path]) -> torch.Tensor:
    import numpy as np
    from PIL import Image

    def decode(path: Path) -> np.ndarray:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))

    images = [decode(p) for p in files]
    shape = images[0].shape
    for path, image in zip(files, images, strict=True):
        if image.shape != shape:
            size = lambda a: "x".join(map(str, a.shape[1::-1]))  # noqa: E731  (width x height)
            raise ConfigError(f"images must share one size: {files[0]} is {size(images[0])}, {path} is {size(image)}")
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
