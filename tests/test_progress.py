import json
import pytest

from nin_repro import checkpoint, experiments, results
from nin_repro.book import findings, plots, progress, provenance, tables
from nin_repro.book.paper import paper_error
from test_results import make_record


def snapshot(results_dir, experiment, seed, errors, machine="cpu (X), AVX2", precision="fp32", provenance=None,
             lrs=None):
    """A run in progress as `reproduce` leaves it: its state in results/checkpoints/
    (with `provenance`, as snapshots have stored it since they do); `lrs`: each
    epoch's learning rate (else 0.1 throughout)."""
    exp = experiments.get(experiment)
    config = {"experiment": experiment, "dataset": exp.dataset, "seed": seed, "overrides": {},
              "model": exp.model.to_dict(), "train": exp.train.to_dict()}
    # None: an epoch the test split was not evaluated after (`TrainConfig.test_every`)
    history = [{"epoch": i + 1, "lr": lrs[i] if lrs else 0.1, "train_loss": 1.0, "train_error": 20.0 if e is None else e + 1,
                "test_loss": None if e is None else 1.0, "test_error": e, "seconds": 500.0,
                "precision": precision, "machine": machine}
               for i, e in enumerate(errors)]
    path = checkpoint.snapshot_path(results.run_name(experiment, seed), results_dir)
    checkpoint.save(path, {"config": config, "epoch": len(errors), "history": history,
                           "wall_seconds": 500.0 * len(errors), **({"provenance": provenance} if provenance else {})})
    return path


def test_each_full_length_run_is_finished_in_progress_or_not_started(tmp_path):
    snapshot(tmp_path, "cifar10_aug_full", 0, [70.0, 50.0, 41.5])
    done = make_record("mnist_full", seed=0, error=0.52)
    done["config"]["overrides"] = {}
    results.write_record(done, tmp_path)
    state, run = progress.run_state("cifar10_aug_full", 0, tmp_path)
    assert (state, run["epoch"], run["history"][-1]["test_error"]) == ("in progress", 3, 41.5)
    state, run = progress.run_state("mnist_full", 0, tmp_path)
    assert (state, run["test_error"]) == ("finished", 0.52)
    assert progress.run_state("cifar10_full", 0, tmp_path) == ("not started", None)
    left = tables.runs_left_table(tmp_path).set_index(["experiment", "seed"])
    assert left.loc[("cifar10_aug_full", 0), "status"] == "in progress, epoch 3 of 260"
    assert left.loc[("cifar10_full", 0), "status"] == "not started"
    assert ("mnist_full", 0) not in left.index


def test_a_run_tested_every_5th_epoch_is_shown_by_its_latest_test(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    # cifar10_full's first stage is tested after epochs 5, 10, ...: 12 epochs trained, the last test after 10
    snapshot(tmp_path, "cifar10_full", 0, [None] * 4 + [50.0] + [None] * 4 + [40.0, None, None])
    row = tables.results_table(["cifar10_full"], tmp_path).iloc[0]
    assert (row["epochs"], row["ours (%)"]) == ("12 of 260", "in progress: 40.00% (tested after epoch 10) at epoch 12 of 260")
    assert findings.progress_line("cifar10_full", 0, tmp_path).startswith(
        "CIFAR-10, 260 epochs, seed 0: in progress, epoch 12 of 260; test error 40.00% after epoch 10 (")
    stage = tables.stages_table("cifar10_full", 0, tmp_path).loc["1-200"]
    assert (stage["trained"], stage["last test error (%)"], stage["best (%)"]) == \
        ("12 of 200", "40.00 (epoch 10)", "40.00 (epoch 10)")
    assert stage["range over its last 5 tests (%)"] == "40.00-50.00"
    by_length = tables.error_by_length("cifar10", tmp_path)
    assert by_length[["epochs", "test error (%)", "status"]].values.tolist() == [[10, 40.0, "in progress (12 of 260)"]]
    ax = plots.plot_progress("cifar10_full", 0, tmp_path)
    test, train = ax.get_lines()[:2]
    assert list(test.get_xdata()) == [5, 10] and list(test.get_ydata()) == [50.0, 40.0]
    assert list(train.get_xdata()) == list(range(1, 13))  # training error is measured every epoch
    plots.plot_error_by_length("cifar10", tmp_path)  # draws the curve of its tests


def test_a_run_not_tested_yet_says_so(tmp_path):
    snapshot(tmp_path, "cifar10_full", 0, [None, None, None])
    assert "epoch 3 of 260; not tested yet (" in findings.progress_line("cifar10_full", 0, tmp_path)
    assert tables.stages_table("cifar10_full", 0, tmp_path).loc["1-200"]["last test error (%)"] == \
        "not tested yet"
    assert tables.error_by_length("cifar10", tmp_path).empty  # no error to place at any length yet
    assert tables.run_records_table(tmp_path).iloc[-1]["test error (%)"] == "not tested yet"


def test_a_run_that_moved_shows_each_machine_and_precision(tmp_path):
    path = snapshot(tmp_path, "cifar10_full", 0, [70.0, 60.0], machine="cpu (A), AVX512", precision="bf16")
    state = checkpoint.load(path)
    state["history"][1].update(machine="cpu (B), AVX2", precision="fp32")
    checkpoint.save(path, state)
    where = provenance.run_where(progress.run_state("cifar10_full", 0, tmp_path)[1])
    assert where == "cpu (A), AVX512, bf16: epoch 1; cpu (B), AVX2, fp32: epoch 2"
    # the appendix's row points below, where each stretch is a row of its own (a run that moves often
    # would outgrow its cell); a run that did not move has no row there
    assert tables.run_records_table(tmp_path).iloc[-1][tables.MACHINE_COLUMN] == tables.MOVED
    assert tables.moved_lines(tmp_path) == \
        "- `cifar10_full` seed 0 (in progress): A, AVX512, bf16: epoch 1; B, AVX2, fp32: epoch 2"
    snapshot(tmp_path, "cifar10_aug_full", 0, [70.0], machine="cpu (A), AVX512", precision="bf16")
    assert tables.moved_lines(tmp_path).count("\n") == 0  # a run on one kind has no line there
    # the curve shades each stretch by its kind, one legend entry per kind, so a step can be set
    # against a change of precision; back on the first kind, the same shade and no second entry
    state["history"].append({**state["history"][0], "epoch": 3})
    checkpoint.save(path, {**state, "epoch": 3})
    assert tables.moved_lines(tmp_path).endswith("epoch 1; B, AVX2, fp32: epoch 2; A, AVX512, bf16: epoch 3")
    import matplotlib

    matplotlib.use("Agg")
    ax = plots.plot_progress("cifar10_full", 0, tmp_path)
    shades = list(ax.patches)  # the progress plot draws no other patches (see the next test)
    assert len(shades) == 3
    assert shades[0].get_facecolor() == shades[2].get_facecolor() != shades[1].get_facecolor()
    labels = [label for label in ax.get_legend_handles_labels()[1] if label.startswith("epochs on")]
    assert labels == ["epochs on A, AVX512, bf16", "epochs on B, AVX2, fp32"]


def test_a_run_on_one_kind_of_machine_is_not_shaded(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    snapshot(tmp_path, "cifar10_full", 0, [70.0, 60.0])
    ax = plots.plot_progress("cifar10_full", 0, tmp_path)
    assert not ax.patches
    assert not [label for label in ax.get_legend_handles_labels()[1] if label.startswith("epochs on")]


def test_a_corrupt_snapshot_stops_the_book_rather_than_showing_it(tmp_path):
    path = snapshot(tmp_path, "cifar10_full", 0, [70.0])
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(checkpoint.CheckpointError, match="is corrupt"):
        progress.in_progress(tmp_path)


def test_progress_plot_spans_the_whole_schedule_and_says_how_far(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    snapshot(tmp_path, "cifar10_full", 0, [70.0, 60.0, 55.0])
    ax = plots.plot_progress("cifar10_full", 0, tmp_path)
    assert ax.get_title() == "CIFAR-10, 260 epochs, seed 0: in progress, epoch 3 of 260"
    assert ax.get_xlim()[1] > 260
    labels = ax.get_legend_handles_labels()[1]
    author = "first author's run, no augmentation"
    assert author in labels and "paper: 10.41%" in labels
    ax = plots.plot_progress("cifar10_aug_full", 0, tmp_path)
    assert ax.get_title().endswith("not started, epoch 0 of 260")
    # the augmented run's panel carries the same landmarks (the chapter's caption names them for both)
    assert author in ax.get_legend_handles_labels()[1]
    assert "paper: 8.81%" in ax.get_legend_handles_labels()[1]
    ax = plots.plot_progress("mnist_full", 0, tmp_path)
    assert author not in ax.get_legend_handles_labels()[1]


def test_error_by_length_has_finished_runs_and_runs_in_progress(tmp_path):
    rec = make_record("cifar10", seed=0, error=18.9)
    rec.update(dataset="cifar10", epochs=30)
    exp = experiments.get("cifar10")
    rec["config"].update(dataset="cifar10", model=exp.model.to_dict(), train=exp.train.to_dict())
    results.write_record(rec, tmp_path)
    fast = make_record("cifar10_aug_fast", seed=0, error=12.0)  # BatchNorm: not the paper's net
    e = experiments.get("cifar10_aug_fast")
    fast["config"].update(dataset="cifar10", model=e.model.to_dict(), train=e.train.to_dict())
    results.write_record(fast, tmp_path)
    snapshot(tmp_path, "cifar10_aug_full", 0, [70.0, 50.0])
    table = tables.error_by_length("cifar10", tmp_path)
    assert list(table["experiment"]) == ["cifar10_aug_full", "cifar10"]
    assert list(table["augmentation"]) == ["augmented", "not augmented"]
    assert list(table["status"]) == ["in progress (2 of 260)", "finished"]
    assert list(table["epochs"]) == [2, 30]
    import matplotlib

    matplotlib.use("Agg")
    ax = plots.plot_error_by_length("cifar10", tmp_path)
    assert ax.get_xlim()[0] <= 1 and ax.get_xlim()[1] >= 260  # the run in progress from its first epoch on
    assert "data" not in table  # no run names a known copy of CIFAR-10: no column for it


def test_error_by_length_sets_each_copy_of_the_data_apart(tmp_path):
    from test_results import JPEG_SOURCE, LOSSLESS_SOURCE, on_copy

    exp = experiments.get("cifar10")
    for seed, source, error in ((0, JPEG_SOURCE, 18.9), (2, LOSSLESS_SOURCE, 14.8)):
        rec = on_copy(make_record("cifar10", seed=seed, error=error), source)
        rec.update(dataset="cifar10", epochs=30)
        rec["config"].update(dataset="cifar10", model=exp.model.to_dict(), train=exp.train.to_dict())
        results.write_record(rec, tmp_path)
    table = tables.error_by_length("cifar10", tmp_path)
    assert list(table["data"]) == ["JPEG copy", "near-lossless copy"]
    import matplotlib

    matplotlib.use("Agg")
    ax = plots.plot_error_by_length("cifar10", tmp_path)
    points = {line.get_label(): line for line in ax.get_lines() if line.get_marker() == "o"}
    jpeg = points["ours, not augmented (finished runs, JPEG copy)"]
    lossless = points["ours, not augmented (finished runs, near-lossless copy)"]
    assert list(jpeg.get_ydata()) == [18.9] and list(lossless.get_ydata()) == [14.8]
    assert jpeg.get_markerfacecolor() == "none" and lossless.get_markerfacecolor() != "none"


def test_progress_line_in_each_state(tmp_path):
    assert findings.progress_line("cifar10_full", 0, tmp_path) == "CIFAR-10, 260 epochs, seed 0: not started (epoch 0 of 260)."
    snapshot(tmp_path, "cifar10_full", 0, [70.0, 60.0])
    assert findings.progress_line("cifar10_full", 0, tmp_path) == (
        "CIFAR-10, 260 epochs, seed 0: in progress, epoch 2 of 260; test error 60.00% after epoch 2 (0.3 hours so far, "
        "on X, AVX2, fp32).")
    done = make_record("mnist_full", seed=0, error=0.52)
    done["epochs"] = 60
    results.write_record(done, tmp_path)
    assert findings.progress_line("mnist_full", 0, tmp_path) == (
        "MNIST, 60 epochs, seed 0: finished, 0.52% test error after 60 epochs (0.0 hours, on test, AVX2, fp32).")


def test_progress_plot_of_a_run_without_a_paper_number_draws_no_empty_legend(tmp_path, recwarn):
    import matplotlib

    matplotlib.use("Agg")
    ax = plots.plot_progress("cifar10_nodropout_full", 0, tmp_path)
    assert ax.get_legend() is None
    assert not [w for w in recwarn if "legend" in str(w.message)]
    ax.figure.canvas.draw()
    assert all("^" not in t.get_text() for t in ax.get_yticklabels())


def test_only_runs_that_have_started_are_drawn(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    runs = [("cifar10_aug_full", 0), ("cifar10_full", 0)]
    assert plots.plot_started(runs, tmp_path) is None
    snapshot(tmp_path, "cifar10_full", 0, [70.0, 60.0])
    fig = plots.plot_started(runs, tmp_path)
    assert [ax.get_title() for ax in fig.axes] == ["CIFAR-10, 260 epochs, seed 0: in progress, epoch 2 of 260"]


def test_the_stages_table_shows_each_learning_rate_stage_as_far_as_the_run_has_come(tmp_path):
    assert tables.stages_table("mnist_full", 0, tmp_path) is None  # not started
    # 48 epochs of mnist_full (drops after epochs 46 and 53): the base stage
    # whole, two epochs of the second, none of the third
    errors = [5.0 - 0.1 * i for i in range(40)] + [1.2, 1.0, 1.1, 0.9, 1.0, 1.05] + [0.6, 0.55]
    path = snapshot(tmp_path, "mnist_full", 0, errors)
    state = checkpoint.load(path)
    for h in state["history"][46:]:
        h["lr"] = 0.01
    checkpoint.save(path, state)
    table = tables.stages_table("mnist_full", 0, tmp_path)
    assert list(table.index) == ["1-46", "47-53"]
    base, second = table.loc["1-46"], table.loc["47-53"]
    assert (base["learning rate"], base["trained"], base["last test error (%)"]) == ("0.1", "46 of 46", "1.05")
    assert base["best (%)"] == "0.90 (epoch 44)" and base["range over its last 5 tests (%)"] == "0.90-1.10"
    assert (second["learning rate"], second["trained"], second["best (%)"]) == ("0.01", "2 of 7", "0.55 (epoch 48)")


def test_the_stages_reading_tells_a_flat_last_stage_from_one_still_falling(tmp_path):
    assert findings.stages_reading("mnist_full", 0, tmp_path) == ""  # not finished
    flat = make_record("mnist_full", seed=0)
    flat["config"]["overrides"] = {}
    flat["epochs"] = 60
    errors = [1.0] * 53 + [0.47, 0.45, 0.49, 0.47, 0.47, 0.47, 0.46]
    flat["history"] = [{**flat["history"][0], "epoch": i + 1, "test_error": e} for i, e in enumerate(errors)]
    flat["test_error"] = errors[-1]
    results.write_record(flat, tmp_path)
    said = findings.stages_reading("mnist_full", 0, tmp_path)
    assert said == ("In its last stage (epochs 54-60) the mean of the last 5 epochs, 0.47%, was no lower than the "
                    "best single epoch before them (0.45%, epoch 55): the error had levelled off at the final rate.")
    # a tail whose lowest epoch is below the earlier best but whose mean is not: the sentence states the
    # mean it compares, so the low epoch does not contradict "levelled off"
    dip = [0.47, 0.46, 0.44, 0.49, 0.48, 0.47, 0.48]
    flat["history"] = [{**h, "test_error": e} for h, e in zip(flat["history"], [1.0] * 53 + dip)]
    flat["test_error"] = dip[-1]
    results.write_record(flat, tmp_path)
    said = findings.stages_reading("mnist_full", 0, tmp_path)
    assert "the mean of the last 5 epochs, 0.47%, was no lower than the best single epoch before them (0.46%, epoch 55)" in said
    assert said.endswith("levelled off at the final rate.")
    falling = [0.60, 0.58, 0.55, 0.53, 0.50, 0.48, 0.46]
    flat["history"] = [{**h, "test_error": e} for h, e in zip(flat["history"], [1.0] * 53 + falling)]
    flat["test_error"] = falling[-1]
    results.write_record(flat, tmp_path)
    assert "the error was still falling" in findings.stages_reading("mnist_full", 0, tmp_path)


def test_a_given_up_run_is_listed_with_its_cost_and_why(tmp_path):
    import json


    assert tables.given_up_rows(tmp_path) is None
    (tmp_path / "stalls").mkdir()
    history = [{"epoch": e, "lr": 0.1, "train_loss": loss, "train_error": 90.0, "test_loss": loss,
                "test_error": 90.0, "seconds": 700.0, "precision": "fp32", "machine": "cpu (AMD EPYC), AVX2"}
               for e, loss in ((1, 2.2570), (2, 2.3027))]  # a row as train() writes it
    (tmp_path / "stalls" / "cifar10_aug_full__seed0.json").write_text(json.dumps(
        {"run": "cifar10_aug_full__seed0", "wall_seconds": 1440.0, "history": history,
         "given_up_because": "stalled at chance level",
         "config": {"experiment": "cifar10_aug_full", "seed": 0, "train": {"epochs": 260}}}))
    row = tables.given_up_rows(tmp_path).iloc[0]
    assert (row["epochs"], row["last train loss"], row["last test error (%)"], row["hours"]) == \
        ("2 of 260", "2.3027", "90.00", "0.4")
    assert row["where"] == "AMD EPYC, AVX2, fp32" and row["why given up"] == "stalled at chance level"


def test_table_1s_full_length_stages_stand_beside_the_first_authors_run(tmp_path):
    """His release words 200 epochs as "around 14%": the table says "about
    14"; a run with no published milestones has no such column."""
    snapshot(tmp_path, "cifar10_full", 0, [70.0 - 0.2 * i for i in range(200)])
    table = tables.stages_table("cifar10_full", 0, tmp_path)
    assert list(table.index) == ["1-200"]
    assert table.loc["1-200", tables.AUTHOR_COLUMN] == "about 14"
    assert tables.has_author_milestones("cifar10_aug_full") and not tables.has_author_milestones("cifar10")
    snapshot(tmp_path, "mnist_full", 0, [1.0, 0.9])
    assert tables.AUTHOR_COLUMN not in tables.stages_table("mnist_full", 0, tmp_path)


def test_a_superseded_run_without_its_reason_is_refused_naming_the_file(tmp_path):
    (tmp_path / "superseded").mkdir()
    rec = make_record("mnist_full", seed=0, error=0.46)
    path = tmp_path / "superseded" / "mnist_full__seed0.json"
    path.write_text(json.dumps(rec))
    with pytest.raises(results.RecordError, match=r"mnist_full__seed0.json: no 'superseded_because'.*git"):
        progress.superseded(tmp_path)
    path.write_text(json.dumps({**rec, "superseded_because": "an earlier protocol"}))
    assert [r["test_error"] for r in progress.superseded(tmp_path)] == [0.46]


def test_runs_still_training_are_set_side_by_side_at_the_latest_epoch_all_have_tested(tmp_path):
    runs = [("cifar10_full", 0), ("cifar10_nodropout_full", 0)]
    labels = {"cifar10_full": "dropout", "cifar10_nodropout_full": "no dropout"}
    assert findings.same_epoch_line(runs, labels, tmp_path) == ""  # neither started
    # tested after epochs 5 and 10 only (every 5th at the base rate); 12 epochs trained
    snapshot(tmp_path, "cifar10_nodropout_full", 0, [None] * 4 + [50.0] + [None] * 4 + [30.0, None, None],
             machine="cpu (Intel(R) Xeon(R) Processor), AVX512", precision="bf16")
    assert findings.same_epoch_line(runs, labels, tmp_path) == ""  # nothing to set it beside
    done = make_record("cifar10_full", seed=0, error=10.1)
    done["config"]["overrides"] = {}
    done["epochs"] = 260
    done["history"] = [{**done["history"][0], "epoch": i + 1, "test_error": 40.0 - i / 10, "train_error": 35.0 - i / 10,
                        "precision": "bf16", "machine": "cpu (Intel(R) Xeon(R) Processor), AVX512"}
                       for i in range(260)]
    done["test_error"] = done["history"][-1]["test_error"]
    results.write_record(done, tmp_path)
    said = findings.same_epoch_line(runs, labels, tmp_path)
    assert said.startswith("At the same point of the same schedule so far (epoch 10 of 260, ")
    assert "dropout (seed 0) 39.10% test error, 34.10% training error; " \
           "no dropout (seed 0) 30.00% test error, 31.00% training error " \
           "(every epoch of each on Intel Xeon, AVX512, bf16)" in said
    assert said.endswith("and the schedule has 2 learning-rate drops still to come.")
    # a page whose run lines name each run's machines leaves them out here
    assert "(every epoch" not in findings.same_epoch_line(runs, labels, tmp_path, where=False)
    # the same pair on different machines names each
    snapshot(tmp_path, "cifar10_nodropout_full", 0, [None] * 4 + [50.0] + [None] * 4 + [30.0, None, None])
    assert "(dropout on Intel Xeon, AVX512, bf16; no dropout on X, AVX2, fp32)" in \
        findings.same_epoch_line(runs, labels, tmp_path)
    # runs on different schedules are not set side by side
    snapshot(tmp_path, "mnist_full", 0, [1.0] * 10)
    assert findings.same_epoch_line([("cifar10_full", 0), ("mnist_full", 0)], None, tmp_path) == ""
    # both finished: compared at their end elsewhere, not here
    (tmp_path / "checkpoints" / "cifar10_nodropout_full__seed0.pt").unlink()
    results.write_record({**done, "experiment": "cifar10_nodropout_full"}, tmp_path)
    assert findings.same_epoch_line(runs, labels, tmp_path) == ""


def test_rows_on_one_schedule_are_drawn_on_one_axis_once_both_have_started(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    runs = [("cifar10_full", 0), ("cifar10_nodropout_full", 0)]
    labels = {"cifar10_full": "dropout", "cifar10_nodropout_full": "no dropout"}
    snapshot(tmp_path, "cifar10_full", 0, [None] * 4 + [50.0] + [None] * 4 + [40.0])
    assert plots.plot_together(runs, labels, tmp_path) is None  # one row alone: its own panel
    snapshot(tmp_path, "cifar10_nodropout_full", 0, [60.0, 45.0, 35.0])
    ax = plots.plot_together(runs, labels, tmp_path)
    lines = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}
    assert list(lines) == ["dropout, test, so far (epoch 10)", "dropout, train",
                           "no dropout, test, so far (epoch 3)", "no dropout, train"]
    assert list(lines["dropout, test, so far (epoch 10)"].get_xdata()) == [5, 10]  # its tested epochs only
    assert list(lines["no dropout, test, so far (epoch 3)"].get_ydata()) == [60.0, 45.0, 35.0]
    assert lines["dropout, train"].get_color() != lines["no dropout, train"].get_color()
    assert ax.get_xlim() == (0, 261) and ax.get_yscale() == "log"
    assert sorted(line.get_xdata()[0] for line in ax.get_lines() if line.get_label().startswith("_")) == [200, 230]
    # runs on different datasets, each against its own number in the paper, in its own colour
    snapshot(tmp_path, "cifar100_full", 0, [90.0, 80.0])
    ax = plots.plot_together([("cifar100_full", 0), ("cifar10_full", 0)], {"cifar100_full": "CIFAR-100",
                                                                           "cifar10_full": "CIFAR-10"}, tmp_path,
                             paper=True)
    papers = {line.get_label(): line for line in ax.get_lines() if "paper" in line.get_label()}
    assert {k: list(v.get_ydata()) for k, v in papers.items()} == {
        f"CIFAR-100, paper: {paper_error('cifar100')}%": [paper_error("cifar100")] * 2,
        f"CIFAR-10, paper: {paper_error('cifar10')}%": [paper_error("cifar10")] * 2}
    test_colour = {line.get_label().split(",")[0]: line.get_color() for line in ax.get_lines()
                   if ", test" in line.get_label()}
    assert {k.split(",")[0]: v.get_color() for k, v in papers.items()} == test_colour
    # rows on different schedules are not drawn on one axis
    snapshot(tmp_path, "mnist_full", 0, [1.0, 0.9])
    assert plots.plot_together([("cifar10_full", 0), ("mnist_full", 0)], None, tmp_path) is None


def test_a_run_in_progress_stands_stage_by_stage_beside_a_finished_one_at_the_same_epochs(tmp_path):
    runs, labels = [("cifar100_full", 0), ("cifar10_full", 0)], {"cifar100_full": "CIFAR-100",
                                                                 "cifar10_full": "CIFAR-10"}
    assert tables.stages_beside(runs, labels, tmp_path) is None  # CIFAR-100 not started
    # CIFAR-10 finished: 260 epochs, 30% at the base rate, 12% then 10% after each drop
    done = make_record("cifar10_full", seed=0, error=10.0)
    done["config"].update(overrides={}, train=experiments.get("cifar10_full").train.to_dict())
    done["history"] = [{**done["history"][0], "epoch": e, "test_error": 30.0 - e / 100 if e <= 200 else
                        12.0 if e <= 230 else 10.0, "lr": 0.1 if e <= 200 else 0.01 if e <= 230 else 0.001}
                       for e in range(1, 261)]
    done["epochs"] = 260
    results.write_record(done, tmp_path)
    snapshot(tmp_path, "cifar100_full", 0, [60.0, 55.0, 50.0])
    table = tables.stages_beside(runs, labels, tmp_path)
    assert list(table.index) == [("1-200", "CIFAR-100"), ("1-200", "CIFAR-10")]  # no stage CIFAR-100 has not begun
    assert list(table["trained"]) == ["3 of 200", "3 of 200"]  # CIFAR-10 read at CIFAR-100's epoch 3
    assert list(table["last test error (%)"]) == ["50.00", "29.97"]
    assert tables.AUTHOR_COLUMN not in table  # his run is CIFAR-10's landmark, not this comparison's
    # the full CIFAR-10 stages are unchanged without the cut
    assert tables.stages_table("cifar10_full", 0, tmp_path).loc["231-260"]["trained"] == "30 of 30"
