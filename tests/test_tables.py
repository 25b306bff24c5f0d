"""Collecting results into tables: aggregation, deltas, marks, the paper's numbers, incomplete cells."""

import json
import re
import shutil
import subprocess

import pytest
from conftest import ROOT, machine_lock

from grid.collection import aggregate, collect
from grid.study import load
from grid.suite import RATES
from grid.tables import Cell, finish_row, to_latex, to_markdown
from harness.core.files import short_key

SUITE = load(ROOT / "studies" / "table1.gin")


def fake_results(runs_root, planned, accuracy, skip=()):
    """Write a result.json for every planned run (but `skip`), accuracy from a function of the spec."""
    for p in planned:
        if p.key in skip:
            continue
        folder = runs_root / short_key(p.key)
        folder.mkdir(parents=True)
        result = {"schema": 1, "key": p.key, "status": "ok", "error": None, "spec": p.spec,
                  "metrics": {"test_accuracy": accuracy(p.spec), "time_s": {"total": 1.0}}}
        (folder / "result.json").write_text(json.dumps(result))


def accuracy(spec):
    base = {0.1: 90.0, 0.05: 85.0, 0.01: 70.0}[spec["coreset_fraction"]]
    bonus = {"coreset_only": 0.0, "swast_trim": 1.0, "swast_cut": 2.0}[spec["method"]]
    return base + bonus + spec["prune_rate"] + 0.1 * spec["seed"]


def test_finish_row_marks_best_and_runner_up_on_displayed_means_and_computes_deltas():
    cells = [Cell(90.004), Cell(90.001), Cell(89.5), Cell(None), Cell(88.0)]
    finish_row(cells, baseline=4)
    assert [c.mark for c in cells] == ["best", "best", "second", None, None]
    assert cells[0].delta == pytest.approx(2.004) and cells[4].delta is None and cells[3].delta is None


def test_aggregate_is_mean_sample_std_and_count_per_cell(tmp_path):
    planned = SUITE.plan("smoke", seeds=3)
    fake_results(tmp_path, planned, accuracy)
    agg = aggregate(collect(tmp_path).ok)
    row = agg[(agg["method"] == "swast_cut") & (agg["prune_rate"] == 0.5) & (agg["coreset_fraction"] == 0.1)]
    assert len(row) == 1
    assert row["mean"].item() == pytest.approx(92.6) and row["n"].item() == 3
    assert row["std"].item() == pytest.approx(0.1)  # seeds add 0, 0.1, 0.2: sample std 0.1


def test_table1_has_every_column_deltas_from_data_marks_and_paper_numbers(tmp_path):
    planned = SUITE.plan("smoke", seeds=2)
    fake_results(tmp_path, planned, accuracy)
    table = SUITE.table(collect(tmp_path), "smoke", 2)
    assert [s.title for s in table.sections] == ["SWaST-trim with different prune rates",
                                                 "SWaST-cut with different prune rates"]
    cut = table.sections[1]
    assert cut.columns == ["90%", "70%", "50%", "30%", "10%", "Coreset-only"]
    labels, cells = cut.rows[0]
    assert labels == ["ResNet-18", "digits", "10%"]
    assert cells[0].mean == pytest.approx(92.95) and cells[5].mean == pytest.approx(90.05)
    assert cells[0].delta == pytest.approx(2.9) and cells[0].mark == "best" and cells[1].mark == "second"
    assert cells[0].paper == 91.53 and cells[5].paper == 92.2  # ResNet-18 / CIFAR-10 in the paper
    md = to_markdown(table)
    assert "**92.95** ± 0.07 (+2.90 [+2.90, +2.90])† / 91.53" in md  # every seed adds the same to both
    assert "_92.75_ ± 0.07 (+2.70 [+2.70, +2.70])† / 92.32" in md


def test_collector_reports_corrupt_failed_and_missing_and_marks_incomplete_cells(tmp_path):
    planned = SUITE.plan("smoke", seeds=2)
    missing = next(p for p in planned if p.spec["method"] == "swast_cut" and p.spec["prune_rate"] == 0.9
                   and p.spec["coreset_fraction"] == 0.1 and p.spec["seed"] == 1)
    fake_results(tmp_path, planned, accuracy, skip={missing.key})
    truncated = tmp_path / short_key(planned[0].key) / "result.json"
    truncated.write_text(truncated.read_text()[:40])
    failed_path = tmp_path / short_key(planned[1].key) / "result.json"
    failed = json.loads(failed_path.read_text())
    failed.update(status="failed", error="training loss became nan in epoch 3")
    failed_path.write_text(json.dumps(failed))

    collection = collect(tmp_path, [p.key for p in planned])
    assert len(collection.problems) == 2
    assert any("unreadable result (truncated or corrupt)" in p for p in collection.problems)
    assert any("failed run" in p and "training loss became nan" in p for p in collection.problems)
    table = SUITE.table(collection, "smoke", 2)
    cells = table.sections[1].rows[0][1]
    assert cells[0].n == 1 and cells[0].mean == pytest.approx(92.9)
    assert "n=1/2" in to_markdown(table) and "n=1}" in to_latex(table)


def test_markdown_is_a_valid_pipe_table(tmp_path):
    planned = SUITE.plan("smoke", seeds=1)
    fake_results(tmp_path, planned, accuracy)
    md = to_markdown(SUITE.table(collect(tmp_path), "smoke", 1))
    tables = re.findall(r"((?:^\|.*\|\n)+)", md, re.M)
    assert len(tables) == 2
    for block in tables:
        rows = block.strip().splitlines()
        widths = {row.count("|") for row in rows}
        assert len(widths) == 1 and widths.pop() == 3 + len(RATES) + 1 + 1
        assert re.fullmatch(r"\|(:?-+:?\|)+", rows[1])
        assert len(rows) == 2 + 3


@pytest.mark.slow
def test_latex_compiles_with_pdflatex(tmp_path):
    if shutil.which("pdflatex") is None:
        if shutil.which("apt-get") is None:
            pytest.skip("pdflatex is missing and apt-get is not available to install it")
        install = ["apt-get", "install", "-y", "--no-install-recommends", "texlive-latex-base",
                   "texlive-latex-recommended"]
        with machine_lock():
            if subprocess.run(install, capture_output=True).returncode != 0:
                subprocess.run(["apt-get", "update"], check=True, capture_output=True)
                subprocess.run(install, check=True, capture_output=True)
    planned = SUITE.plan("smoke", seeds=2)
    fake_results(tmp_path / "runs", planned, accuracy)
    tex = to_latex(SUITE.table(collect(tmp_path / "runs"), "smoke", 2))
    doc = tmp_path / "doc.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage[landscape,margin=1cm]{geometry}\n"
                   "\\usepackage{booktabs}\n\\usepackage{xcolor}\n\\begin{document}\n" + tex + "\\end{document}\n")
    out = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000
