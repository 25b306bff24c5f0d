"""Table 3 (Appendix H): 20% label noise on CIFAR-10. Pruning-only on the full data across prune rates against
dense training, and SWaST-cut at 20/10/5% coresets against coreset-only (ResNet-18; digits at smoke scale).
The paper does not name the model or the selector here: this suite uses ResNet-18 and the dataset's default.

At cpu scale (`gin/scale/cpu.gin`: real CIFAR-10 images, a 2-core CPU) it is the one comparison that fits in
40 minutes: SWaST-cut at 30% (the paper's best rate in every table) against coreset-only, 10% coresets, paired
by seed. The table then lists each seed's difference and how far each method memorised the wrong labels it
trained on (the paper's mechanism: without that, there is nothing for pruning to prevent)."""

from __future__ import annotations

import math

from grid.collection import Collection
from grid.suite import (
    ALL_SCALES,
    RATES,
    CellLookup,
    Run,
    Suite,
    experiment,
    load_paper,
    mean_std,
    paired_differences,
    rate_row,
)
from grid.tables import Section, Table

NOISE = 0.2
FRACTIONS = (0.2, 0.1, 0.05)
CPU = {"coreset_fraction": 0.1, "prune_rate": 0.3}
CHANCE = math.log(10)  # cross-entropy of a uniform guess over CIFAR-10's classes


class Table3(Suite):
    name = "table3"
    title = "Table 3: joint pruning and coreset selection under 20% label noise"
    scales = ALL_SCALES

    def setting(self, scale: str) -> tuple[str, str]:
        return ("resnet18", "digits") if scale == "smoke" else ("resnet18", "cifar10")

    def pairs(self, scale: str) -> tuple[Run, Run]:
        """cpu scale: (coreset-only, SWaST-cut)."""
        model, dataset = self.setting(scale)
        c, p = CPU["coreset_fraction"], CPU["prune_rate"]
        return (experiment(dataset, "coreset_only", model, scale, label_noise=NOISE, coreset_fraction=c),
                experiment(dataset, "swast_cut", model, scale, label_noise=NOISE, coreset_fraction=c, prune_rate=p))

    def runs(self, scale: str) -> list[Run]:
        if scale == "cpu":
            return list(self.pairs(scale))
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
        if scale != "cpu":
            section.rows.append((["100% (Pruning-only)"],
                                 rate_row(lookup, {**ours, "coreset_fraction": 1.0},
                                          {**paper, "coreset_fraction": 1.0}, "pruning_only", {"method": "dense"},
                                          RATES)))
        for c in FRACTIONS if scale != "cpu" else (CPU["coreset_fraction"],):
            section.rows.append(([f"{c:.0%} (SWaST-cut)"],
                                 rate_row(lookup, {**ours, "coreset_fraction": c}, {**paper, "coreset_fraction": c},
                                          "swast_cut", {"method": "coreset_only"}, RATES, paper_method="swast")))
        notes = (self.paired_notes(collection, scale, seeds) if scale == "cpu" else
                 ["Deltas: the first row against dense training, the others against coreset-only."])
        return Table(self.name, f"{self.title} ({scale} scale, {dataset}, {model}).", ["Subset fraction"], [section],
                     seeds, notes)

    def paired_notes(self, collection: Collection, scale: str, seeds: int) -> list[str]:
        """Each seed's SWaST-cut minus coreset-only difference, their mean and spread, and each method's loss on
        the noisy samples of its coreset: the lowest at the end of a round (memorised: well below chance) and at
        the end of the run."""
        keys = self.keys(scale, seeds)
        baseline, joint = self.pairs(scale)
        diffs = paired_differences(collection, keys, joint, baseline, seeds)
        rate = f"{CPU['prune_rate']:.0%}"
        if not diffs:
            return [f"No seed has both runs yet (SWaST-cut at {rate} and coreset-only)."]
        values = [d for _, d in diffs]
        mean, std = mean_std(values)
        notes = [f"SWaST-cut at {rate} minus coreset-only, paired by seed: "
                 + ", ".join(f"seed {s}: {d:+.2f}" for s, d in diffs)
                 + f"; mean {mean:+.2f}" + ("" if std is None else f", std {std:.2f}")
                 + f", {sum(d > 0 for d in values)} of {len(values)} positive."]
        history = collection.history
        memorised = {"coreset_only": [], "swast_cut": []}
        for method, run in zip(memorised, (baseline, joint), strict=True):
            for seed, _ in diffs:
                losses = history.loc[history["key"] == keys[(run, seed)], "coreset_noisy_loss"].dropna().astype(float)
                if len(losses):
                    memorised[method].append((losses.min(), losses.iloc[-1]))
        for method, label in (("coreset_only", "coreset-only"), ("swast_cut", "SWaST-cut")):
            if memorised[method]:
                lowest = sum(m for m, _ in memorised[method]) / len(memorised[method])
                final = sum(f for _, f in memorised[method]) / len(memorised[method])
                notes.append(f"{label}: loss on its coreset's noisy samples (eval mode), lowest at a round's end "
                             f"{lowest:.2f}, at the end of the run {final:.2f}, mean over seeds (chance: "
                             f"{CHANCE:.2f}).")
        return notes


SUITE = Table3()
