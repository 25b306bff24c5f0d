"""Where a run reports as it goes: a progress bar, `metrics.jsonl` (one JSON line per epoch), and
Weights & Biases (passive; `offline` by default, `disabled` in tests, WANDB_MODE wins when set).

W&B names are grouped by prefix (`train/`, `test/`, `val/`, `coreset/`, `sparsity/`, `time/`); the group is
the table cell (the run's spec without the seed) so W&B's group-by shows mean and spread over seeds;
`id` is the short run key with resume="allow", so a resumed run continues the same W&B run.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

from tqdm import tqdm

from harness.config import RunConfig

# history column -> W&B metric name
WANDB_NAMES = {
    "train_loss": "train/loss",
    "sp_kl": "train/sp_kl",
    "lr": "train/lr",
    "noisy_clean_loss_ratio": "train/noisy_clean_loss_ratio",
    "test_accuracy": "test/accuracy",
    "test_loss": "test/loss",
    "overfit_gap": "test/overfit_gap",
    "val_accuracy": "val/accuracy",
    "val_loss": "val/loss",
    "coreset_size": "coreset/size",
    "coreset_noise_ratio": "coreset/noise_ratio",
    "coreset_overlap": "coreset/overlap",
    "density": "sparsity/density",
    "epoch_time_s": "time/epoch_s",
}


def cell_name(spec: dict) -> str:
    """A table cell: everything that identifies a run but its seed."""
    return (f"{spec['dataset']}-{spec['model']}-{spec['method']}-{spec['selector']}-{spec['pruner']}"
            f"-c{spec['coreset_fraction']:g}-p{spec['prune_rate']:g}-n{spec['label_noise']:g}")


class RunLogger:
    def __init__(self, cfg: RunConfig, run_dir: Path, history: list[dict]):
        self.metrics_path = run_dir / "metrics.jsonl"
        # rewrite from the checkpoint's history: rows logged after the last checkpoint are gone with it
        self.metrics_path.write_text("".join(json.dumps(row) + "\n" for row in history))
        spec = cfg.spec
        self.bar = tqdm(
            total=cfg.train.epochs, initial=len(history), unit="epoch", file=sys.stderr, dynamic_ncols=True,
            desc=f"{spec['dataset']} {spec['method']} c={spec['coreset_fraction']:g} p={spec['prune_rate']:g} "
                 f"seed={spec['seed']}",
            disable=not cfg.runtime.progress,
        )
        self.wandb_run = None
        mode = os.environ.get("WANDB_MODE") or cfg.runtime.wandb_mode
        if mode != "disabled":
            import wandb

            self.wandb_run = wandb.init(
                project=cfg.runtime.wandb_project,
                entity=cfg.runtime.wandb_entity,
                group=cell_name(spec),
                job_type=spec["method"],
                tags=[spec["dataset"], spec["model"], spec["method"], spec["selector"], spec["pruner"]],
                name=f"{cell_name(spec)}-s{spec['seed']}",
                config={**_flatten(cfg.params), "spec": spec, "run_key": cfg.key},
                id=cfg.short_key,
                resume="allow",
                mode=mode,
                dir=str(run_dir),
                settings=wandb.Settings(silent=True, console="off", disable_git=True, save_code=False),
            )

    def epoch(self, row: dict) -> None:
        with self.metrics_path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        if self.wandb_run is not None:
            self.wandb_run.log({WANDB_NAMES[k]: v for k, v in row.items() if k in WANDB_NAMES and _finite(v)}
                               | {"epoch": row["epoch"]})
        shown = {k: f"{row[k]:.4g}" for k in ("train_loss", "test_accuracy") if _finite(row.get(k))}
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update(1)

    def finish(self, result: dict) -> None:
        self.bar.close()
        if self.wandb_run is not None:
            metrics = result.get("metrics") or {}
            for k, v in metrics.items():
                if k == "time_s" and isinstance(v, dict):
                    for part, seconds in v.items():
                        self.wandb_run.summary[f"time/{part}_s"] = seconds
                elif _finite(v):
                    self.wandb_run.summary[f"final/{k}"] = v
            self.wandb_run.summary["status"] = result["status"]
            self.wandb_run.finish(exit_code=0 if result["status"] == "ok" else 1)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _flatten(params: dict[str, dict]) -> dict:
    return {f"{name}.{k}": v for name, values in params.items() for k, v in values.items()}
