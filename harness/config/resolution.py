"""Gin files + `--gin_param` bindings -> a fully resolved run configuration and its run key.

The canonical text lists every parameter of everything the run uses (settings, dataset, model, method,
selector, pruner), bindings applied and defaults included, one `name.param = value` line each, sorted,
after the `import` lines of its gin files and bindings (plug-ins from outside the repository), sorted too.
It is what `config.gin` holds (itself a gin file that reproduces the run) and the run key is the sha256
of it. `runtime.*` (device, paths, logging) stays out: it does not change what is computed.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import importlib.util  # noqa: F401  (gin needs it loaded to report a missing included file)
import inspect
import re
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path

import gin

import harness.data  # noqa: F401  (registers the datasets)
import harness.models  # noqa: F401  (registers the architectures)
from harness.config import values
from harness.config.bindings import check as check_bindings
from harness.config.bindings import unread_bindings, user_bindings
from harness.core import records, registry
from harness.core.errors import ConfigError, call_configurable
from harness.core.files import PROJECT_ROOT, short_key
from harness.core.recipe import Method
from harness.core.sections import (
    CONFIGURABLES,
    SETTINGS,
    DataSettings,
    Experiment,
    ModelSettings,
    PreservationSettings,
    Runtime,
    SparsitySettings,
    TrainSettings,
)

# Arguments the harness passes itself when it builds an entry; gin may not bind them and they stay out
# of the canonical text (a dataset's location is not part of what the run computes).
HARNESS_SUPPLIED = {
    "dataset": ("root", "download", "cache_dir", "workers"),
    "model": ("num_classes", "in_channels"),
}

_HEADER = (
    "# swast-bench run configuration: every parameter this run uses, defaults included.\n"
    "# The run key is the sha256 of the lines below. Re-run with: python -m harness.run <this file>\n"
)


@dataclass(frozen=True)
class RunConfig:
    """One run, resolved: the settings objects, the method, and the canonical text and key."""

    text: str
    key: str
    experiment: Experiment
    method: Method
    data: DataSettings
    model: ModelSettings
    train: TrainSettings
    preservation: PreservationSettings
    sparsity: SparsitySettings
    runtime: Runtime
    params: dict[str, dict] = field(repr=False)
    unread: tuple[str, ...] = ()  # the shared bindings (`parse`) that this run does not read

    @property
    def short_key(self) -> str:
        return short_key(self.key)

    @property
    def config_gin(self) -> str:
        return _HEADER + self.text

    @property
    def spec(self) -> dict:
        """The run in the tables' terms (`records.RunSpec`), as result.json holds it."""
        m = self.method
        return records.as_dict(records.RunSpec(
            dataset=self.experiment.dataset,
            model=self.experiment.model,
            method=m.name,
            selector=m.selector,
            pruner=m.pruner,
            coreset_fraction=m.coreset_fraction,
            prune_rate=m.prune_rate,
            label_noise=self.data.label_noise,
            state_preservation=m.state_preservation,
            fc_rate=self.sparsity.fc_rate if m.scope == "backbone" else None,
            seed=self.experiment.seed,
        ))

    def entry_params(self, kind: str, name: str) -> dict:
        return self.params[registry.gin_name(kind, name)]


def parse(files: list[str] | tuple[str, ...], bindings: list[str] | tuple[str, ...] = (),
          shared: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Parse gin files (in order, later ones override) and bindings (applied after them) into a RunConfig.

    `shared`: bindings applied last that a whole suite shares (a variant's, a study's grid; `include 'f.gin'`
    lines too). Each must be read by some run of the suite, not by this one: those this run does not read are
    listed in `RunConfig.unread` instead of being an error, and change nothing it computes."""
    gin.clear_config()
    gin.add_config_file_search_path(str(PROJECT_ROOT))
    paths = [str(_find_gin_file(f)) for f in files]
    if not paths:
        raise ConfigError("no gin file given: pass at least one, e.g. gin/digits/swast_cut.gin")
    try:
        gin.parse_config_files_and_bindings(paths, [*bindings, *shared], finalize_config=False)
    except Exception as e:  # gin reports a bad file or binding with many exception types
        raise ConfigError(explain_gin_error(e)) from None
    cfg = resolve()
    used = {*cfg.params, "runtime"}
    check_bindings(user_bindings(paths, bindings), used)
    unread = unread_bindings(user_bindings([], shared), used)
    return dataclasses.replace(cfg, unread=tuple(b.text for b in unread)) if unread else cfg


def activate(cfg: RunConfig) -> None:
    """Make gin's global state `cfg`'s configuration again, whatever was parsed since (another run, a cluster
    profile): registry entries read their arguments from it when a run builds them, and gin's operative
    config, written after training, records what it injected."""
    gin.clear_config()
    runtime = "".join(f"runtime.{f.name} = {_format(getattr(cfg.runtime, f.name))}\n" for f in fields(cfg.runtime))
    gin.parse_config(cfg.text + runtime)
    if resolve().key != cfg.key:  # resolving again calls every configurable, as the first parse did
        raise RuntimeError(f"run {cfg.short_key}: its configuration text does not reproduce its key")


def resolve() -> RunConfig:
    """Resolve the currently parsed gin configuration (see `parse`)."""
    params: dict[str, dict] = {}

    def settings(name: str):
        params[name] = _resolve(name, SETTINGS[name])
        return call_configurable(CONFIGURABLES[name])

    experiment = settings("experiment")
    method_entry = registry.entry("method", experiment.method)
    params[method_entry.gin_name] = _resolve(method_entry.gin_name, method_entry.target)
    method = call_configurable(method_entry.configurable)
    if not isinstance(method, Method):
        raise TypeError(f"method {experiment.method!r} must return a harness.core.recipe.Method, got {type(method)!r}")

    for kind, name in (
        ("dataset", experiment.dataset),
        ("model", experiment.model),
        ("selector", method.selector),
        ("pruner", method.pruner),
    ):
        e = registry.entry(kind, name)
        params[e.gin_name] = _resolve(e.gin_name, e.target, exclude=HARNESS_SUPPLIED.get(kind, ()))

    data = settings("data")
    model = settings("model")
    train = settings("train")
    preservation = settings("preservation") if method.state_preservation != "none" else PreservationSettings()
    sparsity = settings("sparsity") if method.prunes else SparsitySettings()
    _resolve("runtime", Runtime)  # checked like the rest, but outside `params`: not part of the key
    runtime = call_configurable(CONFIGURABLES["runtime"])

    text = "".join(f"{line}\n" for line in imports()) + "".join(
        canonical_line(name, param, value) for name in sorted(params) for param, value in sorted(params[name].items()))
    return RunConfig(
        text=text,
        key=text_key(text),
        experiment=experiment,
        method=method,
        data=data,
        model=model,
        train=train,
        preservation=preservation,
        sparsity=sparsity,
        runtime=runtime,
        params=params,
    )


def imports() -> list[str]:
    """The `import module` statements of the parsed gin files and bindings, sorted: a run that uses a plug-in
    from outside the repository keeps them in its config.gin, so it re-runs wherever the module imports, and
    its key names the module."""
    return sorted(statement.format() for statement in gin.config._IMPORTS)  # gin keeps no public list


def reseed(cfg: RunConfig, seed: int) -> RunConfig | None:
    """`cfg` at seed `seed` without parsing it again: its `experiment.seed` line replaced, which is exactly what
    parsing would give when that line is the only place its seed's value appears (bound values are literals, so
    a parameter bound to %seed would show the same value). None where the value shows elsewhere: parse then.
    `cfg` parsed at a seed of many digits makes that test sharp."""
    old = canonical_line("experiment", "seed", cfg.experiment.seed)
    if cfg.text.count(repr(cfg.experiment.seed)) != 1 or old not in cfg.text:
        return None
    text = cfg.text.replace(old, canonical_line("experiment", "seed", seed))
    return dataclasses.replace(cfg, text=text, key=text_key(text),
                               experiment=dataclasses.replace(cfg.experiment, seed=seed),
                               params={**cfg.params, "experiment": {**cfg.params["experiment"], "seed": seed}})


def text_key(text: str) -> str:
    """The run key of a canonical text: its sha256."""
    return hashlib.sha256(text.encode()).hexdigest()


def canonical_line(gin_name: str, param: str, value) -> str:
    """One line of the canonical text, as the run key hashes it."""
    return f"{gin_name}.{param} = {_format(value)}\n"


def _resolve(gin_name: str, target, exclude: tuple[str, ...] = ()) -> dict:
    """Every parameter of `target`: gin's binding if there is one, else the default."""
    try:
        bound = gin.get_bindings(gin_name)
    except Exception as e:
        raise ConfigError(explain_gin_error(e)) from None
    out, hints = {}, _type_hints(target)
    for name, p in registry.signature_parameters(target).items():
        if name in exclude:
            if name in bound:
                raise ConfigError(f"{gin_name}.{name} is set by the harness and cannot be bound in gin")
            continue
        if name in bound:
            value = bound[name]
        elif p.default is not p.empty:
            value = p.default
        else:
            raise ConfigError(f"{gin_name}.{name} is required but not set: bind it in a gin file or with --gin_param")
        values.check(f"{gin_name}.{name}", value, hints.get(name))
        out[name] = value
    return out


@functools.cache
def _type_hints(target) -> dict:
    """The annotations of `target`'s parameters, resolved (none where they cannot be: nothing is checked)."""
    inner = target if inspect.isfunction(target) or dataclasses.is_dataclass(target) else target.__init__
    try:
        return typing.get_type_hints(inner, include_extras=True)
    except Exception:  # a plug-in's annotation that does not resolve: its own checks still run
        return {}


def _format(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_format(k)}: {_format(value[k])}" for k in sorted(value, key=repr)) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_format(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def _find_gin_file(name: str) -> Path:
    for candidate in (Path(name), PROJECT_ROOT / name):
        if candidate.is_file():
            return candidate
    folder = Path(name).parent
    for base in (folder, PROJECT_ROOT / folder):
        if base.is_dir():
            siblings = sorted(p.name for p in base.glob("*.gin"))
            if siblings:
                raise ConfigError(f"gin file {name!r} not found; {base} has: {', '.join(siblings)}")
    raise ConfigError(f"gin file {name!r} not found")


def configurables() -> dict[str, dict]:
    """gin name -> the parameters it takes (with their defaults), for every section and registry entry."""
    known = {name: registry.signature_parameters(cls) for name, cls in SETTINGS.items()}
    for e in registry.entries():
        known[e.gin_name] = e.parameters()
    return known


def explain_gin_error(error: Exception) -> str:
    """Gin's multi-line error as one line: what is wrong, where, and what is allowed."""
    text = str(error)
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    where = ""
    m = re.search(r'In file "([^"]+)", line (\d+)', text)
    if m:
        where = f" (in {m.group(1)}, line {m.group(2)})"
    m = re.search(r"In bindings string line \d+\n\s*(.+)", text)
    if m:
        where = f" (in --gin_param {m.group(1).strip()!r})"
    known = configurables()

    m = re.search(r"No configurable matching '([^']+)'", first)
    if m:
        close = difflib.get_close_matches(m.group(1), list(known), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(known))}"
        return f"unknown gin configurable {m.group(1)!r}{where}{hint}"
    m = re.search(r"Configurable '([^']+)' doesn't have a parameter named '([^']+)'", first)
    if m:
        name, param = m.groups()
        matches = [k for k in known if k == name or k.endswith("." + name)]
        takes = ", ".join(known[matches[0]]) if len(matches) == 1 else "?"
        return f"{name!r} has no parameter {param!r}{where}; it takes: {takes}"
    m = re.search(r"In call to configurable 'macro' .* in scope '([^']+)'", text, re.S)
    if m:
        return f"macro %{m.group(1)} is used but never set{where}"
    m = re.search(r"No module named '([^']+)'", first)
    if m and "import" in text:
        return (f"gin imports module {m.group(1)!r}, which Python cannot find{where}; put the folder that holds "
                "it on PYTHONPATH")
    m = re.search(r"Unable to open file: ([^.]+\.gin)", text)
    if m:
        return f"gin include {m.group(1)!r} not found{where}"
    return f"gin: {first}{where}"
