"""What the notebooks show: tables and figures built from the run records,
so no number in the book is typed by hand."""

from __future__ import annotations

import pandas as pd

from . import results
from .experiments import BOOK_PLAN, EXPERIMENTS
from .model import architecture_table
from .paper import LATER_REPRODUCTIONS, PAPER_ERRORS

NOT_RUN = "not run yet"


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


def missing_status(experiment: str) -> str:
    """What the book says for an experiment without records: not run yet, or
    not runnable here at all (no offline copy of its dataset)."""
    exp = EXPERIMENTS.get(experiment)
    return "not run here: no offline copy" if exp and exp.requires_download else NOT_RUN


def results_table(experiments: list[str], results_dir=None) -> pd.DataFrame:
    """Paper vs ours, one row per experiment; rows without records say so."""
    rows = results.summarize(results.read_records(results_dir), experiments)
    out = []
    for r in rows:
        if r["ours_mean"] is None:
            ours = missing_status(r["experiment"])
        else:
            ours = _mean_std(r["ours_mean"], r["ours_std"])
        out.append({
            "setting": r["setting"],
            "paper (%)": _fmt(r["paper"]) or "-",
            "ours (%)": ours,
            "n": r["n"],
            "difference": "" if r["difference"] is None else f"{r['difference']:+.2f}",
            "epochs": r["epochs"] or "",
            "wall hours": _fmt(r["hours"]),
            "device": rows_where(r["runs"]),
        })
    return pd.DataFrame(out).set_index("setting")


def _runs(experiment: str, results_dir, protocol_only: bool) -> list[dict]:
    return [r for r in results.read_records(results_dir)
            if r["experiment"] == experiment and (results.is_protocol_run(r) or not protocol_only)]


def runs_table(experiment: str, results_dir=None, protocol_only: bool = True) -> pd.DataFrame:
    """Every run of one experiment (only full-protocol runs unless told
    otherwise): seed, error, cost, provenance."""
    recs = _runs(experiment, results_dir, protocol_only)
    if not recs:
        return pd.DataFrame({"status": [NOT_RUN]}, index=[experiment])
    return pd.DataFrame([{
        "seed": r["seed"], "test error (%)": round(r["test_error"], 2),
        "best epoch error (%)": round(min(h["test_error"] for h in r["history"]), 2),
        "epochs": r["epochs"], "wall (min)": round(r["wall_seconds"] / 60, 1),
        "train img/s": round(r["images_per_second"]), "device": results.run_where(r),
        "torch": r["torch_version"], "commit": r["git_commit"][:10],
        "overrides": ", ".join(f"{k}={v}" for k, v in r["config"].get("overrides", {}).items()) or "-",
    } for r in recs]).set_index("seed")


def _plot_run(ax, record: dict, color=None, prefix: str = "") -> None:
    """One run's test error (solid) and training error (dashed) per epoch."""
    epochs = [h["epoch"] for h in record["history"]]
    line, = ax.plot(epochs, [h["test_error"] for h in record["history"]], color=color,
                    label=f"{prefix}test, seed {record['seed']}")
    ax.plot(epochs, [h["train_error"] for h in record["history"]], "--", color=line.get_color(), alpha=0.6,
            label=f"{prefix}train, seed {record['seed']}")


def plot_learning_curves(experiment: str, results_dir=None, ax=None, log=True, protocol_only: bool = True):
    """Train and test error per epoch for every seed, with the paper's number."""
    import matplotlib.pyplot as plt

    recs = _runs(experiment, results_dir, protocol_only)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for r in recs:
        _plot_run(ax, r)
    key = EXPERIMENTS[experiment].paper_key if experiment in EXPERIMENTS else None
    if key in PAPER_ERRORS:
        ax.axhline(PAPER_ERRORS[key][2], color="black", lw=1, ls=":", label=f"paper: {PAPER_ERRORS[key][2]}%")
    if not recs:
        ax.text(0.5, 0.5, f"{experiment}: {NOT_RUN}", transform=ax.transAxes, ha="center")
    if log and recs:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%)")
    ax.set_title(EXPERIMENTS[experiment].description if experiment in EXPERIMENTS else experiment, fontsize=9)
    if ax.get_legend_handles_labels()[0]:  # nothing drawn yet: no empty legend (and no warning)
        ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3, which="both")
    return ax


def verdict(experiment: str, results_dir=None) -> str:
    """One sentence on how our runs compare with the paper, from the records."""
    r = results.summarize(results.read_records(results_dir), [experiment])[0]
    if r["ours_mean"] is None:
        return f"{experiment}: {missing_status(experiment)}."
    text = (f"{experiment}: {_mean_std(r['ours_mean'], r['ours_std'])}% test error over n={r['n']} "
            f"seed{'s' if r['n'] > 1 else ''} ({r['epochs']} epochs, "
            f"{60 * r['hours'] / r['n']:.0f} min per run on {rows_where(r['runs'])})")
    if r["paper"] is None:
        return text + "."
    d = r["difference"]
    where = "matches" if abs(d) < 0.005 else ("is " + f"{abs(d):.2f} points " + ("worse than" if d > 0 else "better than"))
    return text + f"; the paper reports {r['paper']:.2f}%, so ours {where} the paper."


SUMMARY_ORDER = ["cifar10", "cifar10_aug", "cifar100", "svhn", "mnist", "cifar10_fc", "cifar10_fc_dropout"]


def runs_left_table(results_dir=None) -> pd.DataFrame:
    """The runs the book plans (`nin-repro reproduce`'s list) that have no
    record yet, with what a run of the same experiment cost where one has
    finished: what it would take to complete the study."""
    recorded = {(r["experiment"], r["seed"]) for r in results.read_records(results_dir) if results.is_protocol_run(r)}
    rows = [{"experiment": name, "seed": seed, "status": missing_status(name),
             "measured cost of this experiment": results.earlier_runs(name, results_dir) or "no run of it yet"}
            for name, seed in BOOK_PLAN if (name, seed) not in recorded]
    columns = ["experiment", "seed", "status", "measured cost of this experiment"]
    return pd.DataFrame(rows, columns=columns).set_index(["experiment", "seed"])


def summary_table(results_dir=None) -> pd.DataFrame:
    """Every table of the paper side by side with ours (the book's landing result)."""
    df = results_table(SUMMARY_ORDER, results_dir)
    tables = [PAPER_ERRORS[EXPERIMENTS[n].paper_key][0] for n in SUMMARY_ORDER]
    df.insert(0, "table", tables)
    return df


def throughput_table(results_dir=None) -> pd.DataFrame:
    """Measured speed of every committed run: training and evaluation images/s."""
    recs = results.read_records(results_dir)
    if not recs:
        return pd.DataFrame({"status": [NOT_RUN]})
    rows = []
    for r in recs:
        h = r["history"]
        rows.append({
            "run": f"{r['experiment']} seed {r['seed']}", "device": results.run_machines(r), "threads": r["threads"],
            "precision": results.run_precision(r), "batch": r["config"]["train"]["batch_size"],
            "train img/s (mean)": round(r["images_per_second"]),
            "train img/s (best epoch)": round(max(x.get("train_images_per_second", 0) for x in h)),
            "eval img/s": round(sum(x.get("eval_images_per_second", 0) for x in h) / len(h)),
            "s per epoch": round(sum(x["seconds"] for x in h) / len(h), 1),
            "wall (min)": round(r["wall_seconds"] / 60, 1),
        })
    return pd.DataFrame(rows).set_index("run")


# Time to accuracy (performance page): the targets of the speed issue, per dataset.
TIME_TARGETS = {"cifar10": (15.0, 12.0, 10.0), "mnist": (1.0, 0.6)}
# (experiment, recipe label) in the order the table lists them; cifar10 (no
# augmentation) is there for orientation while cifar10_aug has no record.
TIME_RUNS = [("mnist", "paper recipe"), ("mnist_fast", "fast recipe"),
             ("cifar10_aug", "paper recipe, augmentation"), ("cifar10_aug_fast", "fast recipe, augmentation"),
             ("cifar10", "paper recipe, no augmentation")]


def elapsed_minutes(record: dict) -> list[float]:
    """Training + evaluation minutes since the first step, at the end of each
    epoch (data loading and preprocessing before the first step excluded)."""
    out, total = [], 0.0
    for h in record["history"]:
        total += h["seconds"]
        out.append(total / 60)
    return out


def time_to_error(record: dict, target: float) -> tuple[float, int] | None:
    """(minutes, epoch) when the test error first went below `target`, or None."""
    for minutes, h in zip(elapsed_minutes(record), record["history"]):
        if h["test_error"] < target:
            return minutes, h["epoch"]
    return None


def rows_where(records: list[dict]) -> str:
    """Where the runs of one table row trained: each distinct machine and
    precision once, in record order (seeds may span machines)."""
    return "; ".join(dict.fromkeys(results.run_where(r) for r in records))


def setup_caveat(experiments: list[str], results_dir=None) -> str:
    """Whether the rows of a comparison ran alike. The book compares heads
    (Table 5), dropout (Figure 4) and augmentation (Table 1) across runs made
    in different sessions, some in bf16 on one machine and some in fp32 on
    another: a difference between such rows is not the setting's alone, and
    the reader is told so next to it."""
    recs = results.read_records(results_dir)
    where = {name: rows_where([r for r in recs if r["experiment"] == name and results.is_protocol_run(r)])
             for name in experiments}
    run = {name: w for name, w in where.items() if w}
    if len(run) < 2:
        return f"setup: fewer than two of {', '.join(experiments)} have records yet; nothing to compare."
    if len(set(run.values())) == 1:
        return f"setup: {', '.join(run)} all trained on {next(iter(run.values()))}; like for like."
    return ("setup differs: " + "; ".join(f"{n} on {w}" for n, w in run.items())
            + ". Machine and precision change speed and rounding (bf16 carries 8 significant bits, fp32 24), "
            "so part of a difference between these rows may come from the setup, not the setting. "
            + like_for_like(experiments, recs))


def like_for_like(experiments: list[str], records: list[dict]) -> str:
    """The compared rows again, from the runs of each machine and precision
    that trained two or more of them: where seeds of a row ran on different
    setups, the runs that share one compare the settings alone."""
    by_setup: dict[str, dict[str, list[float]]] = {}
    for r in records:
        if r["experiment"] in experiments and results.is_protocol_run(r):
            by_setup.setdefault(results.run_where(r), {}).setdefault(r["experiment"], []).append(r["test_error"])
    shared = {w: rows for w, rows in by_setup.items() if len(rows) >= 2}
    if not shared:
        return "No machine and precision has trained two of these rows yet, so none compares them like for like."
    return " ".join(f"Like for like on {w}: " + ", ".join(
        f"{n} {sum(rows[n]) / len(rows[n]):.2f}% (n={len(rows[n])})" for n in experiments if n in rows) + "."
        for w, rows in shared.items())


def time_to_accuracy_table(dataset: str, results_dir=None) -> pd.DataFrame:
    """One row per run of `dataset` in TIME_RUNS: wall minutes (and epoch)
    until the test error first dropped below each target."""
    recs = results.read_records(results_dir)
    rows = []
    for name, recipe in TIME_RUNS:
        if EXPERIMENTS[name].dataset != dataset:
            continue
        runs = [r for r in recs if r["experiment"] == name and results.is_protocol_run(r)]
        if not runs:
            rows.append({"recipe": f"{recipe} ({name})", "seed": "", "run length": NOT_RUN,
                         **{f"< {t:g}%": "" for t in TIME_TARGETS[dataset]}, "best error (%)": "", "device": ""})
        for r in runs:
            cells = {}
            for t in TIME_TARGETS[dataset]:
                hit = time_to_error(r, t)
                cells[f"< {t:g}%"] = f"{hit[0]:.1f} min (epoch {hit[1]})" if hit else "not reached"
            rows.append({"recipe": f"{recipe} ({name})", "seed": r["seed"],
                         "run length": f"{elapsed_minutes(r)[-1]:.1f} min, {r['epochs']} epochs", **cells,
                         "best error (%)": round(min(h["test_error"] for h in r["history"]), 2),
                         "device": results.run_where(r)})
    return pd.DataFrame(rows).set_index(["recipe", "seed"])


def plot_time_to_accuracy(results_dir=None, axes=None):
    """Test error against wall minutes, one panel per dataset, targets dotted."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    recs = results.read_records(results_dir)
    for ax, dataset in zip(axes, TIME_TARGETS):
        drawn = False
        for name, recipe in TIME_RUNS:
            if EXPERIMENTS[name].dataset != dataset:
                continue
            for r in (r for r in recs if r["experiment"] == name and results.is_protocol_run(r)):
                ax.plot(elapsed_minutes(r), [h["test_error"] for h in r["history"]], marker=".",
                        ls="-" if "fast" in name else "--", label=f"{recipe}, seed {r['seed']}")
                drawn = True
        for t in TIME_TARGETS[dataset]:
            ax.axhline(t, color="black", lw=0.8, ls=":")
        if drawn:
            ax.set_yscale("log")
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, f"{dataset}: {NOT_RUN}", transform=ax.transAxes, ha="center")
        ax.set_title({"cifar10": "CIFAR-10", "mnist": "MNIST"}[dataset], fontsize=10)
        ax.set_xlabel("wall minutes (training + evaluation)")
        ax.set_ylabel("test error (%)")
        ax.grid(alpha=0.3, which="both")
    return axes


LAYER_LABELS = {"MaxPool2d": "max pool 3/2", "AvgPool2d": "avg pool 3/2", "AdaptiveAvgPool2d": "global avg pool",
                "Dropout": "dropout", "BitDropout": "dropout", "Linear": "linear"}


def plot_architecture(model, ax=None):
    """The network drawn from the model itself: one box per layer output, its
    height the spatial size, its width the number of channels (log scale)."""
    import math

    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, Rectangle

    rows = architecture_table(model)
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 3.6))
    x = 0.0
    side0 = model.cfg.input_size
    stage_colors = {"Conv": "#4c72b0", "MaxPool2d": "#dd8452", "AvgPool2d": "#dd8452",
                    "Dropout": "#bbbbbb", "BitDropout": "#bbbbbb", "AdaptiveAvgPool2d": "#55a868", "Linear": "#c44e52"}
    items = [("input", f"{model.cfg.in_channels}x{side0}x{side0}", 0)] + \
        [(r["layer"], r["output"], r["parameters"]) for r in rows]
    conv_spans = []  # (x start, x end) of every convolution, to bracket the mlpconv blocks
    for name, shape, params in items:
        dims = [int(v) for v in shape.split("x")]
        ch, side = dims[0], (dims[1] if len(dims) > 1 else 1)
        w = 0.25 + 0.22 * math.log2(max(ch, 1))
        h = 0.4 + 2.6 * side / side0
        color = next((c for k, c in stage_colors.items() if name.startswith(k)), "#8172b3")
        ax.add_patch(Rectangle((x, -h / 2), w, h, color=color, alpha=0.85))
        label = LAYER_LABELS.get(name, name)
        ax.text(x + w / 2, -h / 2 - 0.15, f"{label}\n{shape}", ha="center", va="top", fontsize=6.5, rotation=90)
        if name.startswith("Conv"):
            conv_spans.append((x, x + w))
        if x > 0:
            ax.add_patch(FancyArrowPatch((x - 0.25, 0), (x - 0.02, 0), arrowstyle="->", mutation_scale=8))
        x += w + 0.3
    for k in range(0, len(conv_spans) - 2, 3):  # each mlpconv: a k x k conv and two 1x1 convs
        x0, x1 = conv_spans[k][0], conv_spans[k + 2][1]
        ax.plot([x0, x0, x1, x1], [1.55, 1.65, 1.65, 1.55], color="black", lw=1)
        ax.text((x0 + x1) / 2, 1.72, f"mlpconv {k // 3 + 1}", ha="center", va="bottom", fontsize=9)
    ax.set_xlim(-0.2, x)
    ax.set_ylim(-3.9, 2.1)
    ax.axis("off")
    return ax


def heads_table(results_dir=None) -> pd.DataFrame:
    """Table 5: the same mlpconv stack with three heads, each with its size."""
    from .model import NiN, count_parameters

    names = ["cifar10_fc", "cifar10_fc_dropout", "cifar10"]
    df = results_table(names, results_dir)
    df.insert(0, "head", [EXPERIMENTS[n].model.head for n in names])
    df.insert(1, "parameters", [f"{count_parameters(NiN(EXPERIMENTS[n].model)):,}" for n in names])
    df.index = [PAPER_ERRORS["cifar10_gap"][1] if n == "cifar10" else PAPER_ERRORS[n][1] for n in names]
    return df


def _difference_line(a: str, b: str, rows: dict, labels: dict) -> str:
    """'A x% vs B y%: A d points lower (the paper: e points lower).' from summarized rows."""
    ra, rb = rows[a], rows[b]
    if ra["ours_mean"] is None or rb["ours_mean"] is None:
        return f"{labels[a]} vs {labels[b]}: {NOT_RUN} (needs records of {a} and {b})."

    def side(d):
        return f"{abs(d):.2f} points {'lower' if d > 0 else 'higher'}"

    paper = "" if None in (ra["paper"], rb["paper"]) else f" (the paper: {side(rb['paper'] - ra['paper'])})"
    return (f"{labels[a]} {ra['ours_mean']:.2f}% vs {labels[b]} {rb['ours_mean']:.2f}%: "
            f"{labels[a]} {side(rb['ours_mean'] - ra['ours_mean'])}{paper}.")


def _single_seed_line(rows: dict, labels: dict) -> list[str]:
    """One seed gives no spread to weigh a gap against: say which rows rest on one."""
    single = [labels[n] for n in labels if rows[n]["n"] == 1]
    return [f"One seed only for {', '.join(single)}: no seed-to-seed spread yet to tell these gaps from noise."
            ] if single else []


def _fit_line(rows: dict, labels: dict) -> str:
    """Each row's last-epoch training error beside its test error: the distance
    between them is how closely the net fit its training set, the part of the
    error a regularizer (augmentation, dropout, GAP) can remove."""
    import statistics

    fits = []
    for n, label in labels.items():
        if rows[n]["ours_mean"] is None:
            continue
        train = statistics.fmean(r["history"][-1]["train_error"] for r in rows[n]["runs"])
        fits.append(f"{label} {train:.2f}% train vs {rows[n]['ours_mean']:.2f}% test "
                    f"(a gap of {rows[n]['ours_mean'] - train:.2f} points)")
    return "At the last epoch (training error measured during it, in training mode): " + "; ".join(fits) + "."


def _summarized(names, results_dir) -> dict:
    return {r["experiment"]: r for r in results.summarize(results.read_records(results_dir), list(names))}


HEADS = {"cifar10": "GAP", "cifar10_fc_dropout": "FC + dropout", "cifar10_fc": "FC"}  # the paper's order, best first


def heads_effect(results_dir=None) -> str:
    """Table 5's claim, from the records: GAP's test error against each fully
    connected head's, beside the paper's gaps, and whether the paper's order
    (GAP < FC + dropout < FC) holds here. Says when a row is missing or rests
    on a single seed."""
    rows = _summarized(HEADS, results_dir)
    lines = [_difference_line("cifar10", fc, rows, HEADS) for fc in ("cifar10_fc", "cifar10_fc_dropout")]
    ours = {n: r["ours_mean"] for n, r in rows.items() if r["ours_mean"] is not None}
    if len(ours) < 2:
        return "\n".join(lines + ["The paper's order (GAP < FC + dropout < FC): not checkable until two heads "
                                  "have records."])
    ranked = sorted(ours, key=ours.get)
    expected = [n for n in HEADS if n in ours]
    order = " < ".join(f"{HEADS[n]} {ours[n]:.2f}%" for n in ranked)
    partial = "" if len(ours) == len(HEADS) else " (among the heads run so far)"
    lines.append(f"The paper's order (GAP < FC + dropout < FC) {'holds' if ranked == expected else 'does not hold'}"
                 f" here{partial}: {order}.")
    return "\n".join(lines + [_fit_line(rows, HEADS)] + _single_seed_line(rows, HEADS))


AUGMENTATION = {"cifar10_aug": "augmented", "cifar10": "not augmented"}
DROPOUT = {"cifar10": "dropout", "cifar10_nodropout": "no dropout"}


def augmentation_effect(results_dir=None) -> str:
    """Table 1's claim, from the records: what translation + flip did to test
    error (the paper: 1.60 points lower), and each row's final training error,
    since augmentation can only remove the part of the test error that comes
    from fitting the training set too closely."""
    rows = _summarized(AUGMENTATION, results_dir)
    lines = [_difference_line("cifar10_aug", "cifar10", rows, AUGMENTATION)]
    if all(rows[n]["ours_mean"] is not None for n in AUGMENTATION):
        lines += [_fit_line(rows, AUGMENTATION)] + _single_seed_line(rows, AUGMENTATION)
    return "\n".join(lines)


def dropout_effect(results_dir=None) -> str:
    """Figure 4's claim, from the records: the relative cut in test error that
    dropout between the mlpconv layers brings (the paper: more than 20%), and
    how closely each net fit its training set, which is what dropout acts on."""
    rows = _summarized(DROPOUT, results_dir)
    with_d, without = rows["cifar10"], rows["cifar10_nodropout"]
    if with_d["ours_mean"] is None or without["ours_mean"] is None:
        return f"dropout vs no dropout: {NOT_RUN} (needs records of cifar10 and cifar10_nodropout)."
    cut = 100 * (without["ours_mean"] - with_d["ours_mean"]) / without["ours_mean"]
    return "\n".join([
        f"test error {without['ours_mean']:.2f}% without dropout, {with_d['ours_mean']:.2f}% with it: "
        f"a {cut:.1f}% relative reduction (the paper: more than 20%; n={with_d['n']} and {without['n']}).",
        _fit_line(rows, DROPOUT)] + _single_seed_line(rows, DROPOUT))


def plot_dropout_curves(results_dir=None, ax=None):
    """Figure 4: training and test error per epoch, with and without dropout."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    drawn = False
    for (name, label), color in zip(DROPOUT.items(), ("#4c72b0", "#c44e52")):
        for r in _runs(name, results_dir, protocol_only=True):
            _plot_run(ax, r, color=color, prefix=f"{label}: ")
            drawn = True
    if not drawn:
        ax.text(0.5, 0.5, f"{NOT_RUN}: no records of cifar10 / cifar10_nodropout", transform=ax.transAxes,
                ha="center")
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%)")
    if drawn:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return ax


def _cifar10_anchors(results_dir=None) -> list[dict]:
    """Our Table 1 rows, the paper's and the later reproductions', as
    (source, low, high, augmentation, training, kind) rows."""
    said = {"no": "no augmentation", "yes": "augmented"}
    rows = [{"source": f"the paper, {said[aug]}", "low": PAPER_ERRORS[k][2], "high": PAPER_ERRORS[k][2],
             "augmentation": aug, "training": "lr / 10 when training accuracy stops improving, twice", "kind": "paper"}
            for k, aug in (("cifar10", "no"), ("cifar10_aug", "yes"))]
    rows += [{**r._asdict(), "kind": "later"} for r in LATER_REPRODUCTIONS]
    for r in results.summarize(results.read_records(results_dir), ["cifar10", "cifar10_aug"]):
        exp = EXPERIMENTS[r["experiment"]]
        mean, std = r["ours_mean"], r["ours_std"]
        aug = "yes" if exp.train.translate or exp.train.flip else "no"
        rows.append({"source": f"ours, {said[aug]} (n={r['n']})", "low": mean, "high": mean,
                     "spread": std, "augmentation": aug,
                     "training": (f"{r['epochs']} epochs, the CPU protocol, on {rows_where(r['runs'])}"
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
                          "training": r["training"]} for r in rows]).set_index("source")


def plot_reproductions(results_dir=None, ax=None):
    """The same rows as a picture: a dot per reported error, a bar per range;
    ours in colour, rows not run yet left out (the table names them)."""
    import matplotlib.pyplot as plt

    rows = sorted([r for r in _cifar10_anchors(results_dir) if r["low"] is not None], key=lambda r: r["low"])
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1))
    colors = {"paper": "#555555", "later": "#999999", "ours": "#4c72b0"}
    markers = {"yes": "s", "no": "o"}  # a hollow circle: augmentation not stated
    for y, r in enumerate(rows):
        c, m = colors[r["kind"]], markers.get(r["augmentation"], "o")
        ax.hlines(y, r["low"], r["high"], color=c, lw=3)
        ax.plot([r["low"], r["high"]], [y, y], m, color=c, ms=6,
                mfc=c if r["augmentation"] in markers else "white")
    ax.set_yticks(range(len(rows)), [r["source"] for r in rows], fontsize=8)
    ax.plot([], [], "s", color="#999999", label="augmented")
    ax.plot([], [], "o", color="#999999", label="no augmentation")
    ax.plot([], [], "o", color="#999999", mfc="white", label="augmentation not stated")
    ax.legend(fontsize=7, loc="upper right")
    ax.invert_yaxis()
    ax.set_xlabel("CIFAR-10 test error (%)")
    ax.grid(axis="x", alpha=0.3)
    return ax


def latest_bench(results_dir=None) -> dict | None:
    """The newest `nin-repro bench` record in results/bench/, if any."""
    records = all_benches(results_dir)
    return records[-1] if records else None


def _row_precision(row: dict) -> str:
    """A bench row's precision; records before `precision` was stored ran
    fp32 only in the rows that say so."""
    return row.get("precision") or ("fp32" if "fp32" in row["config"] else "bf16")


def bench_table(record: dict) -> pd.DataFrame:
    mm = record["matmul_2048_tflops"]
    return pd.DataFrame([{
        "configuration": r["config"], "train img/s": round(r["images_per_second"], 1),
        "× baseline": round(r["speedup_vs_baseline"], 2) if r.get("speedup_vs_baseline") else "",
        "TFLOP/s": round(r["tflops"], 3),
        "of matmul, same precision": f"{100 * r['tflops'] / mm[_row_precision(r)]:.0f}%",
        "peak RSS (MiB)": round(r["peak_rss_mib"]),
    } for r in record["rows"]]).set_index("configuration")


def cpu_kind(record: dict) -> str:
    """The instruction set a bench ran on: stored since the records say it;
    for older ones, read off the oneDNN kernels it ran (their names carry it).
    AMX only shows in the kernels (`avx512_core_amx`, or `avx10_1_512_amx` in
    newer oneDNN): torch names an AMX CPU's capability AVX512, as it does a
    Zen 4's, and the matrix units make a different machine."""
    impls = " ".join(k["implementation"] for k in record.get("onednn_kernels") or [])
    if record.get("cpu_capability"):
        return (record["cpu_capability"] + (" + AMX" if "_amx" in impls else "")
                + (", native bf16" if record.get("bf16_native") else ", no native bf16"))
    if "_amx" in impls:
        return "AVX512 + AMX (from its oneDNN kernels), native bf16"
    if "avx512_core_bf16" in impls:
        return "AVX512 (from its oneDNN kernels), native bf16"
    return "unknown"


def all_benches(results_dir=None) -> list[dict]:
    """Every bench record, oldest first (their file names carry the time)."""
    import json

    from . import paths

    records = []
    for f in sorted((paths.results_dir(results_dir) / "bench").glob("bench_*.json")):
        try:
            records.append(json.loads(f.read_text()))
        except json.JSONDecodeError as e:
            raise results.RecordError(f"{f}: not valid JSON ({e}); restore it from git or rerun the bench") from e
    return records


def matmul_rate(record: dict, precision: str) -> str:
    """A bench record's matmul rate, with its size where it is not 2048^3
    (an emulated dtype is measured smaller; older records hold 2048 only)."""
    n = record.get("matmul_size", {}).get(precision, 2048)
    return f"{record['matmul_2048_tflops'][precision]:.2f}" + (f" (n={n})" if n != 2048 else "")


def bench_machines_table(results_dir=None) -> pd.DataFrame:
    """The newest bench of each kind of machine the study ran on: the same code
    is several times faster or slower depending on the CPU's instructions, so
    each machine's ratio is taken within its own record."""
    newest = {}
    for r in all_benches(results_dir):
        newest[(r["device"], cpu_kind(r), r["threads"])] = r
    rows = []
    for (device, kind, threads), r in newest.items():
        base = next((x["images_per_second"] for x in r["rows"] if x["config"].startswith("baseline")), None)
        lib = [x["images_per_second"] for x in r["rows"] if x["config"].startswith("nin_repro:")]
        rows.append({"machine": f"{device}, {kind}, {threads} threads",
                     "library precision": r.get("library_precision", "bf16"),
                     "bf16 / fp32 matmul TFLOP/s": " / ".join(matmul_rate(r, p) for p in ("bf16", "fp32")),
                     "baseline img/s": round(base, 1) if base else NOT_RUN,
                     "library img/s (best)": round(max(lib), 1) if lib else NOT_RUN,
                     "× baseline": f"x{max(lib) / base:.2f}" if base and lib else "",
                     "measured": r["finished_at"][:10]})
    if not rows:
        return pd.DataFrame({"status": [f"{NOT_RUN}: no record in results/bench/ (run `nin-repro bench`)"]})
    return pd.DataFrame(rows).set_index("machine")


def bench_profile_tables(record: dict) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The bench record's profile of the library step: top operators, and
    each convolution's time and TFLOP/s against the measured bf16 matmul rate."""
    prof = record.get("profile")
    if not prof:
        return None
    ops = pd.DataFrame([{"operator": o["op"], "ms per step": round(o["ms_per_step"], 1),
                         "share of step": f"{100 * o['share']:.1f}%"} for o in prof["top_ops"]]).set_index("operator")
    precision = prof.get("precision", "bf16")
    mm = record["matmul_2048_tflops"][precision]
    convs = pd.DataFrame([{
        "convolution": r["layer"] + (f" (x{r['layers']})" if r["layers"] > 1 else ""),
        "path": ", ".join(r.get("paths") or ["oneDNN"]),  # older records timed oneDNN's ops only
        "forward ms": round(r["forward_ms"], 1), "backward ms": round(r["backward_ms"], 1),
        "forward TFLOP/s": round(r["forward_tflops"], 3), "backward TFLOP/s": round(r["backward_tflops"], 3),
        f"backward, of {precision} matmul": f"{100 * r['backward_tflops'] / mm:.0f}%",
    } for r in prof["convolutions"]]).set_index("convolution")
    return ops, convs


def levers(precision: str = "bf16") -> list[tuple[str, str, str]]:
    """What each lever of the bench is worth: (lever, row without it, row with
    it), matched by the start of the rows' names; `precision` is the one the
    library's rows ran in."""
    return [
        ("tensor-resident data and batched augmentation (fp32, NCHW)", "baseline", "tensor-resident data, fp32, NCHW"),
        ("channels-last (fp32)", "tensor-resident data, fp32, NCHW", "tensor-resident data, fp32, channels-last"),
        ("bf16 autocast (NCHW)", "tensor-resident data, fp32, NCHW", "tensor-resident data, bf16, NCHW"),
        ("bf16 + channels-last together", "tensor-resident data, fp32, NCHW",
         "tensor-resident data, bf16, channels-last"),
        (f"malloc keeps freed memory ({precision})", f"tensor-resident data, {precision}, channels-last",
         "+ malloc keeps"),
        ("dropout mask from random bits", "+ malloc keeps", "nin_repro: + dropout mask"),
        ("ReLU not in place", "nin_repro: + dropout mask", "lever: ReLU not in place"),
        ("torch.compile", "nin_repro: + dropout mask", "lever: torch.compile"),
        ("batch 256 instead of 128", "nin_repro: + dropout mask", "nin_repro: batch 256"),
        ("dropout removed (the ceiling of any dropout fix)", "nin_repro: + dropout mask", "ceiling: dropout removed"),
    ]


def lever_table(record: dict) -> pd.DataFrame:
    """Each lever's speed-up, as the ratio of two rows measured in one run."""
    def ips(prefix):
        return next((r["images_per_second"] for r in record["rows"] if r["config"].startswith(prefix)), None)

    rows = []
    for lever, without, with_ in levers(record.get("library_precision", "bf16")):
        a, b = ips(without), ips(with_)
        if a and b:
            rows.append({"lever": lever, "img/s without": round(a, 1), "img/s with": round(b, 1),
                         "speed-up": f"x{b / a:.2f}"})
    return pd.DataFrame(rows).set_index("lever") if rows else pd.DataFrame({"status": ["no lever rows in this record"]})


def onednn_table(record: dict) -> pd.DataFrame | None:
    """The oneDNN kernels of one training step (ONEDNN_VERBOSE), from the bench record."""
    kernels = record.get("onednn_kernels")
    if not kernels:
        return None
    total = sum(k["ms"] for k in kernels)
    return pd.DataFrame([{"primitive": k["primitive"], "propagation": k["propagation"],
                          "implementation": k["implementation"], "calls": k["calls"],
                          "ms": round(k["ms"], 1), "share": f"{100 * k['ms'] / total:.1f}%"}
                         for k in kernels]).set_index(["primitive", "propagation"])
