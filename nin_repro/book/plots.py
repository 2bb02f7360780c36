"""The book's figures, drawn from the run records, the snapshots of runs in
progress and the model, and the style they share (`book_style`,
`plain_ticks`): the network itself, the full-length runs' progress (each
run's curve on its schedule, runs started together, Figure 4's shape while
its rows train), the error by training length, and Figure 5's class maps
(from the sample `figure5` stores)."""

from __future__ import annotations

import math

import matplotlib as mpl
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle
from matplotlib.transforms import offset_copy
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

from nin_repro.experiments import EXPERIMENTS
from nin_repro.model import architecture_table

from . import progress, provenance, tables
from .chapters import run_words
from .display import short_where
from .paper import AUTHOR_CIFAR10_MILESTONES, paper_error


# The page's small print (table cells, notes) is 14 px. A figure is drawn at
# 100 dpi and no wider than a figure's room in the text column at 1280 px
# (the column is 1024 px, a figure's margins leave its image 944), so the page
# shows it at its own size, where text of MIN_TEXT_PT (14.6 px) is no smaller.
DPI = 100
MIN_TEXT_PT = 10.5
COLUMN_PX = 944


def book_style() -> None:
    """Matplotlib settings for the book: text no smaller than the page's
    small print (MIN_TEXT_PT at DPI)."""
    mpl.rcParams.update({"font.size": 11.5, "axes.titlesize": 11.5, "axes.labelsize": 11.5,
                         "xtick.labelsize": MIN_TEXT_PT, "ytick.labelsize": MIN_TEXT_PT,
                         "legend.fontsize": MIN_TEXT_PT, "figure.dpi": DPI,
                         "savefig.bbox": "tight", "axes.spines.top": False, "axes.spines.right": False})


PLAIN_NUMBERS = FuncFormatter(lambda v, _: f"{v:g}")  # 2, 5, 10, not 2x10^0


def plain_ticks(ax, axis: str = "y") -> None:
    """Tick labels as plain numbers (2, 5, 10, 20) on a log axis, not 2x10^0."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(PLAIN_NUMBERS)
    target.set_minor_formatter(NullFormatter())


# The network ---------------------------------------------------------------

# The FC + dropout head's `nn.Dropout` is always 0.5 (model.NiN); the
# dropout between the mlpconv blocks (`BitDropout`) is the config's rate.
LAYER_LABELS = {"MaxPool2d": "max pool 3x3/2", "AvgPool2d": "avg pool 3x3/2", "AdaptiveAvgPool2d": "global avg pool",
                "Dropout": "dropout 0.5", "Linear": "linear"}


def layer_label(name: str, cfg) -> str:
    """A layer of `architecture_table` in words, the dropout between the
    blocks at the rate of the net's config `cfg`."""
    if name == "BitDropout":
        return f"dropout {cfg.dropout:g}"
    return LAYER_LABELS.get(name, name.replace("Conv ", "conv "))


def plot_architecture(model, ax=None):
    """The network drawn from the model itself, top to bottom: one bar per
    layer output, its length the number of channels (log scale), its label
    the layer and the output's shape; brackets mark the mlpconv blocks."""
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
        label = layer_label(name, model.cfg)
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


# Below this error (%) a schedule axis that must show a 0 is linear (`_schedule_axis`).
ZERO_AXIS_LINEAR_BELOW = 0.1


def _schedule_axis(ax, total: int, milestones) -> None:
    """An error axis as long as a schedule: its learning-rate drops marked,
    the error on a log scale with plain tick labels (1, 2, 5, 10, 20, 50).
    A curve that reaches 0.00% (a net that fits every training image) cannot
    be drawn on a log scale, where it would fall off the axis: the scale is
    then linear below 0.1% down to a 0 at the bottom."""
    drawn = [y for line in ax.get_lines() for y in line.get_ydata()]
    for m in milestones:
        ax.axvline(m, color="grey", lw=0.8, ls="--")
        ax.text(m, 0.98, " lr/10", transform=ax.get_xaxis_transform(), fontsize=MIN_TEXT_PT, va="top", color="grey")
    ax.set_xlim(0, total + 1)
    if any(y == 0 for y in drawn):
        ax.set_yscale("symlog", linthresh=ZERO_AXIS_LINEAR_BELOW, linscale=0.5)
        top = max(drawn + [1.0])  # all zeros: an axis up to 1% still
        ticks = [0.0] + [t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100) if t <= top * 1.5]
        ax.set_ylim(-0.15 * ZERO_AXIS_LINEAR_BELOW, top * 1.3)  # room below 0: the curve along it stays in sight
        ax.yaxis.set_major_locator(FixedLocator(ticks))
        ax.yaxis.set_major_formatter(PLAIN_NUMBERS)
        ax.yaxis.set_minor_locator(NullLocator())
    else:
        ax.set_yscale("log")
        plain_ticks(ax)
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%)")


# How far below its axes a legend starts: clear of the tick labels and the axis label.
LEGEND_BELOW_INCHES = 0.5


def legend_below(ax, ncols: int = 3) -> None:
    """The legend under the axes and their label, at the same distance
    whatever the panel's height: inside, it hid the first epochs, the curves
    near the top and the rate drops' labels."""
    below = offset_copy(ax.transAxes, fig=ax.figure, y=-LEGEND_BELOW_INCHES, units="inches")
    ax.legend(ncols=ncols, loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below, frameon=False,
              columnspacing=1.0, handlelength=1.5)


def _plot_errors(ax, history: list[dict], color, test_label: str, train_label: str) -> None:
    """A run's test error (solid, at the epochs it was tested after: every
    5th of a full-length run's first stage) and training error (dashed,
    every epoch) in one colour."""
    tested = progress.tested(history)
    ax.plot([h["epoch"] for h in tested], [h["test_error"] for h in tested], color=color, label=test_label)
    ax.plot([h["epoch"] for h in history], [h["train_error"] for h in history], "--", color=color, alpha=0.6,
            label=train_label)


def plot_progress(experiment: str, seed: int = 0, results_dir=None, ax=None):
    """Test and training error per epoch of one full-length run, finished or
    so far, on an axis as long as the whole schedule, with its learning-rate
    drops and (Table 1's two nets) the first author's own milestones, which
    his release gives for his run without augmentation."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    exp = EXPERIMENTS[experiment]
    state, run = progress.run_state(experiment, seed, results_dir)
    total = exp.train.epochs
    if run:
        _shade_machines(ax, run)
        _plot_errors(ax, run["history"], "C0", "test", "train")
    # the row's other seeds, finished or so far: their test error alone, thin, so the first seed's curve leads
    others = [(s, st, r) for s, st, r in progress.seeds_started(experiment, results_dir) if s != seed]
    for i, (other, other_state, other_run) in enumerate(others):
        tested = progress.tested(other_run["history"])
        if not tested:  # nothing to draw yet
            continue
        ax.plot([h["epoch"] for h in tested], [h["test_error"] for h in tested], color=OTHER_SEED_COLOURS[i % 2],
                lw=0.9, label=f"seed {other}, test" + ("" if other_state == "finished" else ", so far"))
    paper = paper_error(exp.paper_key)
    if paper is not None:
        ax.axhline(paper, color="black", lw=1, ls=":", label=f"paper: {paper}%")
    if tables.has_author_milestones(experiment):
        # his release reports only the run without augmentation; on the augmented run's panel it is a
        # landmark of the same schedule, not that run's target
        ax.plot([m[0] for m in AUTHOR_CIFAR10_MILESTONES], [m[1] for m in AUTHOR_CIFAR10_MILESTONES], "k*",
                ms=9, label="first author's run, no augmentation")
    _schedule_axis(ax, total, exp.train.milestones())  # after every line: its range takes them all in
    done = len(run["history"]) if run else 0
    ax.set_title(f"{run_words(experiment, dataset=True)}, seed {seed}: {state}, epoch {done} of {total}")
    if not run:
        ax.text(0.5, 0.5, "not started", transform=ax.transAxes, ha="center")
    if ax.get_legend_handles_labels()[0]:
        legend_below(ax)
    ax.grid(alpha=0.3, which="both")
    return ax


def plot_together(runs: list[tuple[str, int]], labels: dict[str, str] | None = None, results_dir=None, ax=None,
                  paper: bool = False):
    """The started runs of `runs` (experiment, seed) on one axis as long as
    their shared schedule, finished or so far: each run's test error (solid)
    and training error (dashed) in its own colour, with the learning-rate
    drops; the shape of the paper's Figure 4, while its rows train. `labels`
    names each experiment's setting; `paper`: each run's number in the paper
    as a dotted line in its colour (runs on different datasets, each against
    its own table). None when fewer than two have started or they follow
    different schedules (each then has its own panel, `plot_started`)."""
    started, schedule = progress.started_together(runs, results_dir)
    if schedule is None:
        return None
    total, milestones = schedule
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.2))
    for i, (experiment, seed, state, run) in enumerate(started):
        color = TOGETHER_COLOURS[i % len(TOGETHER_COLOURS)]
        name = labels.get(experiment, experiment) if labels else experiment
        where = "" if state == "finished" else f", so far (epoch {run['epoch']})"
        _plot_errors(ax, run["history"], color, f"{name}, test{where}", f"{name}, train")
        value = paper_error(EXPERIMENTS[experiment].paper_key) if paper else None
        if value is not None:
            ax.axhline(value, color=color, lw=1, ls=":", label=f"{name}, paper: {value}%")
    _schedule_axis(ax, total, milestones)
    legend_below(ax, ncols=len(started))  # a column per run: its test line above its training line
    ax.grid(alpha=0.3, which="both")
    return ax


# The other seeds of a run's row, drawn thin beside it (`plot_progress`).
OTHER_SEED_COLOURS = ("#8c8c8c", "#b07aa1")

# One colour per run set together: blue, red, green (Figure 4's dropout and no dropout, then a third row).
TOGETHER_COLOURS = ("#4c72b0", "#c44e52", "#55a868")


def _shade_machines(ax, run: dict) -> None:
    """A run that moved between kinds of machine (and so, often, between
    fp32 and bf16): each stretch of epochs shaded by its kind, one legend
    entry per kind, so a step in the curve can be set against a change of
    precision. A run trained on one kind is left unshaded."""
    spans = provenance.where_spans(run)
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
    started = [(e, s) for e, s in runs if progress.run_state(e, s, results_dir)[0] != "not started"]
    if not started:
        return None
    fig, axes = plt.subplots(len(started), 1, figsize=(8, 4.2 * len(started)), squeeze=False)
    for ax, (experiment, seed) in zip(axes[:, 0], started):
        plot_progress(experiment, seed, results_dir, ax=ax)
    fig.tight_layout()
    return fig


def plot_error_by_length(dataset: str = "cifar10", results_dir=None, ax=None):
    """Test error against epochs trained: one point per finished run, the
    curve so far of each run in progress, the paper's numbers as lines."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    table = tables.error_by_length(dataset, results_dir)
    finished = table[table["status"] == "finished"]
    # each copy of the data its own points, those on the lossy JPEG copy hollow
    copies = sorted(set(finished["data"])) if "data" in finished else [None]
    jpeg = provenance.copy_label(provenance.JPEG_COPY)
    for (kind, key), (marker, color) in zip(tables.PAPER_BY_AUGMENTATION[dataset].items(), [("o", "C0"), ("s", "C1")]):
        for copy in copies:
            pts = finished[(finished["augmentation"] == kind) & ((finished["data"] == copy) if copy else True)]
            if len(pts):
                ax.plot(pts["epochs"], pts["test error (%)"], marker, color=color, ms=7,
                        mfc="none" if copy == jpeg else color,
                        label=f"ours, {kind} (finished runs{f', {copy}' if copy else ''})")
        paper = paper_error(key)
        ax.axhline(paper, lw=1, ls=":", color=color, label=f"paper, {kind}: {paper}%")
    first_epoch = min([5] + list(finished["epochs"]))
    for run in progress.protocol_in_progress(results_dir).values():
        kind = tables.table_net(run["config"], dataset)
        h = progress.tested(run["history"])
        if kind and h:
            first_epoch = min(first_epoch, h[0]["epoch"])  # a young run's whole curve stays in view
            color = "C0" if kind == "not augmented" else "C1"
            ax.plot([x["epoch"] for x in h], [x["test_error"] for x in h], lw=1, color=color, alpha=0.7,
                    label=f"{run_words(run['experiment'])}, seed {run['seed']}, so far "
                          f"({run['epoch']} of {run['epochs']})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_ticks(ax, "x")
    plain_ticks(ax, "y")
    ax.set_xlim(left=first_epoch, right=max([300] + list(table["epochs"])))
    ax.set_xlabel("epochs trained")
    ax.set_ylabel("test error (%)")
    # below the axes (inside, it hid the 30-epoch points and the paper's lines), a column per augmentation
    legend_below(ax, ncols=2)
    ax.grid(alpha=0.3, which="both")
    return ax


# CIFAR-10's ten maps in one row per image, a column per class named once at
# the top (in two rows of five, each map needed its own name, and the figure
# took twice the height); about 72 px a map on the page, at the book's 100 dpi,
# within COLUMN_PX.
MAPS_PER_ROW = 10
MAP_INCHES = 0.72  # a map's cell, margins and colour bar included
IMAGE_RATIO = 1.0  # the test image's width, in maps' widths
SLACK_INCHES = 0.6  # the colour bars' ticks and label


def plot_confidence_maps(fig_data: dict):
    """One block per test image: the image with its true and predicted class,
    then its class maps in rows of `MAPS_PER_ROW`, on one colour scale per
    image (a labelled colour bar at the end); the true class's map is framed
    green, a wrong prediction's red. Where each image's maps fit one row, the
    classes name the columns once, at the top."""
    images, maps, labels, preds = fig_data["images"], fig_data["maps"], fig_data["labels"], fig_data["preds"]
    classes = [str(c) for c in fig_data["classes"]]
    n, c = maps.shape[:2]
    per_row = min(MAPS_PER_ROW, c)
    rows = -(-c // per_row)
    # one row per image: every image's maps share the columns, so the top row alone names them
    named_once = rows == 1
    height = MAP_INCHES * rows * n + (0.28 if named_once else 0.28 * rows * n) + 0.2 * n
    fig = plt.figure(figsize=(MAP_INCHES * (per_row + IMAGE_RATIO + 0.1) + SLACK_INCHES, height))
    # thin outer margins: the maps take the figure's width
    outer = fig.add_gridspec(n, 1, hspace=0.3, left=0.01, right=0.99, top=0.99, bottom=0.01)
    for i in range(n):
        grid = outer[i].subgridspec(rows, per_row + 2, width_ratios=[IMAGE_RATIO] + [1] * per_row + [0.1],
                                    wspace=0.05, hspace=0.3)
        ax = fig.add_subplot(grid[:, 0])
        ax.imshow(images[i].squeeze(), cmap="gray" if images[i].shape[-1] == 1 else None)
        right = preds[i] == labels[i]
        ax.set_title(f"{classes[labels[i]]}" + ("" if right else f" → {classes[preds[i]]}"),
                     color="black" if right else "#c00000", pad=3, loc="left")
        ax.set_xticks([])
        ax.set_yticks([])
        lo, hi = float(maps[i].min()), float(maps[i].max())
        for k in range(c):
            ax = fig.add_subplot(grid[k // per_row, 1 + k % per_row])
            im = ax.imshow(maps[i, k], vmin=lo, vmax=hi, cmap="viridis")
            color = "lime" if k == labels[i] else ("red" if k == preds[i] else None)
            for side in ax.spines.values():
                side.set_visible(color is not None)
                if color:
                    side.set_color(color)
                    side.set_linewidth(3)
            if i == 0 or not named_once:
                ax.set_title(classes[k], pad=2, fontsize=MIN_TEXT_PT)
            ax.set_xticks([])
            ax.set_yticks([])
        cbar = fig.colorbar(im, cax=fig.add_subplot(grid[:, -1]))
        cbar.set_ticks([lo, hi])
        cbar.set_ticklabels([f"{lo:.0f}", f"{hi:.0f}"])
        cbar.set_label("map value")  # the class maps' raw output, one scale per image
    return fig
