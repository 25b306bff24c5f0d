"""`python -m harness.describe CONFIG.gin [MORE.gin...] [--gin_param BINDING]... [--json]`: what a
configuration would train, without training it.

Builds the model and the pruner from the gin files exactly as a run does and prints, per prunable layer,
its shape, its density at the end of training, its parameters and nonzero parameters, and its inference
FLOPs dense and at that density; then the parameters outside the masks (BatchNorm, biases) and the totals.
CIFAR, Tiny ImageNet and ImageNet need no data on disk (their shapes are published); other datasets are read
once for their image shape and class count.
"""

from __future__ import annotations

import argparse
import json
import sys

from torch import nn

from harness import config
from harness.core import registry
from harness.core.errors import ConfigError
from harness.training.cost import source_shape
from harness.training.flops import layer_flops
from harness.training.sparsity import classifier_weight, layer_targets, prunable_weights, zero_count

EPILOG = """\
examples:
  python -m harness.describe gin/cifar10/swast_cut.gin --gin_param "prune_rate = 0.9"
  python -m harness.describe gin/digits/swast_trim.gin --json
"""


def report(cfg: config.RunConfig) -> dict:
    """The per-layer table and totals for a parsed configuration (see the module docstring)."""
    classes, *input_shape = _shape(cfg)
    method = cfg.method
    model: nn.Module = registry.build("model", cfg.experiment.model, num_classes=cfg.model.head_classes or classes,
                                      in_channels=input_shape[0])
    registry.build("pruner", method.pruner)  # its arguments are checked as a run checks them
    targets = layer_targets(model, method.prune_rate, method.scope, cfg.sparsity)
    flops = layer_flops(model, tuple(input_shape))
    weights = prunable_weights(model)
    layers = []
    for name, p in weights.items():
        zeros = zero_count(p.numel(), targets.get(name, 0.0))
        density = 1.0 - zeros / p.numel()
        layers.append({"name": name, "shape": list(p.shape), "pruned": name in targets, "density": density,
                       "params": p.numel(), "nonzero": p.numel() - zeros,
                       "flops_dense": flops[name], "flops": flops[name] * density})
    total = sum(p.numel() for p in model.parameters())
    other = total - sum(p.numel() for p in weights.values())
    nonzero = other + sum(row["nonzero"] for row in layers)
    fc = classifier_weight(model)
    groups = {"backbone": [r for r in layers if r["pruned"] and r["name"] != fc],
              "fc": [r for r in layers if r["pruned"] and r["name"] == fc]}
    return {
        "dataset": cfg.experiment.dataset, "model": cfg.experiment.model, "input": input_shape, "classes": classes,
        "head_classes": cfg.model.head_classes or classes,
        "method": method.name, "pruner": method.pruner, "scope": method.scope, "prune_rate": method.prune_rate,
        "distribution": cfg.sparsity.distribution, "fc_rate": cfg.sparsity.fc_rate,
        "pruner_params": cfg.entry_params("pruner", method.pruner),
        "layers": layers,
        "groups": {g: {"params": sum(r["params"] for r in rows), "nonzero": sum(r["nonzero"] for r in rows)}
                   for g, rows in groups.items() if rows},
        "other_params": other,
        "totals": {"params": total, "nonzero": nonzero, "density": nonzero / total,
                   "flops_dense": sum(flops.values()), "flops": sum(r["flops"] for r in layers)},
    }


def _shape(cfg: config.RunConfig) -> tuple[int, int, int, int]:
    name = cfg.experiment.dataset
    _, classes, image = source_shape(name, cfg.entry_params("dataset", name), cfg.runtime.data_root,
                                     cfg.runtime.cache_dir)
    return (classes, *image)


def render(rep: dict) -> str:
    """The report as a text table."""
    c, h, w = rep["input"]
    how = {"none": "nothing pruned",
           "fc": f"classifier at prune_rate {rep['prune_rate']:g}",
           "backbone": f"backbone at prune_rate {rep['prune_rate']:g} by {rep['distribution']}, "
                       f"classifier fixed at {rep['fc_rate']:g}",
           "all": f"every layer at prune_rate {rep['prune_rate']:g} by {rep['distribution']}"}[rep["scope"]]
    params = ", ".join(f"{k}={v!r}" for k, v in rep["pruner_params"].items())
    head = "" if rep["head_classes"] == rep["classes"] else f", a {rep['head_classes']}-way classifier"
    lines = [f"{rep['model']} on {rep['dataset']} ({c}x{h}x{w}, {rep['classes']} classes{head}), "
             f"method {rep['method']}",
             f"pruner {rep['pruner']}({params}): {how}"]
    if rep["pruner"] == "probmask":
        lines.append("probmask keeps each group's total exactly and learns the split between its layers: "
                     "per-layer densities below are the layout's, not a promise")
    head = f"{'layer':<34} {'shape':<16} {'density':>7} {'params':>12} {'nonzero':>12} {'MFLOPs':>10} {'sparse':>10}"
    lines += ["", head, "-" * len(head)]
    for r in rep["layers"]:
        shape = "x".join(map(str, r["shape"]))
        lines.append(f"{r['name']:<34} {shape:<16} {r['density']:>7.3f} {r['params']:>12,} {r['nonzero']:>12,} "
                     f"{r['flops_dense'] / 1e6:>10.2f} {r['flops'] / 1e6:>10.2f}")
    lines.append(f"{'other parameters (BatchNorm, biases)':<51} {'':>7} {rep['other_params']:>12,} "
                 f"{rep['other_params']:>12,}")
    t = rep["totals"]
    lines += ["-" * len(head),
              f"{'total':<51} {t['density']:>7.3f} {t['params']:>12,} {t['nonzero']:>12,} "
              f"{t['flops_dense'] / 1e6:>10.2f} {t['flops'] / 1e6:>10.2f}"]
    for group, g in rep["groups"].items():
        lines.append(f"  {group}: {g['nonzero']:,} of {g['params']:,} weights kept "
                     f"({100 * g['nonzero'] / g['params']:.2f}%)")
    lines.append(f"inference: {t['flops'] / 1e6:,.2f} MFLOPs per sample (multiply-accumulates), "
                 f"{t['flops'] / t['flops_dense']:.3f} of dense; parameters: {_millions(t['nonzero'])} nonzero "
                 f"of {_millions(t['params'])}")
    return "\n".join(lines)


def _millions(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n:,}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.describe",
        description="Show what a configuration would train, layer by layer (shape, density, parameters, "
                    "FLOPs), without training it.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="+", metavar="CONFIG.gin", help="gin files, applied in order")
    parser.add_argument("--gin_param", action="append", default=[], metavar="BINDING",
                        help="a gin binding applied after the files, e.g. \"prune_rate = 0.7\" (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)

    import methods  # noqa: F401  (registers the selectors, pruners and methods: this is an entry point)

    try:
        rep = report(config.parse(args.configs, args.gin_param))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(rep, indent=2) if args.json else render(rep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
