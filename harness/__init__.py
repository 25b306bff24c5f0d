"""swast-bench's engine: configuration, data, models, the training loop and its records.

The plug-ins (selectors, pruners, the paper's methods) live in the separate `methods` package and
register themselves into `harness.registry`; nothing in `harness` imports them except the entry point.
"""
