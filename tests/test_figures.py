import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nin_repro import experiments  # noqa: E402
from nin_repro.figures import (extract_confidence_maps, load_confidence_maps, map_claim, map_statistics,  # noqa: E402
                               plot_confidence_maps, sample_description, shown_reading)
from nin_repro.run_config import resolve_run  # noqa: E402
from nin_repro.train import train  # noqa: E402
from tiny import tiny  # noqa: E402


def test_confidence_maps_from_a_trained_checkpoint(monkeypatch, data_dir, cache_dir, tmp_path):
    from nin_repro import data

    data.load_packed("mnist", data_dir, cache_dir)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "decoded").symlink_to(cache_dir / "decoded", target_is_directory=True)
    monkeypatch.setitem(experiments.EXPERIMENTS, "t_fig", tiny("t_fig", epochs=1, batch_size=16))
    run = resolve_run("t_fig", subset=2048, data_dir=data_dir, cache_dir=tmp_path / "cache",
                      results_dir=tmp_path / "r")
    train(run, progress=False, log=lambda *_: None)
    path = extract_confidence_maps("t_fig__seed0__subset2048", data_dir=data_dir, cache_dir=tmp_path / "cache",
                                   results_dir=tmp_path / "r", n_sample=6, n_wrong=2)
    assert path.stat().st_size < 5_000_000
    d = load_confidence_maps(tmp_path / "r")
    n = len(d["labels"])
    assert d["maps"].shape == (n, 10, 7, 7) and d["images"].shape == (n, 28, 28, 1)
    # a seeded random sample of 6, topped up with misclassified images until 2 are wrong
    assert n >= 6 and (d["preds"] != d["labels"]).sum() >= 2 and len(set(d["index"])) == n
    assert int(d["sample_seed"]) == 0
    again = extract_confidence_maps("t_fig__seed0__subset2048", data_dir=data_dir, cache_dir=tmp_path / "cache",
                                    results_dir=tmp_path / "r", n_sample=6, n_wrong=2)
    assert np.array_equal(load_confidence_maps(again.parent.parent)["index"], d["index"])  # same seed, same images
    # the prediction is the class whose map has the largest mean
    assert np.array_equal(d["maps"].mean(axis=(2, 3)).argmax(1), d["preds"])
    check = map_claim(d)
    assert check["n"] == 10_000 and 0 <= check["true_peak"] <= 100
    assert check["true_mean"] == pytest.approx(100 - float(d["test_error"]), abs=1e-4)
    assert check["central_share"] == pytest.approx(100 * 25 / 49)  # rows and columns 1-5 of a 7x7 map
    assert "random sample" in sample_description(d) and "images shown" in shown_reading(d)
    fig = plot_confidence_maps(d)
    assert len(fig.axes) == n * 12  # the image, ten maps and a colorbar per row


def test_map_statistics_on_hand_made_maps():
    import torch

    maps = torch.zeros(2, 3, 4, 4)
    maps[0, 1, 1, 2] = 5.0   # image 0, true class 1: its map peaks highest, in the centre
    maps[1, 0, 0, 0] = 9.0   # image 1, true class 2: class 0's map peaks highest, in a corner
    maps[1, 2] = 1.0         # ... while class 2's map has the highest mean
    stats = map_statistics(maps, torch.tensor([1, 2]))
    assert stats["stats_true_peak"] == 50.0 and stats["stats_true_mean"] == 100.0
    assert stats["stats_central_share"] == 25.0


def test_a_figure_from_before_the_check_says_so():
    old = {"labels": np.array([0]), "preds": np.array([0]), "maps": np.zeros((1, 10, 8, 8))}
    assert map_claim(old) is None
    assert "not a random sample" in sample_description(old)


def test_missing_checkpoint_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="no weights .* train the run first"):
        extract_confidence_maps("cifar10__seed7", cache_dir=tmp_path)
