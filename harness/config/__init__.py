"""Gin files and bindings -> one fully resolved run configuration, its canonical text and its key.

`parse`, `resolve`, `activate`, `reseed` and `RunConfig` are this layer's interface; `configurables` and
`canonical_line` let a caller tell a line of the canonical text that holds a parameter's default; `text_key` is
the run key of a canonical text; `imports` and `explain_gin_error` serve other gin files (studies) read the
same way."""

from harness.config.resolution import (
    RunConfig,
    activate,
    canonical_line,
    configurables,
    explain_gin_error,
    imports,
    parse,
    reseed,
    resolve,
    text_key,
)

__all__ = ["RunConfig", "activate", "canonical_line", "configurables", "explain_gin_error", "imports", "parse",
           "reseed", "resolve", "text_key"]
