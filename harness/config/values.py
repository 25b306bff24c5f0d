"""Every bound value checked against its parameter's annotation when the configuration is parsed: its type
(a number where a number is declared, never a string), finite, and in its declared `Range`. A bad value is
one line naming the parameter, before anything is loaded or written."""

from __future__ import annotations

import math
import types
import typing

from harness.core.errors import ConfigError
from harness.core.ranges import Range


def check(where: str, value, annotation) -> None:
    """ConfigError unless `value` is a finite literal that fits `annotation` (parameters without one are only
    checked to be finite literals)."""
    _check_literal(where, value)
    if annotation is None or annotation is typing.Any or _fits(value, annotation):
        return
    raise ConfigError(f"{where} must be {describe(annotation)}, got {value!r}")


def _check_literal(where: str, value) -> None:
    """Numbers (finite), strings, booleans, None, and lists, tuples and dicts of them: what the canonical text
    can hold and gin can parse back."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {value!r}")
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, (list, tuple)):
        for v in value:
            _check_literal(where, v)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _check_literal(where, k)
            _check_literal(where, v)
        return
    raise ConfigError(f"{where}: only literal values (numbers, strings, lists, dicts) can be bound, got {value!r}")


def _fits(value, annotation) -> bool:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        ranges = [a for a in args[1:] if isinstance(a, Range)]
        return _fits(value, args[0]) and all(r.holds(value) for r in ranges if isinstance(value, (int, float)))
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin in (list, tuple):
        return isinstance(value, (list, tuple)) and (not args or all(_fits(v, args[0]) for v in value))
    if origin is dict:
        return isinstance(value, dict) and (not args or all(_fits(k, args[0]) and _fits(v, args[1])
                                                            for k, v in value.items()))
    if annotation is type(None) or annotation is None:
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    return True  # a type gin cannot bind a literal of (a class, a tensor): nothing to check here


def describe(annotation) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        ranges = " and ".join(str(a) for a in args[1:] if isinstance(a, Range))
        return describe(args[0]) + (f" {ranges}" if ranges else "")
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is typing.Literal:
        return repr(args[0]) if len(args) == 1 else "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple):
        return f"a list of {describe(args[0])}s" if args else "a list"
    if origin is dict:
        return "a dict"
    return {bool: "True or False", int: "an integer", float: "a number", str: "a string",
            type(None): "None"}.get(annotation, getattr(annotation, "__name__", str(annotation)))
