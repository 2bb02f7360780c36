"""The README's headline tables: the paper's test error beside ours for each
error claim of the paper, and each comparison it makes between nets,
written from the run records between two marker lines of README.md
(`nin-repro readme`), so the first screen of the repository never
disagrees with the records (a test checks it)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nin_repro import paths
from nin_repro.atomic import atomic_write_text

from . import claims, tables
from .display import md_table

README = paths.REPO_ROOT / "README.md"
BEGIN = "<!-- headline table: written by `nin-repro readme` from results/runs/; do not edit -->"
END = "<!-- end of headline table -->"


def headline_table(results_dir=None) -> str:
    """`tables.headline_table` as Markdown: each error claim of the paper
    beside the full-length result that decides it, with n, epochs and the
    data copy; then the paper's comparisons (`comparisons_table`)."""
    return (md_table(tables.headline_table(results_dir), index=False) + "\n\n"
            + "The paper's comparisons between nets, at the paper's training length:\n\n"
            + md_table(comparisons_table(results_dir), index=False))


def comparisons_table(results_dir=None) -> pd.DataFrame:
    """Each comparison the paper makes between nets (Table 5's heads, Figure
    4's dropout): the paper's side, ours (once its full-length rows have
    decided it, how it came out; before, what the claims table shows so
    far) and the verdict (a run in progress says how far it is)."""
    rows = []
    for v in claims.verdicts(results_dir):
        if v.claim.kind in ("order", "cut"):
            rows.append({"paper's comparison": f"{v.claim.label}: {v.claim.claim}", "paper": v.claim.paper,
                         "ours": v.result or v.headline or "-", "verdict": v.verdict})
    return pd.DataFrame(rows)


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
