"""Table 3 (Appendix H): 20% label noise on CIFAR-10. Pruning-only on the full data across prune rates against
dense training, and SWaST-cut at 20/10/5% coresets against coreset-only (ResNet-18; digits at smoke scale).
The paper does not name the model or the selector here: this suite uses ResNet-18 and the dataset's default."""

from __future__ import annotations

from benchmarks.suite import RATES, CellLookup, Run, Suite, experiment, load_paper, rate_row
from harness.results import Collection
from harness.tables import Section, Table

NOISE = 0.2
FRACTIONS = (0.2, 0.1, 0.05)


class Table3(Suite):
    name = "table3"
    title = "Table 3: joint pruning and coreset selection under 20% label noise"

    def setting(self, scale: str) -> tuple[str, str]:
        return ("resnet18", "digits") if scale == "smoke" else ("resnet18", "cifar10")

    def runs(self, scale: str) -> list[Run]:
        model, dataset = self.setting(scale)
        runs = [experiment(dataset, "dense", model, scale, label_noise=NOISE)]
        runs += [experiment(dataset, "pruning_only", model, scale, label_noise=NOISE, prune_rate=r) for r in RATES]
        for c in FRACTIONS:
            runs.append(experiment(dataset, "coreset_only", model, scale, label_noise=NOISE, coreset_fraction=c))
            runs += [experiment(dataset, "swast_cut", model, scale, label_noise=NOISE, coreset_fraction=c,
                                prune_rate=r) for r in RATES]
        return runs

    def table(self, collection: Collection, scale: str, seeds: int) -> Table:
        model, dataset = self.setting(scale)
        lookup = CellLookup(collection, load_paper("table3"))
        ours = {"model": model, "dataset": dataset, "label_noise": NOISE}
        paper = {"dataset": "cifar10", "label_noise": NOISE}
        columns = [f"{r:.0%}" for r in RATES] + ["0% (Dense / Coreset-only)"]
        section = Section("Prune rate", columns, baseline=len(RATES))
        section.rows.append((["100% (Pruning-only)"],
                             rate_row(lookup, {**ours, "coreset_fraction": 1.0}, {**paper, "coreset_fraction": 1.0},
                                      "pruning_only", {"method": "dense"}, RATES)))
        for c in FRACTIONS:
            section.rows.append(([f"{c:.0%} (SWaST-cut)"],
                                 rate_row(lookup, {**ours, "coreset_fraction": c}, {**paper, "coreset_fraction": c},
                                          "swast_cut", {"method": "coreset_only"}, RATES, paper_method="swast")))
        return Table(self.name, f"{self.title} ({scale} scale, {dataset}, {model}).", ["Subset fraction"], [section],
                     seeds, ["Deltas: the first row against dense training, the others against coreset-only."])


SUITE = Table3()
