"""What the study cost: machine-hours and core-hours of its runs by kind of
machine (machine and precision), the hours of runs in progress, given up or
superseded beside them (`compute_table`), and the finished runs' totals
(`totals`)."""

from __future__ import annotations

import pandas as pd

from nin_repro import results
from nin_repro.experiments import FULL_EPOCHS

from . import progress, provenance
from .display import listed, short_where


def _kind(machine: str, precision: str) -> str:
    return short_where(f"{machine}, {precision}")


def _epoch_split(record: dict) -> dict[str, float]:
    """A run's wall seconds by kind of machine (machine and precision),
    split in proportion to its epochs' seconds where it moved."""
    by_kind: dict[str, float] = {}
    for h in record["history"]:
        key = _kind(h["machine"], h["precision"])
        by_kind[key] = by_kind.get(key, 0.0) + h["seconds"]
    total = sum(by_kind.values()) or 1.0
    return {k: record["wall_seconds"] * s / total for k, s in by_kind.items()}


OUTSIDE = "of them, in progress, superseded or given up"


def compute_table(results_dir=None) -> pd.DataFrame:
    """Machine-hours (wall) and core-hours (wall x threads) by kind of
    machine, with a total: of the finished runs, the runs in progress and
    the runs given up (results/stalls/) or superseded (results/superseded/:
    finished under an earlier protocol), whose hours the last column
    (`OUTSIDE`) holds again. A run in progress or given up counts the
    threads its snapshot's provenance names; one from before snapshots
    stored their provenance records none, so core-hours leave it out
    (`uncounted_cores` says how many hours). A run counts once, in the row
    of the machine where most of its time went; a row holding only parts of
    runs counted elsewhere shows "-" runs."""
    rows: dict[str, dict] = {}

    def add(status, record, threads):
        split = _epoch_split(record)
        main = max(split, key=split.get, default=None)  # a run counts once: where most of its time went
        for kind, seconds in split.items():
            row = rows.setdefault(kind, {"machine and precision": kind, "runs": set(), "epochs": 0,
                                         "machine-hours": 0.0, "core-hours": 0.0, OUTSIDE: 0.0})
            # a run given up or superseded is an attempt of its own beside the run trained again
            if kind == main:
                row["runs"].add((record["experiment"], record["seed"],
                                 status if status in ("given up", "superseded") else ""))
            row["epochs"] += sum(1 for h in record["history"]
                                 if _kind(h["machine"], h["precision"]) == kind)
            row["machine-hours"] += seconds / 3600
            row[OUTSIDE] += seconds / 3600 if status != "finished" else 0.0
            row["core-hours"] += seconds * threads / 3600 if threads is not None else 0.0

    for status, record, threads in _attempts(results_dir):
        add(status, record, threads)
    table = sorted(({**row, "runs": len(row["runs"])} for row in rows.values()), key=lambda r: -r["machine-hours"])
    if table:
        table.append({"machine and precision": "total",
                      "runs": len({run for row in rows.values() for run in row["runs"]}),
                      **{col: sum(r[col] for r in table)
                         for col in ("epochs", "machine-hours", "core-hours", OUTSIDE)}})
    df = pd.DataFrame(table, columns=["machine and precision", "runs", "epochs", "machine-hours", "core-hours",
                                      OUTSIDE])
    # a row whose epochs belong to runs counted in another row (where most of their time went): "-", not 0 runs
    df["runs"] = df["runs"].map(lambda n: n or "-")
    for col in ("machine-hours", "core-hours", OUTSIDE):
        df[col] = df[col].map(lambda x: f"{x:.1f}")
    return df


def all_machine_hours(results_dir=None) -> float:
    """The machine-hours of every run that spent machine time: `compute_table`'s
    total, the finished runs' (`totals`) with those in progress, superseded
    and given up."""
    return sum(r["wall_seconds"] for _, r, _ in _attempts(results_dir)) / 3600


def uncounted_cores(results_dir=None) -> float:
    """The machine-hours of runs whose snapshot names no core count, which
    `compute_table`'s core-hours leave out."""
    return sum(r["wall_seconds"] for _, r, threads in _attempts(results_dir) if threads is None) / 3600


def _attempts(results_dir) -> list[tuple[str, dict, int | None]]:
    """Every run that spent machine time, as (status, record, threads): the
    finished, those in progress, those given up and those superseded, each
    with a record's fields that `compute_table` reads."""
    out = [("finished", r, r["threads"]) for r in results.read_records(results_dir)]
    for run in progress.in_progress(results_dir):
        rec = {"experiment": run["experiment"], "seed": run["seed"], "history": run["history"],
               "wall_seconds": run["wall_seconds"]}
        out.append(("in progress", rec, run.get("threads")))
    for run in results.given_up(results_dir):
        rec = {"experiment": run["config"]["experiment"], "seed": run["config"]["seed"], "history": run["history"],
               "wall_seconds": run["wall_seconds"]}
        out.append(("given up", rec, run.get("provenance", {}).get("threads")))
    out += [("superseded", r, r["threads"]) for r in progress.superseded(results_dir)]
    return out


def totals(results_dir=None) -> dict:
    """The finished runs' count, machine-hours, core-hours and kinds of machine."""
    recs = results.read_records(results_dir)
    kinds = {k for r in recs for k in _epoch_split(r)}
    return {"runs": len(recs), "machine_hours": sum(r["wall_seconds"] for r in recs) / 3600,
            "core_hours": sum(r["wall_seconds"] * r["threads"] for r in recs) / 3600,
            "kinds": len(kinds),
            # the processors' names: one name covers CPUs of different instruction sets (AMD EPYC: AVX2 and AVX-512)
            "cpus": sorted({k.split(",")[0] for k in kinds}),
            "precisions": sorted({k.rsplit(", ", 1)[-1] for k in kinds}),
            "threads": sorted({r["threads"] for r in recs})}


def full_length_hours(results_dir=None) -> str:
    """The wall hours a finished full-length CIFAR run (CIFAR-10 or
    CIFAR-100, the protocol's epochs) took, by the precisions it trained in,
    fastest first: "5.6 hours in bf16 (3 runs) and 15.7-23.0 hours in bf16
    and fp32 (2 runs)"; "" before any has finished."""
    hours: dict[str, list[float]] = {}
    for r in results.read_records(results_dir):
        if r["dataset"] in ("cifar10", "cifar100") and r["epochs"] == FULL_EPOCHS and provenance.is_protocol_run(r):
            precisions = listed(sorted({h["precision"] for h in r["history"]}))
            hours.setdefault(precisions, []).append(r["wall_seconds"] / 3600)
    parts = []
    for precisions, h in sorted(hours.items(), key=lambda kv: min(kv[1])):
        low, high = f"{min(h):.1f}", f"{max(h):.1f}"
        parts.append(f"{low if low == high else f'{low}-{high}'} hours in {precisions} "
                     f"({len(h)} run{'s' if len(h) > 1 else ''})")
    return listed(parts) if parts else ""
