"""Named registries of datasets, models, selectors, pruners and methods, each reachable from gin.

`@register("selector", "random")` files a class or function under a kind and a name and makes it a gin
configurable named `selectors.random`, so `selectors.random.per_class = True` in a gin file binds its
arguments. `build(kind, name, **kwargs)` creates one with gin's bindings applied; unknown names and
unknown keyword arguments are errors that list what exists (no `**kwargs` that swallow typos).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import gin

from harness.core.errors import ConfigError, call_configurable

KINDS = ("dataset", "model", "selector", "pruner", "method")


@dataclass(frozen=True)
class Entry:
    kind: str
    name: str
    target: Callable  # the class or function as written
    configurable: Callable  # the same, wrapped by gin so that bindings apply

    @property
    def gin_name(self) -> str:
        return gin_name(self.kind, self.name)

    def parameters(self) -> dict[str, inspect.Parameter]:
        """The keyword arguments this entry accepts (what a gin file may bind)."""
        return signature_parameters(self.target)


_ENTRIES: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}


def gin_name(kind: str, name: str) -> str:
    return f"{kind}s.{name}"


def signature_parameters(fn: Callable) -> dict[str, inspect.Parameter]:
    """Named parameters of a function or of a class's constructor, `self` excluded."""
    params = inspect.signature(fn).parameters
    for p in params.values():
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            raise TypeError(f"{fn!r} takes *args/**kwargs; registered callables must name every argument")
    return dict(params)


def register(kind: str, name: str) -> Callable[[Callable], Callable]:
    """Decorator: file `target` under `kind`/`name` and make it configurable from gin as `<kind>s.<name>`."""
    _check_kind(kind)

    def decorate(target: Callable) -> Callable:
        if name in _ENTRIES[kind]:
            raise ValueError(f"{kind} {name!r} is registered twice ({_ENTRIES[kind][name].target!r})")
        signature_parameters(target)  # fail at import time on **kwargs
        wrapped = gin.external_configurable(target, name=name, module=f"{kind}s")
        _ENTRIES[kind][name] = Entry(kind, name, target, wrapped)
        return target

    return decorate


def entry(kind: str, name: str) -> Entry:
    """The entry for `name`, or a ConfigError listing the registered names (and the closest one)."""
    _check_kind(kind)
    if not isinstance(name, str) or name not in _ENTRIES[kind]:
        known = names(kind)
        hint = difflib.get_close_matches(str(name), known, n=1)
        suggestion = (f"; did you mean {hint[0]!r}?" if hint else
                      "; a plug-in from outside the repository needs `import its.module` in a gin file or binding")
        listing = ", ".join(known) if known else "none"
        raise ConfigError(f"unknown {kind} {name!r}: not registered (registered: {listing}){suggestion}")
    return _ENTRIES[kind][name]


def build(kind: str, name: str, **kwargs):
    """Create `kind`/`name` with gin's bindings applied; `kwargs` must be arguments it declares."""
    e = entry(kind, name)
    params = e.parameters()
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ConfigError(
            f"{e.gin_name} got unknown argument(s) {', '.join(unknown)}; it takes: {', '.join(params) or 'none'}"
        )
    return call_configurable(e.configurable, **kwargs)


def names(kind: str) -> list[str]:
    _check_kind(kind)
    return sorted(_ENTRIES[kind])


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown registry kind {kind!r}; kinds are {', '.join(KINDS)}")


def entries() -> list[Entry]:
    """Every registered entry, all kinds."""
    return [e for kind in KINDS for e in _ENTRIES[kind].values()]
