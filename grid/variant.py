"""A variant of a suite: the same grid with gin files and bindings applied to every run ("Table 5 with my
selector", "Table 1 under Algorithm 1's literal schedule"), without editing the repository.

The variant's bindings are shared (`harness.config.parse`): applied after each run's own files and bindings,
read by the runs that read them and ignored by the others (`prune_rate` on coreset-only), and an error when
no run of the suite reads one. Its runs have their own keys. Its table is the base suite's table computed
twice, from the base runs and from the variant's runs put in their places, row beside row.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pandas as pd

from grid.collection import Collection
from grid.plotting import Plot
from grid.suite import Planned, Run, Suite
from grid.tables import Table
from harness.core import records
from harness.core.errors import ConfigError

NAME = re.compile(r"^[A-Za-z0-9_.=,-]+$")


class Variant(Suite):
    """`base`'s grid with gin files (`include` lines) and bindings shared by every run, named `base+label`."""

    def __init__(self, base: Suite, files: tuple[str, ...] = (), bindings: tuple[str, ...] = (),
                 label: str | None = None):
        if not files and not bindings:
            raise ConfigError("a variant needs --gin FILE or --gin_param BINDING")
        for binding in bindings:
            if re.match(r"\s*seed\s*=", binding):
                raise ConfigError(f"a variant cannot bind the seed ({binding!r}); use --seeds")
        paths = []
        for f in files:
            if not Path(f).is_file():
                raise ConfigError(f"variant gin file {f!r} not found")
            paths.append(str(Path(f).resolve()))
        self.base = base
        self.shared = (*(f"include {p!r}" for p in paths), *bindings)
        self.label = label or derived_label(files, bindings)
        if not NAME.match(self.label):
            raise ConfigError(f"variant name {self.label!r} may hold only letters, digits and _ . = , -")
        self.name = f"{base.name}+{self.label}"
        self.title = f"{base.title}; variant {self.label}"
        self.scales = base.scales

    def runs(self, scale: str) -> list[Run]:
        return [self._vary(run) for run in self.base.runs(scale)]

    def _vary(self, run: Run) -> Run:
        return Run(run.files, run.bindings, (*run.shared, *self.shared))

    def collected(self, scale: str, seeds: int) -> list[str]:
        return [*super().collected(scale, seeds), *self.base.collected(scale, seeds)]

    def table(self, collection: Collection, scale: str, seeds: int) -> Table | None:
        base_table = self.base.table(self._base_part(collection, scale, seeds), scale, seeds)
        if base_table is None:
            return None
        ours = self.base.table(self._in_base_places(collection, scale, seeds), scale, seeds)
        sections = []
        for base_section, our_section in zip(base_table.sections, ours.sections, strict=True):
            rows = []
            for (labels, base_cells), (_, our_cells) in zip(base_section.rows, our_section.rows, strict=True):
                if any(c.mean is not None for c in base_cells):
                    rows.append(([*labels, self.base.name], base_cells))
                rows.append(([*labels, self.label], our_cells))
            sections.append(dataclasses.replace(base_section, rows=rows))
        applied = "; ".join(self.shared)
        notes = [*base_table.notes, f"Rows `{self.label}`: every run of {self.base.name} with `{applied}` "
                 f"(rows `{self.base.name}`, where its runs exist: the suite as it is)."]
        return dataclasses.replace(base_table, name=self.name, caption=f"{base_table.caption} Variant {self.label}.",
                                   row_header=[*base_table.row_header, "Runs"], sections=sections, notes=notes)

    def figure(self, collection: Collection, scale: str, seeds: int) -> Plot | None:
        plot = self.base.figure(self._in_base_places(collection, scale, seeds), scale, seeds)
        return None if plot is None else dataclasses.replace(plot, name=self.name)

    def _base_part(self, collection: Collection, scale: str, seeds: int) -> Collection:
        keys = set(self.base.collected(scale, seeds))
        return Collection(collection.frame[collection.frame["key"].isin(keys)], collection.problems,
                          collection.history[collection.history["key"].isin(keys)])

    def _in_base_places(self, collection: Collection, scale: str, seeds: int) -> Collection:
        """The variant's results under the base runs' keys and specs, so the base suite's table finds them."""
        base, ours = self.base._parsed(scale, seeds), self._parsed(scale, seeds)
        places = [(ours[(self._vary(run), seed)], planned) for (run, seed), planned in base.items()]
        return Collection(_moved(collection.frame, places), collection.problems, _moved(collection.history, places))


def _moved(frame: pd.DataFrame, places: list[tuple[Planned, Planned]]) -> pd.DataFrame:
    parts = []
    for ours, base in places:
        rows = frame[frame["key"] == ours.key].copy()
        if rows.empty:
            continue
        rows["key"] = base.key
        for column, value in records.column_values(records.RunSpec, base.spec).items():
            rows[column] = value
        parts.append(rows)
    return pd.concat(parts, ignore_index=True) if parts else frame.iloc[0:0]


def derived_label(files: tuple[str, ...], bindings: tuple[str, ...]) -> str:
    """`selector = 'hardest'` -> `selector=hardest`; a file -> its stem; `import` lines leave no trace."""
    parts = [Path(f).stem for f in files]
    for binding in bindings:
        if binding.strip().startswith("import "):
            continue
        name, _, value = binding.partition("=")
        parts.append(re.sub(r"[^A-Za-z0-9_.-]", "", name) + "=" + re.sub(r"[^A-Za-z0-9_.-]", "", value))
    return ",".join(parts) or "variant"
