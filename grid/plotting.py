"""How figures are written: matplotlib on the Agg backend (no display needed, also on cluster nodes), one look
for every figure, and each figure saved as PNG and PDF with the numbers it plots as CSV beside it."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.core import files

METHOD_LABELS = {"dense": "Dense", "pruning_only": "Pruning-only", "coreset_only": "Coreset-only",
                 "swast_trim": "SWaST-trim", "swast_cut": "SWaST-cut"}
# Okabe-Ito: distinguishable with the common colour-vision deficiencies and in grey print
METHOD_COLOURS = {"dense": "#000000", "pruning_only": "#CC79A7", "coreset_only": "#0072B2",
                  "swast_trim": "#009E73", "swast_cut": "#D55E00"}
METHOD_MARKERS = {"dense": "s", "pruning_only": "^", "coreset_only": "o", "swast_trim": "D", "swast_cut": "v"}
STYLE = {"figure.dpi": 100, "savefig.dpi": 200, "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
         "legend.fontsize": 8, "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.spines.top": False,
         "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3, "pdf.fonttype": 42}


@dataclass
class Plot:
    """A rendered figure and the data behind it: `data` goes to `<name>.csv`, each of `extra` to
    `<name>_<key>.csv`."""

    name: str
    figure: object  # matplotlib.figure.Figure
    data: pd.DataFrame
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)


def pyplot():
    """matplotlib.pyplot on the Agg backend with the shared style (imported only when a figure is drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(STYLE)
    return plt


def save(plot: Plot, folder: Path) -> list[Path]:
    """Write `<name>.png`, `<name>.pdf` and the CSV files atomically; the paths written, figure files first."""
    folder = Path(folder)
    written = []
    for suffix in ("png", "pdf"):
        buffer = io.BytesIO()
        plot.figure.savefig(buffer, format=suffix, bbox_inches="tight")
        path = folder / f"{plot.name}.{suffix}"
        files.write_bytes(path, buffer.getvalue())
        written.append(path)
    tables = {plot.name: plot.data, **{f"{plot.name}_{k}": v for k, v in plot.extra.items()}}
    for name, frame in tables.items():
        path = folder / f"{name}.csv"
        files.write_text(path, frame.to_csv(index=False, float_format="%.6g"))
        written.append(path)
    pyplot().close(plot.figure)
    return written


def percent(rate: float) -> str:
    return f"{rate:.0%}"


def label_points(ax, points: list[tuple[float, float, str, str, float]], fontsize: float = 6.5) -> None:
    """Write a label under each point (x, y, text, colour, marker radius in points), moving a label further
    down while it would cover another label or another point's marker. Call once the axis limits and scales
    are final."""
    to_pixels = ax.figure.dpi / 72.0
    line = fontsize * 1.3 * to_pixels
    markers = [(*ax.transData.transform((x, y)), radius * to_pixels) for x, y, _, _, radius in points]
    placed: list[tuple[float, float, float]] = []  # centre x, top y (pixels) and half width of each label
    for i in sorted(range(len(points)), key=lambda i: -points[i][1]):
        x, y, text, colour, radius = points[i]
        cx, cy, _ = markers[i]
        half = 0.3 * fontsize * len(text) * to_pixels
        drop = (radius + 2) * to_pixels

        others = markers[:i] + markers[i + 1:]
        while _clashes(cx, cy - drop, half, line, placed, others) and drop < 40 * line:
            drop += line / 2
        placed.append((cx, cy - drop, half))
        ax.annotate(text, (x, y), xytext=(0, -drop / to_pixels), textcoords="offset points", ha="center", va="top",
                    fontsize=fontsize, color=colour)


def _clashes(cx: float, top: float, half: float, line: float, labels: list, markers: list) -> bool:
    """Whether a label (centre x, top y, half width, line height; pixels) covers a label or a marker circle."""
    centre = top - line / 2
    return (any(abs(cx - px) < half + ph and abs(top - py) < line for px, py, ph in labels)
            or any(abs(cx - mx) < half + r and abs(centre - my) < line / 2 + r for mx, my, r in markers))


def log_ticks(axis, low: float, high: float, label) -> None:
    """Readable ticks on a log axis (`ax.xaxis`/`ax.yaxis`): 1-2-5 steps within [low, high], labelled by
    `label(value)`, and no minor labels (matplotlib's crowd into each other on short ranges)."""
    import math

    ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1)
             for m in (1, 2, 5) if low / 1.5 <= m * 10.0 ** e <= high * 1.5]
    axis.set_ticks(ticks, [label(t) for t in ticks])
    axis.set_minor_formatter(_null_formatter())


def _null_formatter():
    from matplotlib.ticker import NullFormatter

    return NullFormatter()


def seeds_text(seeds: int) -> str:
    return f"{seeds} seed" + ("" if seeds == 1 else "s")


def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, method)
