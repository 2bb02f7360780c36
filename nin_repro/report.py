"""What the notebooks show: tables and figures built from the run records,
so no number in the book is typed by hand."""

from __future__ import annotations

import pandas as pd

from . import results
from .experiments import EXPERIMENTS
from .model import architecture_table
from .paper import PAPER_ERRORS

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


def results_table(experiments: list[str], results_dir=None) -> pd.DataFrame:
    """Paper vs ours, one row per experiment; rows without records say so."""
    rows = results.summarize(results.read_records(results_dir), experiments)
    out = []
    for r in rows:
        exp = EXPERIMENTS.get(r["experiment"])
        if r["ours_mean"] is None:
            ours = NOT_RUN if not (exp and exp.requires_download) else "not run here: no offline copy"
        else:
            ours = _fmt(r["ours_mean"]) + (f" ± {r['ours_std']:.2f}" if r["ours_std"] is not None else "")
        out.append({
            "setting": r["setting"],
            "paper (%)": _fmt(r["paper"]) or "-",
            "ours (%)": ours,
            "n": r["n"],
            "difference": "" if r["difference"] is None else f"{r['difference']:+.2f}",
            "epochs": r["epochs"] or "",
            "wall hours": _fmt(r["hours"]),
            "device": r["device"] or "",
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
        "train img/s": round(r["images_per_second"]), "device": r["device"],
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
        return f"{experiment}: {NOT_RUN}."
    spread = f" ± {r['ours_std']:.2f}" if r["ours_std"] is not None else ""
    text = (f"{experiment}: {r['ours_mean']:.2f}{spread}% test error over n={r['n']} "
            f"seed{'s' if r['n'] > 1 else ''} ({r['epochs']} epochs, "
            f"{60 * r['hours'] / r['n']:.0f} min per run on {r['device']})")
    if r["paper"] is None:
        return text + "."
    d = r["difference"]
    where = "matches" if abs(d) < 0.005 else ("is " + f"{abs(d):.2f} points " + ("worse than" if d > 0 else "better than"))
    return text + f"; the paper reports {r['paper']:.2f}%, so ours {where} the paper."


SUMMARY_ORDER = ["cifar10", "cifar10_aug", "cifar100", "svhn", "mnist", "cifar10_fc", "cifar10_fc_dropout"]


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
            "run": f"{r['experiment']} seed {r['seed']}", "device": r["device"], "threads": r["threads"],
            "precision": r["config"]["train"]["precision"], "batch": r["config"]["train"]["batch_size"],
            "train img/s (mean)": round(r["images_per_second"]),
            "train img/s (best epoch)": round(max(x.get("train_images_per_second", 0) for x in h)),
            "eval img/s": round(sum(x.get("eval_images_per_second", 0) for x in h) / len(h)),
            "s per epoch": round(sum(x["seconds"] for x in h) / len(h), 1),
            "wall (min)": round(r["wall_seconds"] / 60, 1),
        })
    return pd.DataFrame(rows).set_index("run")


LAYER_LABELS = {"MaxPool2d": "max pool 3/2", "AvgPool2d": "avg pool 3/2", "AdaptiveAvgPool2d": "global avg pool",
                "Dropout": "dropout", "Linear": "linear"}


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
                    "Dropout": "#bbbbbb", "AdaptiveAvgPool2d": "#55a868", "Linear": "#c44e52"}
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


def dropout_effect(results_dir=None) -> str:
    """Figure 4's claim, from the records: the relative cut in test error that
    dropout between the mlpconv layers brings (the paper: more than 20%)."""
    rows = {r["experiment"]: r for r in results.summarize(results.read_records(results_dir),
                                                          ["cifar10", "cifar10_nodropout"])}
    with_d, without = rows["cifar10"], rows["cifar10_nodropout"]
    if with_d["ours_mean"] is None or without["ours_mean"] is None:
        return f"dropout vs no dropout: {NOT_RUN} (needs records of cifar10 and cifar10_nodropout)."
    cut = 100 * (without["ours_mean"] - with_d["ours_mean"]) / without["ours_mean"]
    return (f"test error {without['ours_mean']:.2f}% without dropout, {with_d['ours_mean']:.2f}% with it: "
            f"a {cut:.1f}% relative reduction (the paper: more than 20%; n={with_d['n']} and {without['n']}).")


def plot_dropout_curves(results_dir=None, ax=None):
    """Figure 4: training and test error per epoch, with and without dropout."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    drawn = False
    for name, color, label in (("cifar10", "#4c72b0", "dropout"), ("cifar10_nodropout", "#c44e52", "no dropout")):
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


def latest_bench(results_dir=None) -> dict | None:
    """The newest `nin-repro bench` record in results/bench/, if any."""
    import json

    from . import paths

    files = sorted((paths.results_dir(results_dir) / "bench").glob("bench_*.json"))
    if not files:
        return None
    try:
        return json.loads(files[-1].read_text())
    except json.JSONDecodeError as e:
        raise results.RecordError(f"{files[-1]}: not valid JSON ({e}); restore it from git or rerun the bench") from e


def bench_table(record: dict) -> pd.DataFrame:
    return pd.DataFrame([{
        "configuration": r["config"], "train img/s": round(r["images_per_second"], 1),
        "× baseline": round(r["speedup_vs_baseline"], 2) if r.get("speedup_vs_baseline") else "",
        "TFLOP/s": round(r["tflops"], 3), "of bf16 matmul": f"{100 * r['fraction_of_bf16_matmul']:.0f}%",
        "peak RSS (MiB)": round(r["peak_rss_mib"]),
    } for r in record["rows"]]).set_index("configuration")
