"""The records a run writes are defined once (`harness.core.records`): the names every consumer uses are
pinned to what they were before that, and a field added to the history row reaches result.json,
metrics.jsonl, W&B, the collection and the progress bar with no other change."""

import itertools
import json
from dataclasses import dataclass

import pytest
from conftest import parse
from wandb_records import read_back

from grid.collection import aggregate, collect
from harness.core import records
from harness.execution.run_folder import execute
from harness.run import summary as run_summary

SPEC = {"dataset": "digits", "model": "resnet18", "method": "swast_cut", "selector": "random", "pruner": "rigl",
        "coreset_fraction": 0.1, "prune_rate": 0.5, "label_noise": 0.2, "state_preservation": "complete",
        "fc_rate": 0.9, "seed": 3}


def old_cell_name(spec: dict) -> str:
    """The cell name as it was written before the records (the W&B groups of existing runs)."""
    name = (f"{spec['dataset']}-{spec['model']}-{spec['method']}-{spec['selector']}-{spec['pruner']}"
            f"-c{spec['coreset_fraction']:g}-p{spec['prune_rate']:g}-n{spec['label_noise']:g}")
    if spec.get("state_preservation") not in (None, "none"):
        name += f"-sp_{spec['state_preservation']}"
    if spec.get("fc_rate") is not None:
        name += f"-fc{spec['fc_rate']:g}"
    return name


def test_names_derived_from_the_records_are_the_ones_written_out_before():
    assert records.columns(records.RunSpec) == [
        "dataset", "model", "method", "selector", "pruner", "coreset_fraction", "prune_rate", "label_noise",
        "state_preservation", "fc_rate", "seed"]
    assert records.cell_columns() == records.columns(records.RunSpec)[:-1]
    assert records.columns(records.RunMetrics) == [
        "test_accuracy", "best_test_accuracy", "test_loss", "params_total", "params_nonzero", "density",
        "train_flops", "relative_train_flops", "inference_flops", "time_s"]
    assert records.columns(records.EpochRow) == [
        "test_accuracy", "test_loss", "val_loss", "overfit_gap", "train_loss", "coreset_size", "coreset_noise_ratio",
        "noisy_clean_loss_ratio", "coreset_noisy_loss", "density"]
    assert records.wandb_names(records.EpochRow) == {
        "epoch": "epoch", "train_loss": "train/loss", "sp_kl": "train/sp_kl",
        "sp_kl_at_record": "train/sp_kl_at_record", "lr": "train/lr",
        "noisy_clean_loss_ratio": "train/noisy_clean_loss_ratio", "test_accuracy": "test/accuracy",
        "test_loss": "test/loss", "overfit_gap": "test/overfit_gap", "val_accuracy": "val/accuracy",
        "val_loss": "val/loss", "coreset_size": "coreset/size", "coreset_noise_ratio": "coreset/noise_ratio",
        "coreset_overlap": "coreset/overlap", "coreset_noisy_loss": "coreset/noisy_loss", "density": "sparsity/density",
        "train_flops": "flops/train", "epoch_time_s": "time/epoch_s"}
    final = records.wandb_values(records.RunMetrics, {"test_accuracy": 1.0, "time_s": {"total": 2.0, "eval": 3.0}})
    assert final == {"test/accuracy": 1.0, "test/best_accuracy": None, "test/loss": None, "sparsity/density": None,
                     "sparsity/params_total": None, "sparsity/params_nonzero": None, "flops/train": None,
                     "flops/relative_train": None, "flops/inference": None, "time/total_s": 2.0, "time/eval_s": 3.0}
    assert sorted(records.wandb_prefixes()) == sorted(("train", "test", "val", "coreset", "sparsity", "flops", "time"))
    assert records.bar_labels() == {"test_accuracy": "test_accuracy", "train_loss": "train_loss"}

    empty = collect("/nonexistent")
    assert list(empty.frame.columns) == ["key", "status", "error", *records.columns(records.RunSpec),
                                         *records.columns(records.RunMetrics)]
    assert list(empty.history.columns) == ["key", *records.columns(records.RunSpec), "epoch", "selection_round",
                                           *records.columns(records.EpochRow)]
    assert list(aggregate(empty.frame).columns) == [*records.cell_columns(), "mean", "std", "n"]


def test_cell_names_run_names_tags_and_descriptions_are_the_ones_written_out_before():
    assert records.cell_name(SPEC) == "digits-resnet18-swast_cut-random-rigl-c0.1-p0.5-n0.2-sp_complete-fc0.9"
    assert records.run_name(SPEC) == records.cell_name(SPEC) + "-s3"
    dense = {**SPEC, "method": "dense", "selector": "full", "pruner": "none", "coreset_fraction": 1.0,
             "prune_rate": 0.0, "label_noise": 0.0, "state_preservation": "none", "fc_rate": None}
    assert records.cell_name(dense) == "digits-resnet18-dense-full-none-c1-p0-n0"
    for fraction, rate, noise, sp, fc in itertools.product((1.0, 0.1, 0.05, 0.01), (0.0, 0.3, 0.9, 0.95),
                                                            (0.0, 0.2), (None, "none", "selective"), (None, 0.0, 0.9)):
        spec = {**SPEC, "coreset_fraction": fraction, "prune_rate": rate, "label_noise": noise,
                "state_preservation": sp, "fc_rate": fc}
        assert records.cell_name(spec) == old_cell_name(spec)
    assert records.tags(SPEC) == ["digits", "resnet18", "swast_cut", "random", "rigl"]
    assert records.describe(SPEC, "bar") == "digits swast_cut c=0.1 p=0.5 seed=3"
    result = {"status": "ok", "spec": SPEC, "metrics": {"test_accuracy": 86.91, "best_test_accuracy": 86.91,
                                                        "density": 0.502, "time_s": {"total": 4.6}}}
    assert run_summary(result, "runs/x") == (
        "ok  digits/resnet18/swast_cut selector=random pruner=rigl c=0.1 p=0.5 seed=3: test accuracy 86.91% "
        "(best 86.91%), density 0.502, 4.6 s -> runs/x/result.json")
    damaged = "digits/None/None selector=None pruner=None c=None p=None seed=None"  # a spec missing fields
    assert records.describe({"dataset": "digits"}) == damaged


def test_a_spec_field_added_to_the_record_names_its_cell(monkeypatch):
    @dataclass(kw_only=True)
    class Spec(records.RunSpec):
        width: int = records.part("w{}", omit=(None,))

    monkeypatch.setattr(records, "RunSpec", Spec)
    assert records.cell_columns()[-1] == "width" and records.columns(records.RunSpec)[-1] == "width"
    assert records.cell_name({**SPEC, "width": 2}) == records.cell_name(SPEC) + "-w2"
    assert records.run_name({**SPEC, "width": 2}) == records.cell_name(SPEC) + "-w2-s3"
    assert records.cell_name(SPEC) == old_cell_name(SPEC)


@pytest.mark.slow
def test_a_field_added_to_the_history_row_reaches_every_consumer(tmp_path, monkeypatch, capsys):
    @dataclass(kw_only=True)
    class Row(records.EpochRow):
        probe_value: float = records.value(wandb="probe/value", column=True, bar="probe_label", default=0.25)

    monkeypatch.setattr(records, "EpochRow", Row)
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = parse("gin/digits/swast_cut.gin", bindings=("epochs = 2", "runtime.progress = True"))
    result = execute(cfg, tmp_path)
    run_dir = tmp_path / cfg.short_key

    assert result["status"] == "ok"
    assert [row["probe_value"] for row in result["history"]] == [0.25, 0.25]
    saved = json.loads((run_dir / "result.json").read_text())
    assert [row["probe_value"] for row in saved["history"]] == [0.25, 0.25]
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["probe_value"] for row in lines] == [0.25, 0.25]

    info = read_back(run_dir)
    assert [row["probe/value"] for row in info["history"]] == [0.25, 0.25]
    assert info["metrics"]["probe/*"] == "epoch"

    history = collect(tmp_path).history
    assert list(history["probe_value"]) == [0.25, 0.25]
    assert "probe_label=0.25" in capsys.readouterr().err
