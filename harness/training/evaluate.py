"""Evaluation passes: accuracy and mean loss of a split, and per-sample losses for diagnostics."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from harness.data.augment import Normalize
from harness.data.streaming import ImageFiles, image_batches


@dataclass(frozen=True)
class Evaluation:
    loss: float
    accuracy: float  # percent


@torch.no_grad()
def per_sample_loss(model: nn.Module, x: torch.Tensor | ImageFiles, y: torch.Tensor, normalize: Normalize,
                    batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy and correctness of every sample, eval mode, no augmentation (on `y`'s device)."""
    was_training = model.training
    model.eval()
    losses, correct = [], []
    for start, images in zip(range(0, len(y), batch_size), image_batches(x, batch_size, y.device), strict=True):
        logits = model(normalize(images))
        target = y[start:start + batch_size]
        losses.append(F.cross_entropy(logits.float(), target, reduction="none"))
        correct.append(logits.argmax(1) == target)
    model.train(was_training)
    return torch.cat(losses), torch.cat(correct)


def evaluate(model: nn.Module, x: torch.Tensor | ImageFiles, y: torch.Tensor, normalize: Normalize,
             batch_size: int) -> Evaluation:
    losses, correct = per_sample_loss(model, x, y, normalize, batch_size)
    loss, acc = torch.stack([losses.mean(), correct.float().mean() * 100]).tolist()  # one host sync
    return Evaluation(loss=loss, accuracy=acc)
