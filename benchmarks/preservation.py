"""State preservation ablation (Appendix B, "Settings for state preservation analysis"): no constraint,
selective and complete preservation, on pruning-only, coreset-only and joint (SWaST-cut) training.
ResNet-101, CIFAR-10 with 20% label noise, Moderate, RigL at 70%, 10% coresets (digits at smoke scale).
The paper reports this ablation in prose only, so there are no published numbers beside the cells."""

from __future__ import annotations

from grid.collection import Collection
from grid.suite import CellLookup, Run, Suite, experiment, load_paper
from grid.tables import Section, Table, finish_row

MODES = {"none": "No constraint", "selective": "Selective (SP)", "complete": "Complete (CP)"}
METHODS = {"pruning_only": "Prune-only", "coreset_only": "Coreset-only", "swast_cut": "Joint (SWaST-cut)"}
PRUNING = {"prune_rate": 0.7}
SELECTION = {"coreset_fraction": 0.1, "selector": "moderate"}
SETTINGS = {"pruning_only": PRUNING, "coreset_only": SELECTION, "swast_cut": PRUNING | SELECTION}  # what each reads


class Preservation(Suite):
    name = "preservation"
    title = "State preservation: no constraint, selective, complete"

    def setting(self, scale: str) -> tuple[str, str]:
        return ("resnet18", "digits") if scale == "smoke" else ("resnet101", "cifar10")

    def runs(self, scale: str) -> list[Run]:
        model, dataset = self.setting(scale)
        return [experiment(dataset, method, model, scale, label_noise=0.2, state_preservation=mode, **SETTINGS[method])
                for method in METHODS for mode in MODES]

    def table(self, collection: Collection, scale: str, seeds: int) -> Table:
        model, dataset = self.setting(scale)
        lookup = CellLookup(collection, load_paper("none"))
        section = Section("State preservation", list(MODES.values()))
        for method, label in METHODS.items():
            cells = [lookup.cell({"model": model, "dataset": dataset, "method": method, "state_preservation": mode})
                     for mode in MODES]
            finish_row(cells, None)
            section.rows.append(([label], cells))
        return Table(self.name, f"{self.title} ({scale} scale, {dataset}, {model}).", ["Training"], [section], seeds)


SUITE = Preservation()
