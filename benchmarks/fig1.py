"""Figure 1: the polynomial-interpolation study. (a)/(b) a degree-10 fit of Runge's function on the full noisy set
and on the clean coreset, before and after zeroing the 3 smallest coefficients; (c) the selection difficulty
I(D, D-hat) of Eq. 2 against the polynomial degree. Computed directly (`benchmarks.polynomial`), no runs.

  python -m benchmarks.fig1 [--results DIR] [--seed N]   ->  DIR/figures/fig1.{png,pdf,csv}, fig1_samples.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import polynomial
from grid.plotting import Plot, pyplot, save

TRUE, FIT, PRUNED = "#0072B2", "#009E73", "#E69F00"


def data(study: polynomial.PruningStudy, difficulty: pd.DataFrame) -> pd.DataFrame:
    """The numbers the figure shows, long form: panel, what, which fit, before/after pruning, degree, value."""
    rows = []
    for panel, fit in (("a", study.full), ("b", study.coreset)):
        for stage, train, true in (("least squares", fit.train_mse, fit.true_mse),
                                   ("pruned", fit.pruned_train_mse, fit.pruned_true_mse)):
            rows.append({"panel": panel, "quantity": "train_mse", "fit": fit.name, "stage": stage, "degree": 10,
                         "value": train})
            rows.append({"panel": panel, "quantity": "true_mse", "fit": fit.name, "stage": stage, "degree": 10,
                         "value": true})
    for column in ("selection_difficulty", "min_noisy_loss", "noisy_fit_test_mse", "clean_fit_test_mse"):
        rows += [{"panel": "c", "quantity": column, "fit": None, "stage": None, "degree": int(r.degree),
                  "value": float(getattr(r, column))} for r in difficulty.itertuples()]
    return pd.DataFrame(rows, columns=["panel", "quantity", "fit", "stage", "degree", "value"])


def figure(seed: int = 0) -> Plot:
    study = polynomial.pruning_study(seed)
    difficulty = polynomial.difficulty_study(seed)
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(11, 4.2), constrained_layout=True)
    grid = polynomial.GRID
    for ax, fit, title in ((axes[0], study.full, "(a) Fit to all 10 points (5 noisy)"),
                           (axes[1], study.coreset, "(b) Fit to the 5 clean points (the coreset)")):
        design = np.vander(grid, len(fit.coefficients), increasing=True)
        ax.plot(grid, polynomial.runge(grid), color=TRUE, lw=2, label="Runge's function f")
        ax.plot(grid, design @ fit.coefficients, color=FIT, lw=1.3, ls="--",
                label=f"degree-10 least squares: train MSE {fit.train_mse:.3f}, MSE to f {fit.true_mse:.3f}")
        ax.plot(grid, design @ fit.pruned, color=PRUNED, lw=1.8,
                label=f"3 smallest coefficients zeroed: train MSE {fit.pruned_train_mse:.3f}, "
                      f"MSE to f {fit.pruned_true_mse:.3f}")
        used = fit.name == "full"
        ax.scatter(study.x[~study.noisy], study.y[~study.noisy], s=22, color="black", zorder=3, label="clean point")
        ax.scatter(study.x[study.noisy], study.y[study.noisy], s=28, marker="x", zorder=3,
                   color="#CC79A7" if used else "#BBBBBB", label="noisy point" + ("" if used else " (not fitted)"))
        ax.set_ylim(-0.75, 1.6)
        ax.set_xlim(-1.05, 1.05)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_title(title)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=1, frameon=False, fontsize=7)
    ax = axes[2]
    ax.semilogy(difficulty["degree"], difficulty["selection_difficulty"], "o-", color=PRUNED, ms=4)
    ax.set_xticks(range(0, 21, 2))
    ticks = [t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
             if difficulty["selection_difficulty"].min() / 2 <= t <= difficulty["selection_difficulty"].max() * 2]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("polynomial degree")
    ax.set_ylabel(r"$\mathcal{I}(\mathcal{D},\hat{\mathcal{D}})$ (Eq. 2, log scale)")
    ax.set_title("(c) Selection difficulty against degree")
    ax.text(0.03, 0.97, "$\\mathcal{D}$: 50 noisy points\n$\\hat{\\mathcal{D}}$: 20 clean points",
            transform=ax.transAxes, va="top", fontsize=7)
    samples = pd.DataFrame({"x": study.x, "y": study.y, "noisy": study.noisy})
    return Plot("fig1", fig, data(study, difficulty), {"samples": samples})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fig1", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="results", metavar="DIR", help="figures go to DIR/figures")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise and the sample positions")
    args = parser.parse_args(argv)
    written = save(figure(args.seed), Path(args.results) / "figures")
    print("fig1: " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
