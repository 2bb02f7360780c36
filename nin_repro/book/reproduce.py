"""`nin-repro reproduce`: work through every run the book needs, within a time
budget, across as many sessions as it takes.

A run whose record exists is skipped (unless `redo`, which trains it again
once: a redo that outlives a stop continues from its snapshot, with or
without `redo`), and so is one of an earlier version of its protocol, whose
record (with its weights) moves to results/superseded/ before it is trained
again; an interrupted run resumes from its checkpoint; a run stops, checkpointed, before an epoch that
would end past the budget, and a run whose first epoch here would already end
past it does not start. A run that stalls or diverges is given up
(results/stalls/) and the plan goes on; it is passed over until its recipe
changes, then trained again from scratch. The status report says what is
done, what is under way and what is left.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
import math
import time
from dataclasses import dataclass

from nin_repro import checkpoint, data, paths, results
from nin_repro.atomic import atomic_write_text
from nin_repro.checkpoint import CheckpointError
from nin_repro.device import machine_name, resolve_device, resolve_precision
from nin_repro.experiments import EXPERIMENTS, TrainConfig, recipe_changes
from nin_repro.run_config import check_numbers, check_seeds, resolve_run, run_overrides
from nin_repro.train import GaveUpError, redo_in_progress, train

from . import progress, provenance
from .display import short_where
from .chapters import BOOK_PLAN
from .figure5 import FigureError, extract_confidence_maps, figure_source, load_confidence_maps

# Figure 5's maps come from the first of these runs that has finished and
# left its trained net (weights, or a checkpoint in the cache): the paper's
# length first (without augmentation, then with: the paper does not say which
# net its figure shows, and the augmented run is the first the plan
# finishes), then the CPU-budget runs.
FIGURE5_RUNS = [("cifar10_full", 0), ("cifar10_aug_full", 0), ("cifar10", 2), ("cifar10", 0), ("cifar10", 1)]


@dataclass
class Job:
    experiment: str
    seed: int
    status: str = "left"  # done | finished now | in progress | left | given up | no data
    note: str = ""
    hours: float | None = None  # training it has left on this machine, where an epoch of its kind ran here


def checkpoint_progress(state: dict) -> str:
    """How far an unfinished run got, from its checkpoint: what the status
    report says of a run in progress, with the time its remaining epochs take
    at its recent pace (what a session needs to know to plan around it)."""
    history, epochs = state["history"], state["config"]["train"]["epochs"]
    tested = progress.error_so_far(history, prefix="test error ")
    note = f"checkpoint after epoch {state['epoch']}/{epochs}: {tested}, {state['wall_seconds'] / 60:.0f} min so far"
    return note + (f"; {time_left(history, state['config']['train'])}" if epochs > state["epoch"] else "")


def _remaining(history: list[dict], train: dict, done: int | None = None) -> dict:
    """The epochs a run has left (its `config["train"]`, after `done`
    epochs: by default those of `history`), how many of them test, and the
    hours they take at the recent pace of `history` (its own, or that of
    another run of its kind): for each kind of epoch (tested, and untested
    where it tests only every few epochs), the fastest of the last three of
    that kind on the machine of the last epoch."""
    cfg = TrainConfig.from_dict(train)
    machine = history[-1].get("machine")
    here = [h for h in history if h.get("machine") == machine]
    recent = {kind: [h["seconds"] for h in here if (h.get("test_error") is not None) == kind][-3:]
              for kind in (True, False)}
    pace = {kind: min(recent[kind] or recent[not kind]) for kind in (True, False)}
    to_come = [cfg.tests_after(e) for e in range(len(history) if done is None else done, cfg.epochs)]
    tested = sum(to_come)
    return {"left": len(to_come), "tested": tested, "machine": machine, "recent": recent, "pace": pace,
            "hours": (tested * pace[True] + (len(to_come) - tested) * pace[False]) / 3600}


def minutes(seconds: float) -> str:
    """An epoch's minutes in words: one decimal below ten, where a whole
    number would round the 1.5-minute epochs of a fast CPU to 1 or 2."""
    return f"{seconds / 60:.1f}" if seconds < 600 else f"{seconds / 60:.0f}"


def time_left(history: list[dict], train: dict) -> str:
    """The epochs a run has left times its recent pace (`_remaining`), in
    words. The fastest recent epoch, because sharing the cores with another
    job (a test suite) only ever slows an epoch, and the plan is one run at a
    time; the last epoch's machine only, because a run resumed on another
    kind of CPU keeps another pace."""
    r = _remaining(history, train)
    left, tested, hours, recent, pace = r["left"], r["tested"], r["hours"], r["recent"], r["pace"]
    where = f" on {short_where(r['machine'])}" if r["machine"] else ""
    if tested in (0, left):  # one kind of epoch to come
        kind = tested > 0  # the kind to come, or the other where none of it ran yet (its pace stands in)
        if not recent[kind]:
            kind = not kind
        return (f"{left} epochs left, about {hours:.1f} h at {minutes(pace[kind])} min/epoch "
                f"(the fastest of its last {len(recent[kind])}{where})")
    return (f"{left} epochs left, about {hours:.1f} h: {left - tested} untested at {pace[False] / 60:.1f} min "
            f"and {tested} tested at {pace[True] / 60:.1f} min (the fastest of its last "
            f"{len(recent[False])} untested and {len(recent[True])} tested{where})")


def plan(only: list[str] | None = None, seeds: list[int] | None = None) -> list[tuple[str, int]]:
    """The (experiment, seed) jobs to work through, in the book's order.
    `only` keeps those experiments (with every seed the book plans for them);
    `seeds` keeps those seeds, and with `only` asks for exactly them, planned
    or not (an extra seed of one row)."""
    if only:
        unknown = [n for n in only if n not in EXPERIMENTS]
        if unknown:
            raise ValueError(f"unknown experiment(s) {unknown}; known experiments: {', '.join(EXPERIMENTS)}")
    if seeds is not None:
        check_seeds(seeds)
        if only:
            return [(n, s) for n in dict.fromkeys(only) for s in dict.fromkeys(seeds)]
        jobs = [(n, s) for n, s in BOOK_PLAN if s in seeds]
        if not jobs:  # else it would report nothing and train nothing, and exit as if done
            planned = sorted({s for _, s in BOOK_PLAN})
            raise ValueError(f"no planned run has seed {' or '.join(map(str, seeds))} (the plan's seeds: "
                             f"{', '.join(map(str, planned))}); pass --only EXPERIMENT --seeds "
                             f"{' '.join(map(str, seeds))} to train an extra seed of one experiment")
        return jobs
    if only:
        return [(n, s) for n, s in BOOK_PLAN if n in only] or [(n, 0) for n in dict.fromkeys(only)]
    return list(BOOK_PLAN)


def reproduce(only: list[str] | None = None, seeds: list[int] | None = None, hours: float | None = None,
              redo: bool = False, device: str = "cpu",
              data_dir=None, cache_dir=None, results_dir=None, subset: int | None = None,
              epochs: int | None = None, jobs: list[tuple[str, int]] | None = None,
              figure_runs: list[tuple[str, int]] | None = FIGURE5_RUNS, status_only: bool = False,
              log=print) -> list[Job]:
    """Run what is missing; return the status of every job of the plan.
    `status_only`: train nothing, only report (as a budget of zero hours)."""
    if hours is not None and not (isinstance(hours, (int, float)) and math.isfinite(hours) and hours >= 0):
        # nan would run with no budget at all, a negative one act as --status: neither is what was meant
        raise ValueError(f"--hours must be a finite number of hours >= 0, got {hours!r}; "
                         "leave it out to run without a budget")
    # Every argument checked before any record moves or any run starts, whether or not there is anything to train.
    resolve_device(device)
    check_numbers(0, epochs=epochs, subset=subset)
    data.existing_data_dir(data_dir)
    if status_only:
        hours, figure_runs = 0, None
    deadline = None if hours is None else time.time() + hours * 3600
    todo = [Job(n, s) for n, s in (jobs or plan(only, seeds))]
    # Read once: a malformed record stops the call now, not after hours of
    # training; a job's own record is written only by its own training.
    records = results.read_records(results_dir)
    recorded = {results.record_name(r): r for r in records}
    given_up = results.given_up(results_dir)
    # (kind, config, history, run) of each run this call trained, or found in progress: what times the
    # runs of its kind after it (`_same_kind`)
    paces: list[tuple[tuple, dict, list[dict], str]] = []
    for job in todo:
        # Named as train() names it (epochs equal to the experiment's own do not name a run).
        name = results.run_name(job.experiment, job.seed, run_overrides(EXPERIMENTS[job.experiment], epochs, subset))
        # A finished run is done, unless a later training of it is under way
        # (a redo that outlived a stop: its snapshot sits beside the record),
        # or it followed an earlier version of its protocol: trained again.
        finished = recorded.get(name)
        changes = "; ".join(provenance.protocol_changes(finished)) if finished is not None else ""
        again = redo or bool(changes)
        if finished is not None and not again and not checkpoint.snapshot_path(name, results_dir).exists():
            job.status = "done"
            continue
        # Read once (7.7 MB for CIFAR-10): it judges the first epoch here and
        # says how far the run got; only train() reads it again, to resume.
        state, unreadable = _newest_or_none(name, cache_dir, results_dir)
        redoing = finished is not None and redo_in_progress(finished, state)
        if finished is not None and not again and not redoing:
            job.status = "done"  # the snapshot beside its record is older than the record
            continue
        run = resolve_run(job.experiment, job.seed, device=device, epochs=epochs, subset=subset,
                          data_dir=data_dir, cache_dir=cache_dir, results_dir=results_dir)
        standing, failed_state = give_up_standing(run, state, given_up)
        if standing is not None:
            job.status = "given up"
            job.note = (f"{standing['given_up_because']}; change its recipe in experiments.py and it trains again "
                        "from scratch")
            continue
        state = None if failed_state else state  # an earlier recipe's: the run starts again
        exp, dev = EXPERIMENTS[job.experiment], resolve_device(device)
        kind = (pace_class(exp.dataset), subset, machine_name(dev), resolve_precision(exp.train.precision, dev))
        over_budget = deadline is not None and time.time() >= deadline
        if deadline is not None and not over_budget:
            # train() stops before an epoch that would end past the deadline,
            # judged by the epoch it just ran; the same rule before a run's
            # first epoch here, or the budget's last minutes start an epoch
            # that the session's end then throws away.
            pace = next_epoch_seconds(kind, state, paces, records)
            if pace is not None and time.time() + pace[0] > deadline:
                over_budget = True
                log(f"[{name}] not run now: its next epoch, about {minutes(pace[0])} min here ({pace[1]}), "
                    "would end past the budget")
        if over_budget:
            if unreadable:
                job.status, job.note = "in progress", unreadable
            elif state is not None:
                job.status, job.note = "in progress", checkpoint_progress(state)
                job.hours, here = hours_here(kind, state, run.train.to_dict(), paces, records)
                job.note += f"; {here}" if here else ""
                if state["history"]:  # the pace of the runs of its kind after it
                    paces.append(_pace_entry(state, name))
            elif exp.requires_download:
                job.note = needs_data(job.experiment)
            else:
                job.hours, here = hours_here(kind, None, run.train.to_dict(), paces, records)
                job.note = "; ".join(filter(None, [here, short_where(provenance.earlier_runs(job.experiment,
                                                                                             results_dir))]))
            continue
        # An earlier protocol's run moves to results/superseded/ (then trains again) from inside
        # train(), once the data is loaded and every check has passed: a bad input moves nothing.
        supersede_first = functools.partial(_supersede_earlier, name, changes, results_dir, log) if changes else None
        try:
            # --redo starts a finished run again, once: a redo already under way continues, and so
            # does a run that has never finished (its snapshot is all the epochs it has trained);
            # the state of an attempt given up under an earlier recipe is no start for the new one
            restart = (again and finished is not None and not redoing) or failed_state
            record = train(run, resume=not restart, restart=restart, deadline=deadline, log=log,
                           before_training=supersede_first)
        except data.MissingDataError as e:
            if not EXPERIMENTS[job.experiment].requires_download:
                raise
            job.status, job.note = "no data", f"{e.summary}: {needs_data(job.experiment)}"
            continue
        except GaveUpError as e:  # said in full as it happened; the plan goes on with the next run
            log(f"nin-repro: {e}")
            job.status, job.note = "given up", e.reason
            continue
        state = record or _newest_or_none(name, cache_dir, results_dir)[0]
        if state and state["history"]:
            paces.append(_pace_entry(state, name))
        if record is None:
            job.status, job.note = "in progress", checkpoint_progress(state)
            job.hours = hours_here(kind, state, run.train.to_dict(), paces, records)[0]
        else:
            job.status, job.note = "finished now", f"test error {record['test_error']:.2f}%"
    if figure_runs:
        refresh_figure5(figure5_names(figure_runs, epochs, subset), data_dir, cache_dir, results_dir, log)
    log(status_report(todo))
    return todo


def give_up_standing(run, state: dict | None, given_up: list[dict]) -> tuple[dict | None, bool]:
    """(the give-up that stands for `run`, if any; whether its state, `state`,
    is that of an attempt given up). An attempt given up under the recipe the
    run has now stands, unless the run was started again since (its state is
    another training): resumed or started again as it is, it would fail as
    before. After a change of recipe the failed attempt's state is no start."""
    attempts = [g for g in given_up if g["run"] == run.name]
    failed_state = state is not None and any(g["history"] == state["history"] for g in attempts)
    # its name holds the experiment, the seed and the overrides: the same run, so the recipe decides
    standing = [g for g in attempts if not recipe_changes(g["config"], run.config)]
    if standing and (state is None or failed_state):
        return standing[-1], failed_state
    return None, failed_state


def needs_data(experiment: str) -> str:
    """What a run of a dataset the study has no copy of needs, in one line."""
    return ("needs the official files in the data directory (or, with internet, "
            f"`nin-repro train --experiment {experiment} --download` fetches them)")


def pace_class(dataset: str):
    """What an epoch's length depends on in the data: the images' shape and
    how many there are. CIFAR-10 and CIFAR-100 share both (their nets differ
    in the class maps alone), so one's epoch tells the other's; judged by
    name, a CIFAR-100 run's first epoch started in a budget's last minutes."""
    spec = data.DATASETS.get(dataset)
    return (spec.image_shape, spec.train_size) if spec else dataset


def _epoch_pace(config: dict, history: list[dict]) -> tuple[tuple, float]:
    """(kind, seconds) of a run's last epoch (or, where it tests only every
    few epochs, of the slowest of its last few); runs of one kind (data of
    one shape and size, subset, machine, precision) take about as long an
    epoch, whatever their head, classes or seed."""
    kind = (pace_class(config.get("dataset")), (config.get("overrides") or {}).get("subset"),
            history[-1].get("machine"), history[-1].get("precision"))
    return kind, results.recent_epoch_seconds(history, config.get("train", {}).get("test_every", 1))


def _pace_entry(state: dict, name: str) -> tuple[tuple, dict, list[dict], str]:
    """A run's entry in `reproduce`'s paces: its kind (`_epoch_pace`), config, history and name."""
    return _epoch_pace(state["config"], state["history"])[0], state["config"], state["history"], name


def _newest_or_none(name: str, cache_dir=None, results_dir=None) -> tuple[dict | None, str]:
    """The state a run resumes from (None if it has none) and, if one of its
    checkpoints is corrupt, what is wrong (train() refuses it when it gets there)."""
    try:
        found = checkpoint.newest(name, cache_dir, results_dir)
    except CheckpointError as e:
        return None, str(e)
    return (found[1] if found else None), ""


def _same_kind(kind: tuple, paces: list[tuple[tuple, dict, list[dict], str]], records: list[dict]
               ) -> tuple[dict, list[dict], str] | None:
    """(config, history, name) of the run whose epochs time a run of `kind`
    that has not trained here: the last run of that kind this call trained
    or found in progress (`paces`), else the newest finished record (of
    `records`, read once per call) of that kind; None when nothing of its
    kind has run here."""
    for seen_kind, config, history, run_name in reversed(paces):
        if seen_kind == kind:
            return config, history, run_name
    for r in reversed(sorted((r for r in records if r["history"]), key=lambda r: r.get("finished_at", ""))):
        if _epoch_pace(r["config"], r["history"])[0] == kind:
            return r["config"], r["history"], results.record_name(r)
    return None


def next_epoch_seconds(kind: tuple, state: dict | None, paces: list[tuple[tuple, dict, list[dict], str]],
                       records: list[dict]) -> tuple[float, str] | None:
    """How long the run's next epoch should take, and what says so: its own
    last epoch (`state`: its checkpoint, if any), if it ran here; else the
    last epoch of the run of its kind `_same_kind` finds. None when nothing
    of its kind has run here: it then starts."""
    if state and state["history"]:
        own_kind, seconds = _epoch_pace(state["config"], state["history"])
        if own_kind == kind:
            return seconds, "its last epoch"
    found = _same_kind(kind, paces, records)
    if found is None:
        return None
    config, history, run_name = found
    return _epoch_pace(config, history)[1], f"the last epoch of {run_name}"


def hours_here(kind: tuple, state: dict | None, train: dict, paces: list[tuple[tuple, dict, list[dict], str]],
               records: list[dict]) -> tuple[float | None, str]:
    """The hours of training a run has left on this machine (`kind`, as
    `next_epoch_seconds` takes it), and, where they rest on another run's
    pace, a note saying so: its own recent pace where its last epoch ran here
    (its note already gives it), else the recent pace (`_remaining`) of the
    run of its kind `_same_kind` finds, over the epochs it has left of
    `train` (its training settings, which say which of them test); None
    where no epoch of its kind ran here. The recent pace, not the last epoch
    that a budget's check takes: that one epoch may have shared the cores
    with a test suite, and a forecast of days would carry its slowness."""
    if state and state["history"] and _epoch_pace(state["config"], state["history"])[0] == kind:
        return _remaining(state["history"], state["config"]["train"])["hours"], ""
    found = _same_kind(kind, paces, records)
    if found is None:
        return None, ""
    _, history, run_name = found
    r = _remaining(history, train, done=state["epoch"] if state else 0)
    per_epoch = r["hours"] * 3600 / max(r["left"], 1)
    return r["hours"], f"about {r['hours']:.1f} h here at {minutes(per_epoch)} min/epoch (the recent pace of {run_name})"


def figure5_names(figure_runs: list[tuple[str, int]] = FIGURE5_RUNS, epochs: int | None = None,
                  subset: int | None = None) -> list[str]:
    """The run names of (experiment, seed) pairs, as train() names them; an
    unknown experiment has no record to draw from and is left out."""
    return [results.run_name(n, s, run_overrides(EXPERIMENTS[n], epochs, subset))
            for n, s in figure_runs if n in EXPERIMENTS]


def refresh_figure5(run_names: list[str], data_dir=None, cache_dir=None, results_dir=None, log=print) -> bool:
    """Redraw Figure 5's data from the run `figure5.figure_source` picks
    (a finished full-length run, else one in progress, else a shorter
    finished one), unless the committed maps already come from that run at
    the epoch its net has reached, with the whole-test-set check."""

    source = figure_source(run_names, cache_dir, results_dir)
    if source is None:
        return False
    name, epoch = source
    try:
        current = load_confidence_maps(results_dir)
    except FigureError as e:  # after hours of training, the status report is still owed: draw it anew
        log(f"warning: {e}; drawing it again")
        current = None
    if current is not None and str(current["run"]) == name and int(current["epoch"]) == epoch and "stats_n" in current:
        return False
    path = extract_confidence_maps(name, data_dir=data_dir, cache_dir=cache_dir, results_dir=results_dir)
    log(f"Figure 5: maps of {name} after epoch {epoch} written to {path}")
    return True


def status_report(jobs: list[Job]) -> str:
    lines = ["", f"{'experiment':<24} {'seed':>4}  status"]
    for j in jobs:
        lines.append(f"{j.experiment:<24} {j.seed:>4}  {j.status}{'  (' + j.note + ')' if j.note else ''}")
    counts = {s: sum(j.status == s for j in jobs)
              for s in ("done", "finished now", "in progress", "left", "given up", "no data")}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    open_jobs = [j for j in jobs if j.status in ("in progress", "left")]
    timed = [j for j in open_jobs if j.hours is not None]
    if timed:
        lines.append(f"about {sum(j.hours for j in timed):.0f} h of training left on this machine for "
                     + (f"the {len(timed)}" if len(timed) == len(open_jobs) else
                        f"{len(timed)} of the {len(open_jobs)}") + " runs not done"
                     + ("" if len(timed) == len(open_jobs) else
                        " (the others lack their data, or an epoch of their kind trained here to time them by)"))
    if counts["in progress"] or counts["left"]:
        lines.append("run `nin-repro reproduce` again to continue (runs resume from their checkpoints)")
    return "\n".join(lines)


def _supersede_earlier(run_name: str, changes: str, results_dir, log) -> None:
    moved = supersede(run_name, "trained again under the protocol as it stands", results_dir)
    log(f"[{run_name}] trained under an earlier protocol ({changes}): its record moves to {moved}")


def supersede(run_name: str, because: str, results_dir=None) -> Path:
    """Move a finished run's record, with `because` added, and its weights
    from results/runs/ and results/weights/ to results/superseded/, before
    the run is trained again under its protocol as it stands: the new
    record would otherwise overwrite the old run, its cost and its weights.
    Each superseded run keeps a name of its own (`superseded_name`): a run
    superseded twice keeps both earlier records. The weights are copied with
    their checksum verified, and the new copies are written before the old
    files go."""
    folder = paths.results_dir(results_dir) / "superseded"
    source = results.record_path(run_name, results_dir)
    record = {**results.read_record(source), "superseded_because": because}
    target = superseded_name(folder, run_name, record)
    weights = checkpoint.weights_path(run_name, results_dir)
    if weights.exists():
        checkpoint.copy(weights, target.with_suffix(".pt"))  # a corrupt file stops here, nothing moved
    atomic_write_text(target, json.dumps(record, indent=1, sort_keys=True) + "\n")
    # the record first: a stop between the two leaves weights without a record (read by no table), not a
    # record without weights that the next run would supersede a second time and count twice
    source.unlink()
    checkpoint.remove(weights)
    return target


def superseded_name(folder: Path, run_name: str, record: dict) -> Path:
    """Where a superseded record goes: `<run>__<when it finished>.json` (or
    its commit, where it has no time), never over an earlier one. (The
    first records superseded are named `<run>.json`; they keep that name.)"""
    stamp = "".join(c for c in str(record.get("finished_at") or "")[:19] if c.isalnum())
    stamp = stamp or str(record.get("git_commit") or "")[:12] or "undated"
    target, n = folder / f"{run_name}__{stamp}.json", 1
    while target.exists() or target.with_suffix(".pt").exists():
        n += 1
        target = folder / f"{run_name}__{stamp}_{n}.json"
    return target
