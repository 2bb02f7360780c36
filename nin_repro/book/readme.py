"""The README's headline table: the paper's test error beside ours for each
row of the book's summary, written from the run records between two marker
lines of README.md (`nin-repro readme`), so the first screen of the
repository never disagrees with the records (a test checks it)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nin_repro import paths, results
from nin_repro.atomic import atomic_write_text

from . import comparison
from .chapters import CHAPTERS
from .display import md_table
from .tables import NOT_RUN, mean_std

README = paths.REPO_ROOT / "README.md"
BEGIN = "<!-- headline table: written by `nin-repro readme` from results/runs/; do not edit -->"
END = "<!-- end of headline table -->"


def headline_table(results_dir=None) -> str:
    """The summary chapter's rows as a Markdown table: paper, ours (mean ±
    std over seeds), n, epochs; a row without records says so."""
    rows = comparison.summarize(results.read_records(results_dir), CHAPTERS["summary"].table())
    table = pd.DataFrame([{
        "experiment": r["experiment"], "setting": r["setting"],
        "paper (%)": "-" if r["paper"] is None else f"{r['paper']:.2f}",
        "ours (%)": NOT_RUN if r["ours_mean"] is None else mean_std(r["ours_mean"], r["ours_std"]),
        "n": r["n"], "epochs": r["epochs"] or ""} for r in rows])
    return md_table(table, index=False)


def readme_block(text: str, where: str = "README.md") -> tuple[int, int]:
    """The line span between the markers (exclusive) in `text`."""
    lines = text.split("\n")
    if lines.count(BEGIN) != 1 or lines.count(END) != 1 or lines.index(BEGIN) > lines.index(END):
        raise ValueError(f"{where} has no headline table block: put the lines {BEGIN!r} and {END!r} "
                         "where it goes, then rerun `nin-repro readme`")
    return lines.index(BEGIN) + 1, lines.index(END)


def shown_table(readme: str | Path = README) -> str:
    """The headline table as the README shows it now."""
    text = Path(readme).read_text(encoding="utf-8")
    a, b = readme_block(text, str(readme))
    return "\n".join(text.split("\n")[a:b]).strip()


def write_readme(readme: str | Path = README, results_dir=None) -> bool:
    """Write the headline table into the README; False when it was already current."""
    readme = Path(readme)
    text = readme.read_text(encoding="utf-8")
    a, b = readme_block(text, str(readme))
    lines = text.split("\n")
    new = "\n".join(lines[:a] + ["", headline_table(results_dir), ""] + lines[b:])
    if new == text:
        return False
    atomic_write_text(readme, new)
    return True
