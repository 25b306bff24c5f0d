"""Tables in the paper's layout: cells of mean +- std over seeds, the delta against the row's baseline,
best and runner-up marks per row (on the means as displayed), and the paper's number beside each cell.
Rendered as Markdown (tabulate's pipe format) and LaTeX (booktabs; xcolor for the red/blue marks)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tabulate import tabulate

DECIMALS = 2
SIGNIFICANT = "†"  # a paired difference whose 95% interval excludes zero


@dataclass
class Cell:
    mean: float | None  # None: no finished run yet
    std: float | None = None
    n: int = 0
    delta: float | None = None  # mean minus the row's baseline mean
    paper: float | None = None
    mark: str | None = None  # "best" | "second"
    interval: tuple[float, float] | None = None  # 95% interval of `delta` when it is a paired difference

    @property
    def significant(self) -> bool:
        """Its paired difference's interval excludes zero."""
        return self.interval is not None and (self.interval[0] > 0 or self.interval[1] < 0)


@dataclass
class Section:
    title: str
    columns: list[str]
    rows: list[tuple[list[str], list[Cell]]] = field(default_factory=list)
    baseline: int | None = None  # index of the baseline column (deltas are against it; it is not marked)


@dataclass
class Table:
    name: str
    caption: str
    row_header: list[str]
    sections: list[Section]
    seeds: int  # seeds asked per cell; cells with fewer say how many they have
    notes: list[str] = field(default_factory=list)
    legend: str | None = None  # what a cell shows, where it is not the default (mean ± std, delta, paper)


def finish_row(cells: list[Cell], baseline: int | None) -> None:
    """Deltas against the baseline cell, and best/runner-up marks among the other cells (ties share a mark)."""
    base = cells[baseline].mean if baseline is not None else None
    for i, c in enumerate(cells):
        if c.mean is not None and base is not None and i != baseline:
            c.delta = c.mean - base
    mark_row(cells, baseline)


def mark_row(cells: list[Cell], baseline: int | None) -> None:
    """Best and runner-up marks among the cells but the baseline, on the means as displayed (ties share one)."""
    ranked = sorted({round(c.mean, DECIMALS) for i, c in enumerate(cells) if c.mean is not None and i != baseline},
                    reverse=True)
    for i, c in enumerate(cells):
        if c.mean is None or i == baseline:
            continue
        shown = round(c.mean, DECIMALS)
        if ranked and shown == ranked[0]:
            c.mark = "best"
        elif len(ranked) > 1 and shown == ranked[1]:
            c.mark = "second"


def _num(x: float) -> str:
    return f"{x:.{DECIMALS}f}"


def _signed(x: float) -> str:
    return f"{x:+.{DECIMALS}f}"


def _std(c: Cell) -> str | None:
    return None if c.std is None or math.isnan(c.std) else _num(c.std)


def markdown_cell(c: Cell, seeds: int) -> str:
    paper = f" / {_num(c.paper)}" if c.paper is not None else ""
    if c.mean is None:
        return f"—{paper}"
    mean = _num(c.mean)
    mean = f"**{mean}**" if c.mark == "best" else f"_{mean}_" if c.mark == "second" else mean
    text = mean + (f" ± {_std(c)}" if _std(c) else "")
    if c.delta is not None:
        interval = f" [{_signed(c.interval[0])}, {_signed(c.interval[1])}]" if c.interval else ""
        text += f" ({_signed(c.delta)}{interval}){SIGNIFICANT if c.significant else ''}"
    if c.n < seeds:
        text += f" n={c.n}/{seeds}"
    return text + paper


def latex_cell(c: Cell, seeds: int) -> str:
    paper = f" {{\\tiny /{_num(c.paper)}}}" if c.paper is not None else ""
    if c.mean is None:
        return f"--{paper}"
    mean = _num(c.mean)
    mean = f"\\textcolor{{red}}{{{mean}}}" if c.mark == "best" else \
        f"\\textcolor{{blue}}{{{mean}}}" if c.mark == "second" else mean
    text = mean + (f"$_{{\\pm {_std(c)}}}$" if _std(c) else "")
    if c.delta is not None:
        interval = f" [{_signed(c.interval[0])}, {_signed(c.interval[1])}]" if c.interval else ""
        text += f" {{\\scriptsize({_signed(c.delta)}{interval})}}" + ("$^{\\dagger}$" if c.significant else "")
    if c.n < seeds:
        text += f" {{\\scriptsize n={c.n}}}"
    return text + paper


def _grouped(rows: list[tuple[list[str], list[Cell]]]) -> list[tuple[list[str], list[Cell]]]:
    """Row labels repeated from the row above are left blank, as in the paper."""
    out, previous = [], []
    for labels, cells in rows:
        shown, same = [], True
        for i, label in enumerate(labels):
            same = same and i < len(previous) and previous[i] == label
            shown.append("" if same else label)
        out.append((shown, cells))
        previous = labels
    return out


def to_markdown(table: Table) -> str:
    out = [f"# {table.caption}", ""]
    legend = table.legend or (f"Cells: mean ± std over {table.seeds} seeds (difference to the row's baseline: the "
                              "mean over seeds of the differences paired by seed [its 95% interval, Student's t]; "
                              f"{SIGNIFICANT}: the interval excludes zero) / the paper's number. **Bold**: best in "
                              "the row, _italic_: runner-up (the baseline apart). `n=k/{s}`: only k seeds finished; "
                              "—: none.")
    out += [legend.replace("{s}", str(table.seeds)), ""]
    for section in table.sections:
        out += [f"## {section.title}", ""]
        rows = [[*labels, *(markdown_cell(c, table.seeds) for c in cells)] for labels, cells in _grouped(section.rows)]
        headers = [*table.row_header, *section.columns]
        align = ["left"] * len(table.row_header) + ["right"] * len(section.columns)
        out += [tabulate(rows, headers=headers, tablefmt="pipe", colalign=align, disable_numparse=True), ""]
    out += [f"- {note}" for note in table.notes]
    return "\n".join(out).rstrip() + "\n"


def _tex_escape(text: str) -> str:
    for a, b in (("\\", "\\textbackslash{}"), ("&", "\\&"), ("%", "\\%"), ("_", "\\_"), ("#", "\\#")):
        text = text.replace(a, b)
    return text


def _latex_legend(table: Table) -> str:
    if table.legend:
        text = _tex_escape(table.legend.replace("{s}", str(table.seeds)).replace("`", ""))
        for markdown, latex in (("±", "$\\pm$"), (SIGNIFICANT, "$^{\\dagger}$"), ("**Bold**", "\\textcolor{red}{Red}"),
                                ("\\_italic\\_", "\\textcolor{blue}{blue}")):
            text = text.replace(markdown, latex)
        return text
    return (f"Mean$_{{\\pm\\mathrm{{std}}}}$ over {table.seeds} seeds, (difference to the row's baseline: the mean "
            "over seeds of the differences paired by seed [its 95\\% interval, Student's t]; $^{\\dagger}$: the "
            "interval excludes zero), /paper's number. \\textcolor{red}{Red}: best in the row, "
            "\\textcolor{blue}{blue}: runner-up (the baseline apart).")


def to_latex(table: Table) -> str:
    """A `table*` with booktabs rules; needs \\usepackage{booktabs,xcolor}."""
    width = len(table.row_header) + max(len(s.columns) for s in table.sections)
    lines = ["\\begin{table*}[t]", "\\centering", "\\small", "\\setlength{\\tabcolsep}{3pt}",
             f"\\begin{{tabular}}{{{'l' * len(table.row_header)}{'r' * (width - len(table.row_header))}}}",
             "\\toprule"]
    for k, section in enumerate(table.sections):
        if k:
            lines.append("\\midrule")
        first = len(table.row_header) + 1
        lines.append(f"\\multicolumn{{{len(table.row_header)}}}{{l}}{{}} & "
                     f"\\multicolumn{{{len(section.columns)}}}{{c}}{{{_tex_escape(section.title)}}} \\\\")
        lines.append(f"\\cmidrule(lr){{{first}-{first + len(section.columns) - 1}}}")
        lines.append(" & ".join(_tex_escape(h) for h in [*table.row_header, *section.columns]) + " \\\\")
        lines.append("\\midrule")
        for labels, cells in _grouped(section.rows):
            lines.append(" & ".join([*(_tex_escape(x) for x in labels), *(latex_cell(c, table.seeds) for c in cells)])
                         + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}",
              f"\\caption{{{_tex_escape(table.caption)} {_latex_legend(table)}}}",
              f"\\label{{tab:{table.name}}}", "\\end{table*}"]
    return "\n".join(lines) + "\n"
