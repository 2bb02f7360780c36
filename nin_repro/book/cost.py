"""What the study cost: machine-hours and core-hours of its runs by kind of
machine (machine and precision), finished, in progress, given up or
superseded (`compute_table`), and the finished runs' totals (`totals`)."""

from __future__ import annotations

import pandas as pd

from nin_repro import results

from . import progress
from .display import short_where


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


def compute_table(results_dir=None) -> pd.DataFrame:
    """Machine-hours (wall) and core-hours (wall x threads) by kind of
    machine, for the finished runs, the runs in progress and the runs given
    up (results/stalls/) or superseded (results/superseded/: finished under
    an earlier protocol), with a total. A run in progress or given up counts
    the threads its snapshot's provenance names; one from before snapshots
    stored their provenance records none, so its core-hours are "-" and the
    total's leave it out. A run counts once, in the row of the machine where
    most of its time went; a row holding only parts of runs counted
    elsewhere shows "-" runs."""
    rows: dict[tuple[str, str], dict] = {}

    def add(status, record, threads):
        split = _epoch_split(record)
        main = max(split, key=split.get, default=None)  # a run counts once: where most of its time went
        for kind, seconds in split.items():
            row = rows.setdefault((status, kind), {"status": status, "machine and precision": kind, "runs": set(),
                                                   "epochs": 0, "machine-hours": 0.0, "core-hours": 0.0})
            # a run given up or superseded is an attempt of its own beside the run trained again
            if kind == main:
                row["runs"].add((record["experiment"], record["seed"],
                                 status if status in ("given up", "superseded") else ""))
            row["epochs"] += sum(1 for h in record["history"]
                                 if _kind(h["machine"], h["precision"]) == kind)
            row["machine-hours"] += seconds / 3600
            if threads is None or row["core-hours"] is None:  # a snapshot does not record its cores
                row["core-hours"] = None
            else:
                row["core-hours"] += seconds * threads / 3600

    for r in results.read_records(results_dir):
        add("finished", r, r["threads"])
    for run in progress.in_progress(results_dir):
        rec = {"experiment": run["experiment"], "seed": run["seed"], "history": run["history"],
               "wall_seconds": run["wall_seconds"], "device": run.get("device", "")}
        add("in progress", rec, run.get("threads"))
    for run in results.given_up(results_dir):
        rec = {"experiment": run["config"]["experiment"], "seed": run["config"]["seed"], "history": run["history"],
               "wall_seconds": run["wall_seconds"], "device": ""}
        add("given up", rec, run.get("provenance", {}).get("threads"))
    for r in progress.superseded(results_dir):
        add("superseded", r, r["threads"])
    table = [{**row, "runs": len(row["runs"])} for row in rows.values()]
    order = ["finished", "in progress", "superseded", "given up"]
    table.sort(key=lambda r: (order.index(r["status"]), -r["machine-hours"]))
    if table:
        table.append({"status": "total", "machine and precision": "",
                      "runs": len({run for row in rows.values() for run in row["runs"]}),
                      "epochs": sum(r["epochs"] for r in table),
                      "machine-hours": sum(r["machine-hours"] for r in table),
                      "core-hours": sum(r["core-hours"] for r in table if r["core-hours"] is not None)})
    df = pd.DataFrame(table, columns=["status", "machine and precision", "runs", "epochs", "machine-hours",
                                      "core-hours"])
    # a row whose epochs belong to runs counted in another row (where most of their time went): "-", not 0 runs
    df["runs"] = df["runs"].map(lambda n: n or "-")
    for col in ("machine-hours", "core-hours"):
        df[col] = df[col].map(lambda x: "-" if x is None or pd.isna(x) else f"{x:.1f}")
    return df


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
