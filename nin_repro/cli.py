"""The library's commands (`train`, `experiments`, `evaluate`, `bench`):
argument parsing only; the work is done by the library. The `nin-repro`
script adds the book's commands to these (`nin_repro.book.cli`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys

from . import bench, distributed, evaluate, results, run_config, train
from .atomic import DiskFullError
from .errors import NinReproError
from .experiments import EXPERIMENTS, get


@contextlib.contextmanager
def _skipped_if_finished(several: bool):
    """One finished seed of several is skipped with a line, the others train;
    a single finished run is the error itself."""
    try:
        yield
    except train.FinishedError as e:
        if not several:
            raise
        print(f"nin-repro: skipped: {e}", file=sys.stderr)


def _train(args) -> int:
    if args.resume and args.restart:
        raise ValueError(train.RESUME_AND_RESTART)
    seeds = list(dict.fromkeys(args.seeds))  # `--seed 5 5` trains seed 5 once
    if len(seeds) < len(args.seeds):
        print(f"seeds {' '.join(map(str, args.seeds))}: each trained once ({' '.join(map(str, seeds))})",
              file=sys.stderr)
    # Every seed (and every other argument) checked before the first run starts, not after hours of it.
    runs = [run_config.resolve_run(args.experiment, seed, device=args.device, epochs=args.epochs,
                                   subset=args.subset, batch_size=args.batch_size, precision=args.precision,
                                   compile=args.compile, data_dir=args.data_dir, cache_dir=args.cache_dir,
                                   results_dir=args.results_dir, download=args.download) for seed in seeds]
    several = len(runs) > 1
    todo = []
    for run in runs:
        with _skipped_if_finished(several):
            train.preflight(run, resume=args.resume, restart=args.restart)
            todo.append(run)
    try:
        for run in todo:
            with _skipped_if_finished(several):  # finished elsewhere while an earlier seed trained
                train.train(run, resume=args.resume, restart=args.restart, progress=not args.no_progress)
    finally:
        distributed.shutdown()
    return 0


def _experiments(args) -> int:
    width = max(len(name) for name in EXPERIMENTS)  # the longest name keeps the columns aligned
    for exp in EXPERIMENTS.values():
        if args.json:
            print(json.dumps(exp.to_dict()))
        else:
            t = exp.train
            print(f"{exp.name:<{width}} {exp.dataset:<9} {exp.preprocess:<8} head={exp.model.head:<10} "
                  f"dropout={exp.model.dropout} epochs={t.epochs} lr={t.lr} milestones={list(t.milestones())} "
                  f"aug={'translate+flip' if t.translate or t.flip else 'none'}"
                  f"{'  (needs download)' if exp.requires_download else ''}\n    {exp.description}")
    return 0


def _evaluate(args) -> int:
    get(args.experiment)
    run_config.check_numbers(args.seed)
    results.existing_results_dir(args.results_dir)
    r = evaluate.evaluate_run(args.experiment, seed=args.seed, data_dir=args.data_dir, cache_dir=args.cache_dir,
                     results_dir=args.results_dir, precision=args.precision)
    print(f"{r['run']}: test error {r['test_error']:.2f}% from {r['weights']} ({r['why_precision'] or r['precision']}, "
          f"{r['seconds']:.0f} s); its record says {r['recorded']:.2f}% ({r['recorded_precision']}; difference "
          f"{r['difference']:+.2f} points)")
    return 0


def _bench(args) -> int:
    where = dict(data_dir=args.data_dir, cache_dir=args.cache_dir, results_dir=args.results_dir)
    for option, value in (("--steps", args.steps), ("--rounds", args.rounds)):
        if value is not None and value < 1:
            raise ValueError(f"{option} must be a positive number, got {value}")
    if args.levers:
        bench.run_levers(levers=args.only, rounds=args.rounds, steps=args.steps or 4, **where)
    else:
        bench.run_bench(steps=args.steps or 20, configs=args.only, profile=not args.no_profile, **where)
    return 0


def stop_on_sigterm() -> None:
    """SIGTERM (a session's end, `kill`) stops a run as Ctrl-C does: its last
    complete epoch is left in results/checkpoints/ to resume from."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def add_locations(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="folder with the datasets (default: $NIN_DATA)")
    p.add_argument("--cache-dir", help="decoded data and checkpoints (default: $NIN_CACHE or ~/.cache/nin_repro)")
    p.add_argument("--results-dir", help="where run records go (default: results/)")


BOOK_COMMANDS = ("reproduce", "table", "figure5", "render", "readme")


def add_commands(sub) -> None:
    """The library's commands, on the subparsers `sub` of a `nin-repro` parser."""
    p = sub.add_parser("train", help="train one experiment for one or more seeds and write run records")
    p.add_argument("--experiment", "-e", required=True, help="see `nin-repro experiments`")
    p.add_argument("--seed", dest="seeds", type=int, nargs="+", default=[0], help="one or more seeds")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    p.add_argument("--epochs", type=int, help="override the experiment's epochs (marks the record; rate drops "
                                              "set at fixed epochs stay there, those set as fractions scale)")
    p.add_argument("--subset", type=int,
                   help="train on the first N training images, test on N spread over the test split (smoke runs)")
    p.add_argument("--batch-size", type=int, help="override the batch size (marks the record)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"],
                   help="default: auto (bf16 autocast where the device has native bf16, else fp32)")
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    add_locations(p)
    p.add_argument("--download", action="store_true", help="fetch the official files with torchvision")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--restart", action="store_true",
                   help="delete an unfinished run's checkpoint and snapshot and start it again")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (epoch lines only)")
    p.set_defaults(func=_train)

    p = sub.add_parser("experiments", help="list the experiments and their configurations")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_experiments)

    p = sub.add_parser("evaluate", help="test error of a finished run from its committed weights, "
                                        "beside its record's")
    p.add_argument("experiment", help="see `nin-repro experiments`")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"],
                   help="default: the precision the run's last epoch was evaluated in")
    add_locations(p)
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("bench", help="training-step speed of the baseline loop and the library, side by side")
    p.add_argument("--steps", type=int, help="timed steps per configuration (default 20), or per round with "
                                              "--levers (default 4)")
    p.add_argument("--only", nargs="+", help="configurations (or levers) whose name contains one of these words")
    p.add_argument("--levers", action="store_true",
                   help="the levers the library could still take, each in alternating rounds against its path")
    p.add_argument("--rounds", type=int, default=6, help="with --levers: rounds per side")
    p.add_argument("--no-profile", action="store_true",
                   help="skip the profiler breakdown and the oneDNN kernel list")
    add_locations(p)
    p.set_defaults(func=_bench)


def run(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse `argv` and run its command: a known failure is one line and exit 2."""
    args = parser.parse_args(argv)
    stop_on_sigterm()
    try:
        return args.func(args)
    except KeyboardInterrupt:
        again = getattr(args, "interrupted", "rerun with --resume")
        print(f"interrupted; {again} to continue from the last complete epoch", file=sys.stderr)
        return 130
    except (NinReproError, ValueError, FileNotFoundError) as e:
        # Known failure modes carry messages that say what to do; no traceback. Any other error (a
        # RuntimeError of torch: a bug, a GPU out of memory) keeps its traceback.
        print(f"nin-repro: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk, a read-only folder: the system's words and the file's name
        if isinstance(e, DiskFullError):  # names the file, and where the run's last epoch is
            print(f"nin-repro: error: {e}", file=sys.stderr)
            return 2
        print(f"nin-repro: error: {e}; free the space or fix the folder, then rerun (a stopped run resumes "
              "from its last complete epoch)", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """The library's commands alone (`python -m nin_repro.cli`). The `nin-repro`
    script is `nin_repro.book.cli.main`: these and the book's commands."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in BOOK_COMMANDS:
        # The library never imports the book: name where the command is instead of "invalid choice".
        print(f"nin-repro: error: {argv[0]!r} is a command of the book: run `nin-repro {argv[0]} ...` "
              f"or `python -m nin_repro.book.cli {argv[0]} ...`", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="nin-repro", description="Network In Network: train and evaluate")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return run(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
