"""The readings suite: what each of the paper's open readings changes (README, Fidelity).

The cells are Table 1's ResNet-18 / CIFAR-10 rows at 10%, 5% and 1% coresets: SWaST-cut at 90% and 50%
against coreset-only, with GradMatch as there (digits at smoke scale, real CIFAR-10 at cpu scale). Each
reading is the default with one switch changed; a switch that a method does not read leaves its runs as they
are (the same run keys).
A cell is SWaST-cut's test accuracy minus coreset-only's, paired by seed: the mean and spread over seeds of
the per-seed differences, its change from the default row, and the paper's difference."""

from __future__ import annotations

from dataclasses import dataclass

from grid.collection import Collection
from grid.suite import ALL_SCALES, Run, Suite, experiment, load_paper, mean_std, paired_differences
from grid.tables import Cell, Section, Table
from harness.core.numeric import same

FRACTIONS = (0.1, 0.05, 0.01)
RATES = (0.9, 0.5)
METHODS = ("coreset_only", "swast_cut")
# smoke scale: 10 epochs with a selection every 3, so that the schedules differ (1%: explicit selects at 2, 5
# and 8; modulo at 3, 6 and 9; cords skips 2-5, draws a random coreset at 6 and selects at 7 and 10) and the
# 63 runs of a seed take a minute or two on a CPU
SMOKE = ("epochs = 10", "train.selection_interval = 3")


@dataclass(frozen=True)
class Reading:
    label: str
    bindings: tuple[str, ...]
    methods: tuple[str, ...] = METHODS  # the methods that read the switch


READINGS = {
    "default": Reading("Default readings", ()),
    "modulo": Reading("Selection at t mod R = 0 (Algorithm 1)", ("train.selection_rule = 'modulo'",)),
    "cords": Reading("Selection with CORDS's warm start", ("train.selection_rule = 'cords'",)),
    "head": Reading("1000-way classifier", ("model.head_classes = 1000",)),
    "clock": Reading("RigL on the epoch clock", ("pruners.rigl.clock = 'epochs'",), ("swast_cut",)),
    "record": Reading("SP targets in train mode on training views", ("preservation.record = 'train'",),
                      ("swast_cut",)),
    "weighting": Reading("SP KL weighted like the cross-entropy", ("preservation.weighting = 'coreset'",),
                         ("swast_cut",)),
    "probe": Reading("Probe pass under bf16", ("train.probe_precision = 'bf16'",)),
}
LEGEND = ("Cells: SWaST-cut minus coreset-only test accuracy, the mean ± std over seeds of the differences "
          "paired by seed (in parentheses: the change from the default row) / the paper's difference (Table 1, "
          "ResNet-18, CIFAR-10). `n=k/{s}`: only k seed pairs finished; —: none.")


class Readings(Suite):
    name = "readings"
    title = "Readings: what each of the paper's open readings changes"
    scales = ALL_SCALES

    def setting(self, scale: str) -> tuple[str, str]:
        return ("resnet18", "digits") if scale == "smoke" else ("resnet18", "cifar10")

    def cells(self, scale: str, reading: Reading) -> dict[tuple, Run]:
        """(method, coreset fraction, prune rate or None) -> the run, under `reading`."""
        model, dataset = self.setting(scale)
        out = {}
        for c in FRACTIONS:
            for method, rates in (("coreset_only", (None,)), ("swast_cut", RATES)):
                bindings = (*(SMOKE if scale == "smoke" else ()), *(reading.bindings if method in reading.methods
                                                                    else ()))
                for r in rates:
                    macros = {"coreset_fraction": c, "selector": "gradmatch"} | ({} if r is None else {"prune_rate": r})
                    out[(method, c, r)] = experiment(dataset, method, model, scale, bindings, **macros)
        return out

    def runs(self, scale: str) -> list[Run]:
        return [run for reading in READINGS.values() for run in self.cells(scale, reading).values()]

    def table(self, collection: Collection, scale: str, seeds: int) -> Table:
        keys = self.keys(scale, seeds)
        paper = load_paper("table1")
        paper = paper[(paper["model"] == "resnet18") & (paper["dataset"] == "cifar10")]
        columns = [(c, r) for c in FRACTIONS for r in RATES]
        section = Section("SWaST-cut minus coreset-only (coreset size, prune rate)",
                          [f"{c:.0%}, {r:.0%}" for c, r in columns])
        default = None  # the default row's per-seed differences, column by column
        for reading in READINGS.values():
            cells, differences = [], []
            runs = self.cells(scale, reading)
            for i, (c, r) in enumerate(columns):
                diffs = dict(paired_differences(collection, keys, runs[("swast_cut", c, r)],
                                                runs[("coreset_only", c, None)], seeds))
                cell = _cell(list(diffs.values()), _paper_difference(paper, c, r))
                if default is not None:  # the change from the default, over the seeds both rows have
                    common = [s for s in diffs if s in default[i]]
                    if common:
                        cell.delta = mean_std([diffs[s] - default[i][s] for s in common])[0]
                cells.append(cell)
                differences.append(diffs)
            if default is None:
                default = differences
            section.rows.append(([reading.label], cells))
        model, dataset = self.setting(scale)
        notes = ["The pruning-only baseline's classifier (`methods.pruning_only.scope`) is the sixth reading; these "
                 "cells have no pruning-only run: Fig. 6 and Table 3 show it."]
        return Table(self.name, f"{self.title} ({scale} scale, {dataset}, {model}).", ["Reading"], [section], seeds,
                     notes, legend=LEGEND)


def _cell(diffs: list[float], paper: float | None) -> Cell:
    if not diffs:
        return Cell(mean=None, paper=paper)
    mean, std = mean_std(diffs)
    return Cell(mean=mean, std=std, n=len(diffs), paper=paper)


def _paper_difference(paper, fraction: float, rate: float) -> float | None:
    def accuracy(method: str, rate: float | None) -> float | None:
        rows = paper[(paper["method"] == method) & same(paper["coreset_fraction"], fraction)]
        if rate is not None:
            rows = rows[same(rows["prune_rate"], rate)]
        return float(rows.iloc[0]["accuracy"]) if len(rows) == 1 else None

    ours, base = accuracy("swast_cut", rate), accuracy("coreset_only", None)
    return None if ours is None or base is None else ours - base


SUITE = Readings()
