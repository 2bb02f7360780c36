"""The book's figures, drawn from the run records and the model, and the
style they share: learning curves, the Summary's bars, Figure 4's curves
with and without dropout, CIFAR-10 beside later reproductions, and the
network itself."""

from __future__ import annotations

from nin_repro import results
from nin_repro.experiments import EXPERIMENTS
from nin_repro.model import architecture_table

from . import comparison
from .chapters import CHAPTERS
from .paper import PAPER_ERRORS
from .tables import NOT_RUN, cifar10_anchors, experiment_runs, missing_status


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
    tested = results.tested(record["history"])
    line, = ax.plot([h["epoch"] for h in tested], [h["test_error"] for h in tested], color=color,
                    label=f"{label}seed {record['seed']}, test")
    ax.plot([h["epoch"] for h in record["history"]], [h["train_error"] for h in record["history"]], "--",
            color=line.get_color(), alpha=0.7,
            label=f"{label}seed {record['seed']}, train")


def plot_learning_curves(experiment: str, results_dir=None, ax=None, log=True, protocol_only: bool = True,
                         title: str | None = None, compared_with: list[str] | None = None):
    """Train and test error per epoch, one colour per seed, with the paper's
    number; where the runs trained on more than one copy of the data, each
    line names its copy. In a figure that sets `experiment` beside the rows
    `compared_with` (protocol runs), only its runs on the copy they share."""
    import matplotlib.pyplot as plt

    if compared_with and protocol_only:
        recs = comparison.compared_rows(results.read_records(results_dir), compared_with)[experiment]["runs"]
    else:
        recs = experiment_runs(experiment, results_dir, protocol_only)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    several = len(results.copy_groups(recs)) > 1
    for i, r in enumerate(recs):
        _plot_run(ax, r, color=f"C{i}", label=f"{results.copy_name(results.data_copy(r))}, " if several else "")
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
        r = comparison.summarize(records, [full])[0]
        label = "full length"
        if r["ours_mean"] is None and budget:
            r, label = comparison.summarize(records, [budget])[0], f"CPU budget, {EXPERIMENTS[budget].train.epochs} ep."
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


def plot_dropout_curves(results_dir=None, ax=None, full: bool = False):
    """Figure 4: training and test error per epoch, with and without dropout,
    one colour per run (blues with dropout, reds without): the runs of the
    two rows on the copy of the data they share."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.2))
    drawn = False
    palettes = (("#1f4e8c", "#4c72b0", "#8fb0dd"), ("#8c1f1f", "#c44e52", "#e39a9c"))
    labels = CHAPTERS["figure4_dropout"].comparison(full)
    rows = comparison.compared_rows(results.read_records(results_dir), labels)
    for (name, label), palette in zip(labels.items(), palettes):
        for i, r in enumerate(rows[name]["runs"]):
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


def plot_reproductions(results_dir=None, ax=None):
    """The same rows as a picture: a dot per reported error, a bar per range;
    ours in colour, rows not run yet left out (the table names them)."""
    import matplotlib.pyplot as plt

    rows = sorted([r for r in cifar10_anchors(results_dir) if r["low"] is not None], key=lambda r: r["low"])
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
