"""Figure 6 (Appendix B, "coreset selection's impact on weight pruning"): SWaST-cut against pruning-only, accuracy
against the prune rate (a) and against the relative training FLOPs (b). ResNet-18 on CIFAR-10 with 10% label
noise, Moderate, 10% coresets, RigL at 10..99% (digits, 8 epochs and three rates at smoke scale).

The paper's text says the baseline follows "the default RigL settings": its classifier sits inside the ERK
budget at the prune rate (`methods.pruning_only.scope = 'all'`), where SWaST-cut's stays at 90%."""

from __future__ import annotations

from grid.collection import Collection, matching, summarize
from grid.plotting import METHOD_COLOURS, METHOD_MARKERS, Plot, log_ticks, method_label, pyplot, seeds_text
from grid.suite import LABELS, Run, Suite, experiment, short_at_smoke

RATES = (0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 0.99)
SMOKE_RATES = (0.3, 0.7, 0.9)
SETTING = {"label_noise": 0.1, "selector": "moderate", "coreset_fraction": 0.1}
DEFAULT_RIGL = ("methods.pruning_only.scope = 'all'",)  # the baseline's classifier inside the ERK budget
METHODS = ("pruning_only", "swast_cut")


class Fig6(Suite):
    name = "fig6"
    title = "Figure 6: SWaST-cut against pruning-only across prune rates and training FLOPs"

    def setting(self, scale: str) -> tuple[str, str, tuple[float, ...]]:
        return ("resnet18", "digits", SMOKE_RATES) if scale == "smoke" else ("resnet18", "cifar10", RATES)

    def runs(self, scale: str) -> list[Run]:
        model, dataset, rates = self.setting(scale)
        runs = []
        for rate in rates:
            runs.append(experiment(dataset, "pruning_only", model, scale, (*short_at_smoke(scale), *DEFAULT_RIGL),
                                   prune_rate=rate, label_noise=SETTING["label_noise"]))
            runs.append(experiment(dataset, "swast_cut", model, scale, short_at_smoke(scale), prune_rate=rate,
                                   **SETTING))
        return runs

    def figure(self, collection: Collection, scale: str, seeds: int) -> Plot:
        model, dataset, _ = self.setting(scale)
        ok = matching(collection.ok, {"model": model, "dataset": dataset, "label_noise": SETTING["label_noise"]})
        ok = ok[ok["method"].isin(METHODS)].rename(columns={"test_accuracy": "accuracy"})
        data = summarize(ok, ["method", "coreset_fraction", "prune_rate"], ["accuracy", "relative_train_flops"])
        plt = pyplot()
        fig, (by_rate, by_flops) = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
        for method in METHODS:
            rows = data[data["method"] == method].sort_values("prune_rate")
            style = {"color": METHOD_COLOURS[method], "marker": METHOD_MARKERS[method], "ms": 5, "capsize": 3,
                     "lw": 1.5, "label": method_label(method) + (f" ({SETTING['coreset_fraction']:.0%} coresets)"
                                                      if method == "swast_cut" else " (full data)")}
            by_rate.errorbar(100 * rows["prune_rate"], rows["accuracy_mean"], rows["accuracy_std"], **style)
            by_flops.errorbar(rows["relative_train_flops_mean"], rows["accuracy_mean"], rows["accuracy_std"],
                              **style)
            for row in rows.itertuples():
                by_flops.annotate(f"{row.prune_rate:.0%}", (row.relative_train_flops_mean, row.accuracy_mean),
                                  xytext=(4, 4), textcoords="offset points", fontsize=7, color=style["color"])
        by_rate.set_xlabel("prune rate (%)")
        by_rate.set_title("(a) Accuracy against prune rate")
        by_flops.set_xscale("log")
        flops = data["relative_train_flops_mean"].dropna()
        if len(flops):
            log_ticks(by_flops.xaxis, flops.min(), flops.max(), lambda v: f"{v:.0%}" if v >= 0.01 else f"{v:.1%}")
        by_flops.set_xlabel("training FLOPs, % of dense full-data training (log scale)")
        by_flops.set_title("(b) Accuracy against training FLOPs (labels: prune rate)")
        for ax in (by_rate, by_flops):
            ax.set_ylabel("test accuracy (%)")
            ax.legend(frameon=False, loc="best")
        fig.suptitle(f"{LABELS[dataset]}, {LABELS[model]}, {SETTING['label_noise']:.0%} label noise, "
                     f"{LABELS[SETTING['selector']]} selector; mean ± std over {seeds_text(seeds)} ({scale} scale)",
                     fontsize=9)
        return Plot(self.name, fig, data)


SUITE = Fig6()
