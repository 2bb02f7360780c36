"""Figure 5 of the paper: the class confidence maps of the last mlpconv layer.

The maps come from a trained checkpoint (kept out of git, in the cache);
`extract_confidence_maps` stores a small grid of test images with their maps
in `results/figures/` (a few hundred KB), and `plot_confidence_maps` draws
it, so the book renders without the checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import paths
from .atomic import atomic_path
from .experiments import get as get_experiment
from .model import ModelConfig, NiN


def figure_path(results_dir=None) -> Path:
    return paths.results_dir(results_dir) / "figures" / "confidence_maps.npz"


def extract_confidence_maps(run_name: str, data_dir=None, cache_dir=None, results_dir=None,
                            n_wrong: int = 3) -> Path:
    """Maps of one correctly classified test image per class, then `n_wrong`
    misclassified ones (each of another class), from the checkpoint of
    `run_name` (e.g. "cifar10__seed0"). The test set may be sorted by class,
    so images are picked per class, not from its start."""
    from .data import load
    from . import checkpoint
    from .preprocess import load_inputs

    ckpt = checkpoint.cache_path(run_name, cache_dir)
    if not ckpt.exists():
        raise FileNotFoundError(f"no checkpoint {ckpt}: train the run first (nin-repro reproduce / train)")
    state = checkpoint.load(ckpt)
    config = state["config"]
    exp = get_experiment(config["experiment"])
    model = NiN(ModelConfig.from_dict(config["model"]))
    model.load_state_dict(state["model"])
    model.eval()
    _, _, test_x, test_y, _ = load_inputs(exp, data_dir, cache_dir)
    splits = load(exp.dataset, data_dir, cache_dir)
    with torch.no_grad():
        maps = torch.cat([model.confidence_maps(x) for x in test_x.split(500)])
    preds = maps.mean(dim=(2, 3)).argmax(1)
    right, wrong = [], []
    for c in range(maps.shape[1]):
        of_class = test_y == c
        hits = torch.nonzero(of_class & (preds == c)).flatten()
        misses = torch.nonzero(of_class & (preds != c)).flatten()
        if len(hits):
            right.append(int(hits[0]))
        if len(misses) and len(wrong) < n_wrong:
            wrong.append(int(misses[0]))
    idx = np.array(right + wrong)
    out = figure_path(results_dir)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f, images=splits.test_images[idx], maps=maps[idx].numpy(),
                labels=test_y[idx].numpy(), preds=preds[idx].numpy(), index=idx,
                classes=np.array(splits.classes), run=np.array(run_name), epoch=np.array(state["epoch"]),
                epochs=np.array(config["train"]["epochs"]),
                test_error=np.array(100.0 * float((preds != test_y).float().mean())))
    return out


def load_confidence_maps(results_dir=None) -> dict | None:
    path = figure_path(results_dir)
    if not path.exists():
        return None
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def plot_confidence_maps(fig_data: dict):
    """One row per test image: the image, then its 10 class maps on one colour
    scale per row; the true class's map is framed green, a wrong prediction red."""
    import matplotlib.pyplot as plt

    images, maps, labels, preds = fig_data["images"], fig_data["maps"], \
        fig_data["labels"], fig_data["preds"]
    classes = [str(c) for c in fig_data["classes"]]
    n, c = maps.shape[:2]
    fig, axes = plt.subplots(n, c + 1, figsize=(1.05 * (c + 1), 1.1 * n))
    for i in range(n):
        axes[i, 0].imshow(images[i].squeeze(), cmap="gray" if images[i].shape[-1] == 1 else None)
        axes[i, 0].set_ylabel(f"{classes[labels[i]]}\n→ {classes[preds[i]]}", fontsize=7, rotation=0,
                              ha="right", va="center", color="black" if preds[i] == labels[i] else "red")
        lo, hi = maps[i].min(), maps[i].max()
        for k in range(c):
            ax = axes[i, k + 1]
            ax.imshow(maps[i, k], vmin=lo, vmax=hi, cmap="viridis")
            if k == labels[i]:
                color = "lime"
            elif k == preds[i]:
                color = "red"
            else:
                color = None
            for side in ax.spines.values():
                side.set_visible(color is not None)
                if color:
                    side.set_color(color)
                    side.set_linewidth(2.5)
            if i == 0:
                ax.set_title(classes[k], fontsize=7)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout(pad=0.2)
    return fig

