"""Figure 5 (Appendix B, "Settings for further analysis"): why pruning helps coreset training, with 10% label
noise and 10% coresets. (a) the noise ratio of each selected coreset, SWaST-cut at 90% against coreset-only,
EL2N, ResNet-18 on CIFAR-10; (b) the overfitting gap (test loss minus validation loss) at the end of training,
across prune rates, same setting; (c) the loss on noisy over the loss on clean training samples during
training, with and without pruning, ResNet-101 on CIFAR-100 (the dataset's selector, GradMatch). The paper
names no prune rate for (c): 90%, as in (a). Smoke scale: digits, 8 epochs, three rates for (b)."""

from __future__ import annotations

import pandas as pd

from grid.collection import Collection, matching, summarize
from grid.plotting import METHOD_COLOURS, METHOD_MARKERS, Plot, method_label, pyplot, seeds_text
from grid.suite import LABELS, Run, Suite, experiment, short_at_smoke
from harness.core.numeric import same

NOISY = {"label_noise": 0.1, "coreset_fraction": 0.1}
QUALITY = {**NOISY, "selector": "el2n"}  # (a) and (b)
RATES = (0.1, 0.3, 0.5, 0.7, 0.9)
SMOKE_RATES = (0.1, 0.5, 0.9)
PRUNED = 0.9  # SWaST-cut's prune rate in (a) and (c)
COLUMNS = ["panel", "quantity", "method", "prune_rate", "round", "epoch", "n", "mean", "std"]


class Fig5(Suite):
    name = "fig5"
    title = "Figure 5: coreset noise ratio, overfitting gap and noisy/clean loss ratio, with and without pruning"

    def settings(self, scale: str) -> tuple[tuple[str, str], tuple[str, str], tuple[float, ...]]:
        """(model, dataset) of (a)/(b), of (c), and (b)'s prune rates."""
        if scale == "smoke":
            return ("resnet18", "digits"), ("resnet18", "digits"), SMOKE_RATES
        return ("resnet18", "cifar10"), ("resnet101", "cifar100"), RATES

    def runs(self, scale: str) -> list[Run]:
        (model, dataset), (loss_model, loss_dataset), rates = self.settings(scale)
        short = short_at_smoke(scale)
        runs = [experiment(dataset, "coreset_only", model, scale, short, **QUALITY)]
        runs += [experiment(dataset, "swast_cut", model, scale, short, prune_rate=r, **QUALITY) for r in rates]
        runs.append(experiment(loss_dataset, "coreset_only", loss_model, scale, short, **NOISY))
        runs.append(experiment(loss_dataset, "swast_cut", loss_model, scale, short, prune_rate=PRUNED, **NOISY))
        return runs

    def data(self, collection: Collection, scale: str) -> pd.DataFrame:
        """The three panels' numbers, long form (one row per panel, method, prune rate and round or epoch)."""
        (model, dataset), (loss_model, loss_dataset), _ = self.settings(scale)
        history = collection.history
        quality = matching(history, {"model": model, "dataset": dataset, **QUALITY})
        losses = matching(history, {"model": loss_model, "dataset": loss_dataset, **NOISY})
        if (loss_model, loss_dataset) == (model, dataset):  # smoke scale: told apart by the selector
            losses = losses[losses["selector"] != QUALITY["selector"]]
        rounds = quality[quality["selection_round"].notna() & _pruned_as(quality, PRUNED)]
        final = quality[quality["overfit_gap"].notna()].sort_values("epoch").groupby("key").tail(1)
        curves = losses[losses["noisy_clean_loss_ratio"].notna() & _pruned_as(losses, PRUNED)]
        frames = [
            _long(rounds, "a", "coreset_noise_ratio", ["method", "prune_rate", "selection_round", "epoch"]),
            _long(final, "b", "overfit_gap", ["method", "prune_rate"]),
            _long(curves, "c", "noisy_clean_loss_ratio", ["method", "prune_rate", "epoch"]),
        ]
        return pd.concat([f for f in frames if len(f)] or [pd.DataFrame(columns=COLUMNS)], ignore_index=True)

    def figure(self, collection: Collection, scale: str, seeds: int) -> Plot:
        (model, dataset), (loss_model, loss_dataset), _ = self.settings(scale)
        data = self.data(collection, scale)
        plt = pyplot()
        fig, (noise, gap, ratio) = plt.subplots(1, 3, figsize=(12, 3.8), constrained_layout=True)
        _draw_rounds(noise, data[data["panel"] == "a"])
        _draw_gaps(gap, data[data["panel"] == "b"])
        _draw_ratio(ratio, data[data["panel"] == "c"])
        fig.suptitle(f"10% label noise, 10% coresets, mean ± std over {seeds_text(seeds)} ({scale} scale). "
                     f"(a), (b): {LABELS[dataset]}, {LABELS[model]}, EL2N; "
                     f"(c): {LABELS[loss_dataset]}, {LABELS[loss_model]}", fontsize=9)
        return Plot(self.name, fig, data)


def _pruned_as(frame: pd.DataFrame, rate: float) -> pd.Series:
    """Coreset-only runs, and the pruned runs at `rate`."""
    return (frame["method"] == "coreset_only") | same(frame["prune_rate"], rate)


def _long(frame: pd.DataFrame, panel: str, quantity: str, by: list[str]) -> pd.DataFrame:
    out = summarize(frame, by, [quantity]).rename(columns={f"{quantity}_mean": "mean", f"{quantity}_std": "std",
                                                           "selection_round": "round"})
    out["panel"], out["quantity"] = panel, quantity
    return out.reindex(columns=COLUMNS)


def _line(ax, rows: pd.DataFrame, x: str, method: str, scale: float = 1.0) -> None:
    rows = rows.sort_values(x)
    colour = METHOD_COLOURS[method]
    label = method_label(method) + (f" ({rows['prune_rate'].iloc[0]:.0%} pruned)" if method != "coreset_only" else "")
    ax.plot(rows[x], scale * rows["mean"], marker=METHOD_MARKERS[method], ms=4, color=colour, label=label)
    ax.fill_between(rows[x], scale * (rows["mean"] - rows["std"].fillna(0)),
                    scale * (rows["mean"] + rows["std"].fillna(0)), color=colour, alpha=0.15, lw=0)


def _draw_rounds(ax, rows: pd.DataFrame) -> None:
    for method in ("coreset_only", "swast_cut"):
        if (rows["method"] == method).any():
            _line(ax, rows[rows["method"] == method], "round", method, 100.0)
    last = rows[rows["round"] == rows["round"].max()].set_index("method")["mean"]
    title = None
    if {"coreset_only", "swast_cut"} <= set(last.index):
        title = f"last round: {last['swast_cut']:.1%} against {last['coreset_only']:.1%}"
    ax.set_xlabel("selection round")
    ax.set_ylabel("noisy samples in the coreset (%)")
    ax.set_xticks(sorted(rows["round"].dropna().unique().astype(int)))
    ax.set_title("(a) Noise in the selected coresets (lower is better)")
    ax.legend(frameon=False, loc="best", title=title, title_fontsize=7)


def _draw_gaps(ax, rows: pd.DataFrame) -> None:
    rows = rows.sort_values(["method", "prune_rate"])
    base = rows[rows["method"] == "coreset_only"]
    cut = rows[rows["method"] == "swast_cut"]
    labels = ["Coreset-only"] * len(base) + [f"{r:.0%}" for r in cut["prune_rate"]]
    colours = [METHOD_COLOURS["coreset_only"]] * len(base) + [METHOD_COLOURS["swast_cut"]] * len(cut)
    both = pd.concat([base, cut])
    ax.bar(range(len(both)), both["mean"], yerr=both["std"].fillna(0), color=colours, capsize=3, width=0.7)
    ax.set_axisbelow(True)
    ax.set_xticks(range(len(both)), labels)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("SWaST-cut prune rate")
    ax.set_ylabel("test loss − validation loss (final epoch)")
    ax.set_title("(b) Overfitting gap (lower is better)")


def _draw_ratio(ax, rows: pd.DataFrame) -> None:
    for method in ("coreset_only", "swast_cut"):
        if (rows["method"] == method).any():
            _line(ax, rows[rows["method"] == method], "epoch", method)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean loss on noisy / on clean samples")
    ax.set_title("(c) Noisy-to-clean loss ratio (higher is better)")
    ax.legend(frameon=False, loc="upper left")


SUITE = Fig5()
