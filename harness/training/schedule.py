"""Algorithm 1's timetable, computed up front: warm-up epochs, selection epochs, batches per epoch, total
optimizer steps (what RigL's T_end and the pruning schedules are fractions of), and the learning rate; and the
clock the pruners' schedules read, in optimizer steps or in epochs.

When selection starts is one of the paper's open readings (`train.selection_rule`; README, Fidelity). With
K = ceil(T * alpha * kappa) warm-up epochs on the full data (kappa = 1/2: the paper's ceil(T*alpha/2)):

- `explicit`: selections at epochs K+1, K+1+R, K+1+2R, ...
- `modulo`: Algorithm 1 line 7 as written, the epochs t > K with t mod R = 0; full data until the first.
- `cords`: the warm start of the GradMatch reference code (CORDS's adaptive data loader, 1-based epochs):
  K = ceil(floor(kappa * T) * alpha) full-data epochs; the epochs after them up to floor(kappa * T) train on
  nothing (skipped, while the learning rate schedule goes on); from there the run trains on a coreset, drawn
  uniformly at random at the first such epoch and reselected by the selector at every epoch t with
  (t - 1) mod R = 0. (This is CORDS's current loader; an older one rounded K instead of its ceiling and
  counted epochs from 0.)
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from functools import cached_property

from harness.core.sections import TrainSettings

CLOCKS = ("steps", "epochs")


@dataclass(frozen=True)
class Schedule:
    epochs: int
    warmup_epochs: int
    selection_epochs: tuple[int, ...]  # 1-based; the selector's coreset trains from that epoch on
    full_batches: int
    coreset_batches: int
    base_lr: float
    random_epoch: int | None = None  # 'cords': its coreset is a uniform draw (the reference's initial subset)
    skipped_epochs: tuple[int, ...] = ()  # 'cords': epochs that train nothing

    @property
    def first_coreset_epoch(self) -> int | None:
        starts = [e for e in (self.random_epoch, *self.selection_epochs[:1]) if e is not None]
        return min(starts) if starts else None

    def on_coreset(self, epoch: int) -> bool:
        first = self.first_coreset_epoch
        return first is not None and epoch >= first

    def new_coreset(self, epoch: int) -> bool:
        """Whether epoch `epoch` starts with a new coreset (a selection round or the random draw)."""
        return epoch in self.selection_epochs or epoch == self.random_epoch

    def batches(self, epoch: int) -> int:
        if epoch in self.skipped_epochs:
            return 0
        return self.coreset_batches if self.on_coreset(epoch) else self.full_batches

    @cached_property
    def epoch_steps(self) -> tuple[int, ...]:
        """Optimizer steps of each epoch, in order."""
        return tuple(self.batches(t) for t in range(1, self.epochs + 1))

    @property
    def total_steps(self) -> int:
        return sum(self.epoch_steps)

    def lr(self, epoch: int) -> float:
        """Cosine annealing per epoch over all epochs (as GradMatch/CORDS, whose protocol the paper follows)."""
        return self.base_lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / self.epochs))


def plan(train: TrainSettings, coreset_fraction: float, selects: bool, num_train: int, budget: int) -> Schedule:
    t, r, rule = train.epochs, train.selection_interval, train.selection_rule
    random_epoch, skipped = None, ()
    if rule == "cords":
        select_after = int(t * train.warmup_kappa)
        warmup = math.ceil(round(select_after * coreset_fraction, 9))
    else:  # round() guards ceil against float error: 300 * 0.1 * 0.5 is 15.000000000000002
        warmup = math.ceil(round(t * coreset_fraction * train.warmup_kappa, 9))
    if not selects:
        epochs: tuple[int, ...] = ()
    elif rule == "explicit":
        epochs = tuple(range(warmup + 1, t + 1, r))
    elif rule == "modulo":  # Algorithm 1 line 7, t > K and t mod R == 0
        epochs = tuple(e for e in range(1, t + 1) if e > warmup and e % r == 0)
    else:
        skipped = tuple(range(warmup + 1, select_after + 1))
        epochs = tuple(e for e in range(select_after + 1, t + 1) if e > 1 and (e - 1) % r == 0)
        if select_after < t and select_after + 1 not in epochs:
            random_epoch = select_after + 1
    return Schedule(
        epochs=t,
        warmup_epochs=warmup,
        selection_epochs=epochs,
        full_batches=len(batch_bounds(num_train, train.batch_size)) - 1,
        coreset_batches=len(batch_bounds(budget, train.batch_size)) - 1,
        base_lr=train.lr,
        random_epoch=random_epoch,
        skipped_epochs=skipped,
    )


def batch_bounds(n: int, batch_size: int) -> list[int]:
    """Start offsets of an epoch's batches over `n` samples, then `n`: ceil(n / batch_size) batches of nearly
    equal size. A ragged last batch (194 = 6 x 32 + 2) would feed BatchNorm two samples and skew its running
    statistics; equal batches (7 of 27-28) keep every step alike."""
    count = max(1, math.ceil(n / batch_size))
    return [round(i * n / count) for i in range(count + 1)]


class Clock:
    """Where a run stands, for the pruners' schedules: in optimizer steps taken ('steps'), or in epochs, as a
    fraction of an epoch within one ('epochs'). A pruner's schedule point `f` (RigL's T_end = 0.75, ...)
    falls at f * `total` of its clock.

    The two differ when epochs differ in length: with 10% coresets a full-data warm-up epoch takes ten times
    the steps of a coreset epoch, so at T = 300 a third of the run's steps pass in its first 15 epochs.
    Skipped epochs ('cords') pass on the epoch clock and not on the step clock.
    """

    def __init__(self, kind: str, epoch_steps: tuple[int, ...] | list[int]):
        if kind not in CLOCKS:
            raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {kind!r}")
        self.kind = kind
        self.epoch_steps = tuple(epoch_steps)
        self.starts = [0]
        for steps in self.epoch_steps:
            self.starts.append(self.starts[-1] + steps)
        self.total_steps = self.starts[-1]

    @property
    def total(self) -> int:
        """The run's length on this clock."""
        return self.total_steps if self.kind == "steps" else len(self.epoch_steps)

    def point(self, fraction: float) -> float:
        """The schedule point `fraction` of the way through the run: a whole number of steps on the step
        clock (as the references count them), a fraction of an epoch on the epoch clock."""
        at = fraction * self.total
        return int(at) if self.kind == "steps" else at

    def span(self, begin: float, end: float) -> tuple[float, float]:
        """A ramp from `begin` to `end` (fractions of the run) on this clock, at least one step long."""
        first, last = self.point(begin), self.point(end)
        return first, (max(first + 1, last) if self.kind == "steps" else last)

    def time(self, done: int) -> float:
        """The clock's reading after `done` optimizer steps (the next step, number `done`, is about to run)."""
        if self.kind == "steps":
            return done
        if done >= self.total_steps:
            return float(len(self.epoch_steps))
        epoch = bisect.bisect_right(self.starts, done) - 1  # the epoch the next step belongs to (never a skipped one)
        return epoch + (done - self.starts[epoch]) / self.epoch_steps[epoch]

    def step_at(self, time: float) -> int:
        """The first number of steps done at which the clock reads at least `time`."""
        lo, hi = 0, self.total_steps
        while lo < hi:
            mid = (lo + hi) // 2
            if self.time(mid) >= time:
                hi = mid
            else:
                lo = mid + 1
        return lo
