"""Figure 7 (Appendix E): SWaST-cut accuracy over a grid of FC and backbone prune rates (10..90% in steps of
20%), 1% coresets, ResNet-18 on CIFAR-10 (digits at smoke scale), with the coreset-only baseline."""

from __future__ import annotations

from benchmarks.suite import CellLookup, Run, Suite, experiment, load_paper
from harness.results import Collection
from harness.tables import Cell, Section, Table, finish_row

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
            cells = [lookup.cell({**ours, "method": "swast_cut", "prune_rate": backbone, "fc_rate": fc})
                     for fc in RATES]
            cells.append(Cell(baseline.mean, baseline.std, baseline.n))
            finish_row(cells, len(RATES))
            section.rows.append(([f"{backbone:.0%}"], cells))
        return Table(self.name, f"{self.title} ({scale} scale, {dataset}, {model}).", ["Backbone prune rate"],
                     [section], seeds, ["The paper shows this grid as a heatmap (coreset-only: 75.53%)."])


SUITE = Fig7()
