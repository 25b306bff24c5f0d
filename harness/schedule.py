"""Algorithm 1's timetable, computed up front: warm-up epochs, selection epochs, batches per epoch, total
optimizer steps (what RigL's T_end and the pruning schedules are fractions of), and the learning rate."""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.settings import TrainSettings


@dataclass(frozen=True)
class Schedule:
    epochs: int
    warmup_epochs: int
    selection_epochs: tuple[int, ...]  # 1-based; the coreset chosen there trains from that epoch on
    full_batches: int
    coreset_batches: int
    base_lr: float

    def on_coreset(self, epoch: int) -> bool:
        return bool(self.selection_epochs) and epoch >= self.selection_epochs[0]

    def batches(self, epoch: int) -> int:
        return self.coreset_batches if self.on_coreset(epoch) else self.full_batches

    @property
    def total_steps(self) -> int:
        return sum(self.batches(t) for t in range(1, self.epochs + 1))

    def lr(self, epoch: int) -> float:
        """Cosine annealing per epoch over all epochs (as GradMatch/CORDS, whose protocol the paper follows)."""
        return self.base_lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / self.epochs))


def plan(train: TrainSettings, coreset_fraction: float, selects: bool, num_train: int, budget: int) -> Schedule:
    t, r = train.epochs, train.selection_interval
    # round() guards ceil against float error: 300 * 0.1 * 0.5 is 15.000000000000002
    warmup = math.ceil(round(t * coreset_fraction * train.warmup_kappa, 9))
    if not selects:
        epochs: tuple[int, ...] = ()
    elif train.selection_rule == "explicit":
        epochs = tuple(range(warmup + 1, t + 1, r))
    else:  # "modulo": Algorithm 1 line 7, t > K and t mod R == 0
        epochs = tuple(e for e in range(1, t + 1) if e > warmup and e % r == 0)
    return Schedule(
        epochs=t,
        warmup_epochs=warmup,
        selection_epochs=epochs,
        full_batches=len(batch_bounds(num_train, train.batch_size)) - 1,
        coreset_batches=len(batch_bounds(budget, train.batch_size)) - 1,
        base_lr=train.lr,
    )


def batch_bounds(n: int, batch_size: int) -> list[int]:
    """Start offsets of an epoch's batches over `n` samples, then `n`: ceil(n / batch_size) batches of nearly
    equal size. A ragged last batch (194 = 6 x 32 + 2) would feed BatchNorm two samples and skew its running
    statistics; equal batches (7 of 27-28) keep every step alike."""
    count = max(1, math.ceil(n / batch_size))
    return [round(i * n / count) for i in range(count + 1)]
