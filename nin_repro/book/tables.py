"""The book's tables, built from the run records (and, for runs in
progress, their snapshots) and the experiment registry, so no number in a
table is typed by hand: ours beside the paper's, the run records appendix, the runs left, and the protocols and sizes of the nets.
Also what a row says without records (not run yet, not started, not
runnable here) and where its runs trained, which the sentences (`findings`)
and the figures (`plots`) say the same way."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from nin_repro import results
from nin_repro.experiments import EXPERIMENTS, MNIST_AUTHOR_MODEL, MNIST_MODEL, SVHN_AUTHOR_MODEL
from nin_repro.model import NiN, count_macs, count_parameters

from . import comparison, progress, provenance
from .progress import is_full_length
from .chapters import BOOK_PLAN, CHAPTERS, DATASET_WORDS, run_words
from .display import listed, short_where, unbroken
from .paper import AUTHOR_CIFAR10_MILESTONES, LATER_REPRODUCTIONS, PAPER_ERRORS, paper_error

NOT_RUN = "not run yet"
NOT_STARTED = "not started"  # a planned run with neither a record nor a snapshot; the claims say it alike
NO_OFFLINE_COPY = "not run: no offline copy of the data"  # SVHN, in every table and verdict
NOT_PLANNED = "not planned: the full-length row stands for it"
PLANNED = frozenset(name for name, _ in BOOK_PLAN)  # the experiments `reproduce` trains for the book


def _fmt(x, digits=2):
    return "" if x is None else f"{x:.{digits}f}"


def mean_std(mean: float, std: float | None) -> str:
    """A row's error over its seeds: the mean, with ± the spread where n > 1."""
    return _fmt(mean) + (f" ± {std:.2f}" if std is not None else "")


FULL_LENGTH = "full length"  # the protocol that decides the claims


def protocol_label(experiment: str) -> str:
    """Which protocol a row follows: the paper's length, the CPU budget, or
    one outside the paper's tables."""
    exp = EXPERIMENTS.get(experiment)
    if exp is None:
        return ""
    if is_full_length(experiment):
        return FULL_LENGTH
    if exp.train.short_run:
        return "short check"
    if exp.train.schedule != "step":
        return "fast recipe, not the paper's"
    return "CPU budget"


def missing_status(experiment: str, results_dir=None) -> str:
    """What the book says for an experiment without records: not run yet,
    not started (a full-length run), given up (it stalled or diverged under
    its protocol as it stands), not planned (a CPU-budget row whose
    full-length twin the plan trains instead), or not runnable here at all
    (no offline copy of its dataset)."""
    exp = EXPERIMENTS.get(experiment)
    if exp and exp.requires_download:
        return NO_OFFLINE_COPY
    attempt = progress.given_up_now(results_dir).get(experiment)
    if attempt:
        return progress.given_up_words(attempt)
    if exp and f"{experiment}_full" in EXPERIMENTS and experiment not in PLANNED:
        return NOT_PLANNED  # a CPU-budget row the plan leaves to its full-length twin
    return NOT_STARTED if is_full_length(experiment) else NOT_RUN


def data_cell(record: dict) -> str:
    """A table cell naming the copy of the dataset a run trained on, briefly
    (`provenance.data_copy` gives it in full, read off the record's checksum).
    MNIST's and CIFAR-100's packed files are the study's one copy of each,
    every image bit-exact: "lossless copy" (their data source, which says how
    each was recovered, is a paragraph)."""
    copy = provenance.data_copy(record)
    if record["dataset"] == "mnist" or (record["dataset"] == "cifar100" and copy.startswith("cifar100.npz")):
        return "lossless copy"
    # the copy's short name: what each copy is, the Method page and the data folder's README say
    return provenance.copy_name(copy)


def _progress_cell(run: dict) -> str:
    return f"in progress: {progress.error_so_far(run['history'])} at epoch {run['epoch']} of {run['epochs']}"


def without_record(experiment: str, running: list[dict], results_dir=None) -> str:
    """What a row without records holds: each of its runs in progress with
    its error so far, else why it has none (`missing_status`). `running`:
    `progress.runs_in_progress`'s runs."""
    return ("; ".join(_progress_cell(run) for run in running if run["experiment"] == experiment)
            or missing_status(experiment, results_dir))


def row_copy(row: dict) -> str:
    """", JPEG copy": the copy of CIFAR-10 a summarized row's runs trained on,
    to follow its protocol's name ("" for a row without runs, or of a dataset
    the study has one copy of)."""
    label = provenance.copy_label(row["copy"])
    return f", {label}" if label else ""


def copy_rows(experiments: list[str], results_dir=None) -> list[dict]:
    """`comparison.summarize`'s rows, and after the row of an experiment whose
    runs trained on more than one copy of the data, a row for each other copy."""
    records = results.read_records(results_dir)
    rows = []
    for r in comparison.summarize(records, experiments):
        rows += [r] + [comparison.summarize(records, [r["experiment"]], copy=c)[0] for c in r["other_copies"]]
    return rows


def results_table(experiments: list[str], results_dir=None, paper_table: bool = False,
                  compared: bool = False) -> pd.DataFrame:
    """Paper vs ours, one row per experiment and copy of the data (its
    protocol, copy and length named; `copy_rows`), or, for rows `compared`
    with each other, one row per experiment on the copy they share
    (`provenance.shared_copy`); each setting after its paper table's name with
    `paper_table`. A row without records says whether it is in progress
    (with its error so far), not started, not run yet or not runnable here;
    a row with records names any further seed of it still training."""
    if compared:
        rows = list(comparison.compared_rows(results.read_records(results_dir), experiments).values())
    else:
        rows = copy_rows(experiments, results_dir)
    running = progress.runs_in_progress(experiments, results_dir)
    out, noted = [], set()
    for r in rows:
        name = r["experiment"]
        exp = EXPERIMENTS.get(name)
        epochs = r["epochs"] or ""
        if r["ours_mean"] is None:
            runs = [run for run in running if run["experiment"] == name]
            ours = without_record(name, running, results_dir)
            if exp and (runs or is_full_length(name) or name in PLANNED):
                epochs = f"{max((run['epoch'] for run in runs), default=0)} of {exp.train.epochs}"
        else:
            ours = mean_std(r["ours_mean"], r["ours_std"])
            # a further seed of the row training: said in the row (once, where the row has one per copy)
            more = [run for run in running if run["experiment"] == name and name not in noted]
            if more:
                ours += "; " + "; ".join(f"seed {run['seed']} training (epoch {run['epoch']} of {run['epochs']})"
                                         for run in more)
                noted.add(name)
        setting = f"{PAPER_ERRORS[exp.paper_key].table}: {r['setting']}" if paper_table and exp else r["setting"]
        made = r["n"] or is_full_length(name) or name in PLANNED or any(run["experiment"] == name for run in running)
        out.append({
            # a run neither made nor planned has no protocol to name
            "setting": setting, "protocol": protocol_label(name) + row_copy(r) if made else "-",
            "epochs": epochs,
            "paper (%)": _fmt(r["paper"]) or "-", "ours (%)": ours, "n": r["n"],
            "ours - paper": "" if r["difference"] is None else f"{r['difference']:+.2f}",
        })
    return pd.DataFrame(out)


def _override_words(overrides: dict | None) -> list[str]:
    """["epochs=3", "subset=100"]: a run's overrides as its name shows them."""
    return [f"{k}={v}" for k, v in (overrides or {}).items()]


def _run_label(experiment: str, seed: int, overrides: dict | None = None) -> str:
    """"cifar10_fc_dropout, seed 0": a run's name with a place to break."""
    extra = ", ".join(_override_words(overrides))
    return f"{experiment}, seed {seed}" + (f" ({extra})" if extra else "")


def _finished_status(record: dict) -> str:
    """"" for a finished run, or, for a run of an earlier version of its
    protocol (no table counts it), what has changed since."""
    changes = provenance.protocol_changes(record)
    return f"earlier protocol ({'; '.join(changes)}); not counted" if changes else ""


def superseded_lines(results_dir=None) -> str:
    """One line per experiment and reason of its superseded runs: what
    changed in its protocol since, and why they were trained again ("" where
    none was)."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    for r in progress.superseded(results_dir):
        key = (r["experiment"], "; ".join(provenance.protocol_changes(r)), r["superseded_because"])
        groups.setdefault(key, []).append(r["seed"])
    return "\n".join(f"- `{name}` seed{'s' if len(seeds) > 1 else ''} {listed(sorted(seeds))}: {changes}; {because}"
                     for (name, changes, because), seeds in groups.items())


def short_commit(commit: str) -> str:
    """A commit as the tables show it: its first 8 hex digits (what `git
    show` takes; the record keeps the whole hash) and "-dirty" where the
    library's tracked files (nin_repro/) had uncommitted changes. Longer, it
    took the width a run's machine cell needs when the run moved between
    three kinds of machine."""
    head, dirty, _ = commit.partition("-dirty")
    return head[:8] + dirty


# The runs appendix's machine column. A run that moved between kinds of
# machine has its stretches on a line below the table (`moved_lines`): a run
# trained over many sittings can move several times, and its stretches in
# one cell would outgrow the row.
MACHINE_COLUMN = "machine and precision"
MOVED = "moved: by epoch below"


def _appendix_runs(results_dir=None) -> list[tuple[dict, str]]:
    """Every run of the study in the runs appendix's order, each with its
    status: finished ("", or an earlier protocol), "superseded", "in progress"."""
    return ([(r, _finished_status(r)) for r in results.read_records(results_dir)]
            + [(r, "superseded") for r in progress.superseded(results_dir)]  # why: superseded_lines
            + [(r, "in progress") for r in progress.in_progress(results_dir)])


def _appendix_label(run: dict, status: str) -> str:
    name = _run_label(run["experiment"], run["seed"], run["config"].get("overrides"))
    return f"{name} ({status})" if status else name


def _appendix_row(run: dict, status: str) -> dict:
    """A run's row in `run_records_table`: a record's numbers, or a snapshot's so far."""
    where = MOVED if len(provenance.where_spans(run)) > 1 else short_where(provenance.run_where(run))
    if status != "in progress":
        return {"run": _appendix_label(run, status), "test error (%)": f"{run['test_error']:.2f}",
                "epochs": run["epochs"], "core-hours": f"{run['wall_seconds'] * run['threads'] / 3600:.2f}",
                "train img/s": f"{run['images_per_second']:.0f}", MACHINE_COLUMN: where, "data": data_cell(run),
                "torch": run["torch_version"], "commit": short_commit(run["git_commit"])}
    speed = results.mean_train_speed(run["history"])
    return {
        "run": _appendix_label(run, status),
        "test error (%)": progress.error_so_far(run["history"], suffix=" so far"),
        "epochs": f"{run['epoch']} of {run['epochs']}",
        # a snapshot from before snapshots stored their threads has no core count
        "core-hours": f"{run['wall_seconds'] * run['threads'] / 3600:.2f}" if "threads" in run else "",
        "train img/s": f"{speed:.0f}" if speed is not None else "",
        MACHINE_COLUMN: where,
        # a snapshot from before snapshots stored their provenance says so
        "data": data_cell(run), "torch": run.get("torch_version", "not recorded"),
        "commit": short_commit(run["git_commit"]) if "git_commit" in run else "not recorded"}


def run_records_table(results_dir=None) -> pd.DataFrame:
    """Every run of the study, finished (superseded ones too: results/superseded/)
    or in progress, one row each: the appendix the chapters' short tables
    point to. Error, length, cost and speed, then what it trained on and
    with: data copy, torch, commit, machine and precision (a run that moved:
    `MOVED`, its stretches in `moved_lines`). A run not simply finished
    says so after its name ("in progress", "superseded"). Wall hours are the
    core-hours over the run's threads, so only the cost is shown; the date a
    run ended is in its record."""
    rows = [_appendix_row(r, status) for r, status in _appendix_runs(results_dir)]
    # the machines last: the longest cell, it takes the width the others leave
    columns = ["run", "test error (%)", "epochs", "core-hours", "train img/s", "data", "torch", "commit",
               MACHINE_COLUMN]
    df = pd.DataFrame(rows, columns=columns)
    df["data"] = df["data"].str.removesuffix(" copy").map(unbroken)  # the header says it: "data copy"
    return df.rename(columns={"data": "data copy"})


def moved_lines(results_dir=None) -> str:
    """One line per run that moved between kinds of machine or precisions,
    in the runs appendix's order: each stretch of its epochs with where it
    trained ("" where no run moved)."""
    def named(run: dict, status: str) -> str:  # as `superseded_lines` names runs: "`cifar10_full` seed 0"
        extra = _override_words(run["config"].get("overrides")) + [status] * bool(status)
        return f"`{run['experiment']}` seed {run['seed']}" + (f" ({', '.join(extra)})" if extra else "")

    return "\n".join(f"- {named(r, status)}: {short_where(provenance.run_where(r))}"
                     for r, status in _appendix_runs(results_dir) if len(provenance.where_spans(r)) > 1)


def runs_left_table(results_dir=None) -> pd.DataFrame:
    """The runs the book plans (`nin-repro reproduce`'s list) that have no
    record yet, each with its state (in progress at epoch k, not started)
    and what a run of the same experiment cost where one has finished."""
    recorded = {(r["experiment"], r["seed"]) for r in results.read_records(results_dir) if provenance.is_protocol_run(r)}
    running = progress.protocol_in_progress(results_dir)
    rows = []
    for name, seed in BOOK_PLAN:
        if (name, seed) in recorded:
            continue
        run = running.get((name, seed))
        so_far = (f"this run so far: {run['epoch']} epochs in {run['wall_seconds'] / 3600:.1f} h on "
                  + short_where(provenance.run_where(run))
                  if run else "")
        rows.append({"experiment": name, "seed": seed,
                     # said in brackets after the run's name: no brackets of its own
                     "status": f"in progress, epoch {run['epoch']} of {run['epochs']}" if run
                     else missing_status(name, results_dir),
                     "measured cost of this experiment": short_where(provenance.earlier_runs(name, results_dir))
                     or so_far or "no run of it yet"})
    columns = ["experiment", "seed", "status", "measured cost of this experiment"]
    return pd.DataFrame(rows, columns=columns)


def runs_left_words(results_dir=None) -> str:
    """`runs_left_table` in sentences, in the order `nin-repro reproduce`
    trains the runs: a run alone in its state as "<run> (<state>)", runs
    that follow one another in one state under it ("Not started: <run>;
    <run>"), so that a long plan does not repeat its state run by run."""
    left = runs_left_table(results_dir)
    groups: list[tuple[str, list[str]]] = []
    for r in left.itertuples():
        name = f"{run_words(r.experiment, dataset=True)}, seed {r.seed}"
        if groups and groups[-1][0] == r.status:
            groups[-1][1].append(name)
        else:
            groups.append((r.status, [name]))

    def said(state: str, names: list[str]) -> str:
        if len(names) == 1:
            return f"{names[0]} ({state})"
        head, _, why = state.partition(": ")  # "not run: no offline copy of the data"
        return f"{head[0].upper()}{head[1:]}{f' ({why})' if why else ''}: {'; '.join(names)}"

    done = f"{len(BOOK_PLAN) - len(left)} of the {len(BOOK_PLAN)} planned runs have finished."
    if not groups:
        return done
    return f"{done} Left, in the order `nin-repro reproduce` trains them: " + ". ".join(
        said(state, names) for state, names in groups) + "."


def headline_table(results_dir=None) -> pd.DataFrame:
    """The README's table: each error claim of the paper beside the
    full-length result that decides it (the planned run's state where it
    has none), with n, length and the copy of the data (the book's intro
    gives these numbers in its claims table, beside every other claim).
    The difference says "lower" or "higher", not better or worse: a row of
    one seed cannot say more than which way it fell."""
    from .claims import CLAIMS  # claims reads this module's tables

    out = []
    for claim in (c for c in CLAIMS if c.kind == "error"):
        names = list(claim.full or claim.budget)
        table = results_table(names, results_dir)
        row, first = table.iloc[0], copy_rows(names, results_dir)[0]
        diff = first["difference"]
        copy = "-" if not first["n"] else (provenance.copy_label(first["copy"]) or
                                           ("official images, lossless" if first["copy"] else "not recorded"))
        out.append({"paper's table": f"{claim.label}: {claim.claim}", "paper (%)": row["paper (%)"],
                    "ours (%)": row["ours (%)"],
                    "ours - paper": "" if diff is None else f"{diff:+.2f} ({'lower' if diff < 0 else 'higher'})"
                    if round(diff, 2) else "+0.00",
                    "n": row["n"], "epochs": row["epochs"] or "-", "data copy": copy})
    return pd.DataFrame(out)


def heads_table(results_dir=None, full: bool = False) -> pd.DataFrame:
    """Table 5: the same mlpconv stack with three heads, each with its size."""

    labels = CHAPTERS["table5_heads"].comparison(full)
    names = list(labels)[::-1]
    df = results_table(names, results_dir, compared=True)
    df.insert(0, "head", [labels[n] for n in names])
    df.insert(1, "parameters", [f"{count_parameters(NiN(EXPERIMENTS[n].model)):,}" for n in names])
    # Table 5's GAP row is its own number in the paper, not Table 1's CIFAR-10 row
    keys = ["cifar10_gap" if EXPERIMENTS[n].paper_key == "cifar10" else EXPERIMENTS[n].paper_key for n in names]
    df["paper (%)"] = [f"{paper_error(k):.2f}" for k in keys]
    return df.drop(columns=["setting"])


def rows_where(records: list[dict]) -> str:
    """Where the runs of one table row trained: each distinct machine and
    precision once, in record order (seeds may span machines)."""
    return "; ".join(dict.fromkeys(_mostly_where(r) for r in records))


def _mostly_where(record: dict) -> str:
    """Where one run trained, for a chapter's sentence: a run that moved
    between kinds of machine by the one that trained most of its epochs
    ("mostly Intel Xeon, AVX512, bf16: 198 of 260 epochs"), its stretches
    being listed once, in the runs appendix (`moved_lines`); by its every
    stretch where no kind trained most of them."""
    kinds = Counter((h["machine"], h["precision"]) for h in record["history"])
    (machine, precision), most = kinds.most_common(1)[0]
    if len(kinds) == 1 or 2 * most <= len(record["history"]):
        return short_where(provenance.run_where(record))
    return f"mostly {short_where(machine)}, {precision}: {most} of {len(record['history'])} epochs"


def given_up_rows(results_dir=None) -> pd.DataFrame | None:
    """The runs given up (results/stalls/): how far each went, its last
    epoch's numbers, what it cost and where, and why it was stopped. None
    where there are none."""
    rows = [{"run": _run_label(r["config"]["experiment"], r["config"]["seed"]),
             "epochs": f"{len(r['history'])} of {r['config']['train']['epochs']}",
             "last train loss": f"{r['history'][-1]['train_loss']:.4f}",
             "last test error (%)": progress.latest_test_cell(r["history"]),
             "hours": f"{r['wall_seconds'] / 3600:.1f}",
             "where": short_where(provenance.run_where({"history": r["history"], "device": ""})),
             "why given up": r["given_up_because"]}
            for r in results.given_up(results_dir)]
    return pd.DataFrame(rows) if rows else None


# The nets and their protocols -----------------------------------------------

def protocol_table(names: list[str]) -> pd.DataFrame:
    """The training protocols of the named experiments, one row per distinct
    protocol (the experiments that share it named together, an augmented one
    marked "(+ translate, flip)" on its name), the schedule
    broken into short columns so that each setting is stated once, from the
    experiment registry (the nets' sizes are `sizes_table`'s)."""
    groups: dict[tuple, list[str]] = {}
    for name in names:
        e = EXPERIMENTS[name]
        t = e.train
        # one-cycle: its warm-up is the rise to the peak rate, then it falls linearly to 0
        drops = "one-cycle" if t.schedule == "onecycle" else ", ".join(map(str, t.milestones()))
        mults = ", ".join(filter(None, [f"biases {t.bias_lr_mult:g}x" if t.bias_lr_mult != 1 else "",
                                        f"class maps {t.class_map_lr_mult:g}x" if t.class_map_lr_mult != 1 else ""]))
        # the drops beside the length, a column fewer for the table Method shows
        # "fast recipe": the Method page says it is not the paper's, and the cell stays short
        row = {"protocol": protocol_label(name).removesuffix(", not the paper's"),
               "epochs (rate ÷10 after)": f"{t.epochs}" + (f" ({drops})" if drops else ""),
               "batch, momentum": f"{t.batch_size}, {t.momentum:g}" + (" Nesterov" if t.nesterov else ""),
               # rate and warm-up each a short column of its own: together, three lines a cell
               "rate": f"{t.lr:g}", "warm-up (epochs)": f"{t.warmup_epochs:g}" if t.warmup_epochs else "-",
               "decay": f"{t.weight_decay:g}", "biases decayed": "yes" if t.bias_decay else "no",
               "multipliers": mults or "-",
               "init": {"kaiming": "He", "caffe": "Gaussian 0.05"}.get(e.model.init, e.model.init),
               "input": e.preprocess, "label smoothing": f"{t.label_smoothing:g}" if t.label_smoothing else "-"}
        # augmentation is the one setting Table 1's two rows differ in: marked on the experiment's name
        # rather than given a row of its own that repeats every other setting
        augmented = " (+ translate, flip)" if t.translate or t.flip else ""
        groups.setdefault(tuple(row.items()), []).append(f"`{name}`{augmented}")
    return pd.DataFrame([{"experiments": ", ".join(members), **dict(key)} for key, members in groups.items()])


HEAD_WORDS = {"gap": "", "fc": ", FC head", "fc_dropout": ", FC head"}  # dropout adds no parameter


def _structure(m) -> tuple:
    """What makes two nets the same layers, whatever their initialization,
    head or BatchNorm."""
    return m.in_channels, m.block1, m.block2, m.block3, m.block3_kernel, m.pool2


# Whose net each is, where a dataset has more than one: MNIST trains our
# narrow net at the CPU budget and the first author's cuda-convnet net at
# full length (the registry's words); SVHN's is his too.
NET_ORIGINS = {_structure(MNIST_MODEL): "ours", _structure(MNIST_AUTHOR_MODEL): "the author's mnist_def",
               _structure(SVHN_AUTHOR_MODEL): "the author's svhn_def"}


def sizes_table(names: list[str] | None = None) -> pd.DataFrame:
    """Parameters and multiply-accumulates of each distinct net of the named
    experiments (every experiment by default), one row per net, with the
    protocols that train it; each mlpconv block's widths in a column of its
    own. The nets the full-length protocol trains, which decide the claims,
    come first."""

    nets: dict[tuple, dict] = {}
    for name in names or list(EXPERIMENTS):
        e = EXPERIMENTS[name]
        m = e.model
        origin = NET_ORIGINS.get(_structure(m))
        label = DATASET_WORDS.get(e.dataset, e.dataset) + (f" ({origin})" if origin else "") \
            + HEAD_WORDS.get(m.head, f", {m.head}") + (", BatchNorm" if m.batchnorm else "")
        key = (label, m.block1, m.block2, m.block3, m.num_classes, m.pool2)
        if key not in nets:
            net = NiN(m)
            nets[key] = {"net": label, "mlpconv 1": "-".join(map(str, m.block1)),
                         "mlpconv 2": "-".join(map(str, m.block2)),
                         "mlpconv 3": "-".join(map(str, (*m.block3, m.num_classes))), "pool 2": m.pool2,
                         "parameters": f"{count_parameters(net):,}", "M MACs / image": f"{count_macs(net) / 1e6:.1f}",
                         "protocols": []}
        if protocol_label(name) not in nets[key]["protocols"]:
            nets[key]["protocols"].append(protocol_label(name))
    rows = sorted(nets.values(), key=lambda row: FULL_LENGTH not in row["protocols"])  # stable: else as listed
    return pd.DataFrame([{**row, "protocols": ", ".join(row["protocols"])} for row in rows])


# CIFAR-10 beside later reproductions ----------------------------------------

def cifar10_anchors(results_dir=None) -> list[dict]:
    """Our Table 1 rows, the paper's and the later reproductions', as
    (source, low, high, augmentation, training, kind) rows."""
    said = {"no": "no augmentation", "yes": "augmented"}
    rows = [{"source": f"the paper, {said[aug]}", "low": paper_error(k), "high": paper_error(k),
             "augmentation": aug, "training": "lr / 10 when training accuracy stops improving, twice", "kind": "paper"}
            for k, aug in (("cifar10", "no"), ("cifar10_aug", "yes"))]
    rows += [{**r._asdict(), "kind": "later"} for r in LATER_REPRODUCTIONS]
    for r in copy_rows(["cifar10", "cifar10_aug", "cifar10_full", "cifar10_aug_full"], results_dir):
        exp = EXPERIMENTS[r["experiment"]]
        mean, std = r["ours_mean"], r["ours_std"]
        if mean is None and is_full_length(r["experiment"]):
            continue  # the chapter shows a full-length run in progress with its curve
        aug = "yes" if exp.train.translate or exp.train.flip else "no"
        protocol = protocol_label(r["experiment"])
        rows.append({"source": f"ours, {said[aug]}, {protocol}{row_copy(r)} (n={r['n']})", "low": mean, "high": mean,
                     "spread": std, "augmentation": aug,
                     # the precision, which can move the error; the machines are the runs appendix's
                     "training": (f"{r['epochs']} epochs, the {protocol.replace(' ', '-')} protocol, in "
                                  + listed(sorted({h['precision'] for run in r['runs'] for h in run['history']}))
                                  if mean is not None else missing_status(r["experiment"], results_dir)),
                     "kind": "ours"})
    return rows


def reproductions_table(results_dir=None) -> pd.DataFrame:
    """CIFAR-10 test error of the paper, later reproductions and ours, lowest
    first: where ours sits among runs of the same net trained for other
    lengths and schedules."""
    def error(r):
        if r["low"] is None:
            return NOT_RUN
        if r["low"] != r["high"]:
            return f"{r['low']:.2f}-{r['high']:.2f}"
        return mean_std(r["low"], r.get("spread"))
    rows = sorted(cifar10_anchors(results_dir), key=lambda r: (r["low"] is None, r["low"] or 0))
    return pd.DataFrame([{"source": r["source"], "test error (%)": error(r), "augmentation": r["augmentation"],
                          "training": r["training"]} for r in rows])


def table_net(config: dict, dataset: str) -> str | None:
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
        kind = table_net(r["config"], dataset)
        if kind:
            rows.append({"experiment": r["experiment"], "seed": r["seed"], "augmentation": kind,
                         "data": provenance.copy_label(provenance.data_copy(r)),
                         "epochs": r["epochs"], "test error (%)": round(r["test_error"], 2), "status": "finished"})
    for run in progress.protocol_in_progress(results_dir).values():
        kind, last = table_net(run["config"], dataset), progress.last_tested(run["history"])
        if kind and last:  # at the length of its latest test
            rows.append({"experiment": run["experiment"], "seed": run["seed"], "augmentation": kind,
                         "data": provenance.copy_label(provenance.data_copy(run)),
                         "epochs": last["epoch"], "test error (%)": round(last["test_error"], 2),
                         "status": f"in progress ({run['epoch']} of {run['epochs']})"})
    columns = ["experiment", "seed", "augmentation", "data", "epochs", "test error (%)", "status"]
    table = pd.DataFrame(rows, columns=columns)
    if not table["data"].any():
        table = table.drop(columns="data")  # a dataset the study has one copy of
    return table.sort_values(["augmentation", "epochs", "experiment", "seed"]).reset_index(drop=True)


PAPER_BY_AUGMENTATION = {"cifar10": {"not augmented": "cifar10", "augmented": "cifar10_aug"},
                         "mnist": {"not augmented": "mnist"}}


# How many epochs at the end of a stage show whether the error still falls.
STAGE_TAIL = 5


def has_author_milestones(experiment: str) -> bool:
    """Whether the first author's milestones (his run of Table 1's net
    without augmentation, 260 epochs) mark the same schedule as this run's:
    Table 1's nets at his length."""
    exp = EXPERIMENTS[experiment]
    return exp.paper_key in ("cifar10", "cifar10_aug") and exp.train.epochs == AUTHOR_CIFAR10_MILESTONES[-1][0]


AUTHOR_COLUMN = "the first author's run, no augmentation (%)"


def stage_bounds(experiment: str) -> list[int]:
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
    14"; blank beside an augmented run, his being without augmentation).
    `upto`: as it stood after that epoch. None before the run has started."""
    _, run = progress.run_state(experiment, seed, results_dir)
    if not run:
        return None
    history = [h for h in run["history"] if upto is None or h["epoch"] <= upto]
    bounds = stage_bounds(experiment)
    author = {epoch: ("about " if "around" in words or "near" in words else "") + f"{error:g}"
              for epoch, error, words in AUTHOR_CIFAR10_MILESTONES} if has_author_milestones(experiment) else None
    rows = []
    for first, last in zip(bounds, bounds[1:]):
        done = [h for h in history if first < h["epoch"] <= last]
        if not done:
            break
        tested = progress.tested(done)  # every epoch, or (a full-length run's first stage) every 5th
        row = {"epochs": f"{first + 1}-{last}", "learning rate": f"{done[-1]['lr']:g}",
               "trained": f"{len(done)} of {last - first}", "last test error (%)": progress.latest_test_cell(done),
               "best (%)": "", f"range over its last {STAGE_TAIL} tests (%)": ""}
        if tested:
            tail = [h["test_error"] for h in tested[-STAGE_TAIL:]]
            best = min(tested, key=lambda h: h["test_error"])
            row.update({"best (%)": f"{best['test_error']:.2f} (epoch {best['epoch']})",
                        f"range over its last {STAGE_TAIL} tests (%)": f"{min(tail):.2f}-{max(tail):.2f}"})
        if author is not None:  # his release reports his run without augmentation only: blank beside ours with it
            row[AUTHOR_COLUMN] = author.get(last, "") if EXPERIMENTS[experiment].paper_key == "cifar10" else ""
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
    _, run = progress.run_state(first, seed, results_dir)
    if not run:
        return None
    upto = run["history"][-1]["epoch"] if run["history"] else 0
    tables = {}
    for experiment, s in runs:
        if stage_bounds(experiment) != stage_bounds(first):
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
