"""Batch augmentation and normalisation on the training device: random pad-and-crop and horizontal flip
of whole uint8 batches with index arithmetic (no per-image Python, no host round trip)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def crop_flip(x: torch.Tensor, pad: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random `pad`-pixel translation (zero padding, then a crop back to size) and a random horizontal flip
    per image of a [B, C, H, W] batch, drawn from `generator` (on the batch's device)."""
    b, c, h, w = x.shape
    if pad > 0:
        padded = F.pad(x, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (b, 1), generator=generator, device=x.device)
        dx = torch.randint(0, 2 * pad + 1, (b, 1), generator=generator, device=x.device)
        rows = (dy + torch.arange(h, device=x.device)).view(b, 1, h, 1).expand(b, c, h, w + 2 * pad)
        x = padded.gather(2, rows)
        cols = (dx + torch.arange(w, device=x.device)).view(b, 1, 1, w).expand(b, c, h, w)
        x = x.gather(3, cols)
    if flip:
        mirrored = torch.rand(b, generator=generator, device=x.device) < 0.5
        x = torch.where(mirrored.view(b, 1, 1, 1), x.flip(3), x)
    return x


class Normalize:
    """uint8 images -> float inputs standardised with the training split's per-channel mean and std, in
    channels-last layout when the model is (the uint8 batch is rearranged, a quarter of the bytes)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, channels_last: bool = False):
        self.scale = (1.0 / (255.0 * std)).view(1, -1, 1, 1)
        self.shift = (mean / std).view(1, -1, 1, 1)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=self.memory_format).float().mul_(self.scale).sub_(self.shift)
