"""The plug-ins the paper compares, registered into `harness.registry` on import: coreset selectors
(`methods/selectors/`), online pruners (`methods/pruners/`), and the methods composed from them
(`methods/compositions.py`). A new selector or pruner is one module in its folder: it is found and
registered automatically, and one gin line (`selector = 'name'`) uses it."""

from methods import compositions, pruners, selectors  # noqa: F401
