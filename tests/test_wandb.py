"""W&B offline runs read back from their files: grouped metric names charted by epoch, the table cell as the
group, tags, config and the final values in the summary."""

import json

import pytest
from conftest import parse
from wandb_records import read_back

from harness.core import records
from harness.core.records import cell_name
from harness.execution.run_folder import execute

SHORT = ("epochs = 6", "train.selection_interval = 2", "label_noise = 0.2")


def test_an_offline_run_holds_grouped_names_group_tags_config_and_final_summary(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = parse("gin/digits/swast_cut.gin", bindings=SHORT)
    result = execute(cfg, tmp_path)
    info = read_back(tmp_path / cfg.short_key)

    assert info["run"]["id"] == cfg.short_key and info["run"]["job_type"] == "swast_cut"
    assert info["run"]["group"] == "digits-resnet18-swast_cut-random-rigl-c0.1-p0.5-n0.2-sp_complete-fc0.9"
    assert set(info["run"]["tags"]) == {"digits", "resnet18", "swast_cut", "random", "rigl"}
    assert info["config"]["run_key"] == cfg.key
    assert info["config"]["methods.swast_cut.prune_rate"] == 0.5
    assert info["config"]["spec"] == json.loads(json.dumps(result["spec"]))

    logged = {k for row in info["history"] for k in row if not k.startswith("_")}
    prefixes = records.wandb_prefixes()
    assert {k for k in logged if k != "epoch"} == {k for k in logged if k.split("/")[0] in prefixes}
    assert {"train/loss", "train/lr", "train/sp_kl", "train/noisy_clean_loss_ratio", "test/accuracy", "test/loss",
            "test/overfit_gap", "val/accuracy", "val/loss", "coreset/size", "coreset/noise_ratio",
            "coreset/overlap", "sparsity/density", "flops/train", "time/epoch_s"} <= logged
    assert all(info["metrics"][f"{p}/*"] == "epoch" for p in prefixes)
    rows = [row for row in info["history"] if "test/accuracy" in row]
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4, 5, 6]
    flops = [row["flops/train"] for row in rows]
    assert flops == sorted(flops) and flops[-1] == pytest.approx(result["metrics"]["train_flops"])

    m, final = result["metrics"], info["summary"]
    assert final["test/accuracy"] == pytest.approx(m["test_accuracy"]) == pytest.approx(rows[-1]["test/accuracy"])
    assert final["test/best_accuracy"] == pytest.approx(m["best_test_accuracy"])
    assert final["flops/train"] == pytest.approx(m["train_flops"])
    assert final["flops/relative_train"] == pytest.approx(m["relative_train_flops"])
    assert final["flops/inference"] == pytest.approx(m["inference_flops"])
    assert final["sparsity/density"] == pytest.approx(m["density"])
    assert final["time/total_s"] == pytest.approx(m["time_s"]["total"])
    assert final["status"] == "ok"
    assert not any(k.startswith("final/") for k in final)


def test_runs_that_differ_only_in_state_preservation_or_fc_rate_are_different_groups():
    spec = {"dataset": "digits", "model": "resnet18", "method": "swast_cut", "selector": "random", "pruner": "rigl",
            "coreset_fraction": 0.01, "prune_rate": 0.5, "label_noise": 0.0, "state_preservation": "complete",
            "fc_rate": 0.9, "seed": 0}
    names = {cell_name(spec), cell_name({**spec, "fc_rate": 0.1}), cell_name({**spec, "state_preservation": "none"})}
    assert len(names) == 3
    assert cell_name(spec) == cell_name({**spec, "seed": 4})
