"""Gin files and bindings -> one fully resolved run configuration, its canonical text and its key.

`parse`, `resolve`, `activate` and `RunConfig` are this layer's interface."""

from harness.config.resolution import RunConfig, activate, parse, resolve

__all__ = ["RunConfig", "activate", "parse", "resolve"]
