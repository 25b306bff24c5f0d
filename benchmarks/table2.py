"""Table 2 (Appendix G): accuracy, wall time and parameters of coreset-only at 10% and 15% against SWaST-cut at
10% with a 30% prune rate (ResNet-101, CIFAR-10; digits at smoke scale)."""

from __future__ import annotations

from grid.collection import Collection
from grid.suite import CellLookup, Run, Suite, experiment, load_paper
from grid.tables import Section, Table, finish_row

SETTINGS = [  # (column, method, its macros)
    ("coreset-only (10%)", "coreset_only", {"coreset_fraction": 0.1}),
    ("coreset-only (15%)", "coreset_only", {"coreset_fraction": 0.15}),
    ("SWaST-cut (10%, p=30%)", "swast_cut", {"coreset_fraction": 0.1, "prune_rate": 0.3}),
]
METRICS = [  # (row, result column, scale, the paper's column)
    ("Acc. (%)", "test_accuracy", 1.0, "accuracy"),
    ("Time (s)", "time_s", 1.0, "time_s"),
    ("Params (M)", "params_nonzero", 1e-6, "params_m"),
]


class Table2(Suite):
    name = "table2"
    title = "Table 2: accuracy and time efficiency"

    def setting(self, scale: str) -> tuple[str, str]:
        return ("resnet18", "digits") if scale == "smoke" else ("resnet101", "cifar10")

    def runs(self, scale: str) -> list[Run]:
        model, dataset = self.setting(scale)
        return [experiment(dataset, method, model, scale, **macros) for _, method, macros in SETTINGS]

    def table(self, collection: Collection, scale: str, seeds: int) -> Table:
        model, dataset = self.setting(scale)
        paper = load_paper("table2")
        section = Section("Settings", [label for label, *_ in SETTINGS])
        for row, column, factor, paper_column in METRICS:
            lookup = CellLookup(collection, paper, column, paper_column, factor)
            cells = [lookup.cell({"model": model, "dataset": dataset, "method": m, "coreset_fraction": c},
                                 {"model": "resnet101", "dataset": "cifar10", "method": m, "coreset_fraction": c})
                     for m, c in ((m, macros["coreset_fraction"]) for _, m, macros in SETTINGS)]
            if column == "test_accuracy":
                finish_row(cells, None)
            section.rows.append(([row], cells))
        return Table(self.name, f"{self.title} ({scale} scale, {dataset}, {model}).", ["Metric"], [section], seeds,
                     ["Time is the whole run's wall time on this harness's device; the paper's is on an A100."])


SUITE = Table2()
