"""Where a run reports as it goes: a progress bar, `metrics.jsonl` (one JSON line per epoch), and
Weights & Biases (passive; `offline` by default, `disabled` in tests, WANDB_MODE wins when set).

W&B names are grouped by prefix (`train/`, `test/`, `val/`, `coreset/`, `sparsity/`, `flops/`, `time/`), each
charted against `epoch`; the summary holds the final values under the same names (final, not best, accuracy:
what the tables report). The group is the table cell (the run's spec without the seed) so W&B's group-by shows
mean and spread over seeds; `id` is the short run key with resume="allow", so a resumed run continues the same
W&B run.
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
    "sp_kl_at_record": "train/sp_kl_at_record",
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
    "coreset_noisy_loss": "coreset/noisy_loss",
    "density": "sparsity/density",
    "train_flops": "flops/train",
    "epoch_time_s": "time/epoch_s",
}
# result.json metric -> W&B summary name (the final values)
SUMMARY_NAMES = {
    "test_accuracy": "test/accuracy",
    "best_test_accuracy": "test/best_accuracy",
    "test_loss": "test/loss",
    "density": "sparsity/density",
    "params_total": "sparsity/params_total",
    "params_nonzero": "sparsity/params_nonzero",
    "train_flops": "flops/train",
    "relative_train_flops": "flops/relative_train",
    "inference_flops": "flops/inference",
}
PREFIXES = ("train", "test", "val", "coreset", "sparsity", "flops", "time")


def cell_name(spec: dict) -> str:
    """A table cell: everything that identifies a run but its seed (state preservation and the FC rate too,
    which the ablation and Fig. 7 vary)."""
    name = (f"{spec['dataset']}-{spec['model']}-{spec['method']}-{spec['selector']}-{spec['pruner']}"
            f"-c{spec['coreset_fraction']:g}-p{spec['prune_rate']:g}-n{spec['label_noise']:g}")
    if spec.get("state_preservation") not in (None, "none"):
        name += f"-sp_{spec['state_preservation']}"
    if spec.get("fc_rate") is not None:
        name += f"-fc{spec['fc_rate']:g}"
    return name


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
            self.wandb_run.define_metric("epoch")
            for prefix in PREFIXES:
                self.wandb_run.define_metric(f"{prefix}/*", step_metric="epoch")

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
            final = {name: metrics[k] for k, name in SUMMARY_NAMES.items() if _finite(metrics.get(k))}
            final |= {f"time/{part}_s": seconds for part, seconds in (metrics.get("time_s") or {}).items()
                      if _finite(seconds)}
            self.wandb_run.summary.update({**final, "status": result["status"]})
            self.wandb_run.finish(exit_code=0 if result["status"] == "ok" else 1)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _flatten(params: dict[str, dict]) -> dict:
    return {f"{name}.{k}": v for name, values in params.items() for k, v in values.items()}
