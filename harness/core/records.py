"""The one definition of each record a run writes: the per-epoch history row, the final metrics and the run's
spec. Every consumer (result.json, metrics.jsonl, W&B, the collection's tables, the progress bar) derives its
names from these fields, so a field added here reaches all of them and none can silently drop one.

Field metadata, read with defaults, so a record extended elsewhere (a test's copy) needs only what it uses:
    wandb       the W&B name; for a dict value a pattern, `{}` standing for each entry's key
    column      a column of the collection's tables: True, or for a dict value the entry the column holds
    bar         the progress bar: a history value's label, or how a spec field reads in the bar's description
    cell        how a spec field enters the cell and run names (a format); `omit`: values that leave it out
    identifies  whether a spec field identifies the table cell (all but the seed)
    label       how a spec field reads in a one-line description (a format, with its separator)
    tag         whether a spec field's value is a W&B tag

Consumers look the classes up here at call time (`records.EpochRow`), never bind them at import.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path

SCHEMA = 1  # result.json's `schema`: a record of another schema is not read as this one


def value(*, wandb: str | None = None, column: bool | str = False, bar: str | None = None,
          default=MISSING) -> Field:
    """A measured field (history rows and metrics)."""
    return field(default=default, metadata={"wandb": wandb, "column": column, "bar": bar})


def part(cell: str, *, label: str | None = None, identifies: bool = True, omit: tuple = (), tag: bool = False,
         bar: str | None = None) -> Field:
    """A field of the run's spec."""
    return field(metadata={"cell": cell, "label": label, "identifies": identifies, "omit": omit, "tag": tag,
                           "bar": bar, "column": True})


@dataclass(kw_only=True)
class EpochRow:
    """One epoch of `history` (result.json, metrics.jsonl, checkpoints); None where the epoch did not measure
    it. Table columns come in field order."""

    epoch: int = value(wandb="epoch")
    test_accuracy: float | None = value(wandb="test/accuracy", column=True, bar="test_accuracy", default=None)
    test_loss: float | None = value(wandb="test/loss", column=True, default=None)
    val_accuracy: float | None = value(wandb="val/accuracy", default=None)
    val_loss: float | None = value(wandb="val/loss", column=True, default=None)
    overfit_gap: float | None = value(wandb="test/overfit_gap", column=True, default=None)
    train_loss: float | None = value(wandb="train/loss", column=True, bar="train_loss")
    lr: float = value(wandb="train/lr")
    sp_kl: float | None = value(wandb="train/sp_kl")
    sp_kl_at_record: float | None = value(wandb="train/sp_kl_at_record")
    coreset_size: int = value(wandb="coreset/size", column=True)
    coreset_noise_ratio: float | None = value(wandb="coreset/noise_ratio", column=True)
    coreset_overlap: float | None = value(wandb="coreset/overlap")
    noisy_clean_loss_ratio: float | None = value(wandb="train/noisy_clean_loss_ratio", column=True, default=None)
    coreset_noisy_loss: float | None = value(wandb="coreset/noisy_loss", column=True, default=None)
    density: float = value(wandb="sparsity/density", column=True)
    train_flops: float = value(wandb="flops/train")
    epoch_time_s: float | None = value(wandb="time/epoch_s", default=None)


@dataclass(kw_only=True)
class RunMetrics:
    """result.json's `metrics`: the final values (final, not best, accuracy: what the tables report)."""

    test_accuracy: float | None = value(wandb="test/accuracy", column=True)
    best_test_accuracy: float | None = value(wandb="test/best_accuracy", column=True)
    test_loss: float | None = value(wandb="test/loss", column=True)
    params_total: int = value(wandb="sparsity/params_total", column=True)
    params_nonzero: int = value(wandb="sparsity/params_nonzero", column=True)
    density: float = value(wandb="sparsity/density", column=True)
    density_by_layer: dict[str, float] = value()
    train_flops: float = value(wandb="flops/train", column=True)
    relative_train_flops: float = value(wandb="flops/relative_train", column=True)
    inference_flops: float = value(wandb="flops/inference", column=True)
    time_s: dict[str, float] | None = value(wandb="time/{}_s", column="total")  # total, train, selection, eval


@dataclass(kw_only=True)
class RunSpec:
    """What a run is, in the tables' terms; everything but the seed names its table cell (and W&B group)."""

    dataset: str = part("{}", label="{}", tag=True, bar="{}")
    model: str = part("{}", label="/{}", tag=True)
    method: str = part("{}", label="/{}", tag=True, bar=" {}")
    selector: str = part("{}", label=" selector={}", tag=True)
    pruner: str = part("{}", label=" pruner={}", tag=True)
    coreset_fraction: float = part("c{:g}", label=" c={:g}", bar=" c={:g}")
    prune_rate: float = part("p{:g}", label=" p={:g}", bar=" p={:g}")
    label_noise: float = part("n{:g}")
    state_preservation: str = part("sp_{}", omit=(None, "none"))  # the ablation varies it
    fc_rate: float | None = part("fc{:g}", omit=(None,))  # Fig. 7 varies it; None when the FC layer is not pruned
    seed: int = part("s{}", label=" seed={}", identifies=False, bar=" seed={}")


def as_dict(record) -> dict:
    """The record as JSON holds it: a plain dict in field order."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _meta(f: Field, key: str, default=None):
    return f.metadata.get(key, default)


# -- result.json: what counts as a record ----------------------------------------------------------------


def result_problem(record, key: str | None = None) -> str | None:
    """Why `record` (parsed result.json) is not a valid record of the current schema (of run `key` when
    given), or None when it is. A failed run's record is valid; an ok one must hold its final test accuracy.
    The one place that decides: the run folder, the suite's state and the collection all ask it."""
    if not isinstance(record, dict):
        return f"not a record (a JSON {type(record).__name__})"
    if record.get("schema") != SCHEMA:
        return f"schema {record.get('schema')!r}, not {SCHEMA}"
    missing = [name for name in ("key", "status", "spec", "metrics") if name not in record]
    if missing:
        return f"no {', '.join(missing)}"
    if not isinstance(record["key"], str) or (key is not None and record["key"] != key):
        return f"the record of another run ({str(record['key'])[:16]})"
    if record["status"] not in ("ok", "failed"):
        return f"status {record['status']!r}"
    if not isinstance(record["spec"], dict):
        return "a spec that is not a mapping"
    metrics = record["metrics"]
    if not isinstance(metrics, dict) and not (record["status"] == "failed" and metrics is None):
        return "metrics that are not a mapping"
    if record["status"] == "ok" and not _number(metrics.get("test_accuracy")):
        return "status ok but no test accuracy in its metrics"
    return None


def read_result(path: Path, key: str | None = None) -> tuple[dict | None, str | None]:
    """The record at `path` (result.json) and None, or None and why it is not valid: a truncated or malformed
    file counts as no result, with a reason to warn with. (None, None) when there is no file."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return None, None
    except OSError as e:
        return None, f"unreadable ({e.strerror or e})"
    try:
        record = json.loads(text)
    except ValueError:
        return None, "truncated or corrupt"
    problem = result_problem(record, key)
    return (None, problem) if problem else (record, None)


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


# -- names derived from the fields ----------------------------------------------------------------------


def columns(cls) -> list[str]:
    """The fields that are columns of the collection's tables."""
    return [f.name for f in fields(cls) if _meta(f, "column")]


def column_values(cls, data: dict) -> dict:
    """A record's table columns from its JSON form (a dict entry where the column holds one)."""
    out = {}
    for f in fields(cls):
        column = _meta(f, "column")
        if column is True:
            out[f.name] = data.get(f.name)
        elif column:
            out[f.name] = (data.get(f.name) or {}).get(column)
    return out


def cell_columns() -> list[str]:
    """The spec fields that identify a table cell."""
    return [f.name for f in fields(RunSpec) if _meta(f, "identifies", True)]


def wandb_names(cls) -> dict[str, str]:
    """Field -> W&B name (a pattern for dict values)."""
    return {f.name: _meta(f, "wandb") for f in fields(cls) if _meta(f, "wandb")}


def wandb_values(cls, data: dict) -> dict:
    """W&B name -> value of a record's JSON form, dict values spread over their entries (not yet checked
    for being finite numbers)."""
    out = {}
    for name, wandb in wandb_names(cls).items():
        v = data.get(name)
        if "{}" not in wandb:
            out[wandb] = v
        elif isinstance(v, dict):
            out |= {wandb.format(k): x for k, x in v.items()}
    return out


def wandb_prefixes() -> list[str]:
    """The W&B groups (`train`, `test`, ...), each charted against the epoch."""
    names = [*wandb_names(EpochRow).values(), *wandb_names(RunMetrics).values()]
    return list(dict.fromkeys(n.split("/")[0] for n in names if "/" in n))


def bar_labels() -> dict[str, str]:
    """History field -> its label in the progress bar."""
    return {f.name: _meta(f, "bar") for f in fields(EpochRow) if _meta(f, "bar")}


# -- the spec in words ----------------------------------------------------------------------------------


def _name_parts(spec: dict, identifying: bool) -> list[str]:
    """The name parts of the spec fields that do (or do not) identify the cell."""
    parts = []
    for f in fields(RunSpec):
        v = spec.get(f.name)
        if _meta(f, "identifies", True) == identifying and _meta(f, "cell") and v not in _meta(f, "omit", ()):
            parts.append(_meta(f, "cell").format(v))
    return parts


def cell_name(spec: dict) -> str:
    """A table cell (the W&B group): everything that identifies a run but its seed."""
    return "-".join(_name_parts(spec, identifying=True))


def run_name(spec: dict) -> str:
    """One run of a cell (the W&B run name): the cell name, then the seed."""
    return "-".join([*_name_parts(spec, identifying=True), *_name_parts(spec, identifying=False)])


def tags(spec: dict) -> list[str]:
    return [spec[f.name] for f in fields(RunSpec) if _meta(f, "tag")]


def describe(spec: dict, style: str = "label") -> str:
    """The spec in one line, in the fields' `label` formats (or `bar`: the progress bar's description);
    tolerates missing fields, as a spec read from a damaged file may have."""
    text = ""
    for f in fields(RunSpec):
        fmt = _meta(f, style)
        if fmt is None:
            continue
        v = spec.get(f.name)
        try:
            text += fmt.format(v)
        except (TypeError, ValueError):  # None, or a string where a number belongs
            text += re.sub(r"\{[^}]*\}", str(v), fmt)
    return text.strip(" /")
