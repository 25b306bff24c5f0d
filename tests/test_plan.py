"""Planning a suite: each run is parsed once and its seeds derived from that parse, exactly as parsing each
seed would give (keys, specs, whole configurations)."""

import json
import random

import pytest

from benchmarks.__main__ import main, suites
from grid.suite import Run, Suite
from harness import config


def real_parse(run: Run, seed: int) -> config.RunConfig:
    return config.parse(list(run.files), [*run.bindings, f"seed = {seed}"], list(run.shared))


@pytest.mark.parametrize(("suite", "scale"), [("table1", "paper"), ("table1", "smoke"), ("table5", "mini"),
                                              ("fig4", "smoke"), ("preservation", "smoke")])
def test_derived_seeds_equal_real_parses(suite, scale):
    planned = suites()[suite]._parsed(scale, 5)
    for (run, seed), p in random.Random(0).sample(sorted(planned.items(), key=lambda kv: kv[1].key), 6):
        cfg = real_parse(run, seed)
        assert (p.key, p.spec, p.bindings) == (cfg.key, cfg.spec, (*run.bindings, f"seed = {seed}"))
        assert p.config == cfg  # text, settings, parameters: the whole configuration


class SeededData(Suite):
    """A run whose dataset is drawn from the seed too: the seed's value shows twice in its text."""

    name = "seeded"

    def runs(self, scale):
        return [Run(("gin/digits/coreset_only.gin",),
                    ("experiment.dataset = 'synthetic'", "datasets.synthetic.seed = %seed"))]


def test_a_seed_that_reaches_another_parameter_is_parsed_per_seed():
    run = SeededData().runs("smoke")[0]
    once = real_parse(run, 918273645)
    assert config.reseed(once, 1) is None  # the value shows on two lines: no derivation
    keys = SeededData().keys("smoke", 3)
    assert keys == {(run, seed): real_parse(run, seed).key for seed in range(3)}
    assert len(set(keys.values())) == 3


def test_plan_prints_the_compute_and_a_time_assumed_from_the_papers_table2(tmp_path, capsys):
    from grid import compute

    assert main(["plan", "table2", "--executor", "local", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    total = sum(compute.count(suites()["table2"].plan("smoke", 5)).flops.values())
    assert f"compute: 15 runs to go, {compute.si(total)}FLOPs of training (analytic" in out
    assert "time: about " in out and "an A100's, assumed from the paper's Table 2" in out and "took 2191 s" in out
    assert "  resnet18 on digits " in out
    assert not list(tmp_path.rglob("*"))


@pytest.mark.slow
def test_plan_counts_what_finished_runs_record_and_times_the_rest_at_their_rate(tmp_path, capsys):
    """Table 2 at smoke scale, one seed: its analytic FLOPs against the sum of the runs' `train_flops`; then
    the plan for two seeds times the three to go at the rate the three finished ones measured."""
    from grid import compute

    args = ["--executor", "debug", "--results", str(tmp_path)]
    assert main(["run", "table2", "--seeds", "1", "--wait", *args]) == 0
    recorded = [r["metrics"]["train_flops"] for r in
                (json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/result.json"))]
    planned = suites()["table2"].plan("smoke", 1)
    counted = compute.count(planned)
    assert len(recorded) == 3 and not counted.unknown
    assert sum(counted.flops.values()) == pytest.approx(sum(recorded), rel=0.05)
    assert sum(counted.flops.values()) == pytest.approx(sum(recorded), rel=1e-9)  # in fact, exactly
    capsys.readouterr()
    assert main(["plan", "table2", "--seeds", "2", *args]) == 0
    out = capsys.readouterr().out
    assert "compute: 3 runs to go" in out and "A100" not in out
    assert "(measured: train_flops / time of 3 finished run(s) of this plan)" in out


def test_runs_whose_flops_cannot_be_counted_are_named_not_guessed(tmp_path):
    from benchmarks.__main__ import _estimate
    from grid import compute

    class Elsewhere(Suite):
        name = "elsewhere"

        def runs(self, scale):
            return [Run(("gin/digits/coreset_only.gin",),
                        ("experiment.dataset = 'folder'", f"data_root = {str(tmp_path / 'none')!r}"))]

    planned = Elsewhere().plan("smoke", 2)
    cost = compute.count(planned)
    line = _estimate(planned, tmp_path, {p.key for p in planned}, cost)
    assert line.startswith("compute: 2 runs to go, 0 FLOPs of training") and "\n" not in line
    assert line.endswith("; 2 runs not counted: folder: no train or test folder under "
                         f"{str(tmp_path / 'none')!r}; expected {tmp_path / 'none'}/train/<class>/<images> and "
                         f"{tmp_path / 'none'}/test/<class>/<images>")
