"""Table 4 (Appendix I): SWaST-cut with ProbMask as the pruner, 10% coresets, against coreset-only."""

from __future__ import annotations

from grid.collection import Collection
from grid.suite import LABELS, RATES, CellLookup, Run, Suite, experiment, load_paper, rate_row
from grid.tables import Section, Table

ROWS = [("resnet18", "cifar10"), ("resnet18", "cifar100"), ("resnet101", "cifar10"), ("resnet101", "cifar100")]
FRACTION = 0.1


class Table4(Suite):
    name = "table4"
    title = "Table 4: SWaST-cut with ProbMask"

    def rows(self, scale: str):
        return [("resnet18", "digits", ("resnet18", "cifar10"))] if scale == "smoke" else [(*r, r) for r in ROWS]

    def runs(self, scale: str) -> list[Run]:
        runs = []
        for model, dataset, _ in self.rows(scale):
            runs.append(experiment(dataset, "coreset_only", model, scale, coreset_fraction=FRACTION))
            runs += [experiment(dataset, "swast_cut", model, scale, coreset_fraction=FRACTION, prune_rate=r,
                                pruner="probmask") for r in RATES]
        return runs

    def table(self, collection: Collection, scale: str, seeds: int) -> Table:
        lookup = CellLookup(collection, load_paper("table4"))
        section = Section("ProbMask, prune rate", [f"{r:.0%}" for r in RATES] + ["Coreset-only"], baseline=len(RATES))
        for model, dataset, (paper_model, paper_dataset) in self.rows(scale):
            ours = {"model": model, "dataset": dataset, "coreset_fraction": FRACTION}
            paper = {"model": paper_model, "dataset": paper_dataset, "coreset_fraction": FRACTION}
            section.rows.append(([LABELS[model], LABELS[dataset]],
                                 rate_row(lookup, ours, paper, "swast_cut", {"method": "coreset_only"}, RATES)))
        return Table(self.name, f"{self.title} ({scale} scale).", ["Model", "Dataset"], [section], seeds)


SUITE = Table4()
