"""What the notebooks show: tables and figures built from the run records,
so no number in the book is typed by hand."""

from __future__ import annotations

import pandas as pd

from . import results
from .experiments import EXPERIMENTS
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


def plot_learning_curves(experiment: str, results_dir=None, ax=None, log=True, protocol_only: bool = True):
    """Train and test error per epoch for every seed, with the paper's number."""
    import matplotlib.pyplot as plt

    recs = _runs(experiment, results_dir, protocol_only)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for r in recs:
        epochs = [h["epoch"] for h in r["history"]]
        line, = ax.plot(epochs, [h["test_error"] for h in r["history"]], label=f"test, seed {r['seed']}")
        ax.plot(epochs, [h["train_error"] for h in r["history"]], "--", color=line.get_color(), alpha=0.6,
                label=f"train, seed {r['seed']}")
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
