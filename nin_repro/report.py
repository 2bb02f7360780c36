"""What the chapters show: tables, sentences and figures built from the run
records (and, for runs in progress, their snapshots), so no number in the
book is typed by hand. The claims and their verdicts are in `claims.py`,
the engineering notes in `engineering.py`."""

from __future__ import annotations

import statistics

import pandas as pd

from . import campaign, results
from .display import short_where
from .experiments import BOOK_PLAN, CHAPTERS, EXPERIMENTS, TrainConfig
from .model import architecture_table
from .paper import LATER_REPRODUCTIONS, PAPER_ERRORS

NOT_RUN = "not run yet"
NOT_STARTED = "not started"


def check_notebook_params(retrain, epochs, seeds, device, subset) -> None:
    """Fail in the notebook's first cell, with a message that says what to pass."""
    if not isinstance(retrain, bool):
        raise ValueError(f"retrain must be True or False, got {retrain!r}")
    if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
        raise ValueError(f"epochs must be a positive integer or None (the experiment's own), got {epochs!r}")
    if not isinstance(seeds, (list, tuple)) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of non-negative integers, got {seeds!r}")
    if device not in ("cpu", "cuda", "auto") and not str(device).startswith("cuda:"):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")
    if subset is not None and (not isinstance(subset, int) or subset < 1):
        raise ValueError(f"subset must be a positive integer or None, got {subset!r}")


def _fmt(x, digits=2):
    return "" if x is None else f"{x:.{digits}f}"


def _mean_std(mean: float, std: float | None) -> str:
    """A row's error over its seeds: the mean, with ± the spread where n > 1."""
    return _fmt(mean) + (f" ± {std:.2f}" if std is not None else "")


def is_full_length(experiment: str) -> bool:
    return experiment in campaign.FULL_LENGTH or experiment.endswith("_full")


def protocol_label(experiment: str) -> str:
    """Which protocol a row follows: the paper's length, the CPU budget, or
    one outside the paper's tables."""
    exp = EXPERIMENTS.get(experiment)
    if exp is None:
        return ""
    if is_full_length(experiment):
        return "full length"
    if exp.train.short_run:
        return "short check"
    if exp.train.schedule != "step":
        return "fast recipe (not the paper's)"
    return "CPU budget"


def missing_status(experiment: str) -> str:
    """What the book says for an experiment without records: not run yet,
    not started (a full-length run), or not runnable here at all (no
    offline copy of its dataset)."""
    exp = EXPERIMENTS.get(experiment)
    if exp and exp.requires_download:
        return "not run here: no offline copy"
    return NOT_STARTED if is_full_length(experiment) else NOT_RUN


def data_copy(record: dict) -> str:
    """Which copy of the dataset a run trained on, briefly (`results.data_copy`
    reads it off the checksum in the record)."""
    if record["dataset"] == "mnist":
        return "lossless copy"
    words = results.data_copy(record)
    return {"JPEG copy (quality 75)": "JPEG copy (q75)"}.get(words, words)


def _progress_cell(run: dict) -> str:
    return f"in progress: {run['history'][-1]['test_error']:.2f}% at epoch {run['epoch']} of {run['epochs']}"


def results_table(experiments: list[str], results_dir=None) -> pd.DataFrame:
    """Paper vs ours, one row per experiment (its protocol and length named);
    a row without records says whether it is in progress (with its error so
    far), not started, not run yet or not runnable here."""
    rows = results.summarize(results.read_records(results_dir), experiments)
    running = campaign._protocol_in_progress(results_dir)
    out = []
    for r in rows:
        name = r["experiment"]
        exp = EXPERIMENTS.get(name)
        epochs = r["epochs"] or ""
        if r["ours_mean"] is None:
            runs = [run for (e, _), run in sorted(running.items()) if e == name]
            ours = "; ".join(_progress_cell(run) for run in runs) or missing_status(name)
            if exp and (runs or is_full_length(name)):
                epochs = f"{max((run['epoch'] for run in runs), default=0)} of {exp.train.epochs}"
        else:
            ours = _mean_std(r["ours_mean"], r["ours_std"])
        out.append({
            "setting": r["setting"], "protocol": protocol_label(name), "epochs": epochs,
            "paper (%)": _fmt(r["paper"]) or "-", "ours (%)": ours, "n": r["n"],
            "ours - paper": "" if r["difference"] is None else f"{r['difference']:+.2f}",
        })
    return pd.DataFrame(out)


def _runs(experiment: str, results_dir, protocol_only: bool) -> list[dict]:
    records = results.read_records(results_dir)
    if protocol_only:
        return results.protocol_runs(records, experiment)
    return [r for r in records if r["experiment"] == experiment]


def runs_table(experiment: str, results_dir=None, protocol_only: bool = True) -> pd.DataFrame:
    """Every run of one experiment (only full-protocol runs unless told
    otherwise): seed, error, cost and where it trained, briefly (the Run
    records appendix has each run's full provenance)."""
    recs = _runs(experiment, results_dir, protocol_only)
    if not recs:
        return pd.DataFrame({"status": [missing_status(experiment)]}, index=pd.Index([experiment], name="run"))
    return pd.DataFrame([{
        "seed": r["seed"], "test error (%)": f"{r['test_error']:.2f}",
        "best epoch's error (%)": f"{min(h['test_error'] for h in r['history']):.2f}",
        "epochs": r["epochs"], "wall hours": f"{r['wall_seconds'] / 3600:.1f}",
        "machine and precision": short_where(results.run_where(r)), "data": data_copy(r),
        **({"overrides": ", ".join(f"{k}={v}" for k, v in r["config"]["overrides"].items())}
           if r["config"].get("overrides") else {}),
    } for r in recs]).set_index("seed")


def _run_label(experiment: str, seed: int, overrides: dict | None = None) -> str:
    """"cifar10_fc_dropout, seed 0": a run's name with a place to break."""
    extra = ", ".join(f"{k}={v}" for k, v in (overrides or {}).items())
    return f"{experiment}, seed {seed}" + (f" ({extra})" if extra else "")


def run_records_table(results_dir=None, part: str = "results") -> pd.DataFrame:
    """Every run of the study, finished or in progress: the appendix the
    chapters' short tables point to. `part="results"`: error, length, cost;
    `part="provenance"`: machine and precision by epoch, data copy, torch,
    commit, date."""
    rows = []
    for r in results.read_records(results_dir):
        rows.append({
            "run": _run_label(r["experiment"], r["seed"], r["config"].get("overrides")), "status": "finished", "test error (%)": f"{r['test_error']:.2f}",
            "epochs": r["epochs"], "wall hours": f"{r['wall_seconds'] / 3600:.2f}",
            "core-hours": f"{r['wall_seconds'] * r['threads'] / 3600:.2f}",
            "train img/s": f"{r['images_per_second']:.0f}",
            "machine and precision, by epoch": short_where(results.run_where(r)),
            "data": data_copy(r), "torch": r["torch_version"], "commit": r["git_commit"][:7],
            "finished": r.get("finished_at", "")[:10]})
    for run in campaign.in_progress(results_dir):
        rec = {"history": run["history"], "device": run.get("device", "")}
        rows.append({
            "run": _run_label(run["experiment"], run["seed"], run["config"].get("overrides")),
            "status": f"in progress, epoch {run['epoch']} of {run['epochs']}",
            "test error (%)": f"{run['history'][-1]['test_error']:.2f} so far", "epochs": run["epoch"],
            "wall hours": f"{run['wall_seconds'] / 3600:.2f}", "core-hours": "",
            "train img/s": "", "machine and precision, by epoch": short_where(results.run_where(rec)),
            "data": "", "torch": "", "commit": "", "finished": ""})
    columns = {"results": ["run", "status", "test error (%)", "epochs", "wall hours", "core-hours", "finished"],
               "provenance": ["run", "machine and precision, by epoch", "data", "torch", "commit"]}[part]
    return pd.DataFrame(rows, columns=list(dict.fromkeys(columns + ["run"])))[columns]


# Figures -------------------------------------------------------------------

def book_style() -> None:
    """Matplotlib settings for the book: text no smaller than the page's
    small print once the figure is scaled to the text column."""
    import matplotlib as mpl

    mpl.rcParams.update({"font.size": 11, "axes.titlesize": 11, "axes.labelsize": 11, "xtick.labelsize": 10,
                         "ytick.labelsize": 10, "legend.fontsize": 9, "figure.dpi": 100,
                         "savefig.bbox": "tight", "axes.spines.top": False, "axes.spines.right": False})


def plain_ticks(ax, axis: str = "y") -> None:
    """Tick labels as plain numbers (2, 5, 10, 20) on a log axis, not 2x10^0."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(fmt)
    target.set_minor_formatter(NullFormatter())


def _plot_run(ax, record: dict, color=None, label: str = "") -> None:
    """One run's test error (solid) and training error (dashed) per epoch."""
    epochs = [h["epoch"] for h in record["history"]]
    line, = ax.plot(epochs, [h["test_error"] for h in record["history"]], color=color,
                    label=f"{label}seed {record['seed']}, test")
    ax.plot(epochs, [h["train_error"] for h in record["history"]], "--", color=line.get_color(), alpha=0.7,
            label=f"{label}seed {record['seed']}, train")


def plot_learning_curves(experiment: str, results_dir=None, ax=None, log=True, protocol_only: bool = True,
                         title: str | None = None):
    """Train and test error per epoch, one colour per seed, with the paper's number."""
    import matplotlib.pyplot as plt

    recs = _runs(experiment, results_dir, protocol_only)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for i, r in enumerate(recs):
        _plot_run(ax, r, color=f"C{i}")
    key = EXPERIMENTS[experiment].paper_key if experiment in EXPERIMENTS else None
    if key in PAPER_ERRORS:
        ax.axhline(PAPER_ERRORS[key][2], color="black", lw=1, ls=":", label=f"paper: {PAPER_ERRORS[key][2]}%")
    if not recs:
        ax.text(0.5, 0.5, f"{experiment}: {missing_status(experiment)}", transform=ax.transAxes, ha="center")
    if log and recs:
        ax.set_yscale("log")
        plain_ticks(ax)
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%)")
    ax.set_title(title if title is not None else experiment)
    if ax.get_legend_handles_labels()[0]:  # nothing drawn yet: no empty legend (and no warning)
        ax.legend(ncol=2)
    ax.grid(alpha=0.3, which="both")
    return ax


def verdict(experiment: str, results_dir=None) -> str:
    """One sentence on how our runs compare with the paper, from the records."""
    r = results.summarize(results.read_records(results_dir), [experiment])[0]
    if r["ours_mean"] is None:
        return f"`{experiment}`: {missing_status(experiment)}."
    text = (f"`{experiment}`: {_mean_std(r['ours_mean'], r['ours_std'])}% test error over n={r['n']} "
            f"seed{'s' if r['n'] > 1 else ''} ({r['epochs']} epochs, "
            f"{60 * r['hours'] / r['n']:.0f} min per run on {rows_where(r['runs'])})")
    if r["paper"] is None:
        return text + "."
    d = r["difference"]
    where = "matches" if abs(d) < 0.005 else ("is " + f"{abs(d):.2f} points " + ("worse than" if d > 0 else "better than"))
    return text + f"; the paper reports {r['paper']:.2f}%, so ours {where} the paper."


def runs_left_table(results_dir=None) -> pd.DataFrame:
    """The runs the book plans (`nin-repro reproduce`'s list) that have no
    record yet, each with its state (in progress at epoch k, not started)
    and what a run of the same experiment cost where one has finished."""
    recorded = {(r["experiment"], r["seed"]) for r in results.read_records(results_dir) if results.is_protocol_run(r)}
    running = campaign._protocol_in_progress(results_dir)
    rows = []
    for name, seed in BOOK_PLAN:
        if (name, seed) in recorded:
            continue
        run = running.get((name, seed))
        rows.append({"experiment": name, "seed": seed,
                     "status": f"in progress (epoch {run['epoch']} of {run['epochs']})" if run
                     else missing_status(name),
                     "measured cost of this experiment": short_where(results.earlier_runs(name, results_dir))
                     or "no run of it yet"})
    columns = ["experiment", "seed", "status", "measured cost of this experiment"]
    return pd.DataFrame(rows, columns=columns)


def summary_table(results_dir=None) -> pd.DataFrame:
    """Every table of the paper beside ours, full length above the CPU budget."""
    names = CHAPTERS["summary"].table()
    df = results_table(names, results_dir)
    df["setting"] = [f"{PAPER_ERRORS[EXPERIMENTS[n].paper_key][0]}: {s}" for n, s in zip(names, df["setting"])]
    return df


def plot_summary(results_dir=None, ax=None):
    """Ours against the paper, one pair of bars per table row (the deciding
    row: full length where it has records, else the CPU budget)."""
    import matplotlib.pyplot as plt
    import numpy as np

    chapter = CHAPTERS["summary"]
    pairs = [(chapter.twin(n), n) if chapter.twin(n) else (n, None) for n in chapter.budget]
    records = results.read_records(results_dir)
    rows = []
    for full, budget in pairs:
        r = results.summarize(records, [full])[0]
        label = "full length"
        if r["ours_mean"] is None and budget:
            r, label = results.summarize(records, [budget])[0], f"CPU budget, {EXPERIMENTS[budget].train.epochs} ep."
        rows.append((r, label if r["ours_mean"] is not None else missing_status(r["experiment"])))
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.2))
    y = np.arange(len(rows))
    ax.barh(y + 0.2, [r["paper"] for r, _ in rows], height=0.38, color="#999999", label="paper")
    ax.barh(y - 0.2, [r["ours_mean"] or 0 for r, _ in rows], height=0.38, color="#4c72b0", label="ours",
            xerr=[r["ours_std"] or 0 for r, _ in rows])
    for yi, (r, label) in zip(y, rows):
        x = (r["ours_mean"] or 0) + 0.3
        ax.text(x, yi - 0.2, label, va="center", fontsize=9)
    ax.set_yticks(y, [f"{PAPER_ERRORS[EXPERIMENTS[r['experiment']].paper_key][0]}: "
                      f"{PAPER_ERRORS[EXPERIMENTS[r['experiment']].paper_key][1]}" for r, _ in rows])
    ax.invert_yaxis()
    ax.set_xlabel("test error (%)")
    ax.set_xlim(0, max([r["ours_mean"] or 0 for r, _ in rows] + [r["paper"] for r, _ in rows]) * 1.35)
    ax.legend(loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return ax


def rows_where(records: list[dict]) -> str:
    """Where the runs of one table row trained: each distinct machine and
    precision once, in record order (seeds may span machines)."""
    return "; ".join(dict.fromkeys(short_where(results.run_where(r)) for r in records))


def setup_caveat(experiments: list[str], results_dir=None) -> str:
    """Whether the rows of a comparison ran alike. The book compares heads
    (Table 5), dropout (Figure 4) and augmentation (Table 1) across runs made
    on different machines, some in bf16 and some in fp32: a difference
    between such rows is not the setting's alone, and the reader is told so
    next to it."""
    recs = results.read_records(results_dir)
    where = {name: rows_where(results.protocol_runs(recs, name)) for name in experiments}
    run = {name: w for name, w in where.items() if w}
    if len(run) < 2:
        return f"Setup: fewer than two of {', '.join(f'`{e}`' for e in experiments)} have records yet; nothing to compare."
    if len(set(run.values())) == 1:
        return f"Setup: {', '.join(f'`{e}`' for e in run)} all trained on {next(iter(run.values()))}; like for like."
    return ("Setup differs: " + "; ".join(f"`{n}` on {w}" for n, w in run.items())
            + ". Machine and precision change speed and rounding (bf16 carries 8 significant bits, fp32 24), "
            "so part of a difference between these rows may come from the setup, not the setting. "
            + like_for_like(experiments, recs))


def like_for_like(experiments: list[str], records: list[dict]) -> str:
    """The compared rows again, from the runs of each machine and precision
    that trained two or more of them: where seeds of a row ran on different
    setups, the runs that share one compare the settings alone."""
    by_setup: dict[str, dict[str, list[float]]] = {}
    for r in results.protocol_runs(records, experiments):
        by_setup.setdefault(short_where(results.run_where(r)), {}).setdefault(r["experiment"], []).append(
            r["test_error"])
    shared = {w: rows for w, rows in by_setup.items() if len(rows) >= 2}
    if not shared:
        return "No machine and precision has trained two of these rows yet, so none compares them like for like."
    return " ".join(f"Like for like on {w}: " + ", ".join(
        f"`{n}` {sum(rows[n]) / len(rows[n]):.2f}% (n={len(rows[n])})" for n in experiments if n in rows) + "."
        for w, rows in shared.items())


# The network ---------------------------------------------------------------

LAYER_LABELS = {"MaxPool2d": "max pool 3x3/2", "AvgPool2d": "avg pool 3x3/2", "AdaptiveAvgPool2d": "global avg pool",
                "Dropout": "dropout 0.5", "BitDropout": "dropout 0.5", "Linear": "linear"}


def plot_architecture(model, ax=None):
    """The network drawn from the model itself, top to bottom: one bar per
    layer output, its length the number of channels (log scale), its label
    the layer and the output's shape; brackets mark the mlpconv blocks."""
    import math

    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    rows = architecture_table(model)
    items = [("input", f"{model.cfg.in_channels}x{model.cfg.input_size}x{model.cfg.input_size}")] + \
        [(r["layer"], r["output"]) for r in rows]
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 0.36 * len(items) + 0.4))
    colors = {"Conv": "#4c72b0", "MaxPool2d": "#dd8452", "AvgPool2d": "#dd8452", "Dropout": "#bbbbbb",
              "BitDropout": "#bbbbbb", "AdaptiveAvgPool2d": "#55a868", "Linear": "#c44e52", "input": "#8172b3"}
    convs = []
    for i, (name, shape) in enumerate(items):
        ch = int(shape.split("x")[0])
        w = 0.6 + 0.45 * math.log2(max(ch, 1))
        color = next((c for k, c in colors.items() if name.startswith(k)), "#8172b3")
        ax.add_patch(Rectangle((1.2, i - 0.35), w, 0.7, color=color, alpha=0.85))
        label = LAYER_LABELS.get(name, name.replace("Conv ", "conv "))
        dims = shape.split("x")
        size = f"{dims[0]} x {dims[1]} x {dims[2]}" if len(dims) == 3 else dims[0]
        ax.text(1.2 + w + 0.15, i, f"{label}  →  {size}", va="center", fontsize=10.5)
        if name.startswith("Conv"):
            convs.append(i)
    for k in range(0, len(convs) - 2, 3):  # each mlpconv: a k x k conv and two 1x1 convs
        a, b = convs[k], convs[k + 2]
        ax.plot([1.05, 0.9, 0.9, 1.05], [a - 0.35, a - 0.35, b + 0.35, b + 0.35], color="black", lw=1)
        ax.text(0.8, (a + b) / 2, f"mlpconv {k // 3 + 1}", ha="right", va="center", fontsize=10.5)
    ax.set_xlim(-0.9, 11.5)
    ax.set_ylim(len(items) - 0.5, -0.6)
    ax.axis("off")
    return ax


def schedule_sentence(train: TrainConfig) -> str:
    """The training protocol of a TrainConfig, in words (the Method page's
    schedule sentences are generated here, never typed)."""
    parts = [f"{train.epochs} epochs at batch {train.batch_size}",
             f"SGD with momentum {train.momentum:g}" + (" (Nesterov)" if train.nesterov else "")]
    if train.schedule == "onecycle":
        parts.append(f"one-cycle learning rate: linear up to {train.lr:g} over {train.warmup_epochs:g} epochs, "
                     "then linear down to 0")
    else:
        drops = list(train.milestones())
        rate = f"learning rate {train.lr:g}"
        if train.warmup_epochs:
            rate += f" (warmed up linearly over the first {train.warmup_epochs:g} epoch" + \
                    ("s" if train.warmup_epochs != 1 else "") + ")"
        if drops:
            rate += ", divided by 10 after epoch" + ("s " if len(drops) > 1 else " ") + \
                " and ".join(str(d) for d in drops)
        parts.append(rate)
    decay = f"weight decay {train.weight_decay:g}" + ("" if train.bias_decay else " (none on biases)")
    parts.append(decay)
    mults = []
    if train.bias_lr_mult != 1:
        mults.append(f"biases at {train.bias_lr_mult:g}x the rate")
    if train.class_map_lr_mult != 1:
        mults.append(f"the class-map layer at {train.class_map_lr_mult:g}x")
    if mults:
        parts.append(", ".join(mults))
    if train.label_smoothing:
        parts.append(f"label smoothing {train.label_smoothing:g}")
    parts.append(f"augmentation: translation up to {train.translate} px and horizontal flips"
                 if train.translate or train.flip else "no augmentation")
    return "; ".join(parts)


INIT_WORDS = {"kaiming": "He (Kaiming) normal", "caffe": "Gaussian, std 0.05 (the published Caffe init)"}


def protocol_table(names: list[str]) -> pd.DataFrame:
    """The protocol of each named experiment: its net and inputs (size,
    preprocessing, initialization) and the training schedule in words, from
    the experiment registry."""
    from .model import NiN, count_parameters

    rows = []
    for name in names:
        e = EXPERIMENTS[name]
        net = (f"{count_parameters(NiN(e.model)):,} parameters"
               + (", BatchNorm" if e.model.batchnorm else "") + ("" if e.model.dropout else ", no dropout")
               + {"fc": ", FC head", "fc_dropout": ", FC head + dropout"}.get(e.model.head, ""))
        rows.append({"experiment": f"`{name}` ({protocol_label(name)})",
                     "net and inputs": f"{net}; preprocessing {e.preprocess}; "
                                       f"{INIT_WORDS.get(e.model.init, e.model.init)} initialization",
                     "training": schedule_sentence(e.train)})
    return pd.DataFrame(rows)


def sizes_table(names: list[str] | None = None) -> pd.DataFrame:
    """Parameters and multiply-accumulates of each experiment's net."""
    from .model import NiN, count_macs, count_parameters

    rows = []
    seen = set()
    for name in names or list(EXPERIMENTS):
        e = EXPERIMENTS[name]
        key = (e.model, e.dataset)
        if key in seen:
            continue
        seen.add(key)
        m = NiN(e.model)
        rows.append({"net (first experiment using it)": f"`{name}`", "dataset": e.dataset,
                     "widths": f"{'-'.join(map(str, e.model.block1))} / {'-'.join(map(str, e.model.block2))} / "
                               f"{'-'.join(map(str, e.model.block3))}-{e.model.num_classes}",
                     "head": e.model.head, "parameters": f"{count_parameters(m):,}",
                     "M MACs / image": f"{count_macs(m) / 1e6:.1f}"})
    return pd.DataFrame(rows)


# Comparisons (Table 1's augmentation, Table 5's heads, Figure 4's dropout) ---

def heads_table(results_dir=None, full: bool = False) -> pd.DataFrame:
    """Table 5: the same mlpconv stack with three heads, each with its size."""
    from .model import NiN, count_parameters

    labels = CHAPTERS["table5_heads"].comparison(full)
    names = list(labels)[::-1]
    df = results_table(names, results_dir)
    df.insert(0, "head", [labels[n] for n in names])
    df.insert(1, "parameters", [f"{count_parameters(NiN(EXPERIMENTS[n].model)):,}" for n in names])
    df["paper (%)"] = [f"{PAPER_ERRORS['cifar10_gap' if EXPERIMENTS[n].paper_key == 'cifar10' else EXPERIMENTS[n].paper_key][2]:.2f}"
                       for n in names]
    return df.drop(columns=["setting"])


def _noise(row: dict) -> float:
    from .claims import row_noise

    return row_noise(row)


def _difference_line(a: str, b: str, rows: dict, labels: dict) -> str:
    """'A x% vs B y%: A d points lower (the paper: e points lower; noise: n points).'"""
    ra, rb = rows[a], rows[b]
    if ra["ours_mean"] is None or rb["ours_mean"] is None:
        return f"{labels[a]} vs {labels[b]}: {NOT_RUN} (needs records of `{a}` and `{b}`)."

    def side(d):
        return f"{abs(d):.2f} points {'lower' if d > 0 else 'higher'}"

    paper = "" if None in (ra["paper"], rb["paper"]) else f"the paper: {side(rb['paper'] - ra['paper'])}; "
    noise = max(_noise(ra), _noise(rb))
    gap = abs(rb["ours_mean"] - ra["ours_mean"])
    within = "within" if gap <= noise else "beyond"
    return (f"{labels[a]} {ra['ours_mean']:.2f}% vs {labels[b]} {rb['ours_mean']:.2f}%: "
            f"{labels[a]} {side(rb['ours_mean'] - ra['ours_mean'])} ({paper}the rows' noise is up to "
            f"{noise:.2f} points, so the gap is {within} it).")


def _single_seed_line(rows: dict, labels: dict) -> list[str]:
    """One seed gives no seed-to-seed spread: say which rows rest on one."""
    single = [labels[n] for n in labels if rows[n]["n"] == 1]
    return [f"One seed only for {', '.join(single)}: their noise is the epoch-to-epoch range alone."
            ] if single else []


def _fit_line(rows: dict, labels: dict) -> str:
    """Each row's last-epoch training error beside its test error: the distance
    between them is how closely the net fit its training set, the part of the
    error a regularizer (augmentation, dropout, GAP) can remove."""
    fits = []
    for n, label in labels.items():
        if rows[n]["ours_mean"] is None:
            continue
        train = statistics.fmean(r["history"][-1]["train_error"] for r in rows[n]["runs"])
        fits.append(f"{label} {train:.2f}% train vs {rows[n]['ours_mean']:.2f}% test "
                    f"(a gap of {rows[n]['ours_mean'] - train:.2f} points)")
    return "At the last epoch (training error measured during it, with dropout on): " + "; ".join(fits) + "."


def noise_line(labels: dict, results_dir=None) -> str:
    """Each row's noise: seed spread and the range of test error over the last epochs."""
    from .claims import NOISE_EPOCHS, epoch_spread

    rows = _summarized(labels, results_dir)
    parts = []
    for n, label in labels.items():
        r = rows[n]
        if r["ours_mean"] is None:
            continue
        ranges = ", ".join(f"{epoch_spread(x):.2f}" for x in r["runs"])
        seeds = f"seed std {r['ours_std']:.2f}; " if r["ours_std"] is not None else ""
        parts.append(f"{label}: {seeds}last-epochs range {ranges} points")
    if not parts:
        return ""
    return (f"Noise (the range of each run's test error over its last {NOISE_EPOCHS} epochs at the final "
            "learning rate, and the spread over seeds): " + "; ".join(parts) + ".")


def _summarized(names, results_dir) -> dict:
    return {r["experiment"]: r for r in results.summarize(results.read_records(results_dir), list(names))}


def _lines(lines: list[str]) -> str:
    return "\n".join(f"- {line}" for line in lines if line)


def heads_effect(results_dir=None, full: bool = False) -> str:
    """Table 5's claim, from the records: GAP's test error against each fully
    connected head's, beside the paper's gaps and the rows' noise, and
    whether the paper's order (GAP < FC + dropout < FC) holds here."""
    labels = CHAPTERS["table5_heads"].comparison(full)
    gap, fc_dropout, fc = labels
    rows = _summarized(labels, results_dir)
    lines = [_difference_line(gap, other, rows, labels) for other in (fc, fc_dropout)]
    ours = {n: r["ours_mean"] for n, r in rows.items() if r["ours_mean"] is not None}
    if len(ours) < 2:
        return _lines(lines + ["The paper's order (GAP < FC + dropout < FC): not checkable until two heads "
                               "have records."])
    ranked = sorted(ours, key=ours.get)
    expected = [n for n in labels if n in ours]
    order = " < ".join(f"{labels[n]} {ours[n]:.2f}%" for n in ranked)
    partial = "" if len(ours) == len(labels) else " (among the heads run so far)"
    lines.append(f"The paper's order (GAP < FC + dropout < FC) {'holds' if ranked == expected else 'does not hold'}"
                 f" here{partial}: {order}.")
    return _lines(lines + [_fit_line(rows, labels), noise_line(labels, results_dir)]
                  + _single_seed_line(rows, labels))


def augmentation_effect(results_dir=None, full: bool = False) -> str:
    """Table 1's comparison, from the records: what translation + flip did to
    test error (the paper: 1.60 points lower), and each row's final training
    error, since augmentation can only remove the part of the test error that
    comes from fitting the training set too closely."""
    labels = CHAPTERS["cifar10"].comparison(full)
    aug, plain = labels
    rows = _summarized(labels, results_dir)
    lines = [_difference_line(aug, plain, rows, labels)]
    if all(rows[n]["ours_mean"] is not None for n in labels):
        lines += [_fit_line(rows, labels), noise_line(labels, results_dir)] + _single_seed_line(rows, labels)
    return _lines(lines)


def dropout_effect(results_dir=None, full: bool = False) -> str:
    """Figure 4's claim, from the records: the relative cut in test error that
    dropout between the mlpconv layers brings (the paper: more than 20%),
    beside the rows' noise, and how closely each net fit its training set,
    which is what dropout acts on."""
    labels = CHAPTERS["figure4_dropout"].comparison(full)
    with_name, without_name = labels
    rows = _summarized(labels, results_dir)
    with_d, without = rows[with_name], rows[without_name]
    if with_d["ours_mean"] is None or without["ours_mean"] is None:
        return _lines([f"dropout vs no dropout: {NOT_RUN} (needs records of `{with_name}` and `{without_name}`)."])
    cut = 100 * (without["ours_mean"] - with_d["ours_mean"]) / without["ours_mean"]
    noise = max(_noise(with_d), _noise(without))
    gap = without["ours_mean"] - with_d["ours_mean"]
    return _lines([
        f"Test error {without['ours_mean']:.2f}% without dropout, {with_d['ours_mean']:.2f}% with it: "
        f"a {cut:.1f}% relative reduction, {gap:.2f} points (the paper: more than 20%; n={with_d['n']} and "
        f"{without['n']}). The rows' noise is up to {noise:.2f} points, so the difference is "
        f"{'within' if abs(gap) <= noise else 'beyond'} it.",
        _fit_line(rows, labels), noise_line(labels, results_dir)] + _single_seed_line(rows, labels))


def plot_dropout_curves(results_dir=None, ax=None, full: bool = False):
    """Figure 4: training and test error per epoch, with and without dropout,
    one colour per run (blues with dropout, reds without)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.2))
    drawn = False
    palettes = (("#1f4e8c", "#4c72b0", "#8fb0dd"), ("#8c1f1f", "#c44e52", "#e39a9c"))
    for (name, label), palette in zip(CHAPTERS["figure4_dropout"].comparison(full).items(), palettes):
        for i, r in enumerate(_runs(name, results_dir, protocol_only=True)):
            _plot_run(ax, r, color=palette[i % len(palette)], label=f"{label}, ")
            drawn = True
    if not drawn:
        ax.text(0.5, 0.5, f"{NOT_RUN}: no records of both rows", transform=ax.transAxes, ha="center")
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%)")
    if drawn:
        ax.legend(ncol=2)
    ax.grid(alpha=0.3)
    return ax


# CIFAR-10 beside later reproductions ----------------------------------------

def _cifar10_anchors(results_dir=None) -> list[dict]:
    """Our Table 1 rows, the paper's and the later reproductions', as
    (source, low, high, augmentation, training, kind) rows."""
    said = {"no": "no augmentation", "yes": "augmented"}
    rows = [{"source": f"the paper, {said[aug]}", "low": PAPER_ERRORS[k][2], "high": PAPER_ERRORS[k][2],
             "augmentation": aug, "training": "lr / 10 when training accuracy stops improving, twice", "kind": "paper"}
            for k, aug in (("cifar10", "no"), ("cifar10_aug", "yes"))]
    rows += [{**r._asdict(), "kind": "later"} for r in LATER_REPRODUCTIONS]
    for r in results.summarize(results.read_records(results_dir),
                               ["cifar10", "cifar10_aug", "cifar10_full", "cifar10_aug_full"]):
        exp = EXPERIMENTS[r["experiment"]]
        mean, std = r["ours_mean"], r["ours_std"]
        if mean is None and is_full_length(r["experiment"]):
            continue  # the chapter shows a full-length run in progress with its curve
        aug = "yes" if exp.train.translate or exp.train.flip else "no"
        protocol = protocol_label(r["experiment"])
        rows.append({"source": f"ours, {said[aug]}, {protocol} (n={r['n']})", "low": mean, "high": mean,
                     "spread": std, "augmentation": aug,
                     "training": (f"{r['epochs']} epochs, the {protocol} protocol, on {rows_where(r['runs'])}"
                                  if mean is not None else missing_status(r["experiment"])),
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
        return _mean_std(r["low"], r.get("spread"))
    rows = sorted(_cifar10_anchors(results_dir), key=lambda r: (r["low"] is None, r["low"] or 0))
    return pd.DataFrame([{"source": r["source"], "test error (%)": error(r), "augmentation": r["augmentation"],
                          "training": r["training"]} for r in rows])


def plot_reproductions(results_dir=None, ax=None):
    """The same rows as a picture: a dot per reported error, a bar per range;
    ours in colour, rows not run yet left out (the table names them)."""
    import matplotlib.pyplot as plt

    rows = sorted([r for r in _cifar10_anchors(results_dir) if r["low"] is not None], key=lambda r: r["low"])
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.4))
    colors = {"paper": "#555555", "later": "#999999", "ours": "#4c72b0"}
    markers = {"yes": "s", "no": "o"}  # a hollow circle: augmentation not stated
    for y, r in enumerate(rows):
        c, m = colors[r["kind"]], markers.get(r["augmentation"], "o")
        ax.hlines(y, r["low"], r["high"], color=c, lw=3)
        ax.plot([r["low"], r["high"]], [y, y], m, color=c, ms=7,
                mfc=c if r["augmentation"] in markers else "white")
    import textwrap

    ax.set_yticks(range(len(rows)), [textwrap.fill(r["source"], 26) for r in rows])
    ax.plot([], [], "s", color="#999999", label="augmented")
    ax.plot([], [], "o", color="#999999", label="no augmentation")
    ax.plot([], [], "o", color="#999999", mfc="white", label="augmentation not stated")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    ax.invert_yaxis()
    ax.set_xlabel("CIFAR-10 test error (%)")
    ax.grid(axis="x", alpha=0.3)
    return ax


# Readings: what a comparison means, written from its numbers -----------------

def _train_error(row: dict) -> float:
    return statistics.fmean(r["history"][-1]["train_error"] for r in row["runs"])


def _protocol_words(full: bool, rows: dict) -> str:
    epochs = next(iter(rows.values()))["epochs"]
    return f"At full length ({epochs} epochs)" if full else f"At the CPU budget ({epochs} epochs)"


def _full_status(names: list[str], results_dir) -> str:
    return " ".join(campaign.progress_line(n, 0, results_dir) for n in names)


def heads_reading(results_dir=None) -> str:
    """Table 5 in words, from its numbers: which head is lowest, whether that
    is beyond the noise, and what the training errors say about why."""
    chapter = CHAPTERS["table5_heads"]
    full_names = list(chapter.comparison(full=True))
    full = all(r["n"] for r in _summarized(full_names, results_dir).values())
    labels = chapter.comparison(full)
    rows = _summarized(labels, results_dir)
    if not all(r["n"] for r in rows.values()):
        return ("Not every head has a record yet, so there is nothing to read. "
                + _full_status(full_names, results_dir))
    gap_name = next(iter(labels))
    means = {n: r["ours_mean"] for n, r in rows.items()}
    train = {n: _train_error(r) for n, r in rows.items()}
    noise = max(_noise(r) for r in rows.values())
    best = min(means, key=means.get)
    tightest = min(train, key=train.get)
    out = [f"{_protocol_words(full, rows)}, the lowest test error is {labels[best]}'s "
           f"({means[best]:.2f}%); the rows' noise is up to {noise:.2f} points."]
    close = [labels[n] for n in labels if n != best and means[n] - means[best] <= noise]
    if close:
        out.append(f"{', '.join(close)} {'is' if len(close) == 1 else 'are'} within that noise of it: "
                   "those gaps are not differences these records can resolve.")
    out.append(f"{labels[tightest]} fits its training set most closely ({train[tightest]:.2f}% training error, "
               f"against {labels[gap_name]}'s {train[gap_name]:.2f}%).")
    if best != gap_name and tightest == best:
        out.append("The head that fits the training set most closely also has the lowest test error: at this "
                   "length fitting the training set has not yet cost test error, so a regularizing head has "
                   "nothing to win. The paper's argument for GAP, a structural regularizer, predicts its "
                   "advantage where overfitting costs: at the paper's length, not necessarily at this one.")
    elif best == gap_name:
        out.append("GAP has the lowest test error while fitting its training set less closely: the reading "
                   "the paper gives, GAP as a structural regularizer.")
    if not full:
        out.append("The full-length runs of the three heads will answer it at the paper's length: "
                   + _full_status(full_names, results_dir))
    return " ".join(out)


def dropout_reading(results_dir=None) -> str:
    """Figure 4 in words, from its numbers: the cut beside the noise and what
    the train-test gaps say."""
    chapter = CHAPTERS["figure4_dropout"]
    full_names = list(chapter.comparison(full=True))
    full = all(r["n"] for r in _summarized(full_names, results_dir).values())
    labels = chapter.comparison(full)
    rows = _summarized(labels, results_dir)
    with_name, without_name = labels
    if not all(r["n"] for r in rows.values()):
        return "Both rows need records before there is anything to read. " + _full_status(full_names, results_dir)
    w, wo = rows[with_name], rows[without_name]
    gap_w, gap_wo = w["ours_mean"] - _train_error(w), wo["ours_mean"] - _train_error(wo)
    diff = wo["ours_mean"] - w["ours_mean"]
    noise = max(_noise(w), _noise(wo))
    cut = 100 * diff / wo["ours_mean"]
    out = [f"{_protocol_words(full, rows)}, dropout {'lowers' if diff >= 0 else 'raises'} the test error "
           f"by {abs(diff):.2f} points ({abs(cut):.1f}% of the no-dropout error; the paper: more than 20%), against a noise of up to "
           f"{noise:.2f} points: the difference is {'within' if abs(diff) <= noise else 'beyond'} it."]
    out.append(f"The gap between test and training error is {gap_w:.2f} points with dropout and {gap_wo:.2f} "
               "without: " + ("dropout keeps the net from fitting its training set as closely, "
                              if gap_wo > gap_w else "dropout does not narrow it, ")
               + ("yet the two test errors end close together: the net without dropout has fitted its training "
                  "set without yet paying for it in test error." if abs(diff) <= noise else
                  "and the test errors differ by more than the noise."))
    if not full:
        out.append("On this reading, a schedule long enough for overfitting to cost test error is what the "
                   "cut needs; the full-length pair tests it: " + _full_status(full_names, results_dir))
    return " ".join(out)


def full_length_rows(results_dir=None) -> pd.DataFrame:
    """`campaign.full_length_table` with short machine names, for a page."""
    df = campaign.full_length_table(results_dir).reset_index()
    df.insert(0, "run", [_run_label(e, s) for e, s in zip(df["experiment"], df["seed"])])
    df["where"] = df["where"].map(short_where)
    return df.drop(columns=["experiment", "seed"]).rename(columns={"hours so far": "hours"})
