"""The paper's figures: Fig. 1's numbers reproduce the paper's findings; every figure suite writes a PNG, a PDF
and a CSV whose values are those of the result.json files it read (synthetic ones here, real runs in the slow
test)."""

import json
from collections import defaultdict
from statistics import mean

import fake_runs
import numpy as np
import pandas as pd
import pytest
from numpy.polynomial import legendre

from benchmarks import fig1, polynomial
from benchmarks.__main__ import main, suites

FIGURE_SUITES = ("fig4", "fig5", "fig6", "fig7")


def figure_files(folder, name):
    png, pdf, csv = (folder / f"{name}.{s}" for s in ("png", "pdf", "csv"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5_000
    return pd.read_csv(csv)


def results(runs_root):
    return [json.loads(p.read_text()) for p in sorted(runs_root.glob("*/result.json"))]


def means(records, key, value):
    """Mean of `value(record)` per `key(record)`, and the number of records: the CSV's numbers, recomputed."""
    groups = defaultdict(list)
    for r in records:
        groups[key(r)].append(value(r))
    return {k: (mean(v), len(v)) for k, v in groups.items()}


def cell(spec):
    return spec["method"], spec["coreset_fraction"], spec["prune_rate"]


# -- Fig. 1 -------------------------------------------------------------------------------------------------


def test_fig1_pruning_hurts_the_fit_to_noisy_data_more_than_the_fit_to_the_clean_coreset():
    study = polynomial.pruning_study(seed=0)
    assert study.noisy.sum() == 5 and len(study.x) == 10
    assert study.full.train_mse < 1e-12 and study.coreset.train_mse < 1e-12  # both interpolate their points
    assert np.count_nonzero(study.full.pruned) == 8 == np.count_nonzero(study.coreset.pruned)
    # after pruning, the fit to all points is far from the true function (2.55), the coreset's fit is not (0.28)
    assert study.full.pruned_true_mse > 5 * study.coreset.pruned_true_mse
    assert study.full.pruned_true_mse > 10 * study.full.true_mse
    holds = [polynomial.pruning_study(seed=s) for s in range(100)]
    assert sum(s.full.pruned_true_mse > s.coreset.pruned_true_mse for s in holds) >= 95  # 98 of 100 seeds


def test_fig1_selection_difficulty_grows_with_the_degree():
    difficulty = polynomial.difficulty_study(seed=0).set_index("degree")["selection_difficulty"]
    assert list(difficulty.index) == list(range(1, 21))
    # nested polynomial spaces: the supremum can only grow with the degree
    assert (np.diff(difficulty.to_numpy()) >= -1e-9).all()
    # from degree 2 to 15 it grows 7.2-fold here (0.64 -> 4.59), and 22-fold in the median over seeds
    assert difficulty[15] > 5 * difficulty[2]
    growth = [polynomial.difficulty_study(seed=s).set_index("degree")["selection_difficulty"] for s in range(40)]
    assert np.median([g[15] / g[2] for g in growth]) > 10
    assert difficulty[20] > 10 * difficulty[1]


def test_selection_difficulty_is_the_supremum_over_theta():
    rng = np.random.default_rng(1)
    x, x_hat = rng.uniform(-1, 1, 50), rng.uniform(-1, 1, 20)
    y, y_hat = polynomial.runge(x) + rng.normal(0, 0.1, 50), polynomial.runge(x_hat)
    degree = 6
    value = polynomial.selection_difficulty(x, y, x_hat, y_hat, degree)

    def ratio(theta):
        loss = np.mean((legendre.legval(x, theta) - y) ** 2)
        loss_hat = np.mean((legendre.legval(x_hat, theta) - y_hat) ** 2)
        return abs(loss - loss_hat) / loss

    fit = np.linalg.lstsq(legendre.legvander(x, degree), y, rcond=None)[0]
    thetas = fit + rng.normal(0, 1, (5000, degree + 1)) * rng.uniform(0, 3, (5000, 1))
    searched = max(ratio(t) for t in thetas)
    assert searched <= value * (1 + 1e-9)  # no theta exceeds it ...
    assert searched > 0.5 * value  # ... and random search gets within a factor of 2
    # ... and the extreme generalized eigenvector, as a theta, attains it
    m = np.column_stack([legendre.legvander(x, degree), y]) / np.sqrt(50)
    m_hat = np.column_stack([legendre.legvander(x_hat, degree), y_hat]) / np.sqrt(20)
    eigenvalues, vectors = np.linalg.eig(np.linalg.solve(m.T @ m, m_hat.T @ m_hat))
    best = max(range(len(eigenvalues)), key=lambda i: abs(eigenvalues[i].real - 1))
    z = vectors[:, best].real
    assert ratio(-z[:-1] / z[-1]) == pytest.approx(value, rel=1e-6)


def test_fig1_writes_png_pdf_and_the_csv_of_its_numbers(tmp_path, capsys):
    assert fig1.main(["--results", str(tmp_path)]) == 0
    frame = figure_files(tmp_path / "figures", "fig1")
    assert list(frame.columns) == ["panel", "quantity", "fit", "stage", "degree", "value"]
    study, difficulty = polynomial.pruning_study(0), polynomial.difficulty_study(0)
    value = frame.set_index(["panel", "quantity", "fit", "stage"])["value"]
    assert value["a", "true_mse", "full", "pruned"] == pytest.approx(study.full.pruned_true_mse, rel=1e-5)
    assert value["b", "true_mse", "coreset", "pruned"] == pytest.approx(study.coreset.pruned_true_mse, rel=1e-5)
    c = frame[(frame.panel == "c") & (frame.quantity == "selection_difficulty")]
    assert list(c.degree) == list(range(1, 21))
    assert np.allclose(c.value, difficulty.selection_difficulty, rtol=1e-5)
    samples = pd.read_csv(tmp_path / "figures" / "fig1_samples.csv")
    assert list(samples.columns) == ["x", "y", "noisy"] and samples.noisy.sum() == 5


# -- figures from suites ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """Every figure suite's smoke grid with 2 seeds of synthetic results, collected once."""
    root = tmp_path_factory.mktemp("figures")
    for name in FIGURE_SUITES:
        fake_runs.write(root / "runs", suites()[name].plan("smoke", 2))
        assert main(["collect", name, "--seeds", "2", "--results", str(root)]) == 0
    return root


def test_figure_suites_plan_a_few_dozen_smoke_runs_on_digits():
    for name, per_seed in {"fig4": 7, "fig5": 6, "fig6": 6}.items():
        planned = suites()[name].plan("smoke", 5)
        assert len(planned) == 5 * per_seed
        assert {p.spec["dataset"] for p in planned} == {"digits"}
        assert all("epochs = 8" in p.bindings for p in planned)


def test_fig4_csv_is_the_mean_accuracy_flops_and_time_of_each_cell(collected):
    frame = figure_files(collected / "figures", "fig4")
    keys = {p.key for p in suites()["fig4"].plan("smoke", 2)}
    records = [r for r in results(collected / "runs") if r["key"] in keys]
    for column, value in (("accuracy", lambda r: r["metrics"]["test_accuracy"]),
                          ("train_flops", lambda r: r["metrics"]["train_flops"]),
                          ("time_s", lambda r: r["metrics"]["time_s"]["total"])):
        expected = means(records, lambda r: cell(r["spec"]), value)
        got = {(r.method, r.coreset_fraction, r.prune_rate): (getattr(r, f"{column}_mean"), r.n)
               for r in frame.itertuples()}
        assert set(got) == set(expected)
        for k, (m, n) in expected.items():
            assert got[k][0] == pytest.approx(m, rel=1e-5) and got[k][1] == n == 2
    assert set(frame.method) == {"dense", "pruning_only", "coreset_only", "swast_trim", "swast_cut"}


def test_fig5_csv_holds_noise_per_round_final_gap_and_loss_ratio_per_epoch(collected):
    frame = figure_files(collected / "figures", "fig5")
    assert list(frame.columns) == ["panel", "quantity", "method", "prune_rate", "round", "epoch", "n", "mean", "std"]
    keys = {p.key for p in suites()["fig5"].plan("smoke", 2)}
    records = [r for r in results(collected / "runs") if r["key"] in keys]
    el2n = [r for r in records if r["spec"]["selector"] == "el2n"]
    other = [r for r in records if r["spec"]["selector"] != "el2n"]

    def by_epoch(r):
        return {row["epoch"]: row for row in r["history"]}

    a = frame[frame.panel == "a"]
    assert set(a.method) == {"coreset_only", "swast_cut"} and set(a[a.method == "swast_cut"].prune_rate) == {0.9}
    for row in a.itertuples():
        runs = [r for r in el2n if r["spec"]["method"] == row.method and r["spec"]["prune_rate"] == row.prune_rate]
        epoch = runs[0]["selection_epochs"][int(row.round) - 1]
        assert row.epoch == epoch and row.n == len(runs) == 2
        assert row.mean == pytest.approx(mean(by_epoch(r)[epoch]["coreset_noise_ratio"] for r in runs), rel=1e-5)
    assert sorted(a["round"].unique()) == [1, 2, 3, 4]

    b = frame[frame.panel == "b"]
    expected = means(el2n, lambda r: (r["spec"]["method"], r["spec"]["prune_rate"]),
                     lambda r: r["history"][-1]["overfit_gap"])
    assert {(r.method, r.prune_rate): pytest.approx(r.mean, rel=1e-5) for r in b.itertuples()} == \
        {k: m for k, (m, _) in expected.items()}

    c = frame[frame.panel == "c"]
    expected = means(other, lambda r: r["spec"]["method"], lambda r: by_epoch(r)[5]["noisy_clean_loss_ratio"])
    for method, (m, n) in expected.items():
        row = c[(c.method == method) & (c.epoch == 5)].iloc[0]
        assert row["mean"] == pytest.approx(m, rel=1e-5) and row["n"] == n == 2
    assert len(c) == 2 * fake_runs.EPOCHS


def test_fig6_csv_is_accuracy_and_relative_flops_per_method_and_rate(collected):
    frame = figure_files(collected / "figures", "fig6")
    keys = {p.key for p in suites()["fig6"].plan("smoke", 2)}
    records = [r for r in results(collected / "runs") if r["key"] in keys]
    accuracy = means(records, lambda r: (r["spec"]["method"], r["spec"]["prune_rate"]),
                     lambda r: r["metrics"]["test_accuracy"])
    flops = means(records, lambda r: (r["spec"]["method"], r["spec"]["prune_rate"]),
                  lambda r: r["metrics"]["relative_train_flops"])
    got = {(r.method, r.prune_rate): r for r in frame.itertuples()}
    assert set(got) == set(accuracy) == {(m, p) for m in ("pruning_only", "swast_cut") for p in (0.3, 0.7, 0.9)}
    for k, row in got.items():
        assert row.accuracy_mean == pytest.approx(accuracy[k][0], rel=1e-5)
        assert row.relative_train_flops_mean == pytest.approx(flops[k][0], rel=1e-5)


def test_fig7_csv_is_the_heatmap_grid_and_the_baseline(collected):
    frame = figure_files(collected / "figures", "fig7")
    assert (collected / "tables" / "fig7.md").is_file()  # the table is still written beside the figure
    keys = {p.key for p in suites()["fig7"].plan("smoke", 2)}
    records = [r for r in results(collected / "runs") if r["key"] in keys]
    expected = means(records, lambda r: (r["spec"]["method"], r["spec"]["prune_rate"], r["spec"]["fc_rate"]),
                     lambda r: r["metrics"]["test_accuracy"])
    cut = frame[frame.method == "swast_cut"]
    assert len(cut) == 25
    for row in cut.itertuples():
        assert row.accuracy_mean == pytest.approx(expected["swast_cut", row.backbone_rate, row.fc_rate][0], rel=1e-5)
    base = frame[frame.method == "coreset_only"].iloc[0]
    (m, n), = [v for k, v in expected.items() if k[0] == "coreset_only"]
    assert base.accuracy_mean == pytest.approx(m, rel=1e-5) and base.n == n == 2


def test_a_figure_with_missing_runs_is_still_drawn(tmp_path, capsys):
    planned = suites()["fig7"].plan("smoke", 1)
    baseline = [p.key for p in planned if p.spec["method"] == "coreset_only"]
    fake_runs.write(tmp_path / "runs", planned, skip={*baseline, planned[-1].key})
    assert main(["collect", "fig7", "--seeds", "1", "--results", str(tmp_path)]) == 0
    frame = figure_files(tmp_path / "figures", "fig7")
    assert len(frame) == 24 and set(frame.method) == {"swast_cut"}
    assert "2 of 26 runs have no result yet" in capsys.readouterr().err


# -- one real suite, end to end ---------------------------------------------------------------------------


@pytest.mark.slow
def test_fig5_suite_trains_at_smoke_scale_and_its_csv_matches_the_runs(tmp_path):
    args = ["fig5", "--seeds", "1", "--executor", "debug", "--results", str(tmp_path)]
    assert main(["run", *args, "--wait"]) == 0
    assert main(["collect", *args[:3], "--results", str(tmp_path)]) == 0
    frame = figure_files(tmp_path / "figures", "fig5")
    records = {(r["spec"]["selector"], r["spec"]["method"], r["spec"]["prune_rate"]): r
               for r in results(tmp_path / "runs")}
    assert len(records) == 6 and all(r["status"] == "ok" for r in records.values())
    for row in frame[frame.panel == "a"].itertuples():
        r = records["el2n", row.method, row.prune_rate]
        epoch = r["selection_epochs"][int(row.round) - 1]
        noise = next(h["coreset_noise_ratio"] for h in r["history"] if h["epoch"] == epoch)
        assert row.epoch == epoch and row.mean == pytest.approx(noise, rel=1e-5) and row.n == 1
    for row in frame[frame.panel == "b"].itertuples():
        assert row.mean == pytest.approx(records["el2n", row.method, row.prune_rate]["history"][-1]["overfit_gap"],
                                         rel=1e-5)
    c = frame[frame.panel == "c"]
    assert set(c.method) == {"coreset_only", "swast_cut"} and len(c) == 2 * 8
    assert (c["mean"] > 0).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fig4", "fig6", "fig7"])
def test_figure_suite_trains_at_smoke_scale_and_its_accuracies_are_the_runs(name, tmp_path):
    args = [name, "--seeds", "1", "--results", str(tmp_path)]
    assert main(["run", *args, "--executor", "local", "--wait"]) == 0
    assert main(["collect", *args]) == 0
    frame = figure_files(tmp_path / "figures", name)
    records = results(tmp_path / "runs")
    assert len(records) == len(suites()[name].plan("smoke", 1)) and all(r["status"] == "ok" for r in records)
    assert len(frame) == len(records)  # one row per cell, one seed per cell
    for row in frame.itertuples():
        match = [r for r in records if same_cell(r["spec"], row, name)]
        assert len(match) == 1 == row.n, row
        assert row.accuracy_mean == pytest.approx(match[0]["metrics"]["test_accuracy"], rel=1e-5)


def same_cell(spec, row, figure):
    """Whether a run's spec is the one behind a CSV row (1 seed: one run per row)."""
    if spec["method"] != row.method:
        return False
    if row.method == "coreset_only":
        return figure == "fig7" or spec["coreset_fraction"] == pytest.approx(row.coreset_fraction)
    if figure == "fig7":
        return spec["prune_rate"] == pytest.approx(row.backbone_rate) and spec["fc_rate"] == pytest.approx(row.fc_rate)
    return (spec["prune_rate"] == pytest.approx(row.prune_rate)
            and spec["coreset_fraction"] == pytest.approx(row.coreset_fraction))
