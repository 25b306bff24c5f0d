"""Studies (suites declared in gin), variants of suites, plug-ins from outside the repository, and the paired
statistics of their tables."""

import json
import os
import subprocess
import sys
import textwrap

import fake_runs
import pytest
import scipy.stats
from conftest import ROOT

from benchmarks.__main__ import main
from grid.collection import collect
from grid.paired import paired
from grid.study import load
from harness import config
from harness.core.errors import ConfigError
from harness.core.files import short_key

PLUGIN = '''
import torch

from harness.core.registry import register
from harness.training.selection import Coreset, Selector


@register("selector", "{name}")
class Hardest(Selector):
    def select(self, probe, budget, rng, ctx):
        chosen = probe.logits.softmax(1).max(1).values.argsort()[:budget]
        return Coreset(probe.indices[chosen], torch.ones(budget, device=chosen.device))
'''

STUDY = """
study.title = 'A small study'
study.dataset = 'cifar10'
study.method = 'swast_cut'
study.fixed = {'coreset_fraction': 0.1}
study.grid = {'selector': ['random', 'el2n'], 'prune_rate': [0.9, 0.5]}
study.baseline = {'method': 'coreset_only'}
study.rows = ['selector']
study.columns = ['prune_rate']
study.plot = 'prune_rate'
study.at_scale = {'smoke': {'epochs': 4, 'train.selection_interval': 2}}
"""


def plugin(folder, name: str) -> str:
    """A module in `folder` (outside the repository) that registers the selector `name`; importable once
    `folder` is on sys.path."""
    (folder / f"{name}.py").write_text(PLUGIN.format(name=name))
    return name


@pytest.fixture
def outside(tmp_path, monkeypatch):
    """A folder outside the repository on PYTHONPATH, for this process and the processes it starts."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]))
    return folder


def study_file(tmp_path, text: str = STUDY, name: str = "small"):
    path = tmp_path / f"{name}.gin"
    path.write_text(textwrap.dedent(text))
    return path


# plug-ins


def test_an_imported_plugin_is_kept_in_the_canonical_text_and_names_the_run_key(outside):
    module = plugin(outside, "plug_key_a")
    plugin(outside, "plug_key_b")
    files = [str(ROOT / "gin/digits/coreset_only.gin")]
    with_a = config.parse(files, [f"import {module}", f"selector = '{module}'"])
    assert with_a.text.startswith(f"import {module}\n") and f"import {module}" in with_a.config_gin
    also_b = config.parse(files, [f"import {module}", "import plug_key_b", f"selector = '{module}'"])
    assert also_b.key != with_a.key and also_b.text.splitlines()[:2] == [f"import {module}", "import plug_key_b"]
    plain = config.parse(files)  # no import: the text (and every existing key) is as before
    assert not plain.text.startswith("import")


def test_a_missing_plugin_module_or_an_unimported_selector_is_one_line(tmp_path):
    files = [str(ROOT / "gin/digits/coreset_only.gin")]
    with pytest.raises(ConfigError, match=r"gin imports module 'no_such_plugin', which Python cannot find .*"
                                          r"PYTHONPATH"):
        config.parse(files, ["import no_such_plugin"])
    with pytest.raises(ConfigError, match=r"unknown selector 'zzz_own'.*needs `import its.module`"):
        config.parse(files, ["selector = 'zzz_own'"])


# variants


def test_a_variant_binding_applies_where_read_and_one_nothing_reads_is_an_error(capsys):
    from grid.suite import Suite
    from grid.variant import Variant

    base = {p.key: p.spec for p in load(ROOT / "studies/table5.gin").plan("smoke", 1)}
    variant = Variant(load(ROOT / "studies/table5.gin"), bindings=("pruners.rigl.clock = 'epochs'",))
    assert isinstance(variant, Suite) and variant.name == "table5+pruners.rigl.clock=epochs"
    ours = {p.key: p.spec for p in variant.plan("smoke", 1)}
    # coreset-only does not read RigL's clock: its runs are the base suite's; SWaST-cut's are new
    assert {k for k, s in ours.items() if s["method"] == "coreset_only"} == {
        k for k, s in base.items() if s["method"] == "coreset_only"}
    assert not {k for k, s in ours.items() if s["method"] == "swast_cut"} & set(base)

    assert main(["plan", "table5", "--gin_param", "prune_rat = 0.3"]) == 2
    assert "no run of the suite reads prune_rat" in capsys.readouterr().err
    assert main(["plan", "table5", "--gin_param", "seed = 3"]) == 2
    assert "cannot bind the seed" in capsys.readouterr().err
    assert main(["plan", "table5", "--variant", "x"]) == 2
    assert "give its --gin files or --gin_param bindings too" in capsys.readouterr().err


def test_a_variant_gin_file_applies_after_the_suites_own_bindings(tmp_path):
    from grid.variant import Variant

    variant_file = tmp_path / "my_schedule.gin"
    variant_file.write_text("train.selection_rule = 'modulo'\nselector = 'random'\n")
    variant = Variant(load(ROOT / "studies/table5.gin"), files=(str(variant_file),))
    assert variant.name == "table5+my_schedule"
    specs = [p.spec for p in variant.plan("smoke", 1)]
    assert {s["selector"] for s in specs} == {"random"}  # over the suite's own selector = 'craig' ...


@pytest.mark.slow
def test_a_plugin_selector_runs_table5_as_a_variant_locally_and_its_config_reruns_anywhere(outside, tmp_path):
    module = plugin(outside, "hardest")
    results = tmp_path / "results"
    common = ["table5", "--scale", "smoke", "--seeds", "1", "--results", str(results)]
    variant = ["--gin_param", f"import {module}", "--gin_param", "selector = 'hardest'"]
    assert main(["run", *common, *variant, "--executor", "local", "--jobs", "2", "--wait"]) == 0
    # the base suite's runs, for the side-by-side table: one selector's row is enough
    assert main(["run", "table5", "--scale", "smoke", "--seeds", "1", "--results", str(results), "--executor",
                 "debug", "--wait", "--gin", str(_only_craig(tmp_path)), "--variant", "craig_only"]) == 0
    assert main(["collect", *common, *variant]) == 0
    table = (results / "tables" / "table5+selector=hardest.md").read_text()
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| ") and "%" not in line]
    assert [r[3].strip() for r in rows] == ["table5", "selector=hardest", "selector=hardest", "selector=hardest"]
    assert rows[0][1].strip() == "CRAIG" and "—" not in rows[0][4]  # the base runs that exist, beside

    runs = [json.loads(p.read_text()) for p in (results / "runs").glob("*/result.json")]
    ours = [r for r in runs if r["spec"]["selector"] == "hardest"]
    assert len(ours) == 6 and all(r["status"] == "ok" for r in ours)
    first = ours[0]
    folder = results / "runs" / short_key(first["key"])
    assert (folder / "config.gin").read_text().count(f"import {module}\n") == 1
    # a fresh process, anywhere, with only PYTHONPATH: the run's config.gin trains it again, to the same result
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(outside), "HOME": str(tmp_path)}
    again = tmp_path / "again"
    out = subprocess.run([sys.executable, "-m", "harness.run", str(folder / "config.gin"), "--out", str(again),
                          "--gin_param", "runtime.progress = False"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rerun = json.loads((again / short_key(first["key"]) / "result.json").read_text())
    assert rerun["key"] == first["key"]
    assert rerun["metrics"]["test_accuracy"] == first["metrics"]["test_accuracy"]


def _only_craig(tmp_path):
    path = tmp_path / "craig.gin"
    path.write_text("selector = 'craig'\n")
    return path


@pytest.mark.slurm
@pytest.mark.slow
def test_a_plugin_selector_runs_table5_as_a_variant_through_slurm(slurm_cluster, outside, tmp_path):
    module = plugin(outside, "hardest_slurm")
    results = tmp_path / "results"
    args = ["table5", "--scale", "smoke", "--seeds", "1", "--results", str(results), "--gin_param",
            f"import {module}", "--gin_param", f"selector = '{module}'"]
    assert main(["run", *args, "--executor", "slurm", "--cluster", "slurm/local.gin", "--wait"]) == 0
    runs = [json.loads(p.read_text()) for p in (results / "runs").glob("*/result.json")]
    assert len(runs) == 6 and all(r["status"] == "ok" and r["spec"]["selector"] == module for r in runs)
    assert main(["collect", *args]) == 0
    assert f"selector={module}" in (results / "tables" / f"table5+selector={module}.md").read_text()


# studies


def test_a_study_file_declares_its_grid_baselines_rows_and_columns(tmp_path):
    study = load(study_file(tmp_path))
    cells = study.cells("smoke")
    assert sorted(cells) == [((), (s,), (r,)) for s in ("EL2N", "random") for r in ("50%", "90%")]
    planned = study.plan("smoke", 2)
    # 4 SWaST-cut cells and, since coreset-only does not read the prune rate, one baseline per selector
    assert len(planned) == (4 + 2) * 2
    assert {p.spec["method"] for p in planned} == {"swast_cut", "coreset_only"}
    assert all(p.spec["dataset"] == "digits" for p in planned)  # smoke scale stands in, as for every suite


@pytest.mark.parametrize("line, message", [
    ("study.rows = ['selector', 'lr']", "study.rows names 'lr', which is not an axis"),
    ("study.columns = []", "axis 'prune_rate' has several values but is in none of study.rows"),
    ("study.metric = 'accuracy'", "unknown metric 'accuracy'; recorded metrics: test_accuracy"),
    ("study.grid = {'selector': 'random'}", "must be a list of values or a dict of labelled binding sets"),
    ("study.plot = 'epochs'", "study.plot names 'epochs'"),
    ("study.fixed = {'prune_rat': 0.5}", "no run of the suite reads prune_rat"),
    ("study.colums = ['x']", "'study' has no parameter 'colums'"),
])
def test_a_mistake_in_a_study_file_is_one_line(tmp_path, capsys, line, message):
    path = study_file(tmp_path, STUDY + line + "\n")
    assert main(["plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_paired_intervals_and_marks_match_an_independent_computation(tmp_path):
    """Known per-seed differences: one cell clearly better than its baseline, one clearly not different."""
    path = study_file(tmp_path)
    study = load(path)
    seeds = 5
    planned = study._parsed("smoke", seeds)
    base_values = [70.0, 72.5, 69.0, 71.0, 73.0]
    shifts = {("random", 0.9): [2.0, 2.5, 1.5, 3.0, 2.2], ("random", 0.5): [0.5, -0.6, 0.1, -0.3, 0.2],
              ("el2n", 0.9): [-1.0, -1.4, -0.6, -1.1, -0.9], ("el2n", 0.5): [0.0, 0.0, 0.1, 0.0, -0.1]}
    runs_root = tmp_path / "results" / "runs"
    for (_, seed), p in planned.items():
        record = fake_runs.result(p.key, p.spec)
        value = base_values[seed] + (shifts[(p.spec["selector"], p.spec["prune_rate"])][seed]
                                     if p.spec["method"] == "swast_cut" else 0.0)
        record["metrics"]["test_accuracy"] = value
        folder = runs_root / short_key(p.key)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "result.json").write_text(json.dumps(record))

    table = study.table(collect(runs_root, [p.key for p in planned.values()]), "smoke", seeds)
    (section,) = table.sections
    assert section.columns == ["90%", "50%", "Coreset-only"]
    for labels, cells in section.rows:
        selector = {"random": "random", "EL2N": "el2n"}[labels[0]]
        for cell, rate in zip(cells, (0.9, 0.5), strict=False):
            ours = [b + d for b, d in zip(base_values, shifts[(selector, rate)], strict=True)]
            test = scipy.stats.ttest_rel(ours, base_values)
            low, high = test.confidence_interval(0.95)
            assert cell.mean == pytest.approx(sum(ours) / seeds)
            assert cell.delta == pytest.approx(sum(shifts[(selector, rate)]) / seeds)
            assert cell.interval == pytest.approx((low, high))
            assert cell.significant == (test.pvalue < 0.05)
        assert cells[2].mean == pytest.approx(sum(base_values) / seeds) and cells[2].delta is None
    marked = {(labels[0], i) for labels, cells in section.rows for i, c in enumerate(cells) if c.significant}
    assert marked == {("random", 0), ("EL2N", 0)}

    from grid.tables import to_latex, to_markdown

    markdown, latex = to_markdown(table), to_latex(table)
    assert markdown.count("†") == 2 + 1 and "Student's t" in markdown  # two marks and the legend
    assert latex.count("$^{\\dagger}$") == 2 + 1  # and the legend


def test_paired_matches_scipy_and_has_no_interval_for_one_pair():
    diffs = [0.3, -0.1, 0.8, 0.4]
    p = paired(diffs)
    low, high = scipy.stats.ttest_rel([d + 1 for d in diffs], [1.0] * 4).confidence_interval(0.95)
    assert (p.mean, p.low, p.high, p.n) == pytest.approx((0.35, low, high, 4))
    assert paired([1.5]).low is None and not paired([1.5]).excludes_zero and paired([]) is None


@pytest.mark.slow
def test_a_study_in_a_temporary_folder_plans_runs_collects_and_plots(tmp_path, capsys):
    path = study_file(tmp_path)
    args = [str(path), "--scale", "smoke", "--seeds", "2", "--results", str(tmp_path / "results")]
    assert main(["plan", *args]) == 0
    assert "12 runs at smoke scale, 2 seeds" in capsys.readouterr().out
    assert main(["run", *args, "--executor", "debug", "--wait"]) == 0
    assert main(["collect", *args, "--format", "md", "--format", "csv"]) == 0
    results = {r["key"]: r for r in (json.loads(p.read_text()) for p in
                                     (tmp_path / "results" / "runs").glob("*/result.json"))}
    assert len(results) == 12 and all(r["status"] == "ok" for r in results.values())

    # the table's numbers are the runs' result.json values
    study = load(path)
    keys = study.keys("smoke", 2)
    table = (tmp_path / "results" / "tables" / "small.md").read_text()
    for (_, row, column), cell in study.cells("smoke").items():
        values = [results[keys[(cell.run, s)]]["metrics"]["test_accuracy"] for s in range(2)]
        line = next(line for line in table.splitlines() if line.startswith(f"| {row[0]} "))
        index = ["90%", "50%"].index(column[0])
        shown = line.split("|")[2 + index].strip().strip("*_")
        assert shown.startswith(f"{sum(values) / 2:.2f}".rstrip()) or f"{sum(values) / 2:.2f}" in shown

    import pandas as pd

    long = pd.read_csv(tmp_path / "results" / "tables" / "small.csv")
    assert len(long) == 12 and set(long["role"]) == {"cell", "baseline"}
    assert sorted(long["test_accuracy"]) == pytest.approx(sorted(r["metrics"]["test_accuracy"]
                                                                 for r in results.values()), abs=1e-4)
    figure = tmp_path / "results" / "figures"
    assert (figure / "small.png").stat().st_size > 0 and (figure / "small.csv").exists()


def test_the_shipped_studies_plan_at_every_scale_they_have():
    for path in sorted((ROOT / "studies").glob("*.gin")):
        study = load(path)
        assert study.scales, path.name
        for scale in study.scales:
            assert study.plan(scale, 1), (path.name, scale)
