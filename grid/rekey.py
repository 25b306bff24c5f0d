"""`python -m benchmarks rekey`: move finished runs to today's run keys when the code since only added
parameters at their defaults.

A run's key is the sha256 of every parameter it uses, so a new parameter (a switch whose default keeps what
the code did before) changes the key of every run that uses its section, and finished runs count as missing.
A run folder is carried over when its `config.gin`, resolved with today's code, keeps every line it had and
only gains lines that hold today's defaults; any other difference means the computation changed, and the run
is left as it is. Carried over: the folder is renamed to the new short key and `config.gin`, `result.json`
(`key`, `config`, plus `rekeyed_from`) and the checkpoint's key are rewritten to agree with it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from harness import config
from harness.core import files
from harness.core.errors import ConfigError

OUTCOMES = (CARRIED, UNCHANGED, CHANGED, UNREADABLE, REFUSED) = (
    "carried over", "unchanged", "really changed", "unreadable", "refused")
SHOWN = 3  # differences named on a run's line


@dataclass(frozen=True)
class Outcome:
    folder: str  # the run folder's name before rekeying
    kind: str  # one of OUTCOMES
    detail: str = ""
    new_folder: str = ""

    def line(self, dry_run: bool = False) -> str:
        if self.kind == CARRIED:
            verb = "would carry over" if dry_run else "carried over"
            return f"{verb} {self.folder} -> {self.new_folder} ({self.detail})"
        if self.kind == REFUSED:
            return f"refused {self.folder} -> {self.new_folder}: {self.detail}; left as it is"
        return f"{self.kind} {self.folder}: {self.detail}; left as it is"


class _Unreadable(Exception):
    """A run folder whose records are missing, corrupt or disagree with each other (one line)."""


def rekey(runs_root: Path, dry_run: bool = False) -> list[Outcome]:
    """Carry every run folder under `runs_root` over to today's key where that is safe (see the module)."""
    runs_root = Path(runs_root)
    if not runs_root.is_dir():
        raise ConfigError(f"no runs folder {str(runs_root)!r}: pass the results folder that holds runs/ with --results")
    folders = sorted(p for p in runs_root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [_rekey_folder(folder, dry_run) for folder in folders]


def summary(outcomes: list[Outcome], dry_run: bool = False) -> str:
    counts = Counter(o.kind for o in outcomes)
    text = "rekey: " + ", ".join(f"{counts[kind]} {kind}" for kind in OUTCOMES)
    return text + (" (dry run: nothing written)" if dry_run else "")


def _rekey_folder(folder: Path, dry_run: bool) -> Outcome:
    try:
        return _rekey(folder, dry_run)
    except _Unreadable as e:
        return Outcome(folder.name, UNREADABLE, str(e))
    except Exception as e:  # whatever a damaged folder raises, the others still get their turn
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return Outcome(folder.name, UNREADABLE, f"{type(e).__name__}: {first}".rstrip(": "))


def _rekey(folder: Path, dry_run: bool) -> Outcome:
    config_path = folder / "config.gin"
    old_text = _canonical_text(config_path)
    old_key = hashlib.sha256(old_text.encode()).hexdigest()
    record = _result(folder / "result.json")
    try:
        new = config.parse([str(config_path)])
    except ConfigError as e:
        as_written = folder.name == old_key[:16] and (record is None or (
            record["key"] == old_key and record.get("config", old_text) == old_text))
        if not as_written:
            raise _Unreadable("its records disagree with its config.gin") from None
        return Outcome(folder.name, CHANGED, f"does not resolve with today's code ({e.message})")

    # A rekey interrupted after the rename, or after some records were rewritten, may have left the new key.
    keys = (old_key, new.key)
    if folder.name not in (old_key[:16], new.short_key):
        raise _Unreadable(f"the folder's name is not its config.gin's key {old_key[:16]}")
    if record is not None:
        if record.get("key") not in keys:
            raise _Unreadable("result.json's key is not its config.gin's")
        if record.get("config", old_text) not in (old_text, new.text):
            raise _Unreadable("result.json's config is not its config.gin's")
    if old_key == new.key:
        return Outcome(folder.name, UNCHANGED)

    changed, added = _differences(old_text, new.text)
    if changed:
        return Outcome(folder.name, CHANGED, _shown(changed))
    checkpoint = _checkpoint(folder / "checkpoint.pt")
    if checkpoint is not None and checkpoint.get("key") not in keys:
        raise _Unreadable("checkpoint.pt's key is not its config.gin's")
    target = folder.parent / new.short_key
    if target != folder and target.exists():
        return Outcome(folder.name, REFUSED, f"{target.name} exists already", target.name)
    if not dry_run:
        _carry(folder, target, old_key, new, record, checkpoint)
    return Outcome(folder.name, CARRIED, "added at defaults: " + _shown(added), target.name)


def _carry(folder: Path, target: Path, old_key: str, new: config.RunConfig, record: dict | None,
           checkpoint: dict | None) -> None:
    """Rename first (atomic), config.gin last: until config.gin is rewritten, running rekey again finishes."""
    if target != folder:
        folder.rename(target)
    if checkpoint is not None and checkpoint.get("key") != new.key:
        files.save_torch(target / "checkpoint.pt", {**checkpoint, "key": new.key})
    if record is not None:
        previous = [k for k in record.get("rekeyed_from", []) if k != old_key]
        files.write_json(target / "result.json",
                         {**record, "key": new.key, "config": new.text, "rekeyed_from": [*previous, old_key]})
    files.write_text(target / "config.gin", new.config_gin)


def _differences(old_text: str, new_text: str) -> tuple[list[str], list[str]]:
    """(what changed or went, one line each) and (the lines added at today's defaults)."""
    old, new = _lines(old_text), _lines(new_text)
    changed = [f"{name} is gone" if name not in new else f"{name}: {old[name]} -> {new[name]}"
               for name in sorted(old) if new.get(name) != old[name]]
    defaults = config.configurables()
    added = []
    for name in sorted(new.keys() - old.keys()):
        if name.startswith("import "):
            changed.append(f"{name} is new")
            continue
        section, _, param = name.rpartition(".")
        p = defaults.get(section, {}).get(param)
        line = f"{name} = {new[name]}"
        if p is None or p.default is p.empty or config.canonical_line(section, param, p.default) != line + "\n":
            changed.append(f"{line} is new and not its default")
        else:
            added.append(line)
    return changed, added


def _lines(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line.startswith("import "):  # a plug-in module the run imports: kept or gone, like a parameter
            out[line] = ""
            continue
        name, sep, value = line.partition(" = ")
        if not sep:
            raise _Unreadable(f"config.gin has a line that is not `name.param = value`: {line[:80]!r}")
        out[name] = value
    return out


def _shown(items: list[str]) -> str:
    more = f"; {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return "; ".join(items[:SHOWN]) + more


def _canonical_text(path: Path) -> str:
    """config.gin without its comment header: the text the run key is the sha256 of."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise _Unreadable("no config.gin") from None
    except (OSError, UnicodeDecodeError) as e:
        raise _Unreadable(f"config.gin cannot be read ({e})") from None
    lines = [line + "\n" for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        raise _Unreadable("config.gin is empty")
    _lines("".join(lines))  # each `name.param = value`, or the folder is not a run's
    return "".join(lines)


def _result(path: Path) -> dict | None:
    if not path.exists():
        return None  # a run that is still going, or was interrupted
    record = files.read_json(path)
    if not isinstance(record, dict) or "key" not in record:
        raise _Unreadable("result.json is truncated or corrupt")
    return record


def _checkpoint(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated file raises one of several types
        raise _Unreadable(f"checkpoint.pt cannot be read ({type(e).__name__})") from None
    if not isinstance(state, dict):
        raise _Unreadable("checkpoint.pt holds no state dict")
    return state
