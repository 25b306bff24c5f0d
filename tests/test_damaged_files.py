"""Damaged files in a run folder are recovered from, not obeyed: a checkpoint that cannot be loaded is moved
aside (the run resumes from the previous one, else from the start); a result.json that is not a valid record
counts as missing, with a warning in `status` and `collect`."""

import json

import pytest
from conftest import parse

from benchmarks.__main__ import main
from benchmarks.table2 import SUITE as TABLE2
from grid.collection import collect
from grid.launch import run_state
from harness.core import records
from harness.execution import checkpoints, run_folder
from harness.execution.run_folder import execute
from harness.training.loop import Training

BINDINGS = ("epochs = 6", "train.selection_interval = 2", "runtime.threads = 1")
DIGITS = "gin/digits/swast_cut.gin"


def without_timing(record):
    history = [{k: v for k, v in row.items() if k != "epoch_time_s"} for row in record["history"]]
    metrics = {k: v for k, v in record["metrics"].items() if k != "time_s"}
    return history, metrics


def ok_record(key: str) -> dict:
    return {"schema": records.SCHEMA, "key": key, "status": "ok", "error": None, "spec": {"dataset": "digits"},
            "metrics": {"test_accuracy": 90.0}}


def malformed(key: str) -> dict:
    """result.json texts that are not a valid record of run `key`, by what is wrong."""
    ok = ok_record(key)
    return {"int": "7", "list": "[1]", "string": '"x"', "empty dict": "{}", "truncated": json.dumps(ok)[:40],
            "ok without metrics": json.dumps({k: v for k, v in ok.items() if k != "metrics"}),
            "ok with empty metrics": json.dumps({**ok, "metrics": {}}),
            "ok with a null accuracy": json.dumps({**ok, "metrics": {"test_accuracy": None}}),
            "wrong schema": json.dumps({**ok, "schema": 99}), "no schema": json.dumps(ok | {"schema": None}),
            "another run's": json.dumps({**ok, "key": "f" * 64}), "unknown status": json.dumps({**ok, "status": "?"})}


CASES = list(malformed("0" * 64))


def straight_and_interrupted(tmp_path, monkeypatch, epoch: int):
    """The digits run trained straight through (under `straight/`), and again under `damaged/`, interrupted
    before its epoch `epoch`: (its configuration, the straight result, the interrupted run's folder)."""
    cfg = parse(DIGITS, bindings=BINDINGS)
    straight = execute(cfg, tmp_path / "straight")
    with monkeypatch.context() as m:
        stop_at(epoch, m)
        with pytest.raises(KeyboardInterrupt):
            execute(cfg, tmp_path / "damaged")
    return cfg, straight, tmp_path / "damaged" / cfg.short_key


def stop_at(epoch: int, monkeypatch) -> None:
    """Interrupt the next run as Ctrl-C would, before its epoch `epoch`."""
    run_epoch = Training.run_epoch

    def interrupted(self):
        if self.epoch + 1 == epoch:
            raise KeyboardInterrupt
        return run_epoch(self)

    monkeypatch.setattr(Training, "run_epoch", interrupted)


# -- result.json ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_a_malformed_result_counts_as_missing(case, tmp_path):
    key = TABLE2.plan("smoke", 1)[0].key
    path = tmp_path / key[:16] / "result.json"
    path.parent.mkdir()
    path.write_text(malformed(key)[case])
    record, problem = records.read_result(path, key)
    assert record is None and problem
    assert run_state(tmp_path, key) == "missing"
    (path.parent / "config.gin").write_text("")
    assert run_state(tmp_path, key) == "started"
    assert records.read_result(path.with_name("none.json"), key) == (None, None)
    path.write_text(json.dumps(ok_record(key)))
    assert records.read_result(path, key) == (ok_record(key), None)
    assert run_state(tmp_path, key) == "done"


def test_a_malformed_result_is_trained_again_with_a_warning(tmp_path, capsys):
    cfg = parse(DIGITS, bindings=BINDINGS)
    first = execute(cfg, tmp_path)
    path = tmp_path / cfg.short_key / "result.json"
    for case, text in malformed(cfg.key).items():
        path.write_text(text)
        capsys.readouterr()
        again = execute(cfg, tmp_path)  # from the last checkpoint: only the record is written again
        assert again["status"] == "ok" and without_timing(again) == without_timing(first), case
        assert json.loads(path.read_text()) == again
        err = capsys.readouterr().err
        assert f"{path} is not a valid record" in err and "the run is trained again" in err, case


def test_status_and_collect_warn_of_malformed_results_and_never_show_them(tmp_path, capsys):
    planned = TABLE2.plan("smoke", 1)
    cases = ["int", "ok without metrics", "wrong schema"]
    for p, case in zip(planned, cases, strict=True):
        path = tmp_path / "runs" / p.key[:16] / "result.json"
        path.parent.mkdir(parents=True)
        path.write_text(malformed(p.key)[case])
    args = ["table2", "--scale", "smoke", "--seeds", "1", "--results", str(tmp_path)]
    assert main(["status", *args]) == 1
    out, err = capsys.readouterr()
    assert "0 done, 0 failed, 0 started, 3 missing" in out
    assert err.count("warning: invalid result, counted as missing") == 3
    assert "(no metrics)" in err and "(schema 99, not 1)" in err

    collection = collect(tmp_path / "runs", [p.key for p in planned])
    assert collection.frame.empty and len(collection.problems) == 3
    assert all(p.startswith("unreadable result (") for p in collection.problems)
    assert main(["collect", *args]) == 0
    assert capsys.readouterr().err.count("warning: unreadable result (") == 3
    everything = collect(tmp_path / "runs")  # without keys too
    assert everything.frame.empty and len(everything.problems) == 3


# -- checkpoints ------------------------------------------------------------------------------------------


def test_a_truncated_checkpoint_resumes_from_the_previous_one_and_ends_as_an_uninterrupted_run(tmp_path,
                                                                                             monkeypatch, capsys):
    monkeypatch.setattr(run_folder, "CHECKPOINT_SHARE", float("inf"))  # a checkpoint after every epoch
    cfg, straight, run_dir = straight_and_interrupted(tmp_path, monkeypatch, 5)
    latest, previous = run_dir / checkpoints.LATEST, run_dir / checkpoints.PREVIOUS
    assert previous.is_file()
    data = latest.read_bytes()
    latest.write_bytes(data[:len(data) // 2])  # as `truncate -s 50% checkpoint.pt`
    capsys.readouterr()

    resumed = execute(cfg, tmp_path / "damaged")
    err = capsys.readouterr().err
    assert f"warning: {latest} cannot be loaded (RuntimeError: " in err and "trying the previous one" in err
    assert len(err.strip().splitlines()) == 1
    [aside] = run_dir.glob("checkpoint.pt.corrupt-*")
    assert aside.read_bytes() == data[:len(data) // 2]
    assert without_timing(resumed) == without_timing(straight)
    assert [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()] == \
        [1, 2, 3, 4, 5, 6]
    assert not previous.exists()  # the run has its result: the previous checkpoint is gone


def test_a_damaged_checkpoint_without_a_previous_one_restarts_the_run(tmp_path, monkeypatch, capsys):
    cfg, straight, run_dir = straight_and_interrupted(tmp_path, monkeypatch, 2)
    assert not (run_dir / checkpoints.PREVIOUS).exists()
    (run_dir / checkpoints.LATEST).write_bytes(b"not a checkpoint")
    capsys.readouterr()
    resumed = execute(cfg, tmp_path / "damaged")
    err = capsys.readouterr().err
    assert "cannot be loaded" in err and "the run starts from the beginning" in err
    assert without_timing(resumed) == without_timing(straight)
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 6


@pytest.mark.parametrize("links", [True, False])
def test_a_run_killed_while_writing_a_checkpoint_resumes_and_ends_the_same(tmp_path, monkeypatch, links):
    monkeypatch.setattr(run_folder, "CHECKPOINT_SHARE", float("inf"))
    cfg = parse(DIGITS, bindings=BINDINGS)
    straight = execute(cfg, tmp_path / "straight")
    saved, save_torch = [], checkpoints.files.save_torch

    def killed_on_the_third(path, state):
        saved.append(state["epoch"])
        if len(saved) == 3:
            raise KeyboardInterrupt  # checkpoint.prev.pt already in place
        save_torch(path, state)

    def no_link(src, dst):
        raise PermissionError(1, "Operation not permitted")

    with monkeypatch.context() as m:
        m.setattr(checkpoints.files, "save_torch", killed_on_the_third)
        if not links:
            m.setattr(checkpoints.os, "link", no_link)
        with pytest.raises(KeyboardInterrupt):
            execute(cfg, tmp_path / "damaged")
    run_dir = tmp_path / "damaged" / cfg.short_key
    assert (run_dir / checkpoints.LATEST).exists() == links and (run_dir / checkpoints.PREVIOUS).is_file()
    assert [p.name for p in run_dir.glob(".*")] == []
    assert without_timing(execute(cfg, tmp_path / "damaged")) == without_timing(straight)
