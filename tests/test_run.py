"""End-to-end runs on `digits`: every method, determinism, resume after SIGKILL, divergence, noise."""

import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT, parse, run_cli

from harness.core.files import short_key
from harness.execution import run_folder
from harness.execution.build import build
from harness.execution.run_folder import execute
from harness.run import main

METHODS = ["dense", "pruning_only", "coreset_only", "swast_trim", "swast_cut"]
SHORT = ("epochs = 6", "train.selection_interval = 2")


def without_timing(history):
    return [{k: v for k, v in row.items() if k != "epoch_time_s"} for row in history]


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_each_method_trains_digits_well_above_chance(method, tmp_path):
    cfg = parse(f"gin/digits/{method}.gin", bindings=("runtime.threads = 1",))  # float sums depend on threads
    result = execute(cfg, tmp_path)
    run_dir = tmp_path / cfg.short_key
    assert result["status"] == "ok" and result["error"] is None
    assert result["metrics"]["test_accuracy"] > 80.0  # chance is 10%
    assert json.loads((run_dir / "result.json").read_text()) == result
    assert (run_dir / "config.gin").read_text() == cfg.config_gin
    assert "Parameters for train" in (run_dir / "operative_config.gin").read_text()
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 20 == len(result["history"])
    m = result["metrics"]
    assert m["best_test_accuracy"] >= m["test_accuracy"]
    assert set(m["time_s"]) == {"total", "train", "selection", "eval"}
    assert m["time_s"]["total"] >= m["time_s"]["train"] + m["time_s"]["selection"] + m["time_s"]["eval"]
    if method in ("dense", "pruning_only"):
        assert result["selection_epochs"] == [] and result["history"][-1]["coreset_size"] == 1294
    else:
        assert result["selection_epochs"] == [2, 7, 12, 17]
        assert [r["coreset_size"] for r in result["history"][:2]] == [1294, 129]
    assert (m["density"] < 0.6) == (method in ("pruning_only", "swast_cut"))


def test_result_record_has_the_documented_fields(tmp_path):
    result = execute(parse("gin/digits/swast_cut.gin", bindings=SHORT), tmp_path)
    assert set(result) >= {"schema", "key", "status", "error", "config", "spec", "metrics", "selection_epochs",
                           "history", "env"}
    assert set(result["metrics"]) >= {"test_accuracy", "best_test_accuracy", "test_loss", "params_total",
                                      "params_nonzero", "density", "time_s"}
    assert set(result["history"][0]) >= {"epoch", "test_accuracy", "train_loss", "sp_kl", "coreset_size",
                                         "coreset_noise_ratio", "density", "noisy_clean_loss_ratio", "overfit_gap"}
    assert set(result["env"]) >= {"python", "torch", "device", "git_commit"}
    # state preservation starts at the first selection (epoch 2), not during warm-up
    assert result["history"][0]["sp_kl"] is None and result["history"][1]["sp_kl"] > 0


def test_same_config_and_seed_give_identical_results(tmp_path):
    cfg = parse("gin/digits/swast_cut.gin", bindings=SHORT)
    a = execute(cfg, tmp_path / "a")
    b = execute(cfg, tmp_path / "b")
    assert a["metrics"]["test_accuracy"] == b["metrics"]["test_accuracy"]
    assert without_timing(a["history"]) == without_timing(b["history"])
    other = execute(parse("gin/digits/swast_cut.gin", bindings=(*SHORT, "seed = 1")), tmp_path / "c")
    assert without_timing(other["history"]) != without_timing(a["history"])


def test_a_runs_thread_count_does_not_outlive_it(tmp_path):
    before = torch.get_num_threads()
    cfg = parse("gin/digits/coreset_only.gin", bindings=(*SHORT, f"runtime.threads = {before + 1}"))
    assert execute(cfg, tmp_path)["env"]["threads"] == before + 1
    assert torch.get_num_threads() == before


def test_slow_checkpoint_writes_are_spaced_to_a_small_share_of_the_run(tmp_path, monkeypatch):
    saved_epochs, save = [], run_folder.files.save_torch

    def slow_save(path, state):  # as a large model's checkpoint on a fast GPU: 0.5 s, longer than an epoch
        time.sleep(0.5)
        saved_epochs.append(state["epoch"])
        save(path, state)

    monkeypatch.setattr(run_folder.files, "save_torch", slow_save)
    result = execute(parse("gin/digits/swast_cut.gin", bindings=SHORT), tmp_path)
    # after the first epoch; the next no sooner than 0.5 s / 5% = 10 s later (the run takes about 1 s); the last
    assert result["status"] == "ok" and saved_epochs == [1, 6]
    assert torch.load(tmp_path / short_key(result["key"]) / "checkpoint.pt", weights_only=True)["epoch"] == 6


def test_a_finished_run_is_not_redone(tmp_path):
    cfg = parse("gin/digits/coreset_only.gin", bindings=SHORT)
    first = execute(cfg, tmp_path)
    (tmp_path / cfg.short_key / "checkpoint.pt").unlink()
    assert execute(cfg, tmp_path) == first


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_checkpoint_and_ends_the_same(tmp_path):
    # One thread on both sides: float sums differ with the thread count.
    args = ["gin/digits/swast_cut.gin", "--gin_param", "epochs = 40", "--gin_param", "runtime.progress = False",
            "--gin_param", "runtime.threads = 1"]
    cfg = parse("gin/digits/swast_cut.gin", bindings=("epochs = 40", "runtime.threads = 1"))
    run_dir = tmp_path / "killed" / cfg.short_key
    proc = subprocess.Popen([sys.executable, "-m", "harness.run", *args, "--out", str(tmp_path / "killed")],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = run_dir / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) >= 12):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "result.json").exists(), "the run finished before it could be killed"
    killed_at = torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"]
    assert 0 < killed_at < 40

    again = run_cli(*args, "--out", str(tmp_path / "killed"))
    assert again.returncode == 0, again.stderr
    resumed = json.loads((run_dir / "result.json").read_text())
    straight = execute(cfg, tmp_path / "straight")
    assert resumed["metrics"]["test_accuracy"] == straight["metrics"]["test_accuracy"]
    assert without_timing(resumed["history"]) == without_timing(straight["history"])
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 40


def test_a_diverging_run_ends_as_failed_with_the_reason(tmp_path, capsys):
    bindings = (*SHORT, "train.lr = 1e12")
    cfg = parse("gin/digits/dense.gin", bindings=bindings)
    result = execute(cfg, tmp_path)
    assert result["status"] == "failed"
    assert "training loss became nan in epoch" in result["error"]
    assert json.loads((tmp_path / cfg.short_key / "result.json").read_text())["status"] == "failed"
    args = ["gin/digits/dense.gin", "--out", str(tmp_path / "cli")]
    for b in (*bindings, "runtime.progress = False"):
        args += ["--gin_param", b]
    assert main(args) == 1
    assert "failed" in capsys.readouterr().out


def test_a_run_builds_from_its_own_configuration_whatever_gin_parsed_since():
    cfg = parse("gin/digits/swast_cut.gin", bindings=("pruners.rigl.delta_t = 7", "selector = 'el2n'"))
    parse("gin/digits/dense.gin")  # another configuration, as a cluster profile or a second run would be
    training = build(cfg)
    assert training.pruner.delta_t == 7 and type(training.selector).__name__ == "EL2N"


def test_coreset_noise_ratio_comes_from_the_noise_mask(tmp_path):
    training = build(parse("gin/digits/swast_cut.gin", bindings=(*SHORT, "label_noise = 0.3")))
    assert int(training.data.noisy_mask.sum()) == round(0.3 * 1294)
    while not training.done:
        row = training.run_epoch()
        expected = training.data.noisy_mask[training.subset.indices].float().mean().item()
        assert row["coreset_noise_ratio"] == pytest.approx(expected)
        assert row["noisy_clean_loss_ratio"] > 0
        if row["epoch"] in training.schedule.selection_epochs[1:]:
            assert 0.0 <= row["coreset_overlap"] <= 1.0


@pytest.mark.slow
def test_cifar10_experiment_trains_on_the_real_jpeg_copy_at_smoke_scale(cifar10_folder, tmp_path):
    out = run_cli("gin/cifar10/coreset_only.gin", "gin/scale/smoke.gin",
                  "--gin_param", "datasets.cifar10.source = 'folder'",
                  "--gin_param", f"data_root = '{cifar10_folder}'",
                  "--gin_param", "selector = 'random'", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    result = json.loads(next(tmp_path.glob("*/result.json")).read_text())
    assert result["status"] == "ok" and result["data"]["source"].startswith("image folders")
    assert result["data"]["num_train"] == 2000 and result["data"]["num_test"] == 1000
    assert result["metrics"]["test_accuracy"] > 15.0  # chance is 10%
