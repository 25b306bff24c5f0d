"""Result collection: every `result.json` under a runs folder into one pandas frame, problems reported,
never fatal, and the mean and spread over seeds of each table cell. The columns are the fields of
`harness.core.records` marked as table columns, spec first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.core import files, records
from harness.core.numeric import same


@dataclass
class Collection:
    frame: pd.DataFrame  # one row per readable result (ok and failed), spec + metrics + status
    problems: list[str] = field(default_factory=list)  # unreadable files, failed runs: one line each
    history: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per epoch of each ok run (figures)

    @property
    def ok(self) -> pd.DataFrame:
        return self.frame[self.frame["status"] == "ok"]


def collect(runs_root: Path, keys: Iterable[str] | None = None) -> Collection:
    """Read `runs_root/*/result.json` (only the run folders of `keys` when given)."""
    runs_root = Path(runs_root)
    if keys is None:
        paths = sorted(runs_root.glob("*/result.json"))
    else:
        key_of = {runs_root / files.short_key(k) / "result.json": k for k in keys}
        paths = [p for p in key_of if p.exists()]
    spec_columns, metric_columns = records.columns(records.RunSpec), records.columns(records.RunMetrics)
    rows, problems, epochs = [], [], []
    for path in paths:
        record, problem = records.read_result(path, None if keys is None else key_of[path])
        if problem:
            problems.append(f"unreadable result ({problem}), left out: {path}")
            continue
        if record["status"] != "ok":
            problems.append(f"failed run {path.parent.name} ({records.describe(record['spec'])}): "
                            f"{record.get('error')}")
        rows.append({"key": record["key"], "status": record["status"], "error": record.get("error"),
                     **records.column_values(records.RunSpec, record["spec"]),
                     **records.column_values(records.RunMetrics, record.get("metrics") or {})})
        if record["status"] == "ok":
            epochs += _epochs(record)
    frame = pd.DataFrame(rows, columns=["key", "status", "error", *spec_columns, *metric_columns])
    history = pd.DataFrame(epochs, columns=["key", *spec_columns, "epoch", "selection_round",
                                            *records.columns(records.EpochRow)])
    return Collection(frame, problems, history)


def _epochs(record: dict) -> list[dict]:
    """The run's per-epoch history with its spec; `selection_round` (1, 2, ...) marks the epochs that began
    with a coreset selection, so the noise ratio at that row is that of the coreset just selected."""
    rounds = {epoch: i + 1 for i, epoch in enumerate(record.get("selection_epochs") or [])}
    spec = records.column_values(records.RunSpec, record["spec"])
    return [{"key": record["key"], **spec, "epoch": row.get("epoch"), "selection_round": rounds.get(row.get("epoch")),
             **records.column_values(records.EpochRow, row)}
            for row in record.get("history") or [] if isinstance(row, dict)]


def aggregate(frame: pd.DataFrame, value: str = "test_accuracy", by: list[str] | None = None) -> pd.DataFrame:
    """Mean, sample standard deviation (ddof = 1; NaN for one seed) and count of `value` per cell."""
    by = by or records.cell_columns()
    if frame.empty:
        return pd.DataFrame(columns=[*by, "mean", "std", "n"])
    grouped = frame.groupby(by, dropna=False)[value]
    out = grouped.agg(["mean", "std", "count"]).rename(columns={"count": "n"}).reset_index()
    return out


def matching(frame: pd.DataFrame, conditions: dict) -> pd.DataFrame:
    """The rows whose columns equal the given values (floats to within `numeric.TOLERANCE`)."""
    keep = pd.Series(True, index=frame.index)
    for column, value in conditions.items():
        keep &= same(frame[column], value)
    return frame[keep]


def summarize(frame: pd.DataFrame, by: list[str], values: list[str]) -> pd.DataFrame:
    """Per group of `by`: `<value>_mean` and `<value>_std` (ddof = 1) of each value, and `n`, the number of rows
    (seeds); the shape of the CSV files behind the figures."""
    columns = [*by, "n", *(f"{v}_{stat}" for v in values for stat in ("mean", "std"))]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    data = frame[[*by, *values]].copy()
    data[values] = data[values].astype(float)
    grouped = data.groupby(by, dropna=False, sort=True)
    out = grouped[values].agg(["mean", "std"])
    out.columns = [f"{v}_{stat}" for v, stat in out.columns]
    out["n"] = grouped.size()
    return out.reset_index()[columns]
