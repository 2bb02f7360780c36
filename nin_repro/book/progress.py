"""Where each of the book's runs stands: finished (its record), in progress
(its snapshot in `results/checkpoints/`, "epoch k of N"), not started, given
up (`results/stalls/`) or superseded (`results/superseded/`). The full-length
runs span many sessions and machines; nothing here is estimated. The tables,
sentences and plots of their progress are in `tables`, `findings` and `plots`."""

from __future__ import annotations

from nin_repro import checkpoint, paths, results
from nin_repro.experiments import EXPERIMENTS

from . import provenance


def tested(history: list[dict]) -> list[dict]:
    """The epochs of a history that end with a test evaluation (all but those
    `TrainConfig.test_every` skips; a finished run's last always does)."""
    return [h for h in history if h["test_error"] is not None]


def last_tested(history: list[dict]) -> dict | None:
    """The latest epoch with a test error: what a run in progress has shown so far."""
    done = tested(history)
    return done[-1] if done else None


def latest_test_cell(history: list[dict]) -> str:
    """A table cell for the latest test of a run (or of a stretch of its
    epochs): "41.50" when its last epoch was tested, "13.89 (epoch 45)" when
    later ones were not, "not tested yet" before its first test."""
    last = last_tested(history)
    if last is None:
        return "not tested yet"
    return f"{last['test_error']:.2f}" + ("" if last is history[-1] else f" (epoch {last['epoch']})")


def error_so_far(history: list[dict], prefix: str = "", suffix: str = "") -> str:
    """A run in progress's test error so far: "41.50%" when its latest epoch
    was tested, "13.89% (tested after epoch 45)" when later epochs were not,
    each between `prefix` and `suffix`; "not tested yet" before its first test."""
    last = last_tested(history)
    if last is None:
        return "not tested yet"
    said = f"{last['test_error']:.2f}%"
    if last is not history[-1]:
        said += f" (tested after epoch {last['epoch']})"
    return prefix + said + suffix


def is_full_length(experiment: str, epochs: int | None = None) -> bool:
    """Whether `experiment` is one of the full-length protocols (the first
    author's CIFAR length, or MNIST's schedule of the same shape: the
    registry names them `*_full`), and, given the `epochs` a run trained or
    will train, whether it trains that protocol's whole length (a run cut
    short by an override is not a full-length run). The one test of "full
    length" the tables, claims and Figure 5 use: a count of epochs alone
    would call the 60-epoch MNIST protocol short."""
    if not experiment.endswith("_full"):
        return False
    return epochs is None or (experiment in EXPERIMENTS and epochs >= EXPERIMENTS[experiment].train.epochs)


def in_progress(results_dir=None) -> list[dict]:
    """Each snapshot in results/checkpoints/ (each checked against its
    SHA-256) as {run, experiment, seed, epoch, epochs, config, history,
    wall_seconds, device}: enough of a record for `provenance.run_where`; and,
    from a snapshot that stores them, the data source, torch version, commit
    and threads of the segment that wrote it."""
    folder = paths.results_dir(results_dir) / "checkpoints"
    runs = []
    for path in sorted(folder.glob("*.pt")):
        state = checkpoint.load_state(path)
        config = state["config"]
        runs.append({"run": path.stem, "experiment": config["experiment"], "seed": config["seed"],
                     "dataset": config.get("dataset", ""),
                     "epoch": state["epoch"], "epochs": config["train"]["epochs"], "config": config,
                     "history": state["history"], "wall_seconds": state["wall_seconds"],
                     "device": state["history"][-1].get("machine", ""), **state.get("provenance", {})})
    return runs


def protocol_in_progress(results_dir=None) -> dict[tuple[str, int], dict]:
    return {(r["experiment"], r["seed"]): r for r in in_progress(results_dir) if not r["config"].get("overrides")}


def runs_in_progress(names, results_dir=None) -> list[dict]:
    """The protocol runs in progress of `names` (an experiment or several), by experiment, then seed."""
    names = {names} if isinstance(names, str) else set(names)
    return [run for (e, _), run in sorted(protocol_in_progress(results_dir).items()) if e in names]


GIVEN_UP = "given up"  # a run that stalled or diverged under its protocol as it stands


def given_up_runs(results_dir=None) -> dict[tuple[str, int], dict]:
    """The runs given up (results/stalls/) under their protocol as it stands
    that have neither a record nor a snapshot since, by (experiment, seed):
    each run's latest such attempt, which stands where its result would
    until its recipe changes. An attempt given up under an earlier recipe is
    history (the runs appendix lists it), not the run's state."""
    attempts = [g for g in results.given_up(results_dir)
                if provenance.is_protocol_run({"experiment": g["config"]["experiment"], "config": g["config"]})]
    if not attempts:  # the usual case: no records to read, no snapshot to load and verify
        return {}
    # a smoke run's record (--epochs, --subset) is no finished run of the protocol
    recorded = {(r["experiment"], r["seed"]) for r in results.read_records(results_dir)
                if provenance.is_protocol_run(r)}
    running = protocol_in_progress(results_dir)
    return {(g["config"]["experiment"], g["config"]["seed"]): g for g in attempts
            if (g["config"]["experiment"], g["config"]["seed"]) not in recorded | running.keys()}


def given_up_now(results_dir=None) -> dict[str, dict]:
    """`given_up_runs` by experiment (its row): the latest attempt of any of its seeds."""
    return {experiment: g for (experiment, _), g in given_up_runs(results_dir).items()}


def given_up_words(attempt: dict) -> str:
    """"given up after epoch 3: stalled at chance level" (its file says the rest)."""
    return f"{GIVEN_UP} after epoch {len(attempt['history'])}: {attempt['given_up_because'].split(':')[0]}"


def run_state(experiment: str, seed: int, results_dir=None) -> tuple[str, dict | None]:
    """("finished", record), ("in progress", snapshot run) or ("not started", None)."""
    return next(((state, run) for s, state, run in seeds_started(experiment, results_dir) if s == seed),
                ("not started", None))


def seeds_started(experiment: str, results_dir=None) -> list[tuple[int, str, dict]]:
    """Every seed of `experiment`'s protocol that has started, as (seed,
    "finished" or "in progress", its record or snapshot run), by seed; a
    record stands before a snapshot of the same seed (a redo under way)."""
    found = {r["seed"]: ("finished", r)
             for r in provenance.protocol_runs(results.read_records(results_dir), experiment)}
    for run in runs_in_progress(experiment, results_dir):
        found.setdefault(run["seed"], ("in progress", run))
    return [(seed, *found[seed]) for seed in sorted(found)]


def started_together(runs: list[tuple[str, int]], results_dir=None):
    """The runs of `runs` (experiment, seed) that have started, as
    (experiment, seed, state, run), and the schedule they share as (epochs,
    learning-rate drops); the schedule is None when fewer than two have
    started or they follow different ones: nothing to set side by side."""
    started = [(e, s, state, run) for e, s in runs for state, run in [run_state(e, s, results_dir)] if run]
    schedules = {(EXPERIMENTS[e].train.epochs, tuple(EXPERIMENTS[e].train.milestones())) for e, *_ in started}
    return started, (schedules.pop() if len(started) >= 2 and len(schedules) == 1 else None)


def same_epoch(runs: list[tuple[str, int]], results_dir=None) -> tuple[int, list[tuple[str, int, dict, dict]]] | None:
    """While one of `runs` (experiment, seed) is still training: the latest
    epoch every started run has been tested after, and each started run as
    (experiment, seed, run, that epoch's history entry): the same point of
    the same schedule. None when fewer than two have started, when none is in
    progress (finished rows are compared at their end), when they follow
    different schedules, or when they share no tested epoch."""
    started, schedule = started_together(runs, results_dir)
    if schedule is None or all(state == "finished" for *_, state, _ in started):
        return None
    common = set.intersection(*({h["epoch"] for h in tested(run["history"])} for *_, run in started))
    if not common:
        return None
    epoch = max(common)
    return epoch, [(e, s, run, next(h for h in run["history"] if h["epoch"] == epoch)) for e, s, _, run in started]


def superseded(results_dir=None) -> list[dict]:
    """The finished runs of an earlier version of their protocol, trained
    again under the protocol as it stands (results/superseded/: kept so that
    the book shows what they cost and why they were replaced), each a run
    record with `superseded_because`."""
    runs = []
    for path in sorted((paths.results_dir(results_dir) / "superseded").glob("*.json")):
        record = results.read_record(path)
        if not isinstance(record.get("superseded_because"), str):
            raise results.RecordError(f"{path}: no 'superseded_because' saying why the run was replaced; "
                                      "restore it from git")
        runs.append(record)
    return runs
