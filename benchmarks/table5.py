"""Table 5 (Appendix I): SWaST-cut with CRAIG, GLISTER and Moderate as the selector, 10% coresets, CIFAR-10."""

from __future__ import annotations

from grid.collection import Collection
from grid.suite import LABELS, RATES, CellLookup, Run, Suite, experiment, load_paper, rate_row
from grid.tables import Section, Table

SELECTORS = ("craig", "glister", "moderate")
FRACTION = 0.1


class Table5(Suite):
    name = "table5"
    title = "Table 5: SWaST-cut with other coreset selectors"

    def setting(self, scale: str) -> tuple[str, tuple[str, ...]]:
        return ("digits", ("resnet18",)) if scale == "smoke" else ("cifar10", ("resnet18", "resnet101"))

    def runs(self, scale: str) -> list[Run]:
        dataset, models = self.setting(scale)
        runs = []
        for selector in SELECTORS:
            for model in models:
                runs.append(experiment(dataset, "coreset_only", model, scale, coreset_fraction=FRACTION,
                                       selector=selector))
                runs += [experiment(dataset, "swast_cut", model, scale, coreset_fraction=FRACTION, prune_rate=r,
                                    selector=selector) for r in RATES]
        return runs

    def table(self, collection: Collection, scale: str, seeds: int) -> Table:
        dataset, models = self.setting(scale)
        lookup = CellLookup(collection, load_paper("table5"))
        section = Section("Prune rate", [f"{r:.0%}" for r in RATES] + ["Coreset-only"], baseline=len(RATES))
        for selector in SELECTORS:
            for model in models:
                ours = {"model": model, "dataset": dataset, "selector": selector, "coreset_fraction": FRACTION}
                paper = {"model": model, "dataset": "cifar10", "selector": selector, "coreset_fraction": FRACTION}
                base = {"method": "coreset_only"}
                section.rows.append(([LABELS[selector], LABELS[model]],
                                     rate_row(lookup, ours, paper, "swast_cut", base, RATES)))
        return Table(self.name, f"{self.title} ({scale} scale, {dataset}).", ["Selector", "Model"], [section], seeds)


SUITE = Table5()
