"""Table 1: SWaST-trim and SWaST-cut across prune rates 90..10% and coreset sizes 10/5/1%, against the
coreset-only baseline, for every model/dataset row of the paper.

Smoke scale keeps the columns and the coreset sizes on `digits` (one row group, compared with the paper's
ResNet-18 / CIFAR-10 numbers)."""

from __future__ import annotations

from grid.collection import Collection
from grid.suite import LABELS, RATES, CellLookup, Run, Suite, experiment, load_paper, rate_row
from grid.tables import Section, Table

SECTIONS = {"swast_trim": "SWaST-trim with different prune rates", "swast_cut": "SWaST-cut with different prune rates"}
# (model, dataset, coreset fractions, methods): the paper's rows
PAPER_ROWS = [
    ("resnet18", "cifar10", (0.1, 0.05, 0.01), ("swast_trim", "swast_cut")),
    ("resnet18", "cifar100", (0.1, 0.05, 0.01), ("swast_trim", "swast_cut")),
    ("resnet101", "cifar10", (0.1, 0.05, 0.01), ("swast_trim", "swast_cut")),
    ("resnet101", "cifar100", (0.1, 0.05, 0.01), ("swast_trim", "swast_cut")),
    ("resnet101", "tinyimagenet", (0.1, 0.05), ("swast_cut",)),
    ("resnet101_imagenet", "imagenet", (0.1, 0.05), ("swast_cut",)),
]
SMOKE_ROWS = [("resnet18", "digits", (0.1, 0.05, 0.01), ("swast_trim", "swast_cut"))]
SMOKE_STANDS_FOR = ("resnet18", "cifar10")


class Table1(Suite):
    name = "table1"
    title = "Table 1: SWaST-trim and SWaST-cut vs coreset-only across prune rates and coreset sizes"

    def rows(self, scale: str):
        return SMOKE_ROWS if scale == "smoke" else PAPER_ROWS

    def runs(self, scale: str) -> list[Run]:
        runs = []
        for model, dataset, fractions, methods in self.rows(scale):
            for fraction in fractions:
                runs.append(experiment(dataset, "coreset_only", model, scale, coreset_fraction=fraction))
                for method in methods:
                    runs += [experiment(dataset, method, model, scale, coreset_fraction=fraction, prune_rate=rate)
                             for rate in RATES]
        return runs

    def table(self, collection: Collection, scale: str, seeds: int) -> Table:
        lookup = CellLookup(collection, load_paper("table1"))
        sections = []
        for method, title in SECTIONS.items():
            section = Section(title, [f"{r:.0%}" for r in RATES] + ["Coreset-only"], baseline=len(RATES))
            for model, dataset, fractions, methods in self.rows(scale):
                if method not in methods:
                    continue
                paper_model, paper_dataset = SMOKE_STANDS_FOR if scale == "smoke" else (model, dataset)
                for fraction in fractions:
                    where = {"model": model, "dataset": dataset, "coreset_fraction": fraction}
                    paper = {"model": paper_model, "dataset": paper_dataset, "coreset_fraction": fraction}
                    cells = rate_row(lookup, where, paper, method, {"method": "coreset_only"}, RATES)
                    section.rows.append(([LABELS[model], LABELS[dataset], f"{fraction:.0%}"], cells))
            sections.append(section)
        notes = []
        if scale == "smoke":
            notes.append("Smoke scale: digits stands in for the paper's rows; the paper's numbers shown are those "
                         "of ResNet-18 on CIFAR-10.")
        return Table(self.name, self.title + f" ({scale} scale).", ["Model", "Dataset", "Coreset"], sections, seeds,
                     notes)


SUITE = Table1()
