"""Synthetic `result.json` files for planned runs: every field the figures read, with values that depend on the
method, rates and seed, so that figures can be built and checked in milliseconds without training."""

from __future__ import annotations

import json
import random
from pathlib import Path

from harness.core.files import short_key

EPOCHS = 8
SELECTIONS = [2, 4, 6, 8]
BONUS = {"dense": 3.0, "pruning_only": 2.0, "coreset_only": 0.0, "swast_trim": 1.0, "swast_cut": 1.5}


def write(runs_root: Path, planned, skip=()) -> None:
    for p in planned:
        if p.key not in skip:
            path = Path(runs_root) / short_key(p.key) / "result.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result(p.key, p.spec)))


def result(key: str, spec: dict) -> dict:
    rng = random.Random(key)
    fraction, rate = spec["coreset_fraction"], spec["prune_rate"] or 0.0
    pruned = spec["method"] in ("pruning_only", "swast_cut", "swast_trim")
    on_coreset = fraction < 1.0
    final = 60.0 + 30 * fraction ** 0.3 + BONUS[spec["method"]] + 2 * rate - 4 * rate ** 8 + rng.gauss(0, 1)
    relative = (fraction if on_coreset else 1.0) * (1 - 0.8 * rate if pruned else 1.0)
    history = []
    for epoch in range(1, EPOCHS + 1):
        selected = on_coreset and epoch in SELECTIONS
        history.append({
            "epoch": epoch, "test_accuracy": final * epoch / EPOCHS, "test_loss": 1.0 / epoch,
            "val_loss": 0.8 / epoch, "overfit_gap": 0.2 / epoch + (0.3 - 0.2 * rate if pruned else 0.3),
            "train_loss": 1.0 / epoch, "coreset_size": 100 if on_coreset else 1000,
            "coreset_noise_ratio": (0.1 + 0.05 * (not pruned) - 0.01 * SELECTIONS.index(epoch) + rng.gauss(0, 0.01))
            if selected and spec["label_noise"] else None,
            "noisy_clean_loss_ratio": (1.0 + epoch * (0.5 + pruned)) if spec["label_noise"] else None,
            "density": 1 - rate if pruned else 1.0})
    return {"schema": 1, "key": key, "status": "ok", "error": None, "spec": spec,
            "selection_epochs": SELECTIONS if on_coreset else [], "history": history,
            "metrics": {"test_accuracy": final, "best_test_accuracy": final, "test_loss": 0.5,
                        "train_flops": 1e12 * relative, "relative_train_flops": relative, "inference_flops": 1e6,
                        "density": 1 - rate if pruned else 1.0,
                        "time_s": {"total": 100 * relative + rng.uniform(1, 3), "train": 1.0, "selection": 0.1,
                                   "eval": 0.1}}}
