"""`python -m benchmarks rekey`: a run whose key changed only by a parameter added at its default moves to its
new key with its records rewritten; a run whose configuration really changed, or whose folder is damaged, is
left as it is and reported.

"Today's code" is simulated with a method, `rekey_dense`, whose registered signature the tests swap: gin's
configurable takes every parameter any version has, the registry entry says which ones this version has."""

import inspect
import json

import gin
import pytest
import torch
from conftest import parse, run_cli

from benchmarks.__main__ import main
from grid import rekey as rekeying
from grid.launch import run_state
from grid.rekey import CARRIED, CHANGED, REFUSED, UNCHANGED, UNREADABLE, rekey
from harness.core import files, registry
from harness.core.recipe import Method
from harness.execution import run_folder

DEFAULTS = {"extra": 3, "gone": 1}
BINDINGS = ("epochs = 1", "experiment.method = 'rekey_dense'")


def _rekey_dense(extra: int = 3, gone: int = 1) -> Method:
    return Method(name="dense")


CONFIGURABLE = gin.external_configurable(_rekey_dense, name="rekey_dense", module="methods")


def code(monkeypatch, *params: str) -> None:
    """Make today's `rekey_dense` take `params` (at their defaults); none of them: no `rekey_dense` at all."""
    if params == (None,):
        monkeypatch.delitem(registry._ENTRIES["method"], "rekey_dense", raising=False)
        return

    def target():
        return Method(name="dense")

    target.__signature__ = inspect.Signature(
        [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY, default=DEFAULTS[p]) for p in params])
    monkeypatch.setitem(registry._ENTRIES["method"], "rekey_dense",
                        registry.Entry("method", "rekey_dense", target, CONFIGURABLE))


def started(runs, cfg, result: bool = True):
    """A run folder as a run leaves it, without training: config.gin and (finished) result.json."""
    folder = runs / cfg.short_key
    files.write_text(folder / "config.gin", cfg.config_gin)
    if result:
        files.write_json(folder / "result.json", {"schema": 1, "key": cfg.key, "status": "ok", "config": cfg.text,
                                                  "spec": cfg.spec, "metrics": {"test_accuracy": 90.0}})
    return folder


def snapshot(runs) -> dict:
    return {str(p.relative_to(runs)): p.read_bytes() for p in sorted(runs.rglob("*")) if p.is_file()}


def test_a_parameter_added_at_its_default_carries_the_run_over(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    code(monkeypatch)
    old = parse("gin/digits/dense.gin", bindings=BINDINGS)
    first = run_folder.execute(old, runs)
    code(monkeypatch, "extra")
    new = parse("gin/digits/dense.gin", bindings=BINDINGS)
    assert new.key != old.key and "methods.rekey_dense.extra = 3\n" in new.text
    assert run_state(runs, new.key) == "missing"

    before = snapshot(runs)
    [dry] = rekey(runs, dry_run=True)
    assert (dry.kind, dry.folder, dry.new_folder) == (CARRIED, old.short_key, new.short_key)
    assert dry.line(True) == (f"would carry over {old.short_key} -> {new.short_key} "
                              "(added at defaults: methods.rekey_dense.extra = 3)")
    assert snapshot(runs) == before

    [outcome] = rekey(runs)
    assert outcome == dry
    folder = runs / new.short_key
    assert not (runs / old.short_key).exists() and folder.is_dir()
    assert (folder / "config.gin").read_text() == new.config_gin
    record = json.loads((folder / "result.json").read_text())
    assert record == {**first, "key": new.key, "config": new.text, "rekeyed_from": [old.key]}
    checkpoint = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert checkpoint["key"] == new.key
    assert (folder / "metrics.jsonl").read_bytes() == before[f"{old.short_key}/metrics.jsonl"]

    # found under its new key: done, and running it again returns the record without building anything
    assert run_state(runs, new.key) == "done"
    monkeypatch.setattr(run_folder, "build", lambda cfg: pytest.fail("the carried-over run was trained again"))
    assert run_folder.execute(new, runs) == record
    assert run_folder.execute(parse(str(folder / "config.gin")), runs) == record

    after = snapshot(runs)
    assert [o.kind for o in rekey(runs)] == [UNCHANGED]
    assert snapshot(runs) == after


def test_an_interrupted_rekey_finishes_when_run_again(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    code(monkeypatch)
    old = parse("gin/digits/dense.gin", bindings=BINDINGS)
    folder = started(runs, old)
    code(monkeypatch, "extra")
    new = parse("gin/digits/dense.gin", bindings=BINDINGS)
    folder.rename(runs / new.short_key)  # killed right after the rename
    [outcome] = rekey(runs)
    assert (outcome.kind, outcome.folder, outcome.new_folder) == (CARRIED, new.short_key, new.short_key)
    record = json.loads((runs / new.short_key / "result.json").read_text())
    assert record["key"] == new.key and record["rekeyed_from"] == [old.key]
    assert run_state(runs, new.key) == "done"


def test_a_removed_parameter_or_method_leaves_the_run_untouched(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    code(monkeypatch, "gone")
    old = parse("gin/digits/dense.gin", bindings=BINDINGS)
    started(runs, old)
    before = snapshot(runs)

    code(monkeypatch, "extra")  # `gone` removed, `extra` added
    [outcome] = rekey(runs)
    assert outcome.kind == CHANGED
    assert outcome.line() == (f"really changed {old.short_key}: methods.rekey_dense.gone is gone; "
                              "left as it is")
    code(monkeypatch, None)  # the method itself removed
    [outcome] = rekey(runs)
    assert outcome.kind == CHANGED and "does not resolve with today's code (unknown method 'rekey_dense'" \
        in outcome.detail
    assert snapshot(runs) == before


def test_a_changed_value_or_a_new_line_off_its_default_is_a_real_change():
    changed, added = rekeying._differences("train.lr = 0.05\n", "train.lr = 0.1\ntrain.nesterov = True\n")
    assert changed == ["train.lr: 0.05 -> 0.1"] and added == ["train.nesterov = True"]
    changed, added = rekeying._differences("train.lr = 0.05\n", "train.lr = 0.05\ntrain.nesterov = False\n")
    assert changed == ["train.nesterov = False is new and not its default"] and added == []
    changed, _ = rekeying._differences("train.lr = 0.05\n", "train.lr = 0.05\ntrain.no_such = 1\n")
    assert changed == ["train.no_such = 1 is new and not its default"]


def test_an_occupied_new_folder_refuses_and_damaged_folders_are_reported(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    code(monkeypatch)
    old = parse("gin/digits/dense.gin", bindings=BINDINGS)
    started(runs, old)
    code(monkeypatch, "extra")
    new = parse("gin/digits/dense.gin", bindings=BINDINGS)
    started(runs, new)  # the run was made again under its new key
    (runs / "0000000000000000").mkdir()
    (runs / "1111111111111111").mkdir()
    (runs / "1111111111111111" / "config.gin").write_text("not a configuration\n")
    corrupt = started(runs, parse("gin/digits/dense.gin", bindings=(*BINDINGS, "seed = 1")))
    (corrupt / "result.json").write_text('{"key": ')
    code(monkeypatch)
    mismatch = started(runs, parse("gin/digits/dense.gin", bindings=(*BINDINGS, "seed = 2")))
    (mismatch / "checkpoint.pt").write_bytes(b"truncated")
    code(monkeypatch, "extra")
    before = snapshot(runs)

    outcomes = {o.folder: o for o in rekey(runs)}
    assert snapshot(runs) == before
    assert outcomes[old.short_key].kind == REFUSED
    assert outcomes[old.short_key].line() == (f"refused {old.short_key} -> {new.short_key}: {new.short_key} "
                                              "exists already; left as it is")
    assert outcomes[new.short_key].kind == UNCHANGED
    unreadable = {name: o.detail for name, o in outcomes.items() if o.kind == UNREADABLE}
    assert unreadable.pop(mismatch.name).startswith("checkpoint.pt cannot be read (")
    assert unreadable == {
        "0000000000000000": "no config.gin",
        "1111111111111111": "config.gin has a line that is not `name.param = value`: 'not a configuration'",
        corrupt.name: "result.json is truncated or corrupt",
    }


def test_command_line_prints_one_line_per_run_and_a_summary(tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    code(monkeypatch)
    old = parse("gin/digits/dense.gin", bindings=BINDINGS)
    started(runs, old)
    (runs / "0000000000000000").mkdir()
    code(monkeypatch, "extra")
    new = parse("gin/digits/dense.gin", bindings=(*BINDINGS, "seed = 1"))
    started(runs, new)  # made under today's code: unchanged, not shown

    assert main(["rekey", "--results", str(tmp_path), "--dry-run"]) == 1  # an unreadable folder
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "unreadable 0000000000000000: no config.gin; left as it is"
    assert out[1].startswith(f"would carry over {old.short_key} -> ")
    assert out[-1] == ("rekey: 1 carried over, 1 unchanged, 0 really changed, 1 unreadable, 0 refused "
                       "(dry run: nothing written)")
    assert (runs / old.short_key).is_dir()

    (runs / "0000000000000000").rmdir()
    assert main(["rekey", "--results", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "rekey: 1 carried over, 1 unchanged, 0 really changed, " \
        "0 unreadable, 0 refused"

    assert main(["rekey", "--results", str(tmp_path / "elsewhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no runs folder") and err.count("\n") == 1


def test_command_line_in_a_fresh_process(tmp_path):
    (tmp_path / "runs").mkdir()
    out = run_cli("rekey", "--results", str(tmp_path), "--dry-run", module="benchmarks", timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ("rekey: 0 carried over, 0 unchanged, 0 really changed, 0 unreadable, 0 refused "
                          "(dry run: nothing written)\n")
    out = run_cli("rekey", "table1", "--results", str(tmp_path), module="benchmarks", timeout=120)
    assert out.returncode == 2 and out.stderr == ("error: rekey takes no suite (got 'table1'): it goes through "
                                                  "every run under --results\n")
