"""A selection round: the probe pass every selector reads, the selector interface, the check the harness
applies to what a selector returns (exactly `budget` unique in-range indices, positive weights), and the
per-class bookkeeping that class-balanced selectors share (budgets per class, samples grouped by class)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from harness.data.augment import Normalize
from harness.data.streaming import ImageFiles, image_batches


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

    def state_dict(self) -> dict:
        """What a selector carries from one round to the next (e.g. per-sample history); it is saved in the
        run's checkpoint so that a resumed run selects exactly what an uninterrupted one does."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state between rounds, got {sorted(state)}")


@torch.no_grad()
def probe_pass(model: nn.Module, x: torch.Tensor | ImageFiles, y: torch.Tensor, normalize: Normalize,
               batch_size: int) -> Probe:
    was_training = model.training
    model.eval()
    logits, embeddings = [], []
    for images in image_batches(x, batch_size, y.device):
        h = model.features(normalize(images))
        embeddings.append(h.float())  # float32 for the selectors, whatever precision the pass ran in
        logits.append(model.fc(h).float())
    model.train(was_training)
    return Probe(labels=y, indices=torch.arange(len(y), device=y.device), logits=torch.cat(logits),
                 embeddings=torch.cat(embeddings))


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor | ImageFiles, normalize: Normalize, batch_size: int,
            device: torch.device) -> torch.Tensor:
    """Eval-mode logits of un-augmented images."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(normalize(images)).float() for images in image_batches(x, batch_size, device)])
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


def class_budgets(labels: torch.Tensor, budget: int, num_classes: int) -> list[int]:
    """Per-class budgets that sum to exactly `budget`: ceil(budget * n_c / N) for each class, then trimmed
    one at a time from the class whose ceiling overshoots its exact share most. A class is only trimmed to
    zero when the budget is smaller than the number of non-empty classes (so every class keeps at least one
    sample whenever the budget allows). Integer arithmetic throughout: no float rounding decides a count."""
    counts = torch.bincount(labels.cpu(), minlength=num_classes).tolist()
    n = sum(counts)
    if not 0 < budget <= n:
        raise ValueError(f"budget must be in [1, {n}], got {budget}")
    quota = [-(-budget * c // n) for c in counts]  # ceil
    # overshoot of class c, times N: quota_c * N - budget * n_c (in [0, N))
    overshoot = [q * n - budget * c for q, c in zip(quota, counts, strict=True)]
    floor = 2 if budget >= sum(c > 0 for c in counts) else 1  # the smallest quota that may still be trimmed
    for _ in range(sum(quota) - budget):
        c = max((c for c in range(num_classes) if quota[c] >= floor), key=lambda c: (overshoot[c], -c))
        quota[c] -= 1
        overshoot[c] -= n
    return quota


@dataclass(frozen=True)
class ClassLayout:
    """The samples of a probe grouped by class: `members[c, :counts[c]]` are the positions (into the probe)
    of class c's samples in increasing order; the rest of the row is padding (`valid` is False there and the
    position is 0). Batched per-class algorithms work on [C, n_max] tensors laid out like this."""

    members: torch.Tensor  # int64 [C, n_max]
    valid: torch.Tensor  # bool [C, n_max]
    counts: torch.Tensor  # int64 [C]

    def groups(self) -> list[torch.Tensor]:
        """The positions of each class's samples, one tensor per class."""
        return [self.members[c, :n] for c, n in enumerate(self.counts.tolist())]

    @staticmethod
    def of(labels: torch.Tensor, num_classes: int) -> ClassLayout:
        device = labels.device
        counts = torch.bincount(labels, minlength=num_classes)
        order = torch.argsort(labels, stable=True)
        starts = torch.cumsum(counts, 0) - counts
        n_max = int(counts.max()) if len(labels) else 0
        col = torch.arange(n_max, device=device)
        valid = col[None, :] < counts[:, None]
        flat = (starts[:, None] + col[None, :]).clamp(max=max(len(labels) - 1, 0))
        members = torch.where(valid, order[flat], torch.zeros((), dtype=torch.long, device=device))
        return ClassLayout(members, valid, counts)
