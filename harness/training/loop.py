"""The training loop: Algorithm 1 of the paper, for every method.

for epoch t = 1..T:
    if t is a selection epoch: probe pass -> selector -> coreset; state preservation records its logits
    for each batch of the current training set (full data, the coreset, or nothing in an epoch the
    schedule skips), shuffled on the device:
        loss = sum(w * CE) / sum(w)  (+ lambda * KL to the recorded logits)
        backward -> pruner.before_step -> optimizer.step (unless the pruner replaced it) -> pruner.after_step
    evaluate; log; checkpoint (atomically)

All randomness of epoch t (shuffling, augmentation) and of selection round t comes from generators seeded
by (seed, purpose, t), so a run resumed from its checkpoint redraws exactly what an uninterrupted run draws.
The step itself never waits for the host: losses accumulate on the device and are read once per epoch.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from harness.config import RunConfig
from harness.core import records
from harness.core.errors import ConfigError
from harness.core.rng import derive_seed, generator
from harness.data.augment import Normalize
from harness.data.loading import Dataset
from harness.data.streaming import training_batches
from harness.training.evaluate import evaluate, per_sample_loss
from harness.training.fastpath import FastPath, autocast
from harness.training.flops import TrainingFlops, layer_flops
from harness.training.preservation import StatePreservation
from harness.training.pruning import Pruner
from harness.training.schedule import Schedule, batch_bounds, plan
from harness.training.selection import (
    Coreset,
    Probe,
    SelectionContext,
    Selector,
    check_coreset,
    coreset_budget,
    predict,
    probe_pass,
)
from harness.training.sparsity import budget_groups, layer_targets

DIAGNOSTIC_SAMPLES = 1024  # noisy and clean training samples whose losses are tracked each epoch


class Diverged(Exception):
    """The training loss stopped being finite; the run ends as `failed` with this reason."""


@dataclass
class Timers:
    train: float = 0.0
    selection: float = 0.0
    eval: float = 0.0


class Training:
    def __init__(self, cfg: RunConfig, data: Dataset, model: nn.Module, selector: Selector, pruner: Pruner,
                 device: torch.device):
        self.cfg, self.data, self.model, self.selector, self.pruner = cfg, data, model, selector, pruner
        self.device = device
        self.seed = cfg.experiment.seed
        method = cfg.method
        self.budget = coreset_budget(method.coreset_fraction, data.num_train)
        self.schedule: Schedule = plan(cfg.train, method.coreset_fraction, method.selects, data.num_train, self.budget)
        if selector.needs_val and self.schedule.selection_epochs and data.val_x is None:
            raise ConfigError(f"selector {method.selector!r} needs a validation split: set data.val_fraction > 0")
        self.fastpath = FastPath.resolve(cfg.runtime, device, self.schedule.total_steps,
                                         traceable=not pruner.samples_in_forward)
        self.fastpath.prepare(model)  # its memory layout, before the optimizer holds its parameters
        self.forward = self.fastpath.training_forward(model)

        self.optimizer = torch.optim.SGD(model.parameters(), lr=cfg.train.lr, momentum=cfg.train.momentum,
                                         nesterov=cfg.train.nesterov, weight_decay=cfg.train.weight_decay)
        targets = layer_targets(model, method.prune_rate, method.scope, cfg.sparsity)
        pruner.attach(model, self.optimizer, targets, budget_groups(targets, model, method.scope),
                      self.schedule.epoch_steps, derive_seed(self.seed, "pruner"))
        self.preservation = StatePreservation(method.state_preservation, cfg.preservation.weight,
                                              cfg.preservation.weighting)
        self.normalize = Normalize(data.mean, data.std, self.fastpath.channels_last)
        self.eval_batch = cfg.runtime.eval_batch_size
        self.params_total = sum(p.numel() for p in model.parameters())
        self.flops = TrainingFlops(layer_flops(model, tuple(data.train_x.shape[1:]), device), pruner)

        self.subset = Coreset(torch.arange(data.num_train, device=device),
                              torch.ones(data.num_train, device=device))
        self.epoch = 0
        self.step = 0
        self.history: list[dict] = []
        self.timers = Timers()
        self.diagnostic = self._diagnostic_samples()
        self._overlap: float | None = None
        self._kl_at_record: float | None = None

    # -- one epoch ------------------------------------------------------------------------------------

    def run_epoch(self) -> dict:
        t = self.epoch + 1
        start = time.perf_counter()
        if self.schedule.new_coreset(t):
            self._select(t)
        for group in self.optimizer.param_groups:
            group["lr"] = self.schedule.lr(t)
        self._sync()
        train_start = time.perf_counter()
        train_loss, sp_kl = self._train_epoch(t)
        self.timers.train += time.perf_counter() - train_start
        row = self._evaluate(t, train_loss, sp_kl)
        row.epoch_time_s = time.perf_counter() - start
        self.history.append(records.as_dict(row))  # plain dicts: what checkpoints and result.json hold
        self.epoch = t
        return self.history[-1]

    def _epoch_batches(self, t: int):
        """Epoch t's batches of the current training set: (positions in it, sample indices, augmented uint8
        images). The same draw every time it is asked for, so a resumed epoch, and the state-preservation
        recording at a selection, see exactly what training sees."""
        g = generator(derive_seed(self.seed, "epoch", t), self.device)
        n = len(self.subset)
        order = torch.randperm(n, generator=g, device=self.device)
        bounds = batch_bounds(n, self.cfg.train.batch_size)
        positions = [order[start:end] for start, end in zip(bounds[:-1], bounds[1:], strict=True)]
        index_batches = [self.subset.indices[pos] for pos in positions]
        aug = self.data.augment
        images = training_batches(self.data.train_x, index_batches, aug.pad, aug.flip, g,
                                  derive_seed(self.seed, "decode", t), self.device)
        return zip(positions, index_batches, images, strict=True)

    def _train_epoch(self, t: int) -> tuple[float | None, float | None]:
        if not self.schedule.batches(t):
            return None, None  # an epoch the schedule skips ('cords'): the learning rate moves on, nothing trains
        data, model, pruner, pres = self.data, self.model, self.pruner, self.preservation
        weights = self.subset.weights
        n = len(weights)
        loss_sum = torch.zeros((), device=self.device)
        kl_sum = torch.zeros((), device=self.device)
        model.train()
        for pos, idx, x in self._epoch_batches(t):
            self.flops.step(self.step, len(pos))
            with self.fastpath.autocast():
                logits = self.forward(self.normalize(x)).float()
            w = weights[pos]
            loss = (F.cross_entropy(logits, data.train_y[idx], reduction="none") * w).sum() / w.sum()
            total = loss
            if pres.active:
                kl = pres.kl(logits, pos, w)
                total = loss + pres.weight * kl
                kl_sum += kl.detach() * len(pos)
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            if not pruner.before_step(self.step):
                self.optimizer.step()
            pruner.after_step(self.step)
            self.step += 1
            loss_sum += loss.detach() * len(pos)
        train_loss, kl_total = (torch.stack([loss_sum, kl_sum]) / n).tolist()  # the epoch's one host sync
        if not math.isfinite(train_loss):
            raise Diverged(f"training loss became {train_loss} in epoch {t} (learning rate {self.schedule.lr(t):g})")
        return train_loss, (kl_total if pres.active else None)

    # -- selection ------------------------------------------------------------------------------------

    def _select(self, t: int) -> None:
        """A new coreset for epoch t: the selector's (after a probe pass when it reads one), or at the
        schedule's random epoch a uniform draw (the 'cords' warm start); then state preservation records."""
        self._sync()
        start = time.perf_counter()
        data, sel = self.data, self.selector
        rng = generator(derive_seed(self.seed, "select", t))
        previous = self.subset if self.schedule.on_coreset(t - 1) else None
        probe = None
        if t == self.schedule.random_epoch:
            coreset = Coreset(torch.randperm(data.num_train, generator=rng)[:self.budget], torch.ones(self.budget))
        else:
            if sel.needs_probe:
                with self._probe_precision():
                    probe = probe_pass(self.model, data.train_x, data.train_y, self.normalize, self.eval_batch)
                    self.flops.forward(data.num_train)
                    if sel.needs_val:
                        probe.val = probe_pass(self.model, data.val_x, data.val_y, self.normalize, self.eval_batch)
                        self.flops.forward(len(data.val_y))
            else:
                probe = Probe(labels=data.train_y, indices=torch.arange(data.num_train, device=self.device))
            ctx = SelectionContext(epoch=t, total_epochs=self.schedule.epochs,
                                   round=self.schedule.selection_epochs.index(t), num_classes=data.num_classes,
                                   lr=self.schedule.base_lr, previous=previous)
            coreset = sel.select(probe, self.budget, rng, ctx)
        coreset = check_coreset(coreset, self.budget, data.num_train, self.cfg.method.selector).to(self.device)
        coreset.weights = coreset.weights.float()
        self._overlap = None
        if previous is not None:
            kept = torch.isin(coreset.indices, previous.indices).sum()
            self._overlap = float(kept) / len(coreset)
        self.subset = coreset
        if self.preservation.mode != "none":
            self._record(t, probe)
        self._sync()
        self.timers.selection += time.perf_counter() - start

    def _record(self, t: int, probe: Probe | None) -> None:
        """State preservation's targets for the new coreset, and `sp_kl_at_record`: the term as the first
        training step would see it at these very weights (a train-mode forward over epoch t's batches and
        augmented views), which separates the mismatch between recording and training from later drift.
        Recording in train mode records that very forward, so there the term starts at zero."""
        data, pres, coreset = self.data, self.preservation, self.subset
        batches = None  # the check's logits, kept only when they are also the record
        if self.cfg.preservation.record == "train":  # the recording pass
            batches = list(self._training_forward(t))
            logits = batches[0][1].new_empty(len(coreset), batches[0][1].shape[1])
            for pos, out in batches:
                logits[pos] = out
            self.flops.forward(len(coreset))
        elif probe is not None and probe.logits is not None:
            logits = probe.logits[coreset.indices]
        else:  # the recording pass
            with self._probe_precision():
                logits = predict(self.model, data.train_x[coreset.indices], self.normalize, self.eval_batch,
                                 self.device)
            self.flops.forward(len(coreset))
        pres.record(logits, data.train_y[coreset.indices])
        kl = sum(pres.kl(out, pos, coreset.weights[pos]) * len(pos)
                 for pos, out in (batches if batches is not None else self._training_forward(t)))
        self._kl_at_record = float(kl) / len(coreset)

    @torch.no_grad()
    def _training_forward(self, t: int):
        """Train-mode logits of epoch t's batches at the current weights, as (positions, logits) pairs; the
        model's mode and buffers (BatchNorm's running statistics) and the pruner's sampling generator are left
        as they were, so training goes on exactly as if this pass had not happened. It runs the model eagerly
        (a compiled forward would compile again for gradient-free calls). A diagnostic, outside the FLOPs
        count, unless it records the targets."""
        model = self.model
        was_training = model.training
        buffers = [b.clone() for b in model.buffers()]
        sampler = self.pruner.forward_generator()
        sampler_state = sampler.get_state() if sampler is not None else None
        model.train()
        try:
            for pos, _, x in self._epoch_batches(t):
                with self.fastpath.autocast():
                    yield pos, model(self.normalize(x)).float()
        finally:
            for b, saved in zip(model.buffers(), buffers, strict=True):
                b.copy_(saved)
            if sampler is not None:
                sampler.set_state(sampler_state)
            model.train(was_training)

    def _probe_precision(self) -> contextlib.AbstractContextManager:
        """The precision of the selection-time passes (`train.probe_precision`): the probe pass, and state
        preservation's eval-mode recording pass where no probe holds the logits, whatever the training forward
        runs in."""
        return autocast(self.device.type, self.cfg.train.probe_precision)

    # -- evaluation -----------------------------------------------------------------------------------

    def _evaluate(self, t: int, train_loss: float, sp_kl: float | None) -> records.EpochRow:
        """Epoch t's history row (a `records.EpochRow`), evaluated where the schedule says so."""
        data = self.data
        noisy = data.noisy_mask[self.subset.indices].float().mean() if data.has_noise else None
        zeros = sum(self.pruner.zero_counts().values())
        row = records.EpochRow(
            epoch=t,
            lr=self.schedule.lr(t),
            train_loss=train_loss,
            sp_kl=sp_kl,
            sp_kl_at_record=self._kl_at_record if self.schedule.new_coreset(t) else None,
            coreset_size=len(self.subset),
            coreset_noise_ratio=None if noisy is None else float(noisy),
            coreset_overlap=self._overlap if self.schedule.new_coreset(t) else None,
            density=(self.params_total - zeros) / self.params_total,
            train_flops=self.flops.total,
        )
        last = t == self.schedule.epochs
        round_end = data.has_noise and self.schedule.batches(t) and (
            last or (self.schedule.new_coreset(t + 1) and self.schedule.on_coreset(t)))
        evaluates = last or (t % self.cfg.train.eval_every == 0 and self.schedule.batches(t))
        if not (evaluates or round_end):
            return row  # not an evaluation epoch, or one that trained nothing
        self._sync()
        start = time.perf_counter()
        with self.fastpath.autocast():
            if evaluates:
                self._evaluate_splits(row)
            if round_end:
                row.coreset_noisy_loss = self._coreset_noisy_loss()
        self.timers.eval += time.perf_counter() - start
        return row

    def _coreset_noisy_loss(self) -> float | None:
        """Mean eval-mode loss on the noisy samples of the current training set, at the end of each coreset's
        round and of the run: how far the model has memorised the wrong labels it trained on (chance: ln K)."""
        data = self.data
        idx = self.subset.indices[data.noisy_mask[self.subset.indices]]
        if not len(idx):
            return None
        losses, _ = per_sample_loss(self.model, data.train_x[idx], data.train_y[idx], self.normalize, self.eval_batch)
        return losses.mean().item()

    def _evaluate_splits(self, row: records.EpochRow) -> None:
        data = self.data
        test = evaluate(self.model, data.test_x, data.test_y, self.normalize, self.eval_batch)
        row.test_accuracy, row.test_loss = test.accuracy, test.loss
        if data.val_x is not None:
            val = evaluate(self.model, data.val_x, data.val_y, self.normalize, self.eval_batch)
            row.val_accuracy, row.val_loss, row.overfit_gap = val.accuracy, val.loss, test.loss - val.loss
        if self.diagnostic is not None:
            idx, is_noisy = self.diagnostic
            losses, _ = per_sample_loss(self.model, data.train_x[idx], data.train_y[idx], self.normalize,
                                        self.eval_batch)
            noisy_mean, clean_mean = torch.stack([losses[is_noisy].mean(), losses[~is_noisy].mean()]).tolist()
            row.noisy_clean_loss_ratio = noisy_mean / clean_mean if clean_mean > 0 else None

    def _diagnostic_samples(self):
        """A fixed sample of noisy and clean training samples for the noisy/clean loss ratio (Fig. 5c)."""
        mask = self.data.noisy_mask
        if not self.data.has_noise or bool(mask.all()):
            return None
        g = generator(derive_seed(self.seed, "diagnostic"))
        picks = []
        for group in (mask.nonzero().flatten().cpu(), (~mask).nonzero().flatten().cpu()):
            picks.append(group[torch.randperm(len(group), generator=g)[:DIAGNOSTIC_SAMPLES]])
        idx = torch.cat(picks).to(self.device)
        return idx, mask[idx]

    # -- results and checkpoints ----------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.epoch >= self.schedule.epochs

    def metrics(self, total_s: float | None = None) -> dict:
        """The final metrics (`records.RunMetrics`); `time_s` when the run's total time is given."""
        evaluated = [r for r in self.history if r["test_accuracy"] is not None]
        last = evaluated[-1] if evaluated else {}
        zeros = sum(self.pruner.zero_counts().values())
        return records.as_dict(records.RunMetrics(
            test_accuracy=last.get("test_accuracy"),
            best_test_accuracy=max((r["test_accuracy"] for r in evaluated), default=None),
            test_loss=last.get("test_loss"),
            params_total=self.params_total,
            params_nonzero=self.params_total - zeros,
            density=(self.params_total - zeros) / self.params_total,
            density_by_layer=self.pruner.density_by_layer(),
            train_flops=self.flops.total,
            relative_train_flops=self.flops.total / self.flops.dense_training(self.data.num_train,
                                                                               self.schedule.epochs),
            inference_flops=self.flops.inference(),
            time_s=None if total_s is None else {"total": total_s, **vars(self.timers)},
        ))

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "pruner": self.pruner.state_dict(),
            "flops": self.flops.state_dict(),
            "preservation": self.preservation.state_dict(),
            "selector": self.selector.state_dict(),
            "subset": {"indices": self.subset.indices, "weights": self.subset.weights},
            "history": self.history,
            "timers": vars(self.timers),
        }

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.step = state["epoch"], state["step"]
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.pruner.load_state_dict(state["pruner"])
        self.flops.load_state_dict(state["flops"])
        self.preservation.load_state_dict(state["preservation"])
        self.selector.load_state_dict(state.get("selector", {}))
        self.subset = Coreset(state["subset"]["indices"].to(self.device), state["subset"]["weights"].to(self.device))
        self.history = state["history"]
        self.timers = Timers(**state["timers"])

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
