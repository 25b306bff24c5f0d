"""Where a run reports as it goes: a progress bar, `metrics.jsonl` (one JSON line per epoch), and
Weights & Biases (passive; `offline` by default, `disabled` in tests, WANDB_MODE wins when set).

Every name comes from `harness.core.records`. W&B names are grouped by prefix (`train/`, `test/`, `val/`,
`coreset/`, `sparsity/`, `flops/`, `time/`), each charted against `epoch`; the summary holds the final values
under the same names (final, not best, accuracy: what the tables report). The group is the table cell (the
run's spec without the seed) so W&B's group-by shows mean and spread over seeds; `id` is the short run key
with resume="allow", so a resumed run continues the same W&B run.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tqdm import tqdm

from harness.config import RunConfig
from harness.core import records
from harness.core.numeric import finite


class RunLogger:
    def __init__(self, cfg: RunConfig, run_dir: Path, history: list[dict]):
        self.metrics_path = run_dir / "metrics.jsonl"
        # rewrite from the checkpoint's history: rows logged after the last checkpoint are gone with it
        self.metrics_path.write_text("".join(json.dumps(row) + "\n" for row in history))
        spec = cfg.spec
        self.bar = tqdm(
            total=cfg.train.epochs, initial=len(history), unit="epoch", file=sys.stderr, dynamic_ncols=True,
            desc=records.describe(spec, "bar"), disable=not cfg.runtime.progress,
        )
        self.wandb_run = None
        mode = os.environ.get("WANDB_MODE") or cfg.runtime.wandb_mode
        if mode != "disabled":
            import wandb

            self.wandb_run = wandb.init(
                project=cfg.runtime.wandb_project,
                entity=cfg.runtime.wandb_entity,
                group=records.cell_name(spec),
                job_type=spec["method"],
                tags=records.tags(spec),
                name=records.run_name(spec),
                config={**_flatten(cfg.params), "spec": spec, "run_key": cfg.key},
                id=cfg.short_key,
                resume="allow",
                mode=mode,
                dir=str(run_dir),
                settings=wandb.Settings(silent=True, console="off", disable_git=True, save_code=False),
            )
            self.wandb_run.define_metric("epoch")
            for prefix in records.wandb_prefixes():
                self.wandb_run.define_metric(f"{prefix}/*", step_metric="epoch")

    def epoch(self, row: dict) -> None:
        with self.metrics_path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        if self.wandb_run is not None:
            self.wandb_run.log(_finite_values(records.wandb_values(records.EpochRow, row)))
        shown = {label: f"{row[k]:.4g}" for k, label in records.bar_labels().items() if finite(row.get(k))}
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update(1)

    def finish(self, result: dict) -> None:
        self.bar.close()
        if self.wandb_run is not None:
            final = _finite_values(records.wandb_values(records.RunMetrics, result.get("metrics") or {}))
            self.wandb_run.summary.update({**final, "status": result["status"]})
            self.wandb_run.finish(exit_code=0 if result["status"] == "ok" else 1)


def _finite_values(values: dict) -> dict:
    """W&B takes numbers only: None, NaN and infinity stay out."""
    return {k: v for k, v in values.items() if finite(v)}


def _flatten(params: dict[str, dict]) -> dict:
    return {f"{name}.{k}": v for name, values in params.items() for k, v in values.items()}
