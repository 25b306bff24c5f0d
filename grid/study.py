"""A study: a suite declared in one gin file, so that "my method on the paper's grid" needs no Python.

    import my_selectors                       # plug-ins: any importable module, recorded in each run

    study.title = 'Hardest-first selection against the paper's selectors'
    study.dataset = 'cifar10'                 # the experiment parts it starts from
    study.model = 'resnet18'
    study.method = 'swast_cut'
    study.fixed = {'coreset_fraction': 0.1}   # bindings every run gets
    study.grid = {'selector': ['hardest', 'gradmatch'], 'prune_rate': [0.9, 0.5]}
    study.baseline = {'method': 'coreset_only'}   # each cell compared with this, seed by seed
    study.rows = ['selector']
    study.columns = ['prune_rate']

An axis's values are a list (`axis = value` each) or a dict of labelled binding sets
(`{'modulo': {'train.selection_rule': 'modulo'}}`). The axes `dataset`, `model` and `method` choose
the experiment's parts; any other name is a gin macro or binding. A run gets the fixed bindings and its
cell's, shared (`harness.config.parse`): a binding is applied where the run reads it (`prune_rate` on
coreset-only is not), and one that no run of the study reads is an error. The baseline of a cell is the
cell with the baseline's entries replacing its own (`None` removes one).

Each cell shows the metric's mean ± std over seeds and, against its baseline, the mean difference paired by
seed with its 95% interval (Student's t), marked where the interval excludes zero.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, fields
from pathlib import Path

import gin
import pandas as pd

from grid.collection import Collection, summarize
from grid.paired import paired
from grid.plotting import Plot, method_label, pyplot, seeds_text
from grid.suite import (
    ALL_SCALES,
    LABELS,
    PAPER_NAMES,
    Run,
    Suite,
    experiment,
    load_paper,
    mean_std,
    pair_with_baseline,
)
from grid.tables import SIGNIFICANT, Cell, Section, Table, mark_row
from harness import config
from harness.core import records
from harness.core.errors import ConfigError

PARTS = ("dataset", "model", "method")
PERCENT = ("prune_rate", "coreset_fraction", "label_noise")
PAPER_COLUMNS = ("method", "model", "dataset", "pruner", "selector", "label_noise", "coreset_fraction", "prune_rate")
SMOKE_STANDS_FOR = {"dataset": "cifar10"}  # digits stands in for the paper's CIFAR-10 at smoke scale
LEGEND = ("Cells: {metric}, mean ± std over {s} seeds{compared}{paper}. **Bold**: best in the row, _italic_: "
          "runner-up{apart}. `n=k/{s}`: only k seeds finished; —: none.")
COMPARED = (" (in parentheses: the difference to the cell's baseline, the mean over seeds of the differences paired "
            "by seed, [its 95% interval, Student's t with n - 1 degrees of freedom]; " + SIGNIFICANT +
            ": the interval excludes zero)")


@gin.configurable("study")
@dataclass(frozen=True)
class Declaration:
    """What a study file binds (`study.*`)."""

    grid: dict
    title: str = ""
    name: str | None = None
    dataset: str = "cifar10"
    model: str = "resnet18"
    method: str = "swast_cut"
    fixed: dict = field(default_factory=dict)
    baseline: dict | None = None
    rows: tuple = ()
    columns: tuple = ()
    metric: str = "test_accuracy"
    seeds: int | None = None
    plot: str | None = None
    paper: str | None = None  # the paper's table (results.csv) whose numbers stand beside the cells
    at_scale: dict = field(default_factory=dict)  # scale -> bindings only runs at that scale get
    notes: tuple = ()  # lines under the table
    sections: tuple = ()  # axes whose values make one section of the table each
    exclude: tuple = ()  # grid cells left out: each a dict of axis -> value (or label)
    scales: tuple = ALL_SCALES  # the scales it runs at


@dataclass(frozen=True)
class Axis:
    name: str
    labels: tuple[str, ...]
    settings: tuple[dict, ...]  # per value: the bindings (parts included) it sets


@dataclass(frozen=True)
class GridCell:
    run: Run
    baseline: Run | None


def load(path: str | Path) -> Study:
    """The study declared in the gin file at `path` (its `import` lines are imported and kept for its runs)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"study file {str(path)!r} not found")
    gin.clear_config()
    try:
        gin.parse_config_file(str(path))
        imports = tuple(config.imports())
        if "grid" not in gin.get_bindings("study"):
            raise ConfigError(f"study {path.name}: study.grid is not set; a study needs its grid")
        declaration = Declaration()
    except ConfigError:
        raise
    except Exception as e:  # gin reports a bad file with many exception types
        line = config.explain_gin_error(e)
        if "'study' has no parameter" in line:
            line = line.split("; it takes")[0] + "; it takes: " + ", ".join(f.name for f in fields(Declaration))
        raise ConfigError(f"study {path.name}: {line}") from None
    finally:
        gin.clear_config()
    return Study(path, declaration, imports)


class Study(Suite):
    """A suite whose grid, table layout and baselines come from a study file (`load`)."""

    def __init__(self, path: Path, declaration: Declaration, imports: tuple[str, ...] = ()):
        d = declaration
        self.path, self.d, self.imports = path, d, imports
        self.name = d.name or path.stem
        self.title = d.title or f"Study {self.name}"
        self.seeds = d.seeds
        self.axes = [_axis(self.name, name, values) for name, values in _mapping(self.name, "grid", d.grid).items()]
        _check(self.name, d, self.axes)
        self.scales = d.scales

    # the grid

    def grid(self, scale: str) -> list[tuple[tuple[int, ...], GridCell]]:
        """Every cell of the grid: the index of its value on each axis, and its run and its baseline's."""
        out = []
        for choice in itertools.product(*(range(len(a.labels)) for a in self.axes)):
            if any(self._matches(choice, condition) for condition in self.d.exclude):
                continue
            settings = self._settings(choice)
            baseline = None
            if self.d.baseline is not None:
                moved = {**settings, **self.d.baseline}
                baseline = self._run({k: v for k, v in moved.items() if v is not None}, scale)
            out.append((choice, GridCell(self._run(settings, scale), baseline)))
        return out

    def cells(self, scale: str) -> dict[tuple[tuple[str, ...], ...], GridCell]:
        """(section labels, row labels, column labels) -> the cell's run and its baseline's."""
        out = {}
        for choice, cell in self.grid(scale):
            labels = self._labels(choice)
            out[tuple(tuple(labels[n] for n in self._ordered(names))
                      for names in (self.d.sections, self.d.rows, self.d.columns))] = cell
        return out

    def _matches(self, choice: tuple[int, ...], condition: dict) -> bool:
        """Whether the grid cell `choice` has each of `condition`'s values (or labels)."""
        for axis, i in zip(self.axes, choice, strict=True):
            if axis.name in condition and condition[axis.name] not in (axis.labels[i],
                                                                       axis.settings[i].get(axis.name, axis.labels[i])):
                return False
        return True

    def _labels(self, choice: tuple[int, ...]) -> dict[str, str]:
        return {a.name: a.labels[i] for a, i in zip(self.axes, choice, strict=True)}

    def _settings(self, choice: tuple[int, ...]) -> dict:
        settings = dict(self.d.fixed)
        for axis, i in zip(self.axes, choice, strict=True):
            settings.update(axis.settings[i])
        return settings

    def _ordered(self, names: tuple[str, ...]) -> list[str]:
        """`names` in the grid's order."""
        return [a.name for a in self.axes if a.name in names]

    def _run(self, settings: dict, scale: str) -> Run:
        parts = {name: settings.get(name, getattr(self.d, name)) for name in PARTS}
        bindings = {k: v for k, v in settings.items() if k not in PARTS}
        at_scale = self.d.at_scale.get(scale, {})
        run = experiment(parts["dataset"], parts["method"], parts["model"], scale)
        shared = (*self.imports, *(f"{k} = {v!r}" for k, v in {**at_scale, **bindings}.items()))
        return Run(run.files, run.bindings, shared)

    def runs(self, scale: str) -> list[Run]:
        runs = []
        for cell in self.cells(scale).values():
            runs += [cell.run] + ([cell.baseline] if cell.baseline is not None else [])
        return list(dict.fromkeys(runs))

    # the table

    def table(self, collection: Collection, scale: str, seeds: int) -> Table:
        values = self._values(collection, scale, seeds)
        planned = self._parsed(scale, seeds)
        paper = load_paper(self.d.paper) if self.d.paper else None
        cells = self.cells(scale)
        sections = [self._section(section, cells, planned, values, paper, scale)
                    for section in dict.fromkeys(key[0] for key in cells)]
        baseline_column = any(s.baseline is not None for s in sections)
        legend = LEGEND.format(metric=self.d.metric.replace("_", " "), s="{s}",
                               compared=COMPARED if self.d.baseline is not None else "",
                               paper="" if paper is None else " / the paper's number" if baseline_column or
                               self.d.baseline is None else " / the paper's difference to the baseline",
                               apart=" (the baseline apart)" if baseline_column else "")
        notes = [*self.d.notes, f"Study file: {self.path.name}." + (f" Baseline: {self._baseline_text()}."
                                                                     if self.d.baseline else "")]
        if scale == "smoke" and paper is not None:
            notes.append("Smoke scale: digits stands in for the paper's rows; the paper's numbers shown are those of "
                         "ResNet-18 on CIFAR-10.")
        return Table(self.name, f"{self.title} ({', '.join([f'{scale} scale', *self._shared_setting(planned)])}).",
                     [_header(n) for n in self._ordered(self.d.rows)] or ["Method"], sections, seeds, notes,
                     legend=legend)

    def _section(self, section: tuple[str, ...], cells: dict, planned: dict, values, paper, scale: str) -> Section:
        here = {(row, column): cell for (s, row, column), cell in cells.items() if s == section}
        rows = list(dict.fromkeys(r for r, _ in here))
        columns = list(dict.fromkeys(c for _, c in here))
        # a baseline column when each row compares all its cells with one baseline run (one run key)
        row_baselines = {row: {planned[(cell.baseline, 0)].key: cell.baseline for (r, _), cell in here.items()
                               if r == row} for row in rows} if self.d.baseline is not None else {}
        baseline_column = bool(row_baselines) and all(len(b) == 1 for b in row_baselines.values())
        first = {c: next(cell for (_, column), cell in here.items() if column == c) for c in columns}
        names = [", ".join(self._shown(self.d.columns, c, planned[(first[c].run, 0)].spec)) for c in columns]
        out = Section(", ".join(section) or self._columns_title(),
                      (names or ["all"]) + ([self._baseline_header()] if baseline_column else []),
                      baseline=len(names) if baseline_column else None)
        shown_runs = set()
        for row in rows:
            runs = tuple(planned[(here[(row, c)].run, 0)].key if (row, c) in here else None for c in columns)
            if runs in shown_runs:  # at smoke scale, ResNet-101 stands in as ResNet-18: the same runs again
                continue
            shown_runs.add(runs)
            shown = [self._cell(here.get((row, column)), planned, values, paper, scale, baseline_column)
                     for column in columns]
            if baseline_column:
                (base,) = row_baselines[row].values()
                shown.append(_cell(values(base), self._paper(paper, planned, base, scale)))
            mark_row(shown, out.baseline)
            spec = planned[(next(cell for (r, _), cell in here.items() if r == row).run, 0)].spec
            out.rows.append((self._shown(self.d.rows, row, spec) or [method_label(self.d.method)], shown))
        return out

    def _cell(self, grid_cell: GridCell | None, planned: dict, values, paper, scale: str,
              baseline_column: bool) -> Cell:
        """A cell's mean ± std over seeds, its difference to its baseline paired by seed, the paper's number
        (or, where no column shows the baseline's, the paper's difference to it)."""
        if grid_cell is None:  # excluded
            return Cell(mean=None)
        cell = _cell(values(grid_cell.run), self._paper(paper, planned, grid_cell.run, scale))
        if grid_cell.baseline is None:
            return cell
        if cell.paper is not None and not baseline_column:
            base = self._paper(paper, planned, grid_cell.baseline, scale)
            cell.paper = None if base is None else cell.paper - base
        ours, base = values(grid_cell.run), values(grid_cell.baseline)
        pair_with_baseline(cell, paired([ours[s] - base[s] for s in ours if s in base]))
        return cell

    def _shared_setting(self, planned: dict) -> list[str]:
        """The dataset and the model, where every run has the same."""
        return [next(iter(v)) for v in ({p.spec[c] for p in planned.values()} for c in ("dataset", "model"))
                if len(v) == 1]

    def _values(self, collection: Collection, scale: str, seeds: int):
        """run -> {seed: metric} over its finished seeds."""
        ok = collection.ok
        by_key = dict(zip(ok["key"], ok[self.d.metric].astype(float), strict=True))
        keys = self.keys(scale, seeds)

        def values(run: Run) -> dict[int, float]:
            return {s: by_key[keys[(run, s)]] for s in range(seeds) if keys[(run, s)] in by_key}
        return values

    def _shown(self, names: tuple[str, ...], labels: tuple[str, ...], spec: dict) -> list[str]:
        """The labels of a row or column; a dataset, model or method as the run has it (at smoke scale, digits
        and ResNet-18 stand in for every dataset and model)."""
        return [LABELS.get(spec[name], method_label(spec[name])) if name in PARTS else label
                for name, label in zip(self._ordered(names), labels, strict=True)]

    def _columns_title(self) -> str:
        return ", ".join(map(_header, self._ordered(self.d.columns))) or _header(self.d.metric)

    def _baseline_header(self) -> str:
        if set(self.d.baseline) == {"method"}:
            return method_label(self.d.baseline["method"])
        return "Baseline"

    def _baseline_text(self) -> str:
        return ", ".join(f"{k} {'unset' if v is None else repr(v)}" for k, v in self.d.baseline.items())

    def _compared_columns(self) -> list[str]:
        """The paper's columns a cell is matched on: the parts and what the study binds (the rest, such as the
        selector digits uses at smoke scale, is the paper's own)."""
        bound = {*PARTS, *self.d.fixed, *(self.d.baseline or {})}
        for axis in self.axes:
            bound.add(axis.name)
            bound.update(name for settings in axis.settings for name in settings)
        return [c for c in PAPER_COLUMNS if c in bound]

    def _paper(self, paper: pd.DataFrame | None, planned: dict, run: Run, scale: str) -> float | None:
        """The paper's number for `run`'s cell, where `paper` (its table in results.csv) has exactly one."""
        if paper is None:
            return None
        spec = planned[(run, 0)].spec
        hit = paper
        for column in self._compared_columns():
            value = spec.get(column)
            if scale == "smoke":
                value = SMOKE_STANDS_FOR.get(column, value)
            value = PAPER_NAMES.get(column, {}).get(value, value)
            hit = hit[hit[column].isna() | (hit[column] == value)] if isinstance(value, str) else \
                hit[hit[column].isna() | ((hit[column].astype(float) - float(value or 0)).abs() < 1e-9)]
        return float(hit.iloc[0]["accuracy"]) if len(hit) == 1 and pd.notna(hit.iloc[0]["accuracy"]) else None

    def long_table(self, collection: Collection, scale: str, seeds: int) -> pd.DataFrame:
        """One row per run, its role (a cell's run or a baseline) and the labels of the first grid cell it
        serves on each axis that the spec does not show (a reading's switch)."""
        keys = self.keys(scale, seeds)
        labels: dict[str, dict] = {}
        grid = self.grid(scale)
        for role in ("cell", "baseline"):
            for choice, cell in grid:
                run = cell.run if role == "cell" else cell.baseline
                for seed in range(seeds):
                    if run is not None:
                        labels.setdefault(keys[(run, seed)], {"role": role, **self._labels(choice)})
        extra = [a.name for a in self.axes if a.name not in collection.frame.columns]  # the spec has the others
        axes = pd.DataFrame([{"key": k, **v} for k, v in labels.items()], columns=["key", "role", *extra])
        return axes.merge(collection.frame, on="key", how="right")

    # the figure

    def figure(self, collection: Collection, scale: str, seeds: int) -> Plot | None:
        if self.d.plot is None:
            return None
        values = self._values(collection, scale, seeds)
        x_axis = next(a for a in self.axes if a.name == self.d.plot)
        x_index = self.axes.index(x_axis)
        points = []
        for choice, cell in self.grid(scale):
            run = cell.run
            series = ", ".join(a.labels[i] for a, i in zip(self.axes, choice, strict=True) if a is not x_axis
                               and len(a.labels) > 1) or self.d.method
            for seed, value in values(run).items():
                points.append({"series": series, "x": choice[x_index], self.d.plot: x_axis.labels[choice[x_index]],
                               "seed": seed, self.d.metric: value})
        frame = pd.DataFrame(points, columns=["series", "x", self.d.plot, "seed", self.d.metric])
        data = summarize(frame, ["series", "x", self.d.plot], [self.d.metric])
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(5.5, 3.6), constrained_layout=True)
        for series, rows in data.groupby("series", sort=False):
            ax.errorbar(rows["x"], rows[f"{self.d.metric}_mean"], rows[f"{self.d.metric}_std"], marker="o", ms=4,
                        capsize=3, lw=1.5, label=series)
        ax.set_xticks(range(len(x_axis.labels)), x_axis.labels)
        ax.set_xlabel(self.d.plot)
        ax.set_ylabel(self.d.metric.replace("_", " "))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(frameon=False, loc="center left", bbox_to_anchor=(1, 0.5))
        ax.set_title(f"{self.title}; mean ± std over {seeds_text(seeds)} ({scale} scale)", fontsize=9)
        return Plot(self.name, fig, data.drop(columns="x"))



def _check(study: str, d: Declaration, axes: list[Axis]) -> None:
    """One line for the first thing in the declaration that does not fit its grid."""
    names = [a.name for a in axes]
    for kind, listed in (("rows", d.rows), ("columns", d.columns), ("sections", d.sections),
                         *((f"exclude[{i}]", _mapping(study, f"exclude[{i}]", c)) for i, c in enumerate(d.exclude))):
        for name in listed:
            if name not in names:
                raise ConfigError(f"study {study}: study.{kind} names {name!r}, which is not an axis of study.grid "
                                  f"({', '.join(names)})")
    unplaced = [a.name for a in axes if len(a.labels) > 1 and a.name not in (*d.rows, *d.columns, *d.sections)]
    if unplaced:
        raise ConfigError(f"study {study}: axis {unplaced[0]!r} has several values but is in none of study.rows, "
                          "study.columns and study.sections")
    if d.plot is not None and d.plot not in names:
        raise ConfigError(f"study {study}: study.plot names {d.plot!r}, which is not an axis of study.grid")
    metrics = records.columns(records.RunMetrics)
    if d.metric not in metrics:
        raise ConfigError(f"study {study}: unknown metric {d.metric!r}; recorded metrics: {', '.join(metrics)}")
    _mapping(study, "fixed", d.fixed)
    _mapping(study, "baseline", d.baseline or {})
    for what, listed in (("at_scale", _mapping(study, "at_scale", d.at_scale)), ("scales", d.scales)):
        for scale in listed:
            if scale not in ALL_SCALES:
                raise ConfigError(f"study {study}: study.{what} has unknown scale {scale!r}; scales are "
                                  f"{', '.join(ALL_SCALES)}")


def _cell(values: dict[int, float], paper: float | None) -> Cell:
    if not values:
        return Cell(mean=None, paper=paper)
    mean, std = mean_std(list(values.values()))
    return Cell(mean=mean, std=std, n=len(values), paper=paper)


def _mapping(study: str, what: str, value) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"study {study}: study.{what} must be a dict, got {value!r}")
    return value


def _axis(study: str, name: str, values) -> Axis:
    if isinstance(values, dict):  # labelled binding sets
        for label, settings in values.items():
            _mapping(study, f"grid[{name!r}][{label!r}]", settings)
        labels, settings = tuple(str(k) for k in values), tuple(dict(v) for v in values.values())
    elif isinstance(values, (list, tuple)):
        labels, settings = tuple(_label(name, v) for v in values), tuple({name: v} for v in values)
    else:
        raise ConfigError(f"study {study}: study.grid[{name!r}] must be a list of values or a dict of labelled "
                          f"binding sets, got {values!r}")
    if not labels:
        raise ConfigError(f"study {study}: study.grid[{name!r}] has no values")
    return Axis(name, labels, settings)


def _header(name: str) -> str:
    """`prune_rate` -> `Prune rate`."""
    text = name.replace("_", " ")
    return text[:1].upper() + text[1:]


def _label(axis: str, value) -> str:
    """How a value shows in the table: rates and fractions in percent, the paper's names for ours."""
    if axis in PERCENT and isinstance(value, (int, float)):
        return f"{value * 100:g}%"
    if isinstance(value, float):
        return f"{value:g}"
    return LABELS.get(str(value), str(value))
