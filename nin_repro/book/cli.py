"""The `nin-repro` console script: the library's commands (`train`,
`experiments`, `evaluate`, `bench`; `nin_repro.cli`) and the book's
(`table`, `reproduce`, `figure5`, `render`, `readme`). Argument parsing only; the work
is done by the library and the book."""

from __future__ import annotations

import argparse
import sys

from nin_repro import cli, results
from nin_repro.cli import add_locations
from nin_repro.experiments import EXPERIMENTS

from . import comparison, figure5, progress, readme, render, reproduce, tables


def _table(args) -> int:
    results.existing_results_dir(args.results_dir)
    records = results.read_records(args.results_dir)
    names = args.experiments or list(EXPERIMENTS)
    # An experiment no longer in the registry still has a row where it has records.
    unknown = [n for n in names if n not in EXPERIMENTS and not any(r["experiment"] == n for r in records)]
    if unknown:
        raise ValueError(f"unknown experiment(s) {unknown}: neither defined nor recorded in "
                         f"{results.runs_dir(args.results_dir)}; known experiments: {', '.join(EXPERIMENTS)}")
    rows = tables.copy_rows(names, args.results_dir)  # a row per copy of the data
    running = progress.runs_in_progress(names, args.results_dir)
    empty = {r["experiment"]: tables.without_record(r["experiment"], running, args.results_dir)
             for r in rows if r["ours_mean"] is None}
    print(comparison.format_table(rows, empty))
    return 0


def _reproduce(args) -> int:
    if args.status:
        results.existing_results_dir(args.results_dir)
    jobs = reproduce.reproduce(only=args.only, seeds=args.seeds, hours=args.hours, redo=args.redo,
                               device=args.device, data_dir=args.data_dir, cache_dir=args.cache_dir,
                               results_dir=args.results_dir, status_only=args.status)
    return 0 if all(j.status in ("done", "finished now", "no data") for j in jobs) else 3


def _figure5(args) -> int:
    results.existing_results_dir(args.results_dir)  # a mistyped folder is no study without runs
    if args.run is None:
        if not reproduce.refresh_figure5(reproduce.figure5_names(), data_dir=args.data_dir,
                                         cache_dir=args.cache_dir, results_dir=args.results_dir):
            print("Figure 5's maps are up to date (or no run has a trained net yet)")
        return 0
    path = figure5.extract_confidence_maps(args.run, data_dir=args.data_dir, cache_dir=args.cache_dir,
                                           results_dir=args.results_dir)
    print(f"wrote {path}")
    return 0


def _render(args) -> int:
    render.render(args.notebooks or None, results_dir=args.results_dir)
    return 0


def _readme(args) -> int:
    results.existing_results_dir(args.results_dir)
    changed = readme.write_readme(results_dir=args.results_dir)
    print(f"{'wrote' if changed else 'already current:'} the headline tables of {readme.README}")
    return 0


def add_commands(sub) -> None:
    """The book's commands, on the subparsers `sub` of a `nin-repro` parser."""
    p = sub.add_parser("table", help="paper vs ours from the committed run records")
    p.add_argument("experiments", nargs="*", help="experiment names (default: all)")
    p.add_argument("--results-dir")
    p.set_defaults(func=_table)

    p = sub.add_parser("reproduce", help="train every run the book needs that has no record yet, "
                                         "resuming interrupted runs, within a time budget")
    p.add_argument("--only", nargs="+", help="only these experiments (each with every seed the book plans for it)")
    p.add_argument("--seeds", nargs="+", type=int,
                   help="only these seeds (with --only: exactly these seeds of those experiments)")
    p.add_argument("--hours", type=float, help="time budget; a run stops, checkpointed, before an epoch "
                                               "that (at the pace of its last) would end past it, and does not "
                                               "start if an epoch of its kind here would")
    p.add_argument("--redo", action="store_true",
                   help="train the finished runs again (a run in progress continues from its snapshot)")
    p.add_argument("--status", action="store_true",
                   help="train nothing: say what is done, in progress (with the time it has left) and left")
    p.add_argument("--device", default="cpu")
    add_locations(p)
    p.set_defaults(func=_reproduce, interrupted="rerun `nin-repro reproduce`")

    p = sub.add_parser("figure5", help="store the confidence maps of a trained run's test images (Figure 5)")
    p.add_argument("run", nargs="?", help="run name, e.g. cifar10_aug_full__seed0 (a checkpoint, snapshot or "
                                          "weights of it must exist); without it, the run the book draws "
                                          "Figure 5 from: a finished full-length one, else one in progress")
    add_locations(p)
    p.set_defaults(func=_figure5)

    p = sub.add_parser("render", help="re-execute notebooks in place so their outputs show the current records")
    p.add_argument("notebooks", nargs="*", help="notebook paths (default: every notebook in notebooks/)")
    p.add_argument("--results-dir", help="the run records the notebooks show (default: results/)")
    p.set_defaults(func=_render)

    p = sub.add_parser("readme", help="write the README's headline tables (paper vs ours) from the run records")
    p.add_argument("--results-dir", help="the run records it shows (default: results/)")
    p.set_defaults(func=_readme)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nin-repro", description="Network In Network reproduction study")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.add_commands(sub)
    add_commands(sub)
    return cli.run(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
