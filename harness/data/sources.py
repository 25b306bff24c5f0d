"""The dataset sources the harness ships: `digits` (offline, tiny, real), `synthetic` (tests), `cifar10` and
`cifar100` (torchvision's files, or a class-per-folder copy), `folder` (any class-per-folder tree with
`train/` and `test/`), `tinyimagenet`, and `imagenet` (streamed from disk). Each returns raw uint8 images (or,
for `imagenet`, image files read batch by batch); `harness.data.loading.load` prepares them for a run."""

from __future__ import annotations

import contextlib
import importlib.metadata
from pathlib import Path
from typing import Annotated

import torch

from harness.core import files
from harness.core.errors import ConfigError
from harness.core.ranges import Range
from harness.core.registry import register
from harness.core.rng import generator
from harness.data.loading import Augment, RawData, list_image_folder, read_image_folder, read_images, stratified_split
from harness.data.streaming import ImageFiles

CIFAR_AUGMENT = Augment(pad=4, flip=True)
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@register("dataset", "digits")
def digits(cache_dir: Path, test_fraction: Annotated[float, Range(gt=0, lt=1)] = 0.2) -> RawData:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes), split with a fixed seed.
    Small shifts only: flipping a digit changes what it is. The images are read once and kept in the cache
    as tensors (importing scikit-learn takes longer than a smoke run's first epochs)."""
    version = importlib.metadata.version("scikit-learn")
    cache = cache_dir / f"digits-sklearn-{version}.pt"
    if cache.is_file():
        cached = torch.load(cache, weights_only=True)
        x, y = cached["x"], cached["y"]
    else:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x = torch.from_numpy(bunch.images).mul(255.0 / 16.0).round().to(torch.uint8).unsqueeze(1)
        y = torch.from_numpy(bunch.target).long()
        with contextlib.suppress(OSError):  # an unwritable cache only costs the import next run
            files.save_torch(cache, {"x": x, "y": y})
    test_idx, train_idx = stratified_split(y, round(test_fraction * len(y)), generator(0))
    return RawData(x[train_idx], y[train_idx], x[test_idx], y[test_idx], [str(d) for d in range(10)],
                   Augment(pad=1, flip=False), "scikit-learn load_digits")


@register("dataset", "synthetic")
def synthetic(num_train: int = 512, num_test: int = 256, num_classes: int = 4, channels: int = 3,
              size: int = 8, noise: float = 40.0, seed: int = 0) -> RawData:
    """Class prototypes plus Gaussian pixel noise: learnable in a few steps, for tests."""
    g = generator(seed)
    prototypes = torch.rand(num_classes, channels, size, size, generator=g) * 255

    def sample(n):
        y = torch.arange(n) % num_classes
        x = prototypes[y] + noise * torch.randn(n, channels, size, size, generator=g)
        return x.clamp(0, 255).round().to(torch.uint8), y

    train_x, train_y = sample(num_train)
    test_x, test_y = sample(num_test)
    return RawData(train_x, train_y, test_x, test_y, [f"class{c}" for c in range(num_classes)],
                   Augment(pad=1, flip=True), f"synthetic(seed={seed})")


def _torchvision_cifar(kind: str, root: str, download: bool) -> RawData:
    import torchvision

    cls = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}[kind]
    try:
        train = cls(root, train=True, download=download)
        test = cls(root, train=False, download=download)
    except Exception as e:  # missing files (RuntimeError), no network (URLError), ...
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(
            f"{kind} not found under {str(Path(root).resolve())!r} and could not be downloaded ({reason}); "
            f"set data_root to a folder holding torchvision's {kind} files, or to a class-per-folder copy "
            f"with datasets.{kind}.source = 'folder'"
        ) from None

    def tensors(ds):
        return torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets, dtype=torch.int64)

    (train_x, train_y), (test_x, test_y) = tensors(train), tensors(test)
    return RawData(train_x, train_y, test_x, test_y, list(train.classes), CIFAR_AUGMENT,
                   f"torchvision {kind} in {root}")


def _folder_tree(root: str, cache_dir: Path, augment: Augment, expect_classes: int | None, name: str) -> RawData:
    base = Path(root)
    missing = [s for s in ("train", "test") if not (base / s).is_dir()]
    if missing:
        raise ConfigError(
            f"{name}: no {' or '.join(missing)} folder under {str(base.resolve())!r}; "
            f"expected {root}/train/<class>/<images> and {root}/test/<class>/<images>"
        )
    train_x, train_y, classes = read_image_folder(base / "train", cache_dir)
    test_x, test_y, test_classes = read_image_folder(base / "test", cache_dir)
    if test_classes != classes:
        raise ConfigError(f"{name}: train and test class folders differ under {root!r}")
    if expect_classes is not None and len(classes) != expect_classes:
        raise ConfigError(f"{name}: expected {expect_classes} class folders under {root!r}, found {len(classes)}")
    return RawData(train_x, train_y, test_x, test_y, classes, augment, f"image folders in {root}")


def _cifar(kind: str, root: str, download: bool, cache_dir: Path, source: str) -> RawData:
    if source == "torchvision":
        return _torchvision_cifar(kind, root, download)
    if source == "folder":
        return _folder_tree(root, cache_dir, CIFAR_AUGMENT, 10 if kind == "cifar10" else 100, kind)
    raise ConfigError(f"datasets.{kind}.source must be 'torchvision' or 'folder', got {source!r}")


@register("dataset", "cifar10")
def cifar10(root: str, download: bool, cache_dir: Path, source: str = "torchvision") -> RawData:
    """CIFAR-10. `source = 'folder'` reads a class-per-folder copy (`train/<class>/`, `test/<class>/`) whose
    sorted class names give the usual label order, such as the JPEG re-encoding of CIFAR-10."""
    return _cifar("cifar10", root, download, cache_dir, source)


@register("dataset", "cifar100")
def cifar100(root: str, download: bool, cache_dir: Path, source: str = "torchvision") -> RawData:
    """CIFAR-100; `source` as for cifar10."""
    return _cifar("cifar100", root, download, cache_dir, source)


@register("dataset", "folder")
def folder(root: str, cache_dir: Path, pad: int = 4, flip: bool = True) -> RawData:
    """Any class-per-folder image tree with `train/` and `test/` under data_root; images share one size."""
    return _folder_tree(root, cache_dir, Augment(pad=pad, flip=flip), None, "folder")


@register("dataset", "tinyimagenet")
def tinyimagenet(root: str, cache_dir: Path) -> RawData:
    """Tiny ImageNet-200 as distributed: `train/<wnid>/images/*.JPEG`, and `val/images/*.JPEG` labelled by
    `val/val_annotations.txt`. Its labelled validation split serves as the test split (the test split has no
    labels); the run's own validation split is held out of `train` as for every dataset."""
    base = Path(root)
    annotations = base / "val" / "val_annotations.txt"
    if not (base / "train").is_dir() or not annotations.is_file():
        raise ConfigError(f"tinyimagenet: expected {root}/train/<wnid>/images/ and {root}/val/val_annotations.txt "
                          f"under {str(base.resolve())!r} (the tiny-imagenet-200 folder)")
    train_x, train_y, classes = read_image_folder(base / "train", cache_dir)
    index = {wnid: i for i, wnid in enumerate(classes)}
    paths, labels = [], []
    for line in annotations.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        if parts[1] not in index:
            raise ConfigError(f"tinyimagenet: {annotations} names class {parts[1]!r}, which has no train folder")
        paths.append(base / "val" / "images" / parts[0])
        labels.append(index[parts[1]])
    test_x, test_y = read_images(paths, labels, cache_dir)
    return RawData(train_x, train_y, test_x, test_y, classes, Augment(pad=4, flip=True), f"tinyimagenet in {root}")


IMAGENET_STATS = (torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225]))


@register("dataset", "imagenet")
def imagenet(root: str, workers: int, size: int = 224) -> RawData:
    """ImageNet-1k as class folders, `train/<wnid>/*.JPEG` and `val/<wnid>/*.JPEG` (the validation images
    sorted into class folders, as the usual preparation does); the validation split serves as the test split.
    It does not fit in memory, so its images stay on disk and `runtime.loader_workers` processes decode each
    batch (random resized crops of `size` pixels and flips for training, resize and centre crop for evaluation).
    Inputs are standardised with ImageNet's published channel statistics."""
    base = Path(root)
    if not (base / "train").is_dir() or not (base / "val").is_dir():
        raise ConfigError(f"imagenet: expected {root}/train/<wnid>/<images> and {root}/val/<wnid>/<images> "
                          f"under {str(base.resolve())!r}")
    train_paths, train_y, classes = list_image_folder(base / "train")
    test_paths, test_y, test_classes = list_image_folder(base / "val")
    if test_classes != classes:
        raise ConfigError(f"imagenet: train and val class folders differ under {root!r}")
    as_labels = lambda labels: torch.tensor(labels, dtype=torch.int64)  # noqa: E731
    return RawData(ImageFiles(train_paths, size, workers), as_labels(train_y),
                   ImageFiles(test_paths, size, workers), as_labels(test_y), classes, Augment(flip=True),
                   f"image files in {root}, streamed", stats=IMAGENET_STATS)
