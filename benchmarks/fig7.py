"""Figure 7 (Appendix E): SWaST-cut accuracy over a grid of FC and backbone prune rates (10..90% in steps of
20%), 1% coresets, ResNet-18 on CIFAR-10 (digits at smoke scale), with the coreset-only baseline: as a table
and as the paper's heatmap."""

from __future__ import annotations

import numpy as np

from grid.collection import Collection, matching, summarize
from grid.plotting import Plot, pyplot, seeds_text
from grid.suite import LABELS, CellLookup, Run, Suite, experiment, load_paper, pair_with_baseline
from grid.tables import Cell, Section, Table, finish_row

RATES = (0.1, 0.3, 0.5, 0.7, 0.9)
FRACTION = 0.01


class Fig7(Suite):
    name = "fig7"
    title = "Figure 7: accuracy over FC x backbone prune rates (SWaST-cut, 1% coresets)"

    def setting(self, scale: str) -> tuple[str, str]:
        return ("resnet18", "digits") if scale == "smoke" else ("resnet18", "cifar10")

    def runs(self, scale: str) -> list[Run]:
        model, dataset = self.setting(scale)
        runs = [experiment(dataset, "coreset_only", model, scale, coreset_fraction=FRACTION)]
        runs += [experiment(dataset, "swast_cut", model, scale, (f"sparsity.fc_rate = {fc!r}",),
                            coreset_fraction=FRACTION, prune_rate=backbone) for backbone in RATES for fc in RATES]
        return runs

    def table(self, collection: Collection, scale: str, seeds: int) -> Table:
        model, dataset = self.setting(scale)
        lookup = CellLookup(collection, load_paper("none"))
        ours = {"model": model, "dataset": dataset, "coreset_fraction": FRACTION}
        baseline = lookup.cell({**ours, "method": "coreset_only"})
        section = Section("FC prune rate", [f"{r:.0%}" for r in RATES] + ["Coreset-only"], baseline=len(RATES))
        for backbone in RATES:
            where = [{**ours, "method": "swast_cut", "prune_rate": backbone, "fc_rate": fc} for fc in RATES]
            cells = [lookup.cell(w) for w in where]
            cells.append(Cell(baseline.mean, baseline.std, baseline.n))
            finish_row(cells, len(RATES))
            for cell, w in zip(cells, where, strict=False):
                pair_with_baseline(cell, lookup.paired(w, {**ours, "method": "coreset_only"}))
            section.rows.append(([f"{backbone:.0%}"], cells))
        return Table(self.name, f"{self.title} ({scale} scale, {dataset}, {model}).", ["Backbone prune rate"],
                     [section], seeds, ["The paper shows this grid as a heatmap (coreset-only: 75.53%)."])

    def figure(self, collection: Collection, scale: str, seeds: int) -> Plot:
        model, dataset = self.setting(scale)
        ok = matching(collection.ok, {"model": model, "dataset": dataset, "coreset_fraction": FRACTION})
        data = summarize(ok.rename(columns={"prune_rate": "backbone_rate", "test_accuracy": "accuracy"}),
                         ["method", "backbone_rate", "fc_rate"], ["accuracy"])
        grid = np.full((len(RATES), len(RATES)), np.nan)
        index = {round(r, 6): i for i, r in enumerate(RATES)}
        for row in matching(data, {"method": "swast_cut"}).itertuples():
            i, j = index.get(round(row.backbone_rate, 6)), index.get(round(row.fc_rate, 6))
            if i is not None and j is not None:
                grid[i, j] = row.accuracy_mean
        base = matching(data, {"method": "coreset_only"})
        baseline = float(base["accuracy_mean"].iloc[0]) if len(base) else None
        setting = f"{LABELS[dataset]}, {LABELS[model]}, {FRACTION:.0%} coresets, {scale} scale, {seeds_text(seeds)}"
        return Plot(self.name, _heatmap(grid, baseline, setting), data)


def _heatmap(grid: np.ndarray, baseline: float | None, setting: str):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.4), constrained_layout=True)
    values = grid[np.isfinite(grid)]
    known = [*values, *([baseline] if baseline is not None else [])]
    low, high = (min(known), max(known)) if known else (0.0, 100.0)
    pad = max(0.05 * (high - low), 0.25)  # keeps the baseline's line off the scale's ends
    low, high = low - pad, high + pad
    image = ax.imshow(grid, origin="lower", cmap="viridis", vmin=low, vmax=high, aspect="equal")
    labels = [f"{r:.0%}" for r in RATES]
    ax.set_xticks(range(len(RATES)), labels)
    ax.set_yticks(range(len(RATES)), labels)
    ax.set_xlabel("FC layer prune rate")
    ax.set_ylabel("backbone prune rate")
    ax.grid(False)
    for i in range(len(RATES)):
        for j in range(len(RATES)):
            value = grid[i, j]
            if not np.isfinite(value):
                ax.text(j, i, "—", ha="center", va="center", color="grey")
                continue
            text = f"{value:.1f}" + ("" if baseline is None else f"\n{value - baseline:+.1f}")
            dark = (value - low) / (high - low) < 0.6
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
    bar = fig.colorbar(image, ax=ax, shrink=0.9)
    bar.set_label("test accuracy (%)")
    title = "SWaST-cut test accuracy (%)"
    if baseline is not None:
        bar.ax.axhline(baseline, color="#FF3030", lw=3)
        title += f" and difference to coreset-only ({baseline:.1f}%, red line on the scale)"
    ax.set_title(f"{title}\n{setting}", fontsize=9)
    return fig


SUITE = Fig7()
