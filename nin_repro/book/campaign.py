"""The full-length campaign: runs of the paper's length, which span many
sessions and machines. A run in progress is shown from its snapshot in
`results/checkpoints/` (its curve so far, "epoch k of N"); a finished one from
its record; a run not started says so. Nothing is estimated."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from nin_repro import checkpoint, paths, results
from nin_repro.experiments import EXPERIMENTS

from .chapters import BOOK_PLAN
from .display import short_where
from .paper import AUTHOR_CIFAR10_MILESTONES, PAPER_ERRORS

# The full-length experiments, in the order the book (and `reproduce`) takes them.
FULL_LENGTH = [name for name in dict.fromkeys(n for n, _ in BOOK_PLAN) if name.endswith("_full")]


def in_progress(results_dir=None) -> list[dict]:
    """Each snapshot in results/checkpoints/ (each checked against its
    SHA-256) as {run, experiment, seed, epoch, epochs, config, history,
    wall_seconds, device}: enough of a record for `results.run_where`; and,
    from a snapshot that stores them, the data source, torch version, commit
    and threads of the segment that wrote it."""
    folder = paths.results_dir(results_dir) / "checkpoints"
    runs = []
    for path in sorted(folder.glob("*.pt")):
        state = checkpoint.load(path)
        config = state["config"]
        runs.append({"run": path.stem, "experiment": config["experiment"], "seed": config["seed"],
                     "dataset": config.get("dataset", ""),
                     "epoch": state["epoch"], "epochs": config["train"]["epochs"], "config": config,
                     "history": state["history"], "wall_seconds": state["wall_seconds"],
                     "device": state["history"][-1].get("machine", ""), **state.get("provenance", {})})
    return runs


def _protocol_in_progress(results_dir=None) -> dict[tuple[str, int], dict]:
    return {(r["experiment"], r["seed"]): r for r in in_progress(results_dir) if not r["config"].get("overrides")}


def run_state(experiment: str, seed: int, results_dir=None) -> tuple[str, dict | None]:
    """("finished", record), ("in progress", snapshot run) or ("not started", None)."""
    for r in results.protocol_runs(results.read_records(results_dir), experiment):
        if r["seed"] == seed:
            return "finished", r
    run = _protocol_in_progress(results_dir).get((experiment, seed))
    return ("in progress", run) if run else ("not started", None)


def full_length_table(results_dir=None, experiments: list[str] | None = None) -> pd.DataFrame:
    """One row per planned full-length run: where it stands, its test error
    at the last epoch trained (final only when finished), the paper's, and
    where its epochs ran."""
    names = experiments or FULL_LENGTH
    rows = []
    for name, seed in dict.fromkeys((n, s) for n, s in BOOK_PLAN if n in names):
        state, run = run_state(name, seed, results_dir)
        exp = EXPERIMENTS[name]
        paper = PAPER_ERRORS[exp.paper_key][2] if exp.paper_key in PAPER_ERRORS else None
        row = {"experiment": name, "seed": seed, "status": state,
               "epochs": f"{len(run['history']) if run else 0} of {exp.train.epochs}",
               "test error (%)": "", "paper (%)": "" if paper is None else f"{paper:.2f}",
               "hours so far": "", "where": ""}
        if run:
            row["test error (%)"] = results.latest_test_cell(run["history"])
            row["hours so far"] = f"{run['wall_seconds'] / 3600:.1f}"
            row["where"] = results.run_where(run)
        rows.append(row)
    return pd.DataFrame(rows).set_index(["experiment", "seed"])


def progress_line(experiment: str, seed: int = 0, results_dir=None) -> str:
    """Where one full-length run stands, in words: finished at x%, in
    progress at epoch k of N (x% so far), or not started."""
    state, run = run_state(experiment, seed, results_dir)
    total = EXPERIMENTS[experiment].train.epochs
    if state == "finished":
        return f"`{experiment}` seed {seed}: finished, {run['test_error']:.2f}% test error after {run['epochs']} epochs."
    if state == "in progress":
        last = results.last_tested(run["history"])
        tested = "not tested yet" if last is None else \
            f"test error {last['test_error']:.2f}% after epoch {last['epoch']}"
        return (f"`{experiment}` seed {seed}: in progress, epoch {run['epoch']} of {total}; {tested} "
                f"({run['wall_seconds'] / 3600:.1f} hours so far, on {short_where(results.run_where(run))}).")
    return f"`{experiment}` seed {seed}: not started (epoch 0 of {total})."


def _started_together(runs: list[tuple[str, int]], results_dir=None):
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
    started, schedule = _started_together(runs, results_dir)
    if schedule is None or all(state == "finished" for *_, state, _ in started):
        return None
    common = set.intersection(*({h["epoch"] for h in results.tested(run["history"])} for *_, run in started))
    if not common:
        return None
    epoch = max(common)
    return epoch, [(e, s, run, next(h for h in run["history"] if h["epoch"] == epoch)) for e, s, _, run in started]


def same_epoch_line(runs: list[tuple[str, int]], labels: dict[str, str] | None = None, results_dir=None) -> str:
    """`same_epoch` in words: each started run's test and training error at
    that epoch and where it trained, said to be a reading on the way and not
    the verdict; "" where `same_epoch` finds no such point. `labels` names
    each experiment's setting ("dropout", "no dropout")."""
    point = same_epoch(runs, results_dir)
    if point is None:
        return ""
    epoch, rows = point
    train = EXPERIMENTS[rows[0][0]].train
    parts, wheres = [], []
    for experiment, seed, run, h in rows:
        label = f" ({labels[experiment]})" if labels and experiment in labels else ""
        parts.append(f"`{experiment}` seed {seed}{label} {h['test_error']:.2f}% test error, "
                     f"{h['train_error']:.2f}% training error")
        upto = {**run, "history": [row for row in run["history"] if row["epoch"] <= epoch]}
        wheres.append(short_where(results.run_where(upto)))
    ran = (f"every epoch of each on {wheres[0]}" if len(set(wheres)) == 1 else
           "; ".join(f"`{e}` on {w}" for (e, *_), w in zip(rows, wheres)))
    drops = sum(m >= epoch for m in train.milestones())
    to_come = f"with {drops} learning-rate drop{'s' if drops != 1 else ''} still to come" if drops else \
        "in the last stage of the schedule"
    return (f"At the same point of the same schedule so far (epoch {epoch} of {train.epochs}, the latest epoch every "
            f"started run has been tested after): {'; '.join(parts)} ({ran}). A reading on the way, not the "
            f"verdict: the paper's numbers are those at the end of training, {to_come}.")


def _schedule_axis(ax, total: int, milestones) -> None:
    """An error axis as long as a schedule: its learning-rate drops marked,
    the error on a log scale with plain tick labels (1, 2, 5, 10, 20, 50)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for m in milestones:
        ax.axvline(m, color="grey", lw=0.8, ls="--")
        ax.text(m, 0.98, " lr/10", transform=ax.get_xaxis_transform(), fontsize=9, va="top", color="grey")
    ax.set_xlim(0, total + 1)
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%)")


def _plot_errors(ax, history: list[dict], color, test_label: str, train_label: str) -> None:
    """A run's test error (solid, at the epochs it was tested after: every
    5th of a full-length run's first stage) and training error (dashed,
    every epoch) in one colour."""
    tested = results.tested(history)
    ax.plot([h["epoch"] for h in tested], [h["test_error"] for h in tested], color=color, label=test_label)
    ax.plot([h["epoch"] for h in history], [h["train_error"] for h in history], "--", color=color, alpha=0.6,
            label=train_label)


def plot_progress(experiment: str, seed: int = 0, results_dir=None, ax=None):
    """Test and training error per epoch of one full-length run, finished or
    so far, on an axis as long as the whole schedule, with its learning-rate
    drops and (Table 1's two nets) the first author's own milestones, which
    his release gives for his run without augmentation."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    exp = EXPERIMENTS[experiment]
    state, run = run_state(experiment, seed, results_dir)
    total = exp.train.epochs
    if run:
        _shade_machines(ax, run)
        _plot_errors(ax, run["history"], "C0", "test", "train")
    _schedule_axis(ax, total, exp.train.milestones())
    key = exp.paper_key
    if key in PAPER_ERRORS:
        ax.axhline(PAPER_ERRORS[key][2], color="black", lw=1, ls=":", label=f"paper: {PAPER_ERRORS[key][2]}%")
    if has_author_milestones(experiment):
        # his release reports only the run without augmentation; on the augmented run's panel it is a
        # landmark of the same schedule, not that run's target
        ax.plot([m[0] for m in AUTHOR_CIFAR10_MILESTONES], [m[1] for m in AUTHOR_CIFAR10_MILESTONES], "k*",
                ms=9, label="the author's own run, no augmentation (README)")
    done = len(run["history"]) if run else 0
    ax.set_title(f"{experiment} seed {seed}: {state}, epoch {done} of {total}")
    if not run:
        ax.text(0.5, 0.5, "not started", transform=ax.transAxes, ha="center")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    ax.grid(alpha=0.3, which="both")
    return ax


def plot_together(runs: list[tuple[str, int]], labels: dict[str, str] | None = None, results_dir=None, ax=None):
    """The started runs of `runs` (experiment, seed) on one axis as long as
    their shared schedule, finished or so far: each run's test error (solid)
    and training error (dashed) in its own colour, with the learning-rate
    drops; the shape of the paper's Figure 4, while its rows train. `labels`
    names each experiment's setting. None when fewer than two have started
    or they follow different schedules (each then has its own panel,
    `plot_started`)."""
    import matplotlib.pyplot as plt

    started, schedule = _started_together(runs, results_dir)
    if schedule is None:
        return None
    total, milestones = schedule
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.6))
    for i, (experiment, seed, state, run) in enumerate(started):
        color = TOGETHER_COLOURS[i % len(TOGETHER_COLOURS)]
        name = labels.get(experiment, experiment) if labels else experiment
        where = "" if state == "finished" else f", so far (epoch {run['epoch']})"
        _plot_errors(ax, run["history"], color, f"{name}, test{where}", f"{name}, train")
    _schedule_axis(ax, total, milestones)
    ax.legend(ncol=2, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    return ax


# One colour per run set together: blue, red, green (Figure 4's dropout and no dropout, then a third row).
TOGETHER_COLOURS = ("#4c72b0", "#c44e52", "#55a868")


def _shade_machines(ax, run: dict) -> None:
    """A run that moved between kinds of machine (and so, often, between
    fp32 and bf16): each stretch of epochs shaded by its kind, one legend
    entry per kind, so a step in the curve can be set against a change of
    precision. A run trained on one kind is left unshaded."""
    spans = results.where_spans(run)
    kinds = list(dict.fromkeys((m, p) for m, p, _, _ in spans))
    if len(kinds) < 2:
        return
    labelled = set()
    for machine, precision, first, last in spans:
        i = kinds.index((machine, precision))
        ax.axvspan(first - 0.5, last + 0.5, color=MACHINE_SHADES[i % len(MACHINE_SHADES)], alpha=0.5, lw=0,
                   label=None if i in labelled else f"epochs on {short_where(machine)}, {precision}")
        labelled.add(i)


# Light, distinct backgrounds for the kinds of machine a run trained on.
MACHINE_SHADES = ("#dbe9f6", "#fde0c5", "#d9f0d3", "#e7d4e8")


def plot_started(runs: list[tuple[str, int]], results_dir=None):
    """`plot_progress` for each of `runs` (experiment, seed) that has started,
    one panel per run, stacked; None when none has (a page then says so in
    words rather than draw empty axes)."""
    import matplotlib.pyplot as plt

    started = [(e, s) for e, s in runs if run_state(e, s, results_dir)[0] != "not started"]
    if not started:
        return None
    fig, axes = plt.subplots(len(started), 1, figsize=(8, 4.2 * len(started)), squeeze=False)
    for ax, (experiment, seed) in zip(axes[:, 0], started):
        plot_progress(experiment, seed, results_dir, ax=ax)
    fig.tight_layout()
    return fig


def _table_net(config: dict, dataset: str) -> str | None:
    """"augmented" / "not augmented" for a run of the paper's table net (GAP
    head, dropout, no BatchNorm, the step schedule, no overrides) on
    `dataset`, whatever its length; None for any other run."""
    model, train = config["model"], config["train"]
    if (config.get("dataset") != dataset or config.get("overrides") or model.get("head") != "gap"
            or not model.get("dropout") or model.get("batchnorm") or train.get("schedule") != "step"):
        return None
    return "augmented" if train.get("translate") or train.get("flip") else "not augmented"


def error_by_length(dataset: str, results_dir=None) -> pd.DataFrame:
    """Every run of the paper's table net on `dataset` (with and without
    augmentation, any length): epochs trained and test error, finished runs
    at their end, runs in progress at the epoch they have reached. The
    question it answers: how much of the gap to the paper is training length."""
    rows = []
    for r in results.read_records(results_dir):
        kind = _table_net(r["config"], dataset)
        if kind:
            rows.append({"experiment": r["experiment"], "seed": r["seed"], "augmentation": kind,
                         "data": results.copy_label(results.data_copy(r)),
                         "epochs": r["epochs"], "test error (%)": round(r["test_error"], 2), "status": "finished"})
    for run in _protocol_in_progress(results_dir).values():
        kind, last = _table_net(run["config"], dataset), results.last_tested(run["history"])
        if kind and last:  # at the length of its latest test
            rows.append({"experiment": run["experiment"], "seed": run["seed"], "augmentation": kind,
                         "data": results.copy_label(results.data_copy(run)),
                         "epochs": last["epoch"], "test error (%)": round(last["test_error"], 2),
                         "status": f"in progress ({run['epoch']} of {run['epochs']})"})
    columns = ["experiment", "seed", "augmentation", "data", "epochs", "test error (%)", "status"]
    table = pd.DataFrame(rows, columns=columns)
    if not table["data"].any():
        table = table.drop(columns="data")  # a dataset the study has one copy of
    return table.sort_values(["augmentation", "epochs", "experiment", "seed"]).reset_index(drop=True)


PAPER_BY_AUGMENTATION = {"cifar10": {"not augmented": "cifar10", "augmented": "cifar10_aug"},
                         "mnist": {"not augmented": "mnist"}}


def plot_error_by_length(dataset: str = "cifar10", results_dir=None, ax=None):
    """Test error against epochs trained: one point per finished run, the
    curve so far of each run in progress, the paper's numbers as lines."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    table = error_by_length(dataset, results_dir)
    finished = table[table["status"] == "finished"]
    # each copy of the data its own points, those on the lossy JPEG copy hollow
    copies = sorted(set(finished["data"])) if "data" in finished else [None]
    jpeg = results.copy_label(results.JPEG_COPY)
    for (kind, key), (marker, color) in zip(PAPER_BY_AUGMENTATION[dataset].items(), [("o", "C0"), ("s", "C1")]):
        for copy in copies:
            pts = finished[(finished["augmentation"] == kind) & ((finished["data"] == copy) if copy else True)]
            if len(pts):
                ax.plot(pts["epochs"], pts["test error (%)"], marker, color=color, ms=7,
                        mfc="none" if copy == jpeg else color,
                        label=f"ours, {kind} (finished runs{f', {copy}' if copy else ''})")
        ax.axhline(PAPER_ERRORS[key][2], lw=1, ls=":", color=color, label=f"paper, {kind}: {PAPER_ERRORS[key][2]}%")
    first_epoch = min([5] + list(finished["epochs"]))
    for run in _protocol_in_progress(results_dir).values():
        kind = _table_net(run["config"], dataset)
        h = results.tested(run["history"])
        if kind and h:
            first_epoch = min(first_epoch, h[0]["epoch"])  # a young run's whole curve stays in view
            color = "C0" if kind == "not augmented" else "C1"
            ax.plot([x["epoch"] for x in h], [x["test_error"] for x in h], lw=1, color=color, alpha=0.7,
                    label=f"{run['experiment']} seed {run['seed']} so far ({run['epoch']} of {run['epochs']})")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlim(left=first_epoch, right=max([300] + list(table["epochs"])))
    ax.set_xlabel("epochs trained")
    ax.set_ylabel("test error (%)")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return ax


# How many epochs at the end of a stage show whether the error still falls.
STAGE_TAIL = 5


def has_author_milestones(experiment: str) -> bool:
    """Whether the first author's milestones (his run of Table 1's net
    without augmentation, 260 epochs) mark the same schedule as this run's:
    Table 1's nets at his length."""
    exp = EXPERIMENTS[experiment]
    return exp.paper_key in ("cifar10", "cifar10_aug") and exp.train.epochs == AUTHOR_CIFAR10_MILESTONES[-1][0]


AUTHOR_COLUMN = "the first author's run, no augmentation (%)"


def _stage_bounds(experiment: str) -> list[int]:
    """0, each learning-rate drop, the last epoch: stage k is epochs bounds[k]+1 .. bounds[k+1]."""
    cfg = EXPERIMENTS[experiment].train
    return [0, *cfg.milestones(), cfg.epochs]


def stages_table(experiment: str, seed: int = 0, results_dir=None, upto: int | None = None) -> pd.DataFrame | None:
    """One row per learning-rate stage of a full-length run (finished, or as
    far as it has come): its epochs, rate, its last test error (the one at
    its end, once the stage is over), its best, and the range over the
    stage's last tests. The question it answers: did each stage run until
    the error stopped falling, which is how a length is chosen where no
    schedule is published. Beside Table 1's nets, the first author's own run
    at each stage's end, as his release words it ("around 14%" as "about
    14"). `upto`: as it stood after that epoch. None before the run has started."""
    _, run = run_state(experiment, seed, results_dir)
    if not run:
        return None
    history = [h for h in run["history"] if upto is None or h["epoch"] <= upto]
    bounds = _stage_bounds(experiment)
    author = {epoch: ("about " if "around" in words or "near" in words else "") + f"{error:g}"
              for epoch, error, words in AUTHOR_CIFAR10_MILESTONES} if has_author_milestones(experiment) else None
    rows = []
    for first, last in zip(bounds, bounds[1:]):
        done = [h for h in history if first < h["epoch"] <= last]
        if not done:
            break
        tested = results.tested(done)  # every epoch, or (a full-length run's first stage) every 5th
        row = {"epochs": f"{first + 1}-{last}", "learning rate": f"{done[-1]['lr']:g}",
               "trained": f"{len(done)} of {last - first}", "last test error (%)": results.latest_test_cell(done),
               "best (%)": "", f"range over its last {STAGE_TAIL} tests (%)": ""}
        if tested:
            tail = [h["test_error"] for h in tested[-STAGE_TAIL:]]
            best = min(tested, key=lambda h: h["test_error"])
            row.update({"best (%)": f"{best['test_error']:.2f} (epoch {best['epoch']})",
                        f"range over its last {STAGE_TAIL} tests (%)": f"{min(tail):.2f}-{max(tail):.2f}"})
        if author is not None:
            row[AUTHOR_COLUMN] = author.get(last, "")
        rows.append(row)
    return pd.DataFrame(rows).set_index("epochs")


def stages_beside(runs: list[tuple[str, int]], labels: dict[str, str] | None = None,
                  results_dir=None) -> pd.DataFrame | None:
    """The stages (`stages_table`) of the first of `runs` (experiment, seed)
    beside those of the others on its schedule, each cut at the epoch the
    first has reached: a run in progress read against a finished one at the
    same point (CIFAR-100's against CIFAR-10's). Rows (stage, run), `labels`
    naming each experiment; None before the first has started."""
    first, seed = runs[0]
    _, run = run_state(first, seed, results_dir)
    if not run:
        return None
    upto = run["history"][-1]["epoch"] if run["history"] else 0
    tables = {}
    for experiment, s in runs:
        if _stage_bounds(experiment) != _stage_bounds(first):
            continue  # another schedule: its stages are not these
        table = stages_table(experiment, s, results_dir, upto=upto)
        if table is not None:
            label = (labels or {}).get(experiment, experiment) + (f" (seed {s})" if s else "")
            tables[label] = table.drop(columns=AUTHOR_COLUMN, errors="ignore")
    rows = [(stage, label, row) for stage in tables[next(iter(tables))].index
            for label, table in tables.items() if stage in table.index for row in [table.loc[stage]]]
    out = pd.DataFrame([row for *_, row in rows])
    out.index = pd.MultiIndex.from_tuples([(stage, label) for stage, label, _ in rows], names=["epochs", "run"])
    return out


def stages_reading(experiment: str, seed: int = 0, results_dir=None) -> str:
    """What the last stage of a finished run says about its length: still
    falling (its last epochs' mean below every earlier epoch of the stage)
    or flat; "" before the run has finished."""
    state, run = run_state(experiment, seed, results_dir)
    if state != "finished":
        return ""
    start = _stage_bounds(experiment)[-2]
    stage = [h["test_error"] for h in results.tested(run["history"]) if h["epoch"] > start]
    tail, earlier = stage[-STAGE_TAIL:], stage[:-STAGE_TAIL]
    said = (f"Its last stage (epochs {start + 1}-{run['epochs']}) ended at {stage[-1]:.2f}% (best {min(stage):.2f}%) "
            f"and moved between {min(tail):.2f}% and {max(tail):.2f}% over its last {len(tail)} epochs")
    if not earlier:
        return said + ": too short a stage to tell whether the error still fell."
    if sum(tail) / len(tail) < min(earlier):
        return said + (f", below every earlier epoch of the stage (best before them {min(earlier):.2f}%): the error "
                       "was still falling, and a longer run would likely end lower.")
    return said + (f", no lower than earlier in the stage (best before them {min(earlier):.2f}%): the error had "
                   "stopped falling at the final rate.")


GIVEN_UP_FIELDS = ("run", "config", "history", "wall_seconds", "given_up_because")


def given_up(results_dir=None) -> list[dict]:
    """The runs given up (results/stalls/: kept so that the book shows what
    they cost and why they were stopped), each as its file holds it: run,
    config, history, wall_seconds, given_up_because."""
    runs = []
    for path in sorted((paths.results_dir(results_dir) / "stalls").glob("*.json")):
        try:
            run = json.loads(path.read_text())
            missing = [k for k in GIVEN_UP_FIELDS if k not in run] + \
                [f"config.{k}" for k in ("experiment", "seed") if k not in run.get("config", {})]
        except (ValueError, TypeError, AttributeError) as e:
            missing = [f"readable JSON ({type(e).__name__}: {e})"]
        if missing:
            raise ValueError(f"{path} is not a given-up run's file (no {', '.join(missing)}); restore it from git")
        runs.append(run)
    return runs


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


def supersede(run_name: str, because: str, results_dir=None) -> Path:
    """Move a finished run's record, with `because` added, and its weights
    from results/runs/ and results/weights/ to results/superseded/, before
    the run is trained again under its protocol as it stands: the new
    record would otherwise overwrite the old run, its cost and its weights.
    The new copies are written before the old files go."""
    import shutil

    from nin_repro.atomic import atomic_path, atomic_write_text

    root = paths.results_dir(results_dir)
    folder = root / "superseded"
    folder.mkdir(parents=True, exist_ok=True)
    source = results.record_path(run_name, results_dir)
    record = {**results.read_record(source), "superseded_because": because}
    weights = checkpoint.weights_path(run_name, results_dir)
    moved = [(w, folder / w.name) for w in (weights, weights.with_name(weights.name + ".sha256")) if w.exists()]
    for old, new in moved:
        with atomic_path(new) as tmp:
            shutil.copyfile(old, tmp)
    target = folder / source.name
    atomic_write_text(target, json.dumps(record, indent=1, sort_keys=True) + "\n")
    for old, _ in moved:
        old.unlink()
    source.unlink()
    return target


def warmup_table(results_dir=None) -> pd.DataFrame | None:
    """The warm-up the full-length protocol adds, measured: each run given up
    at the base rate (without a warm-up, or with one too short), epoch by
    epoch beside the same run trained again with the protocol's warm-up, as
    far as that has come. Each run's label names both warm-ups. None where
    no run stalled."""
    rows = []
    for stalled in given_up(results_dir):
        experiment, seed = stalled["config"]["experiment"], stalled["config"]["seed"]
        _, again = run_state(experiment, seed, results_dir)
        redone = {h["epoch"]: h for h in again["history"]} if again else {}
        before = stalled["config"].get("train", {}).get("warmup_epochs", 0.0)
        after = EXPERIMENTS[experiment].train.warmup_epochs if again is None else \
            again["config"]["train"]["warmup_epochs"]
        run = f"{experiment} seed {seed} ({_warmup_words(before)}, then {_warmup_words(after)})"
        for h in stalled["history"]:
            r = redone.get(h["epoch"])
            rows.append({"run": run, "epoch": h["epoch"],
                         "given up: train loss": f"{h['train_loss']:.4f}",
                         "given up: test error (%)": _tested(h),
                         "trained again: train loss": f"{r['train_loss']:.4f}" if r else "not yet",
                         "trained again: test error (%)": "not yet" if r is None else _tested(r)})
    return pd.DataFrame(rows).set_index(["run", "epoch"]) if rows else None


def _warmup_words(epochs: float) -> str:
    return "no warm-up" if not epochs else f"{epochs:g}-epoch warm-up"


def _tested(h: dict) -> str:
    return "not tested" if h["test_error"] is None else f"{h['test_error']:.2f}"
