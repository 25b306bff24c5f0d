"""The determinism contract: a key's numbers do not depend on how it was launched (`harness.run`, a suite with
any --jobs), and each resumed segment of a run records its own environment."""

import json
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, parse, run_cli

from benchmarks.table2 import SUITE as TABLE2
from harness.core.files import short_key
from harness.execution.run_folder import execute
from harness.training.loop import Training


def without_timing(record: dict) -> dict:
    return {"metrics": {k: v for k, v in record["metrics"].items() if k != "time_s"},
            "history": [{k: v for k, v in row.items() if k != "epoch_time_s"} for row in record["history"]]}


@pytest.mark.slow
def test_a_key_gives_the_same_numbers_from_harness_run_and_from_a_suite_with_any_jobs(tmp_path):
    launched = {}
    for jobs in (1, 2):  # on two cores: one job of three runs with two threads, or two jobs with one each
        folder = tmp_path / f"jobs{jobs}"
        sent = subprocess.run([sys.executable, "-m", "benchmarks", "run", "table2", "--scale", "smoke", "--seeds", "1",
                               "--executor", "local", "--jobs", str(jobs), "--results", str(folder), "--wait"],
                              cwd=ROOT, capture_output=True, text=True, timeout=900)
        assert sent.returncode == 0, sent.stderr[-2000:]
        launched[jobs] = {p.parent.name: json.loads(p.read_text()) for p in (folder / "runs").glob("*/result.json")}
    planned = TABLE2.plan("smoke", 1)
    assert set(launched[1]) == set(launched[2]) == {short_key(p.key) for p in planned}
    for key in launched[1]:
        assert without_timing(launched[1][key]) == without_timing(launched[2][key])
        assert launched[1][key]["env"]["threads"] == launched[2][key]["env"]["threads"] == 1

    first = planned[0]
    alone = run_cli(*first.files, *(a for b in first.bindings for a in ("--gin_param", b)),
                    "--gin_param", "runtime.progress = False", "--out", str(tmp_path / "alone"))
    assert alone.returncode == 0, alone.stderr
    record = json.loads((tmp_path / "alone" / short_key(first.key) / "result.json").read_text())
    assert without_timing(record) == without_timing(launched[1][short_key(first.key)])


def test_a_resumed_run_records_each_segments_environment(tmp_path, monkeypatch):
    bindings = ("epochs = 4", "train.selection_interval = 2")
    run_epoch = Training.run_epoch

    def stop_after_two(self):
        if self.epoch == 2:
            raise KeyboardInterrupt
        return run_epoch(self)

    monkeypatch.setattr(Training, "run_epoch", stop_after_two)
    cfg = parse("gin/digits/coreset_only.gin", bindings=(*bindings, "runtime.threads = 1"))
    with pytest.raises(KeyboardInterrupt):
        execute(cfg, tmp_path)
    monkeypatch.setattr(Training, "run_epoch", run_epoch)
    saved = torch.load(tmp_path / cfg.short_key / "checkpoint.pt", weights_only=True)["epoch"]
    resumed_cfg = parse("gin/digits/coreset_only.gin", bindings=(*bindings, "runtime.threads = 2"))
    assert resumed_cfg.key == cfg.key  # the thread count is how, not what: not part of the key

    env = execute(resumed_cfg, tmp_path)["env"]
    assert [(s["from_epoch"], s["threads"]) for s in env["segments"]] == [(1, 1), (saved + 1, 2)]
    assert env["threads"] == 2 and env["segments"][0]["torch"] == torch.__version__


def test_a_cpu_run_computes_with_one_thread_unless_told(tmp_path):
    torch.set_num_threads(2)
    try:
        record = execute(parse("gin/digits/dense.gin", bindings=("epochs = 1", "runtime.device = 'cpu'")), tmp_path)
        assert record["env"]["threads"] == 1 and torch.get_num_threads() == 2  # restored after the run
    finally:
        torch.set_num_threads(torch.get_num_threads())
