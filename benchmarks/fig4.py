"""Figure 4: accuracy against training FLOPs, bubble area proportional to training time, one colour per method.
The paper's efficiency comparison on ResNet-101 / CIFAR-10 (its appendix gives no grid; this one spans every
method: dense, pruning-only, coreset-only at 10% and 5%, SWaST-trim at 90%, SWaST-cut at 30/70/90%).
Smoke scale: digits, 8 epochs, 10% coresets, prune rates 30% and 90%."""

from __future__ import annotations

import math

from grid.collection import Collection, matching, summarize
from grid.plotting import METHOD_COLOURS, METHOD_LABELS, Plot, label_points, log_ticks, pyplot, seeds_text
from grid.suite import LABELS, Run, Suite, experiment, short_at_smoke

FRACTIONS, SMOKE_FRACTIONS = (0.1, 0.05), (0.1,)
RATES, SMOKE_RATES = (0.3, 0.7, 0.9), (0.3, 0.9)
TRIM_RATE = 0.9
LARGEST_BUBBLE = 900.0  # points^2, for the longest run


class Fig4(Suite):
    name = "fig4"
    title = "Figure 4: accuracy against training FLOPs, bubble area proportional to training time"

    def setting(self, scale: str):
        if scale == "smoke":
            return "resnet18", "digits", SMOKE_FRACTIONS, SMOKE_RATES
        return "resnet101", "cifar10", FRACTIONS, RATES

    def runs(self, scale: str) -> list[Run]:
        model, dataset, fractions, rates = self.setting(scale)

        def run(method, **macros):
            return experiment(dataset, method, model, scale, short_at_smoke(scale), **macros)

        runs = [run("dense")]
        runs += [run("pruning_only", prune_rate=r) for r in rates]
        for c in fractions:
            runs.append(run("coreset_only", coreset_fraction=c))
            runs.append(run("swast_trim", coreset_fraction=c, prune_rate=TRIM_RATE))
            runs += [run("swast_cut", coreset_fraction=c, prune_rate=r) for r in rates]
        return runs

    def figure(self, collection: Collection, scale: str, seeds: int) -> Plot:
        model, dataset, _, _ = self.setting(scale)
        ok = matching(collection.ok, {"model": model, "dataset": dataset, "label_noise": 0.0})
        ok = ok.rename(columns={"test_accuracy": "accuracy"})
        data = summarize(ok, ["method", "coreset_fraction", "prune_rate"],
                         ["accuracy", "train_flops", "relative_train_flops", "time_s"])
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7.5, 4.6), constrained_layout=True)
        longest = data["time_s_mean"].max() if len(data) else 1.0
        labels = []
        for method, colour in METHOD_COLOURS.items():
            rows = data[data["method"] == method]
            if rows.empty:
                continue
            areas = LARGEST_BUBBLE * rows["time_s_mean"] / longest
            ax.scatter(rows["train_flops_mean"], rows["accuracy_mean"], s=areas, color=colour, alpha=0.5,
                       edgecolors=colour, linewidths=1.2, label=METHOD_LABELS[method])
            labels += [(row.train_flops_mean, row.accuracy_mean, _point_label(row), colour, math.sqrt(area / math.pi))
                       for row, area in zip(rows.itertuples(), areas, strict=True) if _point_label(row)]
        ax.set_xscale("log")
        flops = data["train_flops_mean"].dropna()
        if len(flops):
            log_ticks(ax.xaxis, flops.min(), flops.max(), _scientific)
            ax.set_xlim(flops.min() / 1.6, flops.max() * 1.6)
        accuracy = data["accuracy_mean"].dropna()
        if len(accuracy):
            span = max(accuracy.max() - accuracy.min(), 1.0)
            ax.set_ylim(accuracy.min() - 0.15 * span, accuracy.max() + 0.08 * span)
        label_points(ax, labels)
        ax.set_xlabel("training FLOPs (multiply-accumulates, log scale)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{LABELS[dataset]}, {LABELS[model]}: mean over {seeds_text(seeds)} ({scale} scale); "
                     "upper left is better", fontsize=9)
        methods = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="method",
                            markerscale=0.5)
        for handle in methods.legend_handles:
            handle.set_sizes([60])
        ax.add_artist(methods)
        sizes = _round_times(longest)
        handles = [ax.scatter([], [], s=LARGEST_BUBBLE * t / longest, color="grey", alpha=0.4) for t in sizes]
        ax.legend(handles, [f"{t:g} s" for t in sizes], loc="lower left", bbox_to_anchor=(1.01, 0.0), frameon=False,
                  title="training time\n(bubble area)", labelspacing=1.8, borderpad=1.0, handletextpad=1.8)
        return Plot(self.name, fig, data)


def _point_label(row) -> str:
    parts = []
    if row.method not in ("dense", "pruning_only"):
        parts.append(f"c {row.coreset_fraction:.0%}")
    if row.method not in ("dense", "coreset_only"):
        parts.append(f"p {row.prune_rate:.0%}")
    return ", ".join(parts)


def _scientific(value: float) -> str:
    exponent = math.floor(math.log10(value))
    mantissa = round(value / 10 ** exponent)
    return f"$10^{{{exponent}}}$" if mantissa == 1 else f"${mantissa}\\times10^{{{exponent}}}$"


def _round_times(longest: float) -> list[float]:
    """Three round reference times for the size legend: about the longest run's time, a third and a tenth of it."""
    out = []
    for share in (1.0, 1 / 3, 0.1):
        t = longest * share
        step = 10 ** math.floor(math.log10(t))
        out.append(float(f"{round(t / step) * step:.3g}"))
    return out


SUITE = Fig4()
