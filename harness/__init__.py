"""swast-bench's engine: one training run, from gin files to its run folder.

Layers, lowest first; a module imports only from its own layer and the ones below it:

    core/        errors, the registry, the settings records, seeds, atomic files, the record definitions,
                 number checks, torch's thread count
    data/        datasets: loading, splits, label noise, augmentation, streaming from disk
    models/      the architectures
    config/      gin files and bindings -> one resolved RunConfig and its key; nothing bound is ignored
    training/    the loop and what it drives: schedule, pruning, selection, preservation, FLOPs, fast path
    execution/   one run into its folder: resume, records, reporters (progress bar, metrics.jsonl, W&B)
    run.py, describe.py   the command lines

The plug-ins (selectors, pruners, the paper's methods) live in the separate `methods` package and register
into `harness.core.registry`; only the command lines import them.
"""
