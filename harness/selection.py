"""A selection round: the probe pass every selector reads, the selector interface, and the check the
harness applies to what a selector returns (exactly `budget` unique in-range indices, positive weights)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from harness.augment import Normalize


@dataclass
class Coreset:
    """The training samples of one round: indices into the training split and their loss weights."""

    indices: torch.Tensor  # int64 [k], unique
    weights: torch.Tensor  # float [k], > 0

    def __len__(self) -> int:
        return len(self.indices)

    def to(self, device) -> Coreset:
        return Coreset(self.indices.to(device), self.weights.to(device))


@dataclass
class Probe:
    """One eval-mode, no-augmentation, no-grad pass over the training split with the current masks.

    `logits`/`embeddings` are None when the round's selector does not need them (e.g. `random`); `labels`
    are the labels training sees (noisy ones included). `val` is the same for the validation split.
    """

    labels: torch.Tensor  # int64 [N]
    indices: torch.Tensor  # int64 [N], positions in the training split
    logits: torch.Tensor | None = None  # [N, K]
    embeddings: torch.Tensor | None = None  # [N, d], penultimate features
    val: Probe | None = None

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class SelectionContext:
    epoch: int  # the epoch (1-based) this coreset trains from
    total_epochs: int
    round: int  # 0-based index of this selection round
    num_classes: int
    lr: float  # the initial learning rate (GLISTER's lookahead step)
    previous: Coreset | None  # the previous round's coreset, if any


class Selector:
    """Base class of coreset selectors (register subclasses with `@register("selector", name)`).

    `select` returns a Coreset of exactly `budget` unique indices with positive weights, using only `probe`
    and the seeded `rng` (a CPU torch.Generator) for randomness. Selectors never run forward passes: the
    harness runs one probe pass per round when `needs_probe` is set (and over the validation split when
    `needs_val` is set), and the time it takes counts as selection time.
    """

    needs_probe: bool = True
    needs_val: bool = False

    def select(self, probe: Probe, budget: int, rng: torch.Generator, ctx: SelectionContext) -> Coreset:
        raise NotImplementedError


@torch.no_grad()
def probe_pass(model: nn.Module, x: torch.Tensor, y: torch.Tensor, normalize: Normalize, batch_size: int) -> Probe:
    was_training = model.training
    model.eval()
    logits, embeddings = [], []
    for start in range(0, len(x), batch_size):
        h = model.features(normalize(x[start:start + batch_size]))
        embeddings.append(h)
        logits.append(model.fc(h))
    model.train(was_training)
    return Probe(labels=y, indices=torch.arange(len(y), device=y.device), logits=torch.cat(logits),
                 embeddings=torch.cat(embeddings))


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, normalize: Normalize, batch_size: int) -> torch.Tensor:
    """Eval-mode logits of un-augmented images."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(normalize(x[s:s + batch_size])) for s in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


def coreset_budget(fraction: float, num_train: int) -> int:
    """round(fraction * N), at least one sample."""
    return max(1, int(fraction * num_train + 0.5))


def check_coreset(coreset: Coreset, budget: int, num_train: int, selector: str) -> Coreset:
    """What a selector returned, validated; a violation is a bug in the selector and says which."""
    idx, w = coreset.indices, coreset.weights
    problems = []
    if idx.dtype != torch.int64 or idx.dim() != 1:
        problems.append(f"indices must be a 1-D int64 tensor, got {idx.dtype} {tuple(idx.shape)}")
    elif len(idx) != budget:
        problems.append(f"returned {len(idx)} indices for a budget of {budget}")
    elif len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= num_train):
        problems.append(f"indices outside [0, {num_train})")
    elif len(torch.unique(idx)) != len(idx):
        problems.append("indices are not unique")
    if w.shape != idx.shape or not torch.is_floating_point(w):
        problems.append(f"weights must be a float tensor shaped like the indices, got {w.dtype} {tuple(w.shape)}")
    elif not bool(torch.isfinite(w).all() and (w > 0).all()):
        problems.append("weights must be finite and > 0")
    if problems:
        raise RuntimeError(f"selector {selector!r}: " + "; ".join(problems))
    return coreset
