"""How the book shows its findings: as Markdown that myst-nb renders into
the page (tables that wrap and scroll in their box, sentences in the body
font), never as `print()` lines in a monospace block."""

from __future__ import annotations

import re

import pandas as pd


# IPython is imported where a notebook uses it (it comes with the book's extra
# dependencies): the tables and sentences are built without it.


def _cell(value) -> str:
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def md_table(df: pd.DataFrame, index: bool = True) -> str:
    """A DataFrame as a Markdown (GFM) table: its named index levels as the
    first columns (unless `index=False`), every cell as text."""
    named = any(name is not None for name in df.index.names)
    frame = df.reset_index() if index and named else df
    header = [_cell(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def table(df: pd.DataFrame, index: bool = True):
    """Show a DataFrame as a Markdown table in a notebook."""
    from IPython.display import Markdown  # Jupyter's packages come with the book's extras, not the base install

    return Markdown(md_table(df, index))


def text(markdown: str):
    """Show Markdown (a sentence, a list) in a notebook."""
    from IPython.display import Markdown  # Jupyter's packages come with the book's extras, not the base install

    return Markdown(markdown)


def shown(percent: float) -> float:
    """A percentage as the book prints it (two decimals). Differences are
    taken between printed numbers, so that a reader who subtracts the two
    printed errors gets the printed difference (19.13 - 18.91 reads 0.22,
    not the 0.21 of the unrounded means)."""
    return round(percent, 2)


def order_text(ranked: list, means: dict, label=str, numbers: bool = True) -> str:
    """Rows lowest first, "GAP 10.10% < FC + dropout 10.70% = FC 10.70%":
    an "=" where the printed means are equal, so that a tie never reads as
    an order. `means` holds each row's mean (%), `label` names a row."""
    def one(n):
        return f"{label(n)} {means[n]:.2f}%" if numbers else label(n)
    return one(ranked[0]) + "".join(f" {'=' if shown(means[a]) == shown(means[b]) else '<'} {one(b)}"
                                    for a, b in zip(ranked, ranked[1:]))


def printed_cut(before: float, after: float) -> tuple[float, float]:
    """How much lower `after` is than `before` (test errors in %), in points
    and in percent of `before`, from the unrounded means: a mean of two seeds
    printed as 18.91 is 18.915, and a cut taken from the printed value would
    be off by as much as the rounding (1.2% instead of 1.1%). Print the
    points with `points_text`."""
    points = before - after
    return points, 100 * points / before


def points_text(points: float) -> str:
    """A difference in points as the book prints it: three decimals below one
    point, where two would round a difference of two printed means (0.215
    between 19.130 and 18.915) to a value neither reading gives."""
    return f"{points:.3f}" if abs(points) < 1 else f"{points:.2f}"


def short_where(text: str) -> str:
    """A machine description short enough for a table cell:
    "cpu (Intel(R) Xeon(R) Processor), AVX512, bf16" -> "Intel Xeon, AVX512, bf16"."""
    text = re.sub(r"\((?:R|TM)\)", "", text)
    text = re.sub(r"\bcpu \(([^()]*)\)", r"\1", text)
    return re.sub(r"\s+", " ", text.replace(" Processor", "").replace(" CPU", "")).strip()


def unbroken(word: str) -> str:
    """A table cell's word kept on one line ("near-lossless", "2026-11-23"):
    its hyphens made non-breaking. Broken at a hyphen, one such word made its
    whole row two lines high."""
    return word.replace("-", "\u2011")


def listed(values: list) -> str:
    """"30", "30 and 15", "0, 1 and 2"; "no" for none."""
    words = [str(v) for v in values]
    return " and ".join(filter(None, [", ".join(words[:-1]), *words[-1:]])) or "no"


def show_text(markdown: str) -> None:
    """Display Markdown now (inside an `if` branch, where a notebook does not
    show the value of an expression)."""
    from IPython.display import display  # Jupyter's packages come with the book's extras, not the base install

    display(text(markdown))


def show_table(df: pd.DataFrame, index: bool = True) -> None:
    from IPython.display import display  # Jupyter's packages come with the book's extras, not the base install

    display(table(df, index))
