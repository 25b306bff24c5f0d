"""No binding is ever ignored: every macro and every configurable parameter that the user binds, in their own
gin files or with `--gin_param`, must be read by something this run uses.

Gin itself rejects unknown configurables and parameters. What it accepts silently is a binding that nothing
reads: `prune_rate = 0.7` on a dense run, `selectors.gradmatch.lam` when the selector is `random`, a
misspelt macro. Those would train something other than what the user asked for, without a word.

The repository's own files under `gin/` (base, datasets, models, methods, scales, the experiment files) set
defaults for every kind of run, so their bindings do not count; a user file that includes them does.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import gin
from gin import config_parser

from harness.core.errors import ConfigError
from harness.core.files import PROJECT_ROOT

REPOSITORY_GIN = PROJECT_ROOT / "gin"
MACRO = "gin.macro"
# what the run chose, for the message about a configurable it does not use: (gin name prefix, which choice)
CHOICES = {"selectors.": "selector", "pruners.": "pruner", "datasets.": "dataset", "models.": "model",
           "methods.": "method"}


@dataclass(frozen=True)
class Binding:
    """One binding the user wrote: a macro (`param` empty) or `selector.param`, and where it was written."""

    selector: str
    param: str
    scope: str
    where: str

    @property
    def is_macro(self) -> bool:
        return not self.param

    @property
    def text(self) -> str:
        name = f"{self.selector}.{self.param}" if self.param else self.selector
        return f"{self.scope}/{name}" if self.scope else name


def user_bindings(paths: Iterable[Path], bindings: Iterable[str], origin: str = "--gin_param") -> list[Binding]:
    """What the user bound: their gin files (and the files those include, outside the repository's `gin/`)
    and their bindings (`origin`: where messages say they come from)."""
    out: list[Binding] = []
    for path in paths:
        out += _file_bindings(Path(path), seen=set())
    for text in bindings:
        for statement in _statements(text):
            if isinstance(statement, config_parser.BindingStatement):
                out.append(_binding(statement, f"{origin} {text.strip()!r}"))
            elif isinstance(statement, config_parser.IncludeStatement):  # `include 'variant.gin'`
                included = _find_include(statement.filename)
                if included is not None:
                    out += _file_bindings(included, seen=set())
    return out


def check(users: list[Binding], used: set[str]) -> None:
    """ConfigError for the first binding in `users` that nothing in this run reads. `used`: the gin name of
    every configurable this run calls."""
    unread = unread_bindings(users, used)
    if not unread:
        return
    b = unread[0]
    if b.is_macro:
        raise ConfigError(f"{b.where}: nothing in this run reads %{b.text}{_macro_hint(b.selector, used)}")
    raise ConfigError(f"{b.where}: {b.text} is not used by this run ({_configurable_hint(b.selector, used)})")


def unread_bindings(users: list[Binding], used: set[str]) -> list[Binding]:
    """The bindings in `users` that nothing in this run reads (`check` without the error)."""
    read = macros_read(used)
    return [b for b in users if b.scope or (b.selector not in read if b.is_macro else
                                            _used_name(b.selector, used) is None)]


def macros_read(used: set[str]) -> dict[str, str]:
    """Macro name -> the configurable parameter that reads it, for every macro this run's configurables read
    (directly, or through another macro)."""
    config = gin.config._CONFIG  # gin keeps no public view of the unevaluated bindings
    read: dict[str, str] = {}
    pending = []
    for (scope, selector), params in config.items():
        name = _used_name(selector, used)
        if scope or selector == MACRO or name is None:
            continue
        for param, value in params.items():
            pending += [(macro, f"{name}.{param}") for macro in _macro_references(value)]
    while pending:
        macro, reader = pending.pop()
        if macro in read:
            continue
        read[macro] = reader
        value = config.get((macro, MACRO), {}).get("value")
        pending += [(inner, f"%{macro}") for inner in _macro_references(value)]
    return read


def _macro_references(value) -> list[str]:
    if isinstance(value, gin.config.ConfigurableReference):
        return [value.scoped_selector.split("/")[0]] if value.selector == MACRO else []
    if isinstance(value, (list, tuple)):
        return [m for v in value for m in _macro_references(v)]
    if isinstance(value, dict):
        return [m for v in value.values() for m in _macro_references(v)]
    return []


def _used_name(selector: str, used: set[str]) -> str | None:
    """The used configurable that `selector` (gin's full or partial name) names, if any."""
    for name in used:
        if selector == name or selector.endswith("." + name) or name.endswith("." + selector):
            return name
    return None


def _macro_hint(macro: str, used: set[str]) -> str:
    read = macros_read(used)
    close = difflib.get_close_matches(macro, list(read), n=1, cutoff=0.75)
    if close:
        return f"; did you mean %{close[0]}?"
    method = next((name for name in used if name.startswith("methods.")), None)
    if method is None:
        return ""
    own = sorted(m for m, reader in read.items() if reader.startswith(method + "."))
    takes = ", ".join(f"%{m}" for m in own) if own else "no macros"
    return f" (method {method.removeprefix('methods.')!r} reads {takes})"


def _configurable_hint(selector: str, used: set[str]) -> str:
    for prefix, choice in CHOICES.items():
        chosen = [name for name in used if name.startswith(prefix)]
        if selector.startswith(prefix) and chosen:
            return f"its {choice} is {chosen[0].removeprefix(prefix)!r}"
    if selector.split(".")[-1] == "preservation":
        return "it has no state preservation: state_preservation = 'none'"
    if selector.split(".")[-1] == "sparsity":
        return "it prunes nothing"
    return f"it uses {', '.join(sorted(used))}"


def _file_bindings(path: Path, seen: set[Path]) -> list[Binding]:
    path = path.resolve()
    if path in seen or path.is_relative_to(REPOSITORY_GIN):
        return []
    seen.add(path)
    out = []
    for statement in _statements(path.read_text()):
        if isinstance(statement, config_parser.IncludeStatement):
            included = _find_include(statement.filename)
            if included is not None:
                out += _file_bindings(included, seen)
        elif isinstance(statement, config_parser.BindingStatement):
            out.append(_binding(statement, f"{path.name}, line {statement.location.line_num}"))
    return out


def _find_include(name: str) -> Path | None:
    """Where gin finds an include: from the working folder or the repository."""
    for candidate in (Path(name), PROJECT_ROOT / name):
        if candidate.is_file():
            return candidate
    return None  # gin has already reported an include it cannot open


def _statements(text: str):
    return config_parser.ConfigParser(text, gin.config.ParserDelegate(skip_unknown=True))


def _binding(statement, where: str) -> Binding:
    return Binding(selector=statement.selector, param=statement.arg_name, scope=statement.scope, where=where)
