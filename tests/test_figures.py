import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nin_repro import experiments  # noqa: E402
from nin_repro.book import plots  # noqa: E402
from nin_repro.book.figure5 import (claim_reading, evaluation_note, extract_confidence_maps, figure_source,  # noqa: E402
                                    load_confidence_maps, map_claim, map_statistics, sample_description,
                                    shown_reading)
from nin_repro.run_config import resolve_run  # noqa: E402
from nin_repro.train import train  # noqa: E402
from tiny import tiny  # noqa: E402


def _train_tiny(monkeypatch, data_dir, cache_dir, tmp_path, name, epochs, subset, **train_kw):
    """Train a tiny MNIST net into tmp_path/cache (checkpoints) and tmp_path/r (results)."""
    from nin_repro import data

    data.load_packed("mnist", data_dir, cache_dir)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "decoded").symlink_to(cache_dir / "decoded", target_is_directory=True)
    monkeypatch.setitem(experiments.EXPERIMENTS, name, tiny(name, epochs=epochs, batch_size=16))
    run = resolve_run(name, subset=subset, data_dir=data_dir, cache_dir=tmp_path / "cache",
                      results_dir=tmp_path / "r")
    train(run, progress=False, log=lambda *_: None, **train_kw)


def test_confidence_maps_from_a_trained_checkpoint(monkeypatch, data_dir, cache_dir, tmp_path):
    from nin_repro import data
    from nin_repro.book import figure5

    _train_tiny(monkeypatch, data_dir, cache_dir, tmp_path, "t_fig", epochs=1, subset=2048)
    loads, load = [], data.load

    def counted(*a, **k):
        loads.append(a[0])
        return load(*a, **k)

    monkeypatch.setattr(data, "load", counted)
    monkeypatch.setattr(figure5, "load", counted)
    path = extract_confidence_maps("t_fig__seed0__subset2048", data_dir=data_dir, cache_dir=tmp_path / "cache",
                                   results_dir=tmp_path / "r", n_sample=6, n_wrong=2)
    assert loads == ["mnist"]  # the dataset read once: the images shown and the net's input
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
    assert "drawn at random (seed 0)" in sample_description(d) and "images shown" in shown_reading(d)
    # the run tested only its first 2,048 test images (its subset), the figure all 10,000: not the same
    # number, so the run's own test is not set beside it
    from nin_repro import results

    own = results.read_record(results.record_path("t_fig__seed0__subset2048", tmp_path / "r"))["history"][-1]
    assert own["test_error"] is not None and "run_test_error" not in d
    assert evaluation_note(d) == f"its net, evaluated here in fp32: {float(d['test_error']):.2f}% test error"
    fig = plots.plot_confidence_maps(d)
    assert len(fig.axes) == n * 12  # the image, ten maps and a colorbar per image
    # the classes name the maps' columns once, every colour bar labelled
    fig.canvas.draw()
    maps_named = [ax for ax in fig.axes if ax.get_title() in [str(c) for c in d["classes"]]]
    assert len(maps_named) == 10
    bars = [ax for ax in fig.axes if ax.get_ylabel() == "map value"]
    assert len(bars) == n


def test_the_evaluation_note_sets_the_runs_own_test_beside_the_fp32_one_where_there_is_one():
    untested = {"test_error": np.array(12.9)}  # the figure's epoch was not tested by the run
    assert evaluation_note(untested) == "its net, evaluated here in fp32: 12.90% test error"
    tested = {**untested, "run_test_error": np.array(12.95), "run_test_precision": np.array("bf16")}
    assert evaluation_note(tested) == ("its net, evaluated here in fp32: 12.90% test error; the run's own test of "
                                       "the same net, in bf16: 12.95%, 0.05 points higher")
    lower = {**tested, "run_test_error": np.array(12.87)}  # the direction said in words, either way
    assert evaluation_note(lower).endswith("in bf16: 12.87%, 0.03 points lower")


def test_map_statistics_on_hand_made_maps():
    import torch

    maps = torch.zeros(2, 3, 4, 4)
    maps[0, 1, 1, 2] = 5.0   # image 0, true class 1: its map peaks highest, in the centre
    maps[1, 0, 0, 0] = 9.0   # image 1, true class 2: class 0's map peaks highest, in a corner
    maps[1, 2] = 1.0         # ... while class 2's map has the highest mean
    stats = map_statistics(maps, torch.tensor([1, 2]))
    assert stats["stats_true_peak"] == 50.0 and stats["stats_true_mean"] == 100.0
    assert stats["stats_central_share"] == 25.0
    # the true maps peak centrally in 1 image of 2; the four other maps (flat ones peak at their first pixel) never
    assert stats["stats_peak_central"] == 50.0 and stats["stats_other_central"] == 0.0


def test_a_figure_from_before_the_check_says_so():
    old = {"labels": np.array([0]), "preds": np.array([0]), "maps": np.zeros((1, 10, 8, 8))}
    assert map_claim(old) is None
    assert "not a random sample" in sample_description(old)


def test_weights_that_do_not_fit_the_runs_net_are_named_in_one_line(tmp_path):
    from nin_repro import checkpoint, results
    from nin_repro.model import NiN, ModelConfig
    from test_results import make_record

    mnist = experiments.get("mnist").model
    record = make_record(experiment="mnist", model=mnist.to_dict())
    record["config"]["experiment"] = "mnist"
    results.write_record(record, tmp_path)
    weights = checkpoint.weights_path("mnist__seed0", tmp_path)
    checkpoint.save_weights(weights, NiN(ModelConfig()).state_dict(), "mnist__seed0")  # CIFAR-10's net
    with pytest.raises(ValueError, match=rf"^{weights} does not fit the net that config.model of "
                                         rf"{results.record_path('mnist__seed0', tmp_path)} describes "
                                         r"\(of another shape .*\); train the run again with --restart"):
        extract_confidence_maps("mnist__seed0", cache_dir=tmp_path / "cache", results_dir=tmp_path)


def test_missing_checkpoint_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint of cifar10__seed7 .* train the run first"):
        extract_confidence_maps("cifar10__seed7", cache_dir=tmp_path)


def test_a_run_in_progress_draws_the_maps_from_its_committed_snapshot(monkeypatch, data_dir, cache_dir, tmp_path):
    """A fresh machine (no cache checkpoint) draws a run in progress's maps
    from the snapshot `reproduce` left in results/checkpoints/."""
    from nin_repro import checkpoint

    _train_tiny(monkeypatch, data_dir, cache_dir, tmp_path, "t_prog", epochs=3, subset=1024, stop_after_epoch=1)
    name = "t_prog__seed0__subset1024"
    checkpoint.copy(checkpoint.cache_path(name, tmp_path / "cache"), checkpoint.snapshot_path(name, tmp_path / "r"))
    checkpoint.remove(checkpoint.cache_path(name, tmp_path / "cache"))
    assert figure_source([name], tmp_path / "cache", tmp_path / "r") == (name, 1)
    extract_confidence_maps(name, data_dir=data_dir, cache_dir=tmp_path / "cache", results_dir=tmp_path / "r")
    d = load_confidence_maps(tmp_path / "r")
    assert (str(d["run"]), int(d["epoch"]), int(d["epochs"])) == (name, 1, 3) and int(d["stats_n"]) == 10_000


def _state(results_dir, name, epoch, where="snapshot"):
    from nin_repro import checkpoint

    path = (checkpoint.snapshot_path(name, results_dir) if where == "snapshot"
            else checkpoint.weights_path(name, results_dir))
    path.parent.mkdir(parents=True, exist_ok=True)
    if where == "snapshot":
        checkpoint.save(path, {"epoch": epoch, "config": {"train": {"epochs": 260}}, "history": [], "wall_seconds": 0.0})
    else:
        path.write_bytes(b"weights")  # only its presence counts when choosing


def _finished(results_dir, experiment, epochs):
    from nin_repro import results
    from test_results import make_record

    rec = make_record(experiment=experiment)
    rec["epochs"] = epochs
    results.write_record(rec, results_dir)


def test_the_figure_comes_from_a_finished_full_length_run_then_one_in_progress_then_a_shorter_one(tmp_path):
    a, b = "cifar10_aug_full__seed0", "cifar10_full__seed0"
    names = [a, b, "cifar10__seed0", "cifar10__seed1"]
    assert figure_source(names, tmp_path / "c", tmp_path) is None  # no net anywhere
    _finished(tmp_path, "cifar10", 30)
    _state(tmp_path, "cifar10__seed0", 30, where="weights")
    assert figure_source(names, tmp_path / "c", tmp_path) == ("cifar10__seed0", 30)
    _state(tmp_path, b, 12)  # in progress: beats a finished shorter run
    assert figure_source(names, tmp_path / "c", tmp_path) == (b, 12)
    _state(tmp_path, a, 3)   # the first in progress in the list's order
    assert figure_source(names, tmp_path / "c", tmp_path) == (a, 3)
    _finished(tmp_path, "cifar10_full", 260)    # finished at full length, its net kept: beats any in progress
    _state(tmp_path, b, 260)
    assert figure_source(names, tmp_path / "c", tmp_path) == (b, 260)
    # a corrupt snapshot leaves its run out (training names the file)
    (tmp_path / "checkpoints" / f"{b}.pt").write_bytes(b"torn")
    assert figure_source(names, tmp_path / "c", tmp_path) == (a, 3)


def test_a_finished_full_length_run_is_told_by_its_protocol_not_by_a_count_of_epochs(tmp_path):
    from nin_repro.book import progress

    # MNIST's full-length protocol is 60 epochs: finished, it is a full-length run, ahead of one in progress
    names = ["cifar10_aug_full__seed0", "mnist_full__seed0"]
    _state(tmp_path, "cifar10_aug_full__seed0", 3)
    _finished(tmp_path, "mnist_full", 60)
    _state(tmp_path, "mnist_full__seed0", 60, where="weights")
    assert figure_source(names, tmp_path / "c", tmp_path) == ("mnist_full__seed0", 60)
    assert progress.is_full_length("mnist_full", 60) and progress.is_full_length("cifar10_full")
    # a full-length experiment cut short (an override) is not a full-length run; a 30-epoch protocol never is
    assert not progress.is_full_length("cifar10_full", 30) and not progress.is_full_length("cifar10", 30)


def test_the_reading_of_the_check_follows_its_numbers():
    strong = {"true_peak": 71.0, "true_mean": 80.0, "peak_central": 60.0, "central_share": 25.0,
              "other_central": 45.0}
    text = claim_reading(strong, 50.0)
    assert "less often than the mean does (71.0% against 80.0%" in text
    assert "is the strongest in most images, above the 50%" in text
    # the baseline is the other classes' maps of the same images, not only a random position
    assert "in 60.0% of the images, against 45.0% for the other classes' maps" in text
    assert "(25% for a peak placed at random)" in text and "responds in the middle more often" in text
    weak = {"true_peak": 45.0, "true_mean": 40.0, "peak_central": 50.0, "central_share": 25.0,
            "other_central": 50.0}
    text = claim_reading(weak, 50.0)
    assert "more often than the mean" in text and "is not the strongest in most images, at or below" in text
    # central twice as often as chance, but no more than the maps of absent classes: no reading of position
    assert "does not favour the middle more than the other maps do" in text
    older = {**strong, "other_central": None}  # a figure file drawn before the other maps were counted
    assert "says nothing yet about the object's position" in claim_reading(older, 50.0)


def _synthetic_maps(n=3, classes=10):
    rng = np.random.default_rng(0)
    labels = np.arange(n) % classes
    preds = labels.copy()
    preds[-1] = (labels[-1] + 1) % classes  # one misclassified: its title names both classes
    return {"images": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
            "maps": rng.normal(size=(n, classes, 8, 8)).astype(np.float32) * 50, "labels": labels, "preds": preds,
            "classes": np.array(["automobile", "airplane", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                 "truck"][:classes])}


def _book_figures(results_dir):
    """Every kind of figure the chapters draw, from synthetic runs: the
    network, a run's progress (on two kinds of machine, so its legend names
    both), runs together, the error by training length, Figure 5's maps."""
    from nin_repro import results
    from nin_repro.model import NiN
    from test_claims import record
    from test_progress import snapshot

    snapshot(results_dir, "cifar10_full", 0, [60.0, 40.0, 30.0], machine="cpu (X), AVX2")
    snapshot(results_dir, "cifar10_nodropout_full", 0, [61.0, 42.0], machine="cpu (Y), AMX", precision="bf16")
    results.write_record(record("cifar10", 0, [40.0, 25.0, 19.0]), results_dir)
    runs = [("cifar10_full", 0), ("cifar10_nodropout_full", 0)]
    return {"network": plots.plot_architecture(NiN(experiments.get("cifar10").model)).figure,
            "progress": plots.plot_started(runs, results_dir),
            "together": plots.plot_together(runs, {"cifar10_full": "dropout", "cifar10_nodropout_full": "no dropout"},
                                            results_dir).figure,
            "by length": plots.plot_error_by_length("cifar10", results_dir).figure,
            "maps": plots.plot_confidence_maps(_synthetic_maps())}


def test_every_figure_is_shown_at_its_own_size_with_text_no_smaller_than_the_small_print(tmp_path):
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    with matplotlib.rc_context():
        plots.book_style()
        figures = _book_figures(tmp_path)
        for name, fig in figures.items():
            fig.canvas.draw()
            small = [(t.get_text(), t.get_fontsize()) for t in fig.findobj(Text)
                     if t.get_visible() and t.get_text().strip() and t.get_fontsize() < plots.MIN_TEXT_PT]
            assert small == [], name
            # as saved (tight, 0.1 in of padding): no wider than the column, so the page does not shrink it
            width = (fig.get_tightbbox().width + 0.2) * plots.DPI
            assert width <= plots.COLUMN_PX, (name, width)
        # the run figures' legends lie under their axes and the axis label: clear of the curves and the rate
        # drops' labels, which a legend inside covered
        for name in ("progress", "together", "by length"):
            for ax in figures[name].axes:
                legend = ax.get_legend()
                assert legend is not None, name
                assert legend.get_window_extent().y1 <= ax.xaxis.label.get_window_extent().y0, name
        # Figure 5: an image's ten maps in one row, the classes naming the columns once, at the top; each map
        # at least 70 px wide (about 9 px to each of its 8x8 cells), each colour bar labelled
        maps = figures["maps"]
        named = [ax for ax in maps.axes if ax.get_title() in list(_synthetic_maps()["classes"])]
        assert [ax.get_title() for ax in named] == list(_synthetic_maps()["classes"])
        drawn = [ax for ax in maps.axes if ax.get_images() and ax.get_images()[0].get_array().shape == (8, 8)]
        assert len(drawn) == 3 * 10 and len({round(ax.get_position().y0, 3) for ax in drawn}) == 3
        assert min(ax.get_window_extent().width for ax in drawn) * plots.DPI / maps.dpi >= 70
        assert [ax.get_ylabel() for ax in maps.axes if ax.get_ylabel()].count("map value") == 3
        plt.close("all")
    # the check can fail: matplotlib's own style sets legends and tick labels in 10 pt, below the small print
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        fig = plots.plot_together([("cifar10_full", 0), ("cifar10_nodropout_full", 0)], None, tmp_path).figure
        fig.canvas.draw()
        assert any(t.get_fontsize() < plots.MIN_TEXT_PT for t in fig.findobj(Text) if t.get_text().strip())
        plt.close("all")


@pytest.mark.parametrize("dropout, shown", [(0.5, ["dropout 0.5"] * 2), (0.3, ["dropout 0.3"] * 2), (0.0, [])])
def test_the_network_drawing_shows_the_nets_own_dropout(dropout, shown):
    from dataclasses import replace

    import matplotlib.pyplot as plt

    from nin_repro.model import NiN, architecture_table, count_parameters

    model = NiN(replace(experiments.get("cifar10").model, dropout=dropout))
    ax = plots.plot_architecture(model)
    labels = [t.get_text().split("  →  ")[0] for t in ax.texts]
    plt.close(ax.figure)
    assert [s for s in labels if "dropout" in s] == shown
    # a net without dropout has no dropout layer in its table either; its parameters all counted
    rows = architecture_table(model)
    assert sum(r["layer"] == "BitDropout" for r in rows) == len(shown)
    assert sum(r["parameters"] for r in rows) == count_parameters(model)
    # the FC + dropout head's dropout is torch's, always at 0.5
    head = [t.get_text() for t in plots.plot_architecture(NiN(replace(model.cfg, head="fc_dropout"))).texts]
    plt.close("all")
    assert sum(s.startswith("dropout 0.5") for s in head) == 1 + len(shown) * (dropout == 0.5)


def test_a_training_error_of_zero_is_drawn_at_a_zero_on_the_axis_not_off_a_log_scale(tmp_path):
    import matplotlib.pyplot as plt
    from nin_repro import checkpoint
    from test_progress import snapshot

    path = snapshot(tmp_path, "cifar10_nodropout_full", 0, [60.0, 40.0, 30.0])
    state = checkpoint.load_state(path)
    state["history"][-1]["train_error"] = 0.0  # a net that fits every training image
    checkpoint.save(path, state)
    snapshot(tmp_path, "cifar10_full", 0, [60.0, 40.0, 30.0])
    zero = plots.plot_progress("cifar10_nodropout_full", 0, tmp_path)
    low, high = zero.get_ylim()
    assert low < 0 and high > 61 and 0 in zero.get_yticks() and zero.get_yscale() == "symlog"
    assert plots.plot_progress("cifar10_full", 0, tmp_path).get_yscale() == "log"  # no zero: a log scale
    together = plots.plot_together([("cifar10_full", 0), ("cifar10_nodropout_full", 0)], None, tmp_path)
    assert together.get_ylim()[0] < 0
    # every curve at 0: the axis still reaches the paper's line, drawn after the curves
    path = snapshot(tmp_path, "cifar10_full", 1, [0.0, 0.0])
    state = checkpoint.load_state(path)
    for h in state["history"]:
        h["train_error"] = 0.0
    checkpoint.save(path, state)
    (tmp_path / "checkpoints" / "cifar10_full__seed0.pt").unlink()
    assert plots.plot_progress("cifar10_full", 1, tmp_path).get_ylim()[1] > 10.41
    plt.close("all")


def test_a_runs_panel_draws_its_rows_other_seeds_test_error_finished_or_so_far(tmp_path):
    import matplotlib.pyplot as plt
    from test_claims import record
    from test_progress import snapshot

    from nin_repro import results

    results.write_record(record("cifar10_full", 0, [60.0, 40.0, 30.0]), tmp_path)
    results.write_record(record("cifar10_full", 2, [61.0, 41.0, 31.0]), tmp_path)
    snapshot(tmp_path, "cifar10_full", 1, [62.0, 45.0])
    labels = plots.plot_progress("cifar10_full", 0, tmp_path).get_legend_handles_labels()[1]
    assert [label for label in labels if label.startswith("seed")] == ["seed 1, test, so far", "seed 2, test"]
    labels = plots.plot_progress("cifar10_full", 1, tmp_path).get_legend_handles_labels()[1]
    assert [label for label in labels if label.startswith("seed")] == ["seed 0, test", "seed 2, test"]
    snapshot(tmp_path, "cifar10_full", 3, [None])  # not tested yet: nothing to draw, nothing in the legend
    labels = plots.plot_progress("cifar10_full", 0, tmp_path).get_legend_handles_labels()[1]
    assert "seed 3, test, so far" not in labels
    plt.close("all")


def test_the_reading_of_the_images_shown_names_one_misclassified_image_in_the_singular():
    import numpy as np

    maps = np.zeros((2, 3, 2, 2), dtype=np.float32)
    maps[0, 0, 0, 0], maps[1, 2, 0, 0], maps[1, 1, 0, 0] = 5.0, 5.0, 4.0  # image 1: class 1 ranks 2 of 3
    said = shown_reading({"maps": maps, "labels": np.array([0, 1]), "preds": np.array([0, 2])})
    assert said.startswith("Of the 2 images shown, 1 is classified correctly; in 1 of those")
    assert said.endswith("In the misclassified one the true class's map ranks 2 of 3 by its peak.")


def test_class_maps_in_more_than_one_row_each_name_their_class():
    import matplotlib.pyplot as plt

    fig_data = {**_synthetic_maps(n=2, classes=10), "maps": np.zeros((2, 12, 8, 8), np.float32),
                "classes": np.array([f"class {k}" for k in range(12)])}
    fig = plots.plot_confidence_maps(fig_data)
    # ten to a row, so the second row holds other classes: every map names its own
    assert sorted(ax.get_title() for ax in fig.axes if ax.get_title().startswith("class ")) == sorted(
        f"class {k}" for k in range(12) for _ in range(2))
    plt.close(fig)
