"""Images that stay on disk (ImageNet-sized data that does not fit in memory): decoded and augmented by
DataLoader workers batch by batch, and handed to the training device as uint8 batches, as in-memory data is.

`ImageFiles` stands where an in-memory dataset has its uint8 image tensor: it has a shape and a length, and
indexing it with an index tensor selects files. `image_batches` is how every pass (training, evaluation,
probe) reads a split, whichever of the two it holds.

Training batches get a random resized crop and a horizontal flip, evaluation batches a resize to 8/7 of the
size and a centre crop. Each image's augmentation is drawn from its own seed, handed to the worker with its
index, so a run redraws exactly the same crops whatever the number of workers, and after a resume.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from harness.data.augment import crop_flip


class ImageFiles:
    """Image files as a lazily read [N, 3, size, size] uint8 collection."""

    def __init__(self, paths: Sequence[str], size: int, workers: int):
        self.paths = [str(p) for p in paths]
        self.size = size
        self.workers = workers

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), 3, self.size, self.size)

    def __getitem__(self, idx: torch.Tensor) -> ImageFiles:
        """The files at `idx` (an index tensor), as indexing a tensor of images would select them."""
        return ImageFiles([self.paths[i] for i in idx.tolist()], self.size, self.workers)

    def to(self, device) -> ImageFiles:
        return self  # stays on disk; batches move to the device as they are read

    def read(self, index_batches: Sequence[torch.Tensor], device: torch.device, *, train: bool,
             generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
        """uint8 [B, 3, size, size] batches on `device`, one per index tensor, in order. Training batches
        draw one seed per image from `generator` (a CPU generator)."""
        batches = []
        for idx in index_batches:
            idx = idx.tolist()
            seeds = (torch.randint(0, 2**62, (len(idx),), generator=generator).tolist() if train
                     else [0] * len(idx))
            batches.append(list(zip(idx, seeds, strict=True)))
        loader = torch.utils.data.DataLoader(
            _Decoded(self.paths, self.size, train), batch_sampler=batches, num_workers=self.workers,
            pin_memory=device.type == "cuda",
        )
        for batch in loader:
            yield batch.to(device, non_blocking=True)


def image_batches(x: torch.Tensor | ImageFiles, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    """The split `x` in order, `batch_size` images at a time, un-augmented, as uint8 batches on `device`."""
    if isinstance(x, ImageFiles):
        starts = range(0, len(x), batch_size)
        yield from x.read([torch.arange(s, min(s + batch_size, len(x))) for s in starts], device, train=False)
    else:
        for start in range(0, len(x), batch_size):
            yield x[start:start + batch_size]


def training_batches(x: torch.Tensor | ImageFiles, index_batches: Sequence[torch.Tensor], pad: int, flip: bool,
                     generator: torch.Generator, seed: int, device: torch.device) -> Iterator[torch.Tensor]:
    """Augmented uint8 training batches of `x` at `index_batches`. In-memory images are cropped and flipped
    on the device with `generator`; files get their random resized crops and flips in the loader workers,
    drawn from `seed` (or, with augmentation off (`flip` false), the evaluation resize and crop)."""
    if isinstance(x, ImageFiles):
        yield from x.read(index_batches, device, train=flip, generator=torch.Generator().manual_seed(seed))
        return
    for idx in index_batches:
        batch = x[idx]
        yield crop_flip(batch, pad, flip, generator) if (pad or flip) else batch


class _Decoded(torch.utils.data.Dataset):
    def __init__(self, paths: list[str], size: int, train: bool):
        from torchvision.transforms import v2

        self.paths = paths
        if train:
            self.transform = v2.Compose([v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()])
        else:
            self.transform = v2.Compose([v2.Resize(size * 8 // 7, antialias=True), v2.CenterCrop(size)])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, item: tuple[int, int]) -> torch.Tensor:
        from PIL import Image
        from torchvision.transforms.v2 import functional

        i, seed = item
        with Image.open(self.paths[i]) as image:
            pixels = functional.pil_to_tensor(image.convert("RGB"))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.transform(pixels)
