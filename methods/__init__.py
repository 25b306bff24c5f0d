"""The plug-ins the paper compares, registered into `harness.core.registry` on import: coreset selectors
(`methods/coresets/`), online pruners (`methods/pruners/`), and the methods composed from them
(`methods/paper.py`). A new selector or pruner is one module in its folder: it is found and
registered automatically, and one gin line (`selector = 'name'`) uses it."""

from methods import coresets, paper, pruners  # noqa: F401
