"""Ours beside the paper's, from the run records: one row per experiment
with its seeds pooled (`summarize`), the rows compared with each other
(`compared_rows`), and the plain-text table `nin-repro table` prints
(`format_table`)."""

from __future__ import annotations

import statistics

from nin_repro.experiments import EXPERIMENTS

from . import provenance
from .chapters import run_words
from .display import shown
from .paper import PAPER_ERRORS, paper_error


def summarize(records: list[dict], experiments: list[str], copy: str | None = None) -> list[dict]:
    """One row per experiment: paper, ours (mean, std over seeds, n), difference.
    An experiment without a protocol record gets `ours=None` ("not run yet").
    A row pools the runs of one copy of the data: `copy`, or else the first
    of `copy_groups` (the copy with the most runs); `other_copies` names the
    copies it leaves out."""
    rows = []
    for name in experiments:
        groups = provenance.copy_groups(provenance.protocol_runs(records, name))
        row_copy = copy if copy is not None else (groups[0][0] if groups else None)
        runs = dict(groups).get(row_copy, [])
        errors = [r["test_error"] for r in runs]
        # The registry knows the paper's row even before a run; a record of an
        # experiment no longer in the registry carries its own.
        paper_key = (EXPERIMENTS[name].paper_key if name in EXPERIMENTS
                     else runs[0]["config"].get("paper_key") if runs else None)
        paper = paper_error(paper_key)
        mean = statistics.fmean(errors) if errors else None
        rows.append({
            "experiment": name,
            "setting": (PAPER_ERRORS[paper_key].setting if paper_key in PAPER_ERRORS
                        else run_words(name, dataset=True, length=False) if name in EXPERIMENTS else name),
            "paper": paper,
            "ours_mean": mean,
            "ours_std": statistics.stdev(errors) if len(errors) > 1 else None,
            "n": len(errors),
            "seeds": sorted(r["seed"] for r in runs),
            "difference": (shown(mean) - paper) if (mean is not None and paper is not None) else None,
            "epochs": runs[0]["epochs"] if runs else None,
            "hours": sum(r["wall_seconds"] for r in runs) / 3600 if runs else None,
            "runs": runs,  # the records the row rests on (their machines may differ)
            "copy": row_copy if runs else None,
            "other_copies": [c for c, _ in groups if c != row_copy],
        })
    return rows


def compared_rows(records: list[dict], experiments) -> dict[str, dict]:
    """`summarize`'s rows of experiments compared with each other, by name,
    each pooling the runs on the copy of the data they share (`shared_copy`)."""
    names = list(experiments)
    return {r["experiment"]: r for r in summarize(records, names, copy=provenance.shared_copy(records, names))}


def copies_apart(rows: dict[str, dict]) -> dict[str, str]:
    """{experiment: the copy its runs trained on} for `compared_rows`' rows
    that have records, where those rest on more than one copy of the data
    (the rows share none); {} where they rest on one. Rows on different
    copies are not compared: the copy can move the test error by more than
    the gaps a comparison is about."""
    copies = {name: r["copy"] for name, r in rows.items() if r["n"]}
    return copies if len(set(copies.values())) > 1 else {}


def format_table(rows: list[dict], without_records: dict[str, str] | None = None) -> str:
    """A plain-text table: paper vs ours; a row without records says what
    `without_records` holds for it (in progress, not started, ...), else 'not
    run yet'; a row of an experiment with runs on several copies of the data
    names its copy."""
    def name(r):
        label = provenance.copy_label(r["copy"])
        copy = f" ({label})" if r["other_copies"] and label else ""
        return r["experiment"] + copy

    cells = []
    for r in rows:
        if r["ours_mean"] is None:
            ours, diff = (without_records or {}).get(r["experiment"], "not run yet"), ""
        else:
            ours = f"{r['ours_mean']:.2f}" + (f" ± {r['ours_std']:.2f}" if r["ours_std"] is not None else "")
            diff = f"{r['difference']:+.2f}" if r["difference"] is not None else ""
        paper = f"{r['paper']:.2f}" if r["paper"] is not None else "-"
        cells.append((name(r), paper, ours, r["n"], diff, r["epochs"] or "", r["ours_mean"] is not None))
    width = max([20] + [len(c[0]) for c in cells])
    # numbers right-aligned under their header; a status in words starts where the numbers do
    ours_width = max([16] + [len(c[2]) for c in cells if c[-1]])
    lines = [f"{'experiment':<{width}} {'paper %':>8} {'ours %':>{ours_width}} {'n':>2} {'diff':>7} {'epochs':>6}"]
    for label, paper, ours, n, diff, epochs, measured in cells:
        if measured:
            lines.append(f"{label:<{width}} {paper:>8} {ours:>{ours_width}} {n:>2} {diff:>7} {epochs:>6}")
        else:
            lines.append(f"{label:<{width}} {paper:>8} {ours}")
    return "\n".join(lines)
