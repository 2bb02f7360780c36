"""Figure 5 of the paper: the class confidence maps of the last mlpconv layer.

The maps come from a trained net: a run's newest checkpoint (the cache's,
or a run in progress's snapshot in `results/checkpoints/`), or, for a
finished run, its committed weights (`results/weights/`).
`extract_confidence_maps` stores, in `results/figures/` (a few hundred KB),
a seeded random sample of test images with their maps (misclassified ones
included) and a check of the paper's claim on the whole test set: how often
the true class's map holds the strongest response, and where it peaks.
`plots.plot_confidence_maps` draws the sample, so the book renders without the net.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nin_repro import checkpoint, paths, results
from nin_repro.atomic import atomic_path
from nin_repro.errors import NinReproError
from nin_repro.data import load
from nin_repro.experiments import get as get_experiment
from nin_repro.model import load_net
from nin_repro.preprocess import load_test_inputs

from .display import listed
from .progress import is_full_length

SAMPLE_SEED = 0


def figure_path(results_dir=None) -> Path:
    return paths.results_dir(results_dir) / "figures" / "confidence_maps.npz"


def _record_and_checkpoint(run_name: str, cache_dir=None,
                           results_dir=None) -> tuple[dict | None, tuple[Path, dict] | None]:
    """A run's record (None while it trains) and the checkpoint (path,
    state) that holds its net: the newest of its checkpoints (cache or
    repository snapshot), counted for a finished run only if it holds the
    run's last epoch (else None: that run's net is its committed weights, if
    any). A corrupt checkpoint raises CheckpointError."""
    record_path = results.record_path(run_name, results_dir)
    record = results.read_record(record_path) if record_path.exists() else None
    found = checkpoint.newest(run_name, cache_dir, results_dir)
    if found and (record is None or int(found[1]["epoch"]) == int(record["epochs"])):
        return record, found
    return record, None


def _trained_net(run_name: str, cache_dir=None, results_dir=None) -> tuple[dict, torch.nn.Module, int, list[dict]]:
    """(config, net, epochs trained, per-epoch history) of a run: the newest
    of its checkpoints (the cache's, or the snapshot in the repository of a
    run in progress), else, for a finished run, its committed weights. A
    finished run's checkpoint counts only if it holds the run's last epoch.
    Weights that do not fit the net their config describes raise one line
    naming the files (`model.load_net`)."""
    record, found = _record_and_checkpoint(run_name, cache_dir, results_dir)
    fix = "train the run again with --restart to write it anew"
    if found is not None:
        path, state = found
        net = load_net(state["config"].get("model", {}), state["model"], str(path), str(path), fix)
        return state["config"], net, int(state["epoch"]), state["history"]
    weights = checkpoint.weights_path(run_name, results_dir)
    if weights.exists() and record is not None:
        net = load_net(record["config"].get("model", {}), checkpoint.load_weights(weights),
                       str(results.record_path(run_name, results_dir)), str(weights), fix)
        return record["config"], net, int(record["epochs"]), record["history"]
    raise FileNotFoundError(f"no checkpoint of {run_name} (cache or results/checkpoints/) and no weights {weights}: "
                            "train the run first (nin-repro reproduce / train)")


def figure_source(run_names: list[str], cache_dir=None, results_dir=None) -> tuple[str, int] | None:
    """(run, epoch its net has reached) that Figure 5 is drawn from: of
    `run_names`, the first that finished at full length with a trained net;
    else the first in progress (its newest checkpoint: the maps follow it as
    it trains); else the first finished shorter run with a trained net. None
    when none has a net. A corrupt checkpoint disqualifies its run here
    (training reports it)."""
    finished_full, in_progress, finished_short = [], [], []
    for name in run_names:
        try:
            record, found = _record_and_checkpoint(name, cache_dir, results_dir)
        except checkpoint.CheckpointError:
            continue
        if record is None:
            if found is not None:
                in_progress.append((name, int(found[1]["epoch"])))
        elif found is not None or checkpoint.weights_path(name, results_dir).exists():
            epochs = int(record["epochs"])
            full = is_full_length(record["experiment"], epochs)
            (finished_full if full else finished_short).append((name, epochs))
    return next(iter(finished_full + in_progress + finished_short), None)


def map_statistics(maps: torch.Tensor, labels: torch.Tensor) -> dict:
    """The paper's reading of the maps, checked on every image: how often the
    true class's map holds the strongest response of all maps (its peak is the
    highest peak), how often its mean is the highest (the prediction), and
    how often its peak lies in the central region of the map (the middle
    half of its rows and of its columns), against how often the other
    classes' maps of the same images peak there: zero padding and the
    receptive fields can pull every map's peak inward, so a random position
    is not the only baseline."""
    n, c, h, w = maps.shape
    flat = maps.flatten(2)
    peaks = flat.amax(2)                                # n x c: each map's strongest response
    true_peak = (peaks.argmax(1) == labels).float().mean().item()
    true_mean = (maps.mean(dim=(2, 3)).argmax(1) == labels).float().mean().item()
    where = flat.argmax(2)                              # n x c: where each map peaks
    rows, cols = where // w, where % w
    central = (rows >= h // 4) & (rows < h - h // 4) & (cols >= w // 4) & (cols < w - w // 4)
    is_true = torch.zeros(n, c, dtype=torch.bool)
    is_true[torch.arange(n), labels] = True
    share = ((h - 2 * (h // 4)) * (w - 2 * (w // 4))) / (h * w)
    return {"stats_n": n, "stats_true_peak": 100 * true_peak, "stats_true_mean": 100 * true_mean,
            "stats_peak_central": 100 * central[is_true].float().mean().item(),
            "stats_other_central": 100 * central[~is_true].float().mean().item(),
            "stats_central_share": 100 * share}


def extract_confidence_maps(run_name: str, data_dir=None, cache_dir=None, results_dir=None,
                            n_sample: int = 3, n_wrong: int = 1, seed: int = SAMPLE_SEED) -> Path:
    """Maps of a seeded random sample of `n_sample` test images, topped up with
    randomly drawn misclassified ones until at least `n_wrong` are wrong, and
    the whole-test-set statistics of `map_statistics`, from the trained net of
    `run_name` (e.g. "cifar10__seed0")."""
    config, model, epoch, history = _trained_net(run_name, cache_dir, results_dir)
    # The run's own test of this very net, where it tested this epoch: in its
    # epoch's precision, beside the fp32 evaluation below. Only where it tested
    # the whole test split, as this evaluation does: a `--subset` run tested
    # `subset` of its images, another number.
    own = None if (config.get("overrides") or {}).get("subset") else next(
        (h for h in history if h["epoch"] == epoch and h.get("test_error") is not None), None)
    exp = get_experiment(config["experiment"])
    model.eval()
    splits = load(exp.dataset, data_dir, cache_dir)  # once: the images shown and, preprocessed, the net's input
    test_x, test_y = load_test_inputs(exp, data_dir, cache_dir, splits=splits)
    with torch.no_grad():
        maps = torch.cat([model.confidence_maps(x) for x in test_x.split(500)])
    preds = maps.mean(dim=(2, 3)).argmax(1)
    rng = np.random.default_rng(seed)
    idx = list(rng.choice(len(test_y), size=min(n_sample, len(test_y)), replace=False))
    wrong = [i for i in rng.permutation(torch.nonzero(preds != test_y).flatten().numpy()) if i not in idx]
    while sum(int(preds[i] != test_y[i]) for i in idx) < n_wrong and wrong:
        idx.append(wrong.pop(0))
    idx = np.array(idx, dtype=np.int64)
    stats = map_statistics(maps, test_y)
    out = figure_path(results_dir)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f, images=splits.test_images[idx], maps=maps[idx].numpy(),
                labels=test_y[idx].numpy(), preds=preds[idx].numpy(), index=idx,
                classes=np.array(splits.classes), run=np.array(run_name), epoch=np.array(epoch),
                epochs=np.array(config["train"]["epochs"]), sample_seed=np.array(seed),
                test_error=np.array(100.0 * float((preds != test_y).float().mean())),
                **({"run_test_error": np.array(own["test_error"]), "run_test_precision": np.array(own["precision"])}
                   if own else {}),
                **{k: np.array(v) for k, v in stats.items()})
    return out


class FigureError(NinReproError, ValueError):
    """The committed Figure 5 file cannot be read."""


# What every reader of the file takes from it; the rest is drawn or checked where it is used.
FIGURE_KEYS = ("images", "maps", "labels", "preds", "classes", "run", "epoch", "epochs")


def load_confidence_maps(results_dir=None) -> dict | None:
    """Figure 5's stored sample and check (None where none is drawn yet); a
    file that is no such sample (cut short, a Git LFS pointer, another
    file's arrays) is a `FigureError` of one line naming it and the remedy."""
    path = figure_path(results_dir)
    if not path.exists():
        return None
    try:
        with np.load(path) as z:  # no pickles: a file that needs them is not one this project wrote
            fig = {k: z[k] for k in z.files}
    except Exception as e:  # np.load's failures are of many types (BadZipFile, EOFError, ValueError, OSError)
        raise FigureError(f"{path} is no readable Figure 5 file ({type(e).__name__}: {e}); "
                          f"{_figure_remedy(path)}") from None
    missing = [k for k in FIGURE_KEYS if k not in fig]
    if missing:
        raise FigureError(f"{path} lacks {', '.join(missing)}: it is no Figure 5 file; {_figure_remedy(path)}")
    return fig


def _figure_remedy(path: Path) -> str:
    return f"restore it (git checkout -- {path}) or run `nin-repro figure5`, which draws it again"


def map_claim(fig_data: dict) -> dict | None:
    """The whole-test-set check stored with the figure, or None for a figure
    extracted before the check existed (a sample of images only)."""
    if fig_data is None or "stats_n" not in fig_data:
        return None
    return {"n": int(fig_data["stats_n"]), "true_peak": float(fig_data["stats_true_peak"]),
            "true_mean": float(fig_data["stats_true_mean"]), "peak_central": float(fig_data["stats_peak_central"]),
            "central_share": float(fig_data["stats_central_share"]),
            # None in a figure file drawn before the other maps were counted
            "other_central": float(fig_data["stats_other_central"]) if "stats_other_central" in fig_data else None}


def claim_reading(check: dict, majority: float) -> str:
    """What the whole-test-set check says, in words, from its numbers: the
    strongest response against the mean as a reading of the class, the
    verdict's threshold, and where the true class's map peaks against the
    other classes' maps of the same images and a peak placed at random."""
    peak, mean = check["true_peak"], check["true_mean"]
    central, share, other = check["peak_central"], check["central_share"], check.get("other_central")
    compare = ("less often than" if peak < mean - 0.05 else
               "more often than" if peak > mean + 0.05 else "as often as")
    first = (f"The strongest single response names the true class {compare} the mean does ({peak:.1f}% against "
             f"{mean:.1f}%, the net's accuracy): read as a confidence map, the true class's map "
             + ("is the strongest in most images" if peak > majority else "is not the strongest in most images")
             + f", {'above' if peak > majority else 'at or below'} the {majority:.0f}% the verdict asks for. ")
    if other is None:
        return first + (f"Its peak lies in the central region in {central:.1f}% of the images, against {share:.0f}% "
                        "for a peak placed at random; how often the other classes' maps peak there was not "
                        "counted for this figure, so this says nothing yet about the object's position.")
    where = (f"Its peak lies in the central region in {central:.1f}% of the images, against {other:.1f}% for the "
             f"other classes' maps of the same images ({share:.0f}% for a peak placed at random): ")
    if central > other + 1.0:
        return first + where + ("the true class's map responds in the middle more often than the maps of "
                                "the classes that are not there, as a map that follows the object would on "
                                "CIFAR-10's mostly centred photographs; part of every map's pull to the middle "
                                "comes from the padding and the receptive fields, which the other maps share.")
    return first + where + ("the true class's map does not favour the middle more than the other maps do, so "
                            "where it peaks says nothing about where the object is.")


def evaluation_note(fig_data: dict) -> str:
    """The net's test error as evaluated for the figure (fp32) and, where the
    run tested that epoch itself (in bf16 on a machine that computes it
    natively), the run's own number: the same weights, so the difference is
    the precision of evaluation alone."""
    said = f"its net, evaluated here in fp32: {float(fig_data['test_error']):.2f}% test error"
    if "run_test_error" in fig_data:
        own, precision = float(fig_data["run_test_error"]), str(fig_data["run_test_precision"])
        said += (f"; the run's own test of the same net, in {precision}: {own:.2f}%"
                 + (f", {_higher_or_lower(own - float(fig_data['test_error']))}" if precision != "fp32" else ""))
    return said


def _higher_or_lower(points: float) -> str:
    """"0.02 points higher": a difference with its direction in words."""
    return "the same" if round(points, 2) == 0 else f"{abs(points):.2f} points {'higher' if points > 0 else 'lower'}"


def sample_description(fig_data: dict) -> str:
    """How the images shown were chosen, from what the figure file holds."""
    if "sample_seed" in fig_data:
        # the file keeps which images, not how many the sample held: words true of any top-up
        return (f"test images drawn at random (seed {int(fig_data['sample_seed'])}), plus misclassified ones drawn "
                "at random where the draw held too few of those")
    return ("the first correctly classified test image of each class, then the first misclassified ones "
            "(a selection, not a random sample: the figure predates the seeded sample)")


def shown_reading(fig_data: dict) -> str:
    """What the images shown say about the paper's reading, in words: how
    often the true class's map holds the highest peak, for the correctly and
    the wrongly classified ones, and where the true map's rank falls when
    it does not. About these images only: the whole-test-set check is
    `map_claim`."""
    maps, labels, preds = fig_data["maps"], fig_data["labels"], fig_data["preds"]
    peaks = maps.reshape(maps.shape[0], maps.shape[1], -1).max(2)
    true_top = peaks.argmax(1) == labels
    right = preds == labels
    ranks = [int((peaks[i] > peaks[i, labels[i]]).sum()) + 1 for i in range(len(labels))]
    wrong_ranks = [r for r, ok in zip(ranks, right) if not ok]
    correct = int(right.sum())
    parts = [f"Of the {len(labels)} images shown, {correct} {'is' if correct == 1 else 'are'} classified "
             f"correctly; in {int((true_top & right).sum())} of those the true class's map also holds the highest "
             "single response (its peak is above every other map's peak)."]
    if wrong_ranks:
        which = "the misclassified one" if len(wrong_ranks) == 1 else f"the {len(wrong_ranks)} misclassified ones"
        parts.append(f"In {which} the true class's map ranks " + listed([str(r) for r in wrong_ranks])
                     + f" of {maps.shape[1]} by its peak.")
    return " ".join(parts)
