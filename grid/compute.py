"""What a suite's runs cost before they are sent: their training FLOPs, counted analytically per run
(`harness.training.cost`: what each run's result.json will record as `train_flops`), and the time those take
at a rate in FLOPs per second: measured on finished runs of the same model and dataset (their `train_flops`
over their whole time, this plan's own runs first), or, lacking any, an A100's, from the paper's Table 2 (its
ResNet-101 SWaST-cut run on CIFAR-10 at paper scale took 2191 s; its FLOPs are counted here the same way).
A FLOP is a multiply-accumulate, as `train_flops` counts them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from grid.suite import Planned, experiment, load_paper
from harness import config
from harness.core import files, records
from harness.core.errors import ConfigError
from harness.training.cost import run_flops

PAPER_RUN = {"method": "swast_cut", "model": "resnet101", "dataset": "cifar10", "coreset_fraction": 0.1,
             "prune_rate": 0.3}  # the run of Table 2 whose time the paper gives (one A100)


@dataclass(frozen=True)
class Rate:
    flops_per_s: float
    basis: str  # where the rate comes from, for the printed line
    assumed: bool = False  # not measured here: the paper's figure


@dataclass
class Group:
    """The runs of one model and dataset: their FLOPs, and the rate that turns them into time."""

    model: str
    dataset: str
    runs: int = 0
    flops: float = 0.0
    rate: Rate | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.rate is None else self.flops / self.rate.flops_per_s


@dataclass
class SuiteCost:
    flops: dict[str, float]  # run key -> analytic training FLOPs (runs whose count is known)
    unknown: dict[str, str]  # run key -> why its FLOPs cannot be counted (one line)


def count(planned: Iterable[Planned]) -> SuiteCost:
    """The analytic training FLOPs of every planned run (each distinct configuration counted once)."""
    cost = SuiteCost({}, {})
    for p in planned:
        try:
            cfg = p.config or config.parse(list(p.files), list(p.bindings), list(p.shared))
            cost.flops[p.key] = run_flops(cfg).total
        except (NotImplementedError, ConfigError, OSError) as e:
            cost.unknown[p.key] = getattr(e, "message", None) or (str(e).splitlines() or [type(e).__name__])[0]
    return cost


def groups(planned: list[Planned], cost: SuiteCost, todo: set[str], runs_root: Path) -> list[Group]:
    """The runs to go (`todo`, keys) by model and dataset, with their FLOPs and the rate to time them at."""
    out: dict[tuple[str, str], Group] = {}
    for p in planned:
        if p.key in todo and p.key in cost.flops:
            g = out.setdefault((p.spec["model"], p.spec["dataset"]), Group(p.spec["model"], p.spec["dataset"]))
            g.runs += 1
            g.flops += cost.flops[p.key]
    own, anywhere = _finished(runs_root, [p.key for p in planned]), None
    for (model, dataset), g in out.items():
        g.rate = measured(own, model, dataset, "of this plan")
        if g.rate is None:
            anywhere = anywhere if anywhere is not None else _finished(runs_root, None)
            g.rate = measured(anywhere, model, dataset, f"under {runs_root}")
        if g.rate is None:
            g.rate = paper_rate()
    return sorted(out.values(), key=lambda g: (g.model, g.dataset))


def measured(finished: list[dict], model: str, dataset: str, where: str) -> Rate | None:
    """The FLOPs per second of the finished runs of `model` on `dataset`: their FLOPs over their time."""
    rows = [r for r in finished if r["spec"].get("model") == model and r["spec"].get("dataset") == dataset]
    seconds = sum(r["metrics"]["time_s"]["total"] for r in rows)
    if not rows or seconds <= 0:
        return None
    flops = sum(r["metrics"]["train_flops"] for r in rows)
    return Rate(flops / seconds, f"measured: train_flops / time of {len(rows)} finished run(s) {where}")


def _finished(runs_root: Path, keys: list[str] | None) -> list[dict]:
    """The records of the finished (ok) runs under `runs_root` that hold their FLOPs and time (of `keys`
    only, when given)."""
    paths = ([Path(runs_root) / files.short_key(k) / "result.json" for k in keys] if keys is not None
             else sorted(Path(runs_root).glob("*/result.json")))
    out = []
    for path in paths:
        record, _ = records.read_result(path)
        metrics = (record or {}).get("metrics") or {}
        if (record and record["status"] == "ok" and isinstance(metrics.get("train_flops"), int | float)
                and isinstance((metrics.get("time_s") or {}).get("total"), int | float)):
            out.append(record)
    return out


_PAPER_RATE: list[Rate] = []


def paper_rate() -> Rate:
    """An A100's FLOPs per second: the analytic FLOPs of the paper's Table 2 SWaST-cut run over its 2191 s."""
    if not _PAPER_RATE:
        paper = load_paper("table2")
        row = paper[(paper["method"] == PAPER_RUN["method"]) & (paper["model"] == PAPER_RUN["model"])].iloc[0]
        macros = {k: PAPER_RUN[k] for k in ("coreset_fraction", "prune_rate")}
        run = experiment(PAPER_RUN["dataset"], PAPER_RUN["method"], PAPER_RUN["model"], "paper", **macros)
        flops = run_flops(config.parse(list(run.files), list(run.bindings))).total
        seconds = float(row["time_s"])
        _PAPER_RATE.append(Rate(flops / seconds, (
            f"an A100's, assumed from the paper's Table 2: its ResNet-101 SWaST-cut run on CIFAR-10 (10% coresets, "
            f"p=30%), {si(flops)}FLOPs as counted here, took {seconds:.0f} s"), assumed=True))
    return _PAPER_RATE[0]


def si(x: float) -> str:
    """`x` with an SI prefix and three significant digits, and a space before the unit: '2.41 T'."""
    for prefix, scale in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {prefix}"
    return f"{x:.3g} "


def duration(seconds: float) -> str:
    """'1,162 h', '61.5 h', '12.4 min', '45 s'."""
    hours = seconds / 3600
    if hours >= 100:
        return f"{hours:,.0f} h"
    if hours >= 1:
        return f"{hours:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def by_cell(planned: list[Planned], cost: SuiteCost) -> dict[tuple[str, str, str], float]:
    """(dataset, model, method) -> the analytic FLOPs of all its planned runs."""
    out: dict[tuple[str, str, str], float] = defaultdict(float)
    for p in planned:
        out[(p.spec["dataset"], p.spec["model"], p.spec["method"])] += cost.flops.get(p.key, 0.0)
    return out
