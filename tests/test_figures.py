import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nin_repro import experiments  # noqa: E402
from nin_repro.figures import extract_confidence_maps, load_confidence_maps, plot_confidence_maps  # noqa: E402
from nin_repro.train import train  # noqa: E402
from tiny import tiny  # noqa: E402


def test_confidence_maps_from_a_trained_checkpoint(monkeypatch, data_dir, cache_dir, tmp_path):
    from nin_repro import data

    data.load_packed("mnist", data_dir, cache_dir)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "decoded").symlink_to(cache_dir / "decoded", target_is_directory=True)
    monkeypatch.setitem(experiments.EXPERIMENTS, "t_fig", tiny("t_fig", epochs=1, batch_size=16))
    train("t_fig", data_dir=data_dir, cache_dir=tmp_path / "cache", subset=2048, results_dir=tmp_path / "r",
          progress=False, log=lambda *_: None)
    path = extract_confidence_maps("t_fig__seed0__subset2048", data_dir=data_dir, cache_dir=tmp_path / "cache",
                                   results_dir=tmp_path / "r", n_wrong=2)
    assert path.stat().st_size < 5_000_000
    d = load_confidence_maps(tmp_path / "r")
    n_right = int((d["preds"] == d["labels"]).sum())
    n = n_right + 2
    assert d["maps"].shape == (n, 10, 7, 7) and d["images"].shape == (n, 28, 28, 1)
    # one correct image per class the model gets right (no class twice), then the misclassified ones
    assert (d["preds"][:n_right] == d["labels"][:n_right]).all() and len(set(d["labels"][:n_right])) == n_right
    assert (d["preds"][n_right:] != d["labels"][n_right:]).all() and n_right >= 5
    # the prediction is the class whose map has the largest mean
    assert np.array_equal(d["maps"].mean(axis=(2, 3)).argmax(1), d["preds"])
    fig = plot_confidence_maps(d)
    assert len(fig.axes) == n * 11


def test_missing_checkpoint_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="train the run first"):
        extract_confidence_maps("cifar10__seed7", cache_dir=tmp_path)
