"""What a suite is: a grid of runs (gin files + bindings, times seeds) at a scale, and the table or figure built
from their results. Each table or figure of the paper is one module in `benchmarks/` defining a `Suite`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from grid.collection import Collection, aggregate, matching
from grid.paired import Paired, paired
from grid.plotting import Plot
from grid.tables import Cell, Table
from harness import config
from harness.core.errors import ConfigError
from harness.core.files import PROJECT_ROOT
from harness.core.numeric import same

SCALES = ("smoke", "mini", "paper")  # every suite's; some add "cpu": real CIFAR-10 images on a CPU
ALL_SCALES = (*SCALES, "cpu")
SEEDS = 5
SEED_SENTINEL = 918273645  # a suite's run is parsed once at this seed; each seed's key is derived from its text
CPU_SEEDS = 3  # the cpu scale is sized for three seeds a cell: its Table 3 comparison fits in 40 minutes
PAPER_RESULTS = PROJECT_ROOT / "results" / "paper" / "results.csv"
RATES = (0.9, 0.7, 0.5, 0.3, 0.1)
LABELS = {"resnet18": "ResNet-18", "resnet101": "ResNet-101", "resnet101_imagenet": "ResNet-101",
          "cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "tinyimagenet": "TinyImageNet", "imagenet": "ImageNet-1k",
          "digits": "digits", "craig": "CRAIG", "glister": "GLISTER", "moderate": "Moderate", "gradmatch": "GradMatch",
          "el2n": "EL2N"}
# our names -> the paper's (results.csv)
PAPER_NAMES = {"dataset": {"imagenet": "imagenet1k"}, "model": {"resnet101_imagenet": "resnet101"}}


def default_seeds(scale: str) -> int:
    return CPU_SEEDS if scale == "cpu" else SEEDS


@dataclass(frozen=True)
class Run:
    """One run of a suite before seeds: gin files (applied in order), extra bindings, and the bindings the
    whole suite shares (a variant's or a study's, applied last; each read by some run, `config.parse`)."""

    files: tuple[str, ...]
    bindings: tuple[str, ...] = ()
    shared: tuple[str, ...] = ()


@dataclass(frozen=True)
class Planned:
    """A run with its seed, parsed (`config`): what a worker receives is `files`, `bindings`, `shared` and
    `key` (strings only)."""

    files: tuple[str, ...]
    bindings: tuple[str, ...]
    key: str
    spec: dict
    shared: tuple[str, ...] = ()
    config: config.RunConfig | None = dataclasses.field(default=None, repr=False, compare=False)  # parsed


class Suite:
    """Subclass per table/figure: `runs(scale)` lists the grid (the seeds are added here); `table(...)` and/or
    `figure(...)` render it (each returns None where the suite has none). `scales`: the scales it has."""

    name: str = ""
    title: str = ""
    scales: tuple[str, ...] = SCALES

    def runs(self, scale: str) -> list[Run]:
        raise NotImplementedError

    def table(self, collection: Collection, scale: str, seeds: int) -> Table | None:
        return None

    def figure(self, collection: Collection, scale: str, seeds: int) -> Plot | None:
        return None

    def plan(self, scale: str, seeds: int = SEEDS) -> list[Planned]:
        """Every run of the suite at `scale` for seeds 0..seeds-1, parsed (so each has its run key); a run
        that two cells of the grid share is planned once."""
        planned, seen = [], set()
        for p in self._parsed(scale, seeds).values():
            if p.key not in seen:
                seen.add(p.key)
                planned.append(p)
        return planned

    def collected(self, scale: str, seeds: int = SEEDS) -> list[str]:
        """The run keys whose results its table and figure read."""
        return [p.key for p in self.plan(scale, seeds)]

    def long_table(self, collection: Collection, scale: str, seeds: int) -> pd.DataFrame:
        """One row per run (`collect --format csv`): key, status, spec and metrics."""
        return collection.frame

    def keys(self, scale: str, seeds: int = SEEDS) -> dict[tuple[Run, int], str]:
        """(run, seed) -> run key, for every run of the grid (tables that pair runs look results up by it)."""
        return {grid: p.key for grid, p in self._parsed(scale, seeds).items()}

    def _parsed(self, scale: str, seeds: int) -> dict[tuple[Run, int], Planned]:
        if scale not in ALL_SCALES:
            raise ConfigError(f"unknown scale {scale!r}; scales are {', '.join(ALL_SCALES)}")
        if scale not in self.scales:
            raise ConfigError(f"suite {self.name} has no {scale} scale; it has: {', '.join(self.scales)}")
        if seeds < 1:
            raise ConfigError(f"seeds must be >= 1, got {seeds}")
        parsed, unread = {}, []
        for run in self.runs(scale):
            if (run, 0) in parsed:
                continue
            seeded, ignored = self._seeded(run, seeds)
            for seed, planned in enumerate(seeded):
                parsed[(run, seed)] = planned
            unread.append((run.shared, ignored))
        _check_shared_read(self.name, unread)
        return parsed

    def _seeded(self, run: Run, seeds: int) -> tuple[list[Planned], set[str]]:
        """`run` at seeds 0..seeds-1, parsed once at a sentinel seed and reseeded (`config.reseed`: exact, and
        where it cannot be, each seed is parsed); and the shared bindings it does not read."""
        once = self._parse(run, SEED_SENTINEL)
        out = []
        for seed in range(seeds):
            cfg = config.reseed(once, seed) or self._parse(run, seed)
            out.append(Planned(run.files, (*run.bindings, f"seed = {seed}"), cfg.key, cfg.spec, run.shared, cfg))
        return out, set(once.unread)

    def _parse(self, run: Run, seed: int) -> config.RunConfig:
        try:
            return config.parse(list(run.files), [*run.bindings, f"seed = {seed}"], list(run.shared))
        except ConfigError as e:
            raise ConfigError(f"suite {self.name}: {e.message}") from None


def _check_shared_read(suite: str, unread: list[tuple[tuple[str, ...], set[str]]]) -> None:
    """A shared binding that no run of the suite reads is an error, as one that a single run ignores is."""
    from harness.config.bindings import user_bindings

    wanted, read = {}, set()
    for shared, ignored in unread:
        for b in user_bindings([], shared, origin="binding"):
            wanted.setdefault(b.text, b.where)
            if b.text not in ignored:
                read.add(b.text)
    for text, where in wanted.items():
        if text not in read:
            raise ConfigError(f"suite {suite}: {where}: no run of the suite reads {text}")


def parts(dataset: str, model: str, method: str) -> tuple[str, ...]:
    """The gin files an experiment is made of, in the order they apply."""
    return ("gin/base.gin", f"gin/datasets/{dataset}.gin", f"gin/models/{model}.gin", f"gin/methods/{method}.gin")


def experiment(dataset: str, method: str, model: str, scale: str, bindings: tuple[str, ...] = (), **macros) -> Run:
    """One experiment composed from the repository's parts, base + dataset + model + method + scale, with
    macro overrides (`prune_rate=0.7`, ...; only those the method reads) and any further gin `bindings`.

    At smoke scale every dataset is stood in for by `digits` and ResNet-18 (smoke-sized already), at cpu
    scale by CIFAR-10 and ResNet-18 (`gin/scale/cpu.gin`); at mini and paper scale the dataset and model are
    the ones asked for. `gin/<dataset>/<method>.gin` holds the same composition without the scale.
    """
    if scale == "smoke":
        dataset, model = "digits", "resnet18"
    elif scale == "cpu":
        dataset, model = "cifar10", "resnet18"
    files = parts(dataset, model, method) + (() if scale == "smoke" else (f"gin/scale/{scale}.gin",))
    return Run(files, (*(f"{k} = {v!r}" for k, v in macros.items()), *bindings))


def short_at_smoke(scale: str) -> tuple[str, ...]:
    """Figure suites' smoke runs: 8 epochs with a selection every 2 (4 rounds), a few seconds each on a CPU."""
    return ("epochs = 8", "train.selection_interval = 2") if scale == "smoke" else ()


def load_paper(table: str) -> pd.DataFrame:
    frame = pd.read_csv(PAPER_RESULTS)
    return frame[frame["table"] == table]


class CellLookup:
    """Table cells from a collection: mean/std/n of a metric (test accuracy by default, scaled by `scale`),
    and the paper's number (its column `paper_column`) beside."""

    def __init__(self, collection: Collection, paper: pd.DataFrame, value: str = "test_accuracy",
                 paper_column: str = "accuracy", scale: float = 1.0):
        ok = collection.ok.copy()
        ok[value] = ok[value].astype(float) * scale
        self.ok, self.value = ok, value
        self.agg = aggregate(ok, value)
        self.paper = paper
        self.paper_column = paper_column

    def paired(self, ours: dict, base: dict) -> Paired | None:
        """`ours` minus `base`, seed by seed, over the seeds both cells have (`grid.paired`)."""
        a, b = self._by_seed(ours), self._by_seed(base)
        return paired([a[s] - b[s] for s in a if s in b])

    def _by_seed(self, where: dict) -> dict[int, float]:
        rows = matching(self.ok, where)
        if rows["seed"].duplicated().any():
            raise ValueError(f"several runs of one seed match {where}; the suite's grid is ambiguous")
        return dict(zip(rows["seed"].astype(int), rows[self.value], strict=True))

    def cell(self, ours: dict, paper: dict | None = None) -> Cell:
        match = self.agg
        for column, value in ours.items():
            match = match[same(match[column], value)]
        found = Cell(mean=None)
        if len(match) == 1:
            row = match.iloc[0]
            found = Cell(mean=float(row["mean"]), std=float(row["std"]), n=int(row["n"]))
        elif len(match) > 1:
            raise ValueError(f"{len(match)} table cells match {ours}; the suite's grid is ambiguous")
        if paper is not None:
            hit = self.paper
            for column, value in paper.items():
                value = PAPER_NAMES.get(column, {}).get(value, value)
                hit = hit[same(hit[column], value)]
            if len(hit) == 1 and pd.notna(hit.iloc[0][self.paper_column]):
                found.paper = float(hit.iloc[0][self.paper_column])
        return found


def paired_differences(collection: Collection, keys: dict[tuple[Run, int], str], run: Run, baseline: Run,
                       seeds: int, value: str = "test_accuracy") -> list[tuple[int, float]]:
    """(seed, `value` of `run` minus that of `baseline` at the same seed), for each seed where both finished:
    the unit of evidence when two methods are compared."""
    ok = dict(zip(collection.ok["key"], collection.ok[value].astype(float), strict=True))
    out = []
    for seed in range(seeds):
        ours, base = ok.get(keys.get((run, seed))), ok.get(keys.get((baseline, seed)))
        if ours is not None and base is not None:
            out.append((seed, ours - base))
    return out


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for a single value)."""
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else None
    return mean, std


SMOKE_NOTE = ("Smoke scale checks the plumbing, not the science: digits cannot show the paper's effect (real "
              "CIFAR-10 images on a CPU: `make table3 SCALE=cpu`).")


TABLE_FORMATS = ("md", "tex")


def write_table(table: Table, folder: Path, scale: str, formats: tuple[str, ...] = TABLE_FORMATS) -> list[Path]:
    """`<name>.md` and/or `<name>.tex` in `folder`; the paths written."""
    from grid.tables import to_latex, to_markdown
    from harness.core import files

    if scale == "smoke":
        table = dataclasses.replace(table, notes=[*table.notes, SMOKE_NOTE])
    render = {"md": to_markdown, "tex": to_latex}
    written = []
    for suffix in formats:
        path = folder / f"{table.name}.{suffix}"
        files.write_text(path, render[suffix](table))
        written.append(path)
    return written


def rate_row(lookup: CellLookup, ours: dict, paper: dict | None, method: str, baseline: dict,
             rates: tuple[float, ...], paper_method: str | None = None) -> list[Cell]:
    """One row of the paper's rate tables: `method` at each prune rate, then the baseline cell (deltas and
    marks filled in). `ours`/`paper` hold the row's fixed columns; `baseline` the baseline's columns."""
    from grid.tables import finish_row

    def theirs(extra: dict) -> dict | None:
        return None if paper is None else {**paper, **extra}

    cells = [lookup.cell({**ours, "method": method, "prune_rate": r},
                         theirs({"method": paper_method or method, "prune_rate": r})) for r in rates]
    cells.append(lookup.cell({**ours, **baseline}, theirs(baseline)))
    finish_row(cells, len(rates))
    for cell, r in zip(cells, rates, strict=False):
        pair_with_baseline(cell, lookup.paired({**ours, "method": method, "prune_rate": r}, {**ours, **baseline}))
    return cells


def pair_with_baseline(cell: Cell, difference: Paired | None) -> None:
    """The cell's difference to its baseline as the mean of the per-seed differences, with its interval."""
    if difference is not None and cell.mean is not None:
        cell.delta = difference.mean
        cell.interval = (difference.low, difference.high) if difference.low is not None else None
