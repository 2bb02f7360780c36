import pytest

from nin_repro import checkpoint, experiments
from nin_repro.book import chapters, comparison, cost, progress, provenance, tables
from nin_repro import results
from nin_repro.book.reproduce import plan, reproduce, time_left
from test_results import make_record
from tiny import frozen_clock, tiny


@pytest.fixture
def tiny_plan(monkeypatch, data_dir, cache_dir, tmp_path):
    from nin_repro import data

    data.load_packed("mnist", data_dir, cache_dir)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "decoded").symlink_to(cache_dir / "decoded", target_is_directory=True)
    for name in ("t_rep_a", "t_rep_b"):
        monkeypatch.setitem(experiments.EXPERIMENTS, name, tiny(name, epochs=2))
    kw = dict(jobs=[("t_rep_a", 0), ("t_rep_b", 0)], subset=512, data_dir=data_dir, cache_dir=tmp_path / "cache",
              results_dir=tmp_path / "results", log=lambda *_: None)
    return kw


def test_budget_stops_after_a_checkpointed_epoch_then_resumes_then_skips(tiny_plan, tmp_path, monkeypatch):
    from nin_repro import train as train_module
    from nin_repro.book import reproduce as reproduce_module

    status = lambda jobs: [j.status for j in jobs]  # noqa: E731
    assert status(reproduce(hours=0, **tiny_plan)) == ["left", "left"]  # no budget: nothing starts
    # A frozen wall clock (a loaded machine cannot make the budget pass before
    # the first epoch starts): the first run's first epoch is longer than the
    # 0.36 ms budget, so it stops after it, checkpointed; the second run, of
    # the same kind, would take as long an epoch: it does not start.
    clock = frozen_clock()
    said, reads = [], []
    with monkeypatch.context() as m:
        m.setattr(reproduce_module, "time", clock)
        m.setattr(train_module, "time", clock)
        real_load = checkpoint.load
        m.setattr(checkpoint, "load", lambda path, *then: reads.append(path.name) or real_load(path, *then))
        first = reproduce(hours=1e-7, **{**tiny_plan, "log": said.append})
    # Once, after the run stopped: for the pace of the next run and the note alike.
    assert reads == ["t_rep_a__seed0__subset512.pt"]
    assert status(first) == ["in progress", "left"]
    assert first[0].note.startswith("checkpoint after epoch 1/2: test error ")  # how far it got
    assert "; 1 epochs left, about " in first[0].note  # and what the rest will take
    assert any(line.startswith("[t_rep_b__seed0__subset512] not run now: its next epoch, about ")
               and "(the last epoch of t_rep_a__seed0__subset512), would end past the budget" in line for line in said)
    assert not (tmp_path / "results" / "runs").exists()
    checkpoints = sorted((tmp_path / "cache").rglob("*.pt"))
    assert [p.name for p in checkpoints] == ["t_rep_a__seed0__subset512.pt"]
    # the stopped run's snapshot, for a session on another machine
    assert checkpoint.load(checkpoint.snapshot_path("t_rep_a__seed0__subset512", tmp_path / "results"))["epoch"] == 1
    stamps = [p.stat().st_mtime_ns for p in checkpoints]
    asked = reproduce(status_only=True, **tiny_plan)  # the status alone trains nothing
    assert status(asked) == ["in progress", "left"] and asked[0].note == first[0].note
    assert [p.stat().st_mtime_ns for p in sorted((tmp_path / "cache").rglob("*.pt"))] == stamps
    assert not (tmp_path / "results" / "runs").exists()
    second = reproduce(**tiny_plan)
    assert status(second) == ["finished now", "finished now"]
    assert len(list((tmp_path / "results" / "runs").glob("t_rep_*.json"))) == 2
    third = reproduce(**tiny_plan)
    assert status(third) == ["done", "done"]


def test_a_redo_that_outlives_a_stop_continues_and_is_not_started_again(tiny_plan, tmp_path, monkeypatch):
    from nin_repro.book import reproduce as reproduce_module

    kw = {**tiny_plan, "jobs": [("t_rep_a", 0)], "figure_runs": None}
    name = "t_rep_a__seed0__subset512"
    record = tmp_path / "results" / "runs" / f"{name}.json"
    assert [j.status for j in reproduce(**kw)] == ["finished now"]
    first = results.read_record(record)
    real_train = reproduce_module.train

    def one_epoch_then_stop(run, **call):  # a session that ends after one epoch
        return real_train(run, stop_after_epoch=1, **call)

    with monkeypatch.context() as m:
        m.setattr(reproduce_module, "train", one_epoch_then_stop)
        assert [j.status for j in reproduce(redo=True, **kw)] == ["in progress"]
    snapshot = checkpoint.snapshot_path(name, tmp_path / "results")
    assert checkpoint.load(snapshot)["epoch"] == 1  # the redo's state, beside the old record
    assert results.read_record(record)["finished_at"] == first["finished_at"]
    # next session, with or without --redo: the redo continues from epoch 1, it is not started again
    seen = []
    with monkeypatch.context() as m:
        m.setattr(reproduce_module, "train", lambda run, **call: seen.append(call) or real_train(run, **call))
        assert [j.status for j in reproduce(**kw)] == ["finished now"]
    assert seen == [{"resume": True, "restart": False, "deadline": None, "log": kw["log"], "before_training": None}]
    assert not snapshot.exists()
    redone = results.read_record(record)
    assert [h["test_loss"] for h in redone["history"]] == [h["test_loss"] for h in first["history"]]
    assert [j.status for j in reproduce(**kw)] == ["done"]


def test_redo_restarts_finished_runs_only_and_continues_one_in_progress(tiny_plan, tmp_path, monkeypatch):
    """`--redo` means "train the finished runs again": a run that has never
    finished keeps its epochs (a restart would delete its snapshot)."""
    from nin_repro.book import reproduce as reproduce_module

    real_train = reproduce_module.train
    with monkeypatch.context() as m:  # t_rep_a finishes, t_rep_b stops after its first epoch
        m.setattr(reproduce_module, "train", lambda run, **call: real_train(
            run, stop_after_epoch=None if run.name.startswith("t_rep_a") else 1, **call))
        assert [j.status for j in reproduce(**tiny_plan)] == ["finished now", "in progress"]
    epoch_one = checkpoint.load(checkpoint.snapshot_path("t_rep_b__seed0__subset512", tmp_path / "results"))
    seen = []
    with monkeypatch.context() as m:
        m.setattr(reproduce_module, "train", lambda run, **call: seen.append(
            (run.name, call["resume"], call["restart"])) or real_train(run, **call))
        assert [j.status for j in reproduce(redo=True, **tiny_plan)] == ["finished now", "finished now"]
    assert seen == [("t_rep_a__seed0__subset512", False, True), ("t_rep_b__seed0__subset512", True, False)]
    redone_b = results.read_record(tmp_path / "results" / "runs" / "t_rep_b__seed0__subset512.json")
    assert redone_b["history"][0] == epoch_one["history"][0]  # its first epoch kept, not trained again


def test_a_malformed_record_stops_reproduce_before_anything_trains(tiny_plan, tmp_path, monkeypatch):
    from nin_repro.book import reproduce as reproduce_module

    runs = tmp_path / "results" / "runs"
    runs.mkdir(parents=True)
    (runs / "cifar10__seed0.json").write_text("{ torn")
    monkeypatch.setattr(reproduce_module, "train", lambda *a, **k: pytest.fail("trained despite a bad record"))
    with pytest.raises(results.RecordError, match="cifar10__seed0.json"):
        reproduce(**tiny_plan)


def test_figure5_is_redrawn_from_the_finished_run_once(tiny_plan, tmp_path):
    from nin_repro.book.figure5 import load_confidence_maps

    reproduce(figure_runs=[("t_rep_none", 0), ("t_rep_a", 0)], **tiny_plan)  # the first with a trained net
    maps = load_confidence_maps(tmp_path / "results")
    assert str(maps["run"]) == "t_rep_a__seed0__subset512" and int(maps["epoch"]) == 2
    before = (tmp_path / "results" / "figures" / "confidence_maps.npz").stat().st_mtime_ns
    reproduce(figure_runs=[("t_rep_a", 0)], **tiny_plan)  # already from that run: left alone
    assert (tmp_path / "results" / "figures" / "confidence_maps.npz").stat().st_mtime_ns == before
    # Another machine: no cache, only the repository. The committed weights draw the maps.
    checkpoint.remove(checkpoint.cache_path("t_rep_a__seed0__subset512", tmp_path / "cache"))
    (tmp_path / "results" / "figures" / "confidence_maps.npz").unlink()
    reproduce(figure_runs=[("t_rep_a", 0)], **tiny_plan)
    maps = load_confidence_maps(tmp_path / "results")
    assert str(maps["run"]) == "t_rep_a__seed0__subset512" and int(maps["stats_n"]) > 0


def test_figure5_follows_a_run_in_progress_until_it_finishes(tiny_plan, tmp_path, monkeypatch):
    from nin_repro import train as train_module
    from nin_repro.book import reproduce as reproduce_module
    from nin_repro.book.figure5 import load_confidence_maps

    clock = frozen_clock()
    with monkeypatch.context() as m:  # stops after epoch 1 of 2 (see the budget test above)
        m.setattr(reproduce_module, "time", clock)
        m.setattr(train_module, "time", clock)
        reproduce(hours=1e-7, figure_runs=[("t_rep_a", 0)], **tiny_plan)
    maps = load_confidence_maps(tmp_path / "results")
    assert (str(maps["run"]), int(maps["epoch"]), int(maps["epochs"])) == ("t_rep_a__seed0__subset512", 1, 2)
    reproduce(figure_runs=[("t_rep_a", 0)], **tiny_plan)  # finishes: redrawn from its last epoch
    assert int(load_confidence_maps(tmp_path / "results")["epoch"]) == 2


@pytest.mark.parametrize("experiment", ["svhn", "svhn_full"])
def test_experiments_without_data_are_reported_not_fatal(tmp_path, experiment):
    jobs = reproduce(jobs=[(experiment, 0)], data_dir=tmp_path, cache_dir=tmp_path, results_dir=tmp_path,
                     log=lambda *_: None)
    assert jobs[0].status == "no data"
    assert jobs[0].note.startswith(f"svhn: no official files for svhn in {tmp_path}: needs the official files")
    # nothing started: no snapshot, no record
    assert not list(tmp_path.rglob("*.pt")) and not (tmp_path / "runs").exists()


def test_the_whole_plan_without_svhn_files_passes_svhn_full_by_with_its_reason(tmp_path):
    """Table 3's full-length run comes after the CIFAR ones and, with no SVHN
    files in the data folder, is skipped with one line, not trained."""
    planned = plan()
    assert planned.index(("svhn_full", 0)) > max(i for i, (n, _) in enumerate(planned)
                                                 if n.endswith("_full") and n.startswith("cifar"))
    lines = []
    jobs = reproduce(jobs=[j for j in planned if j[0].startswith("svhn")], data_dir=tmp_path, cache_dir=tmp_path,
                     results_dir=tmp_path, figure_runs=None, log=lines.append)
    assert [(j.experiment, j.status) for j in jobs] == [("svhn_full", "no data"), ("svhn", "no data")]
    assert all("\n" not in j.note and "--download" in j.note for j in jobs)


def test_plan_covers_every_table_and_rejects_unknown_names():
    names = {n for n, _ in plan()}
    assert {"mnist", "cifar10", "cifar10_aug", "cifar10_fc", "cifar10_fc_dropout", "cifar10_nodropout"} <= names
    assert plan(["cifar10_aug"]) == [("cifar10_aug", 0), ("cifar10_aug", 1)]  # no new budget seed is planned
    with pytest.raises(ValueError, match="unknown experiment"):
        plan(["cifar11"])


def test_the_plan_trains_exactly_the_experiments_the_chapters_show():
    planned = {n for n, _ in plan()}
    shown = {n for chapter in chapters.CHAPTERS.values() for n in chapter.shows()}
    assert planned <= set(experiments.EXPERIMENTS)
    # every row a chapter shows is trained, but a CPU-budget row whose full-length twin the plan trains
    # instead (CIFAR-100's: the book shows it as not planned)
    unplanned = shown - planned
    assert all(f"{n}_full" in planned for n in unplanned), "a chapter shows an experiment `nin-repro reproduce` never trains"
    assert unplanned == {"cifar100"}
    assert planned - shown == set(), "the plan trains an experiment no chapter shows"


def test_the_plan_takes_the_full_length_runs_that_decide_claims_in_order_and_no_new_budget_run():
    from nin_repro import results

    full = [job for job in plan() if job[0].endswith("_full")]
    assert full == [("mnist_full", 0), ("cifar10_aug_full", 0), ("cifar10_full", 0), ("mnist_full", 1),
                    ("mnist_full", 2),  # finished: skipped
                    ("cifar10_nodropout_full", 0), ("cifar10_fc_full", 0), ("cifar100_full", 0),
                    ("cifar10_fc_dropout_full", 0), ("cifar10_full", 1), ("cifar10_aug_full", 1),
                    ("cifar10_full", 2), ("cifar10_aug_full", 2), ("cifar100_full", 1), ("cifar100_full", 2),
                    ("svhn_full", 0)]  # Table 3's: no data here, it waits for someone with the official files
    # each full-length run of the plan comes before every CPU-budget run still to train
    assert max(plan().index(job) for job in full) < min(
        i for i, (name, _) in enumerate(plan()) if not name.endswith("_full") and name != "cifar10")
    # the CPU-budget runs the plan keeps are the committed ones the book shows, and Table 3's (no data here)
    recorded = {(r["experiment"], r["seed"]) for r in results.read_records() if provenance.is_protocol_run(r)}
    budget = [job for job in plan() if not job[0].endswith("_full")]
    assert [job for job in budget if job not in recorded] == [("svhn", 0)]


def test_seeds_pick_exact_jobs_in_the_books_order():
    # --only alone queues every planned seed: asking for one seed must not also start the others
    assert plan(["cifar10_aug"], seeds=[0]) == [("cifar10_aug", 0)]
    assert plan(["cifar10_fc", "cifar10"], seeds=[1, 1]) == [("cifar10_fc", 1), ("cifar10", 1)]  # unplanned seed: asked for
    assert plan(seeds=[2]) == [("mnist_full", 2), ("cifar10", 2), ("cifar10_full", 2), ("cifar10_aug_full", 2),
                               ("cifar100_full", 2), ("mnist", 2)]
    for bad in ([], [-1], ["0"], [0, 2**31]):  # every seed is checked before the first job trains
        with pytest.raises(ValueError, match="seeds must be a non-empty list of integers from 0 to 2147483647"):
            plan(["cifar10"], seeds=bad)


def test_cli_reproduce_seeds_reach_the_plan(monkeypatch, capsys):
    from nin_repro.book import cli
    from nin_repro.book import reproduce as reproduce_module

    # the real plan rejects a bad seed before anything trains: a clear error, not a traceback
    assert cli.main(["reproduce", "--only", "cifar10", "--seeds", "-1"]) == 2
    assert "seeds must be a non-empty list of integers from 0 to" in capsys.readouterr().err
    seen = {}
    monkeypatch.setattr(reproduce_module, "reproduce", lambda **kw: seen.update(kw) or [])
    assert cli.main(["reproduce", "--only", "cifar10_aug", "--seeds", "0", "--hours", "1"]) == 0
    assert seen["only"] == ["cifar10_aug"] and seen["seeds"] == [0] and seen["hours"] == 1.0
    assert seen["status_only"] is False
    assert cli.main(["reproduce", "--status"]) == 0 and seen["status_only"] is True


def test_time_left_uses_the_fastest_recent_epoch_of_the_machine_it_runs_on():
    train = {"epochs": 17, "test_every": 1}
    history = [{"seconds": 100.0, "machine": "cpu (X), AVX512", "test_error": 50.0}]  # before a resume elsewhere
    history += [{"seconds": s, "machine": "cpu (X), AVX2", "test_error": 40.0} for s in (2000.0, 600.0, 1300.0, 900.0)]
    # the last three on AVX2 are 600, 1300, 900 s: an epoch beside another job is slower, never faster
    assert time_left(history, train) == ("12 epochs left, about 2.0 h at 10 min/epoch "
                                         "(the fastest of its last 3 on X, AVX2)")  # named as the book names machines
    older = [{"seconds": 300.0, "test_error": 9.0}, {"seconds": 240.0, "test_error": 8.0}]  # no machine recorded
    assert time_left(older, {"epochs": 32}) == ("30 epochs left, about 2.0 h at 4.0 min/epoch "
                                                "(the fastest of its last 2)")
    fast = [{"seconds": 90.0, "test_error": 9.0}, {"seconds": 95.0, "test_error": 8.0}]  # 1.5 min, not "2"
    assert time_left(fast, {"epochs": 42}) == ("40 epochs left, about 1.0 h at 1.5 min/epoch "
                                               "(the fastest of its last 2)")


def test_time_left_counts_the_tested_and_untested_epochs_to_come_each_at_its_own_pace():
    # 20 epochs, tested every 5th before the drop after epoch 15, then every epoch
    train = {"epochs": 20, "test_every": 5, "lr_drop_epochs": [15]}
    history = [{"epoch": e, "seconds": 660.0 + e + (41 if e % 5 == 0 else 0), "machine": "m",
                "test_error": 20.0 if e % 5 == 0 else None} for e in range(1, 8)]  # epoch 5 tested, 1-4, 6, 7 not
    # to come: 8 and 9 untested, 10 tested, 11-14 untested, 15-20 tested: 6 untested, 7 tested;
    # the fastest recent untested epoch took 664 s (of epochs 4, 6, 7), the only tested one 706 s
    assert time_left(history, train) == (
        f"13 epochs left, about {(6 * 664 + 7 * 706) / 3600:.1f} h: 6 untested at 11.1 min and 7 tested at "
        "11.8 min (the fastest of its last 3 untested and 1 tested on m)")
    # past the drop only tested epochs are left: one pace, theirs
    late = history + [{"epoch": e, "seconds": 700.0, "machine": "m", "test_error": 20.0} for e in range(8, 17)]
    assert time_left(late, train) == "4 epochs left, about 0.8 h at 12 min/epoch (the fastest of its last 3 on m)"


def test_a_run_not_started_is_told_what_its_experiment_cost_before(tmp_path):
    rec = make_record("cifar10", seed=0, train={"precision": "fp32"})
    rec["wall_seconds"] = 3 * 3600.0
    results.write_record(rec, tmp_path)
    shorter = make_record("cifar10", seed=1, overrides={"epochs": 1})  # not the protocol: not a guide
    results.write_record(shorter, tmp_path)
    assert provenance.earlier_runs("cifar10", tmp_path) == "seed 0 took 3.0 h on cpu (test), AVX2, fp32"
    assert provenance.earlier_runs("cifar10_aug", tmp_path) == ""
    jobs = reproduce(jobs=[("cifar10", 2), ("svhn_full", 0), ("svhn", 0)], status_only=True, data_dir=tmp_path,
                     cache_dir=tmp_path, results_dir=tmp_path, log=lambda *_: None)
    assert [(j.status, j.note) for j in jobs] == [
        ("left", "seed 0 took 3.0 h on test, AVX2, fp32")] + [
        ("left", "needs the official files in the data directory (or, with internet, "
                 f"`nin-repro train --experiment {name} --download` fetches them)") for name in ("svhn_full", "svhn")]


def test_a_fresh_run_starts_only_if_an_epoch_of_its_kind_fits_the_budget(tiny_plan, tmp_path, monkeypatch):
    import torch

    from nin_repro import train as train_module
    from nin_repro.book import reproduce as reproduce_module
    from nin_repro.device import machine_name, resolve_precision

    cpu = torch.device("cpu")
    here = machine_name(cpu)
    rec = make_record("t_rep_a", seed=1, overrides={"subset": 512}, dataset="mnist",
                      train={"precision": resolve_precision(experiments.EXPERIMENTS["t_rep_b"].train.precision, cpu)})
    rec["history"][-1].update(seconds=3600.0, machine=here,
                              precision=resolve_precision(experiments.EXPERIMENTS["t_rep_b"].train.precision, cpu))  # an hour an epoch, here: over a 0.5 h budget
    results.write_record(rec, tmp_path / "results")
    clock = frozen_clock()
    monkeypatch.setattr(reproduce_module, "time", clock)
    monkeypatch.setattr(train_module, "time", clock)
    jobs = reproduce(hours=0.5, **{**tiny_plan, "jobs": [("t_rep_b", 0)]})
    assert [j.status for j in jobs] == ["left"] and not list((tmp_path / "cache").rglob("*.pt"))
    # The same epoch on another machine (or for a full-size run) says nothing of this one: it starts.
    rec["history"][-1]["machine"] = here + " elsewhere"
    results.write_record(rec, tmp_path / "results")
    jobs = reproduce(hours=0.5, **{**tiny_plan, "jobs": [("t_rep_b", 0)]})
    assert [j.status for j in jobs] == ["finished now"]


def test_the_forecast_of_a_run_tested_every_5th_epoch_counts_its_slower_tested_epoch():
    from nin_repro.book.reproduce import next_epoch_seconds, pace_class

    row = {"machine": "cpu (X)", "precision": "fp32"}
    seconds = [700.0, 660.0, 661.0, 662.0, 663.0, 664.0]  # epochs 4-9; the slow epoch 4 is not among the last 5
    state = {"config": {"dataset": "cifar10", "overrides": {}, "train": {"test_every": 5}},
             "history": [{**row, "epoch": 4 + i, "seconds": s} for i, s in enumerate(seconds)]}
    kind = (pace_class("cifar10"), None, "cpu (X)", "fp32")
    assert next_epoch_seconds(kind, state, [], []) == (664.0, "its last epoch")
    state["history"][-3]["seconds"] = 705.0  # epoch 7, a tested one, among the last five
    assert next_epoch_seconds(kind, state, [], []) == (705.0, "its last epoch")
    state["history"][-3]["machine"] = "cpu (Y)"  # an epoch on another machine says nothing of this one's pace
    assert next_epoch_seconds(kind, state, [], []) == (664.0, "its last epoch")
    state["config"]["train"]["test_every"] = 1  # tested every epoch: the last epoch is the pace
    state["history"][-3]["machine"] = "cpu (X)"
    assert next_epoch_seconds(kind, state, [], []) == (664.0, "its last epoch")


def test_a_cifar100_run_is_judged_by_a_cifar10_epoch_here_before_it_starts():
    """Same images' shape and count, so the same pace: a CIFAR-100 run that
    has not trained here yet does not start in the budget's last minutes."""
    from nin_repro.book.reproduce import _pace_entry, next_epoch_seconds, pace_class

    assert pace_class("cifar100") == pace_class("cifar10") != pace_class("mnist")
    history = [{"epoch": 1, "seconds": 1050.0, "machine": "cpu (X)", "precision": "fp32"}]
    ran = {"config": {"dataset": "cifar10", "overrides": {}, "train": {"test_every": 1}}, "history": history}
    paces = [_pace_entry(ran, "cifar10_full__seed0")]
    kind = (pace_class("cifar100"), None, "cpu (X)", "fp32")
    assert next_epoch_seconds(kind, None, paces, []) == (1050.0, "the last epoch of cifar10_full__seed0")
    assert next_epoch_seconds((pace_class("mnist"), None, "cpu (X)", "fp32"), None, paces, []) is None


def test_a_run_not_started_is_timed_by_its_own_test_cadence_at_the_other_runs_pace():
    """Another run of its kind gives the pace of each kind of epoch (tested
    or not); which of the new run's epochs test is its own schedule's."""
    from nin_repro.book.reproduce import _pace_entry, hours_here, pace_class

    row = {"machine": "cpu (X)", "precision": "fp32"}
    # the run timed by: tested every epoch at 900 s, and untested ones (an earlier stretch) at 600 s
    history = [{**row, "epoch": e, "seconds": 600.0, "test_error": None} for e in range(1, 4)] + [
        {**row, "epoch": e, "seconds": 900.0, "test_error": 20.0} for e in range(4, 7)]
    ran = {"config": {"dataset": "cifar10", "overrides": {}, "train": {"test_every": 1}}, "history": history}
    kind = (pace_class("cifar100"), None, "cpu (X)", "fp32")
    train = experiments.get("cifar100_full").train.to_dict()  # 260 epochs: 100 of them test (every 5th, then all)
    hours, note = hours_here(kind, None, train, [_pace_entry(ran, "cifar10_full__seed0")], [])
    assert hours == (100 * 900 + 160 * 600) / 3600
    assert note == "about 51.7 h here at 12 min/epoch (the recent pace of cifar10_full__seed0)"
    # a run 60 epochs in (its last epoch on another machine) has the 200 after those left, 88 of them tested
    state = {"epoch": 60, "config": {"dataset": "cifar100", "train": train},
             "history": [{"epoch": 60, "seconds": 60.0, "machine": "cpu (Y)", "precision": "fp32"}]}
    assert hours_here(kind, state, train, [_pace_entry(ran, "cifar10_full__seed0")], [])[0] == \
        (88 * 900 + 112 * 600) / 3600


def test_epochs_equal_to_the_experiments_own_find_the_run_train_would_write(tmp_path):
    # train() names a run without `epochs` when they are the experiment's own;
    # reproduce must look for that name, or it trains a finished run again.
    results.write_record(make_record("cifar10", seed=0), tmp_path)
    own = experiments.get("cifar10").train.epochs
    same = reproduce(jobs=[("cifar10", 0)], epochs=own, status_only=True, data_dir=tmp_path, cache_dir=tmp_path,
                     results_dir=tmp_path, log=lambda *_: None)
    other = reproduce(jobs=[("cifar10", 0)], epochs=own + 1, status_only=True, data_dir=tmp_path,
                      cache_dir=tmp_path, results_dir=tmp_path, log=lambda *_: None)
    assert [j.status for j in same] == ["done"] and [j.status for j in other] == ["left"]


def training_that_starts(seen, error):
    """A stand-in for `train` that passes its checks and starts: it calls
    `before_training` (where `reproduce` supersedes an earlier protocol's
    record) and returns a record of `error`."""
    def train(run, **call):
        seen.append((run.name, call["resume"], call["restart"]))
        if call.get("before_training"):
            call["before_training"]()
        return make_record(run.experiment.name, seed=run.seed, error=error)
    return train


def test_a_record_of_an_earlier_protocol_is_trained_again_and_counted_in_no_table(tiny_plan, tmp_path, monkeypatch):
    """A protocol changed after a run finished (mnist_full's warm-up, 1 -> 5
    epochs): the run no longer counts, and `reproduce` trains it again from
    the start; under the protocol as it stands it is done."""
    from nin_repro.book import reproduce as reproduce_module

    exp = experiments.EXPERIMENTS["t_rep_a"]
    old = {**exp.train.to_dict(), "warmup_epochs": exp.train.warmup_epochs + 1}
    rec = make_record("t_rep_a", seed=0, error=1.0, train=old, model=exp.model.to_dict())
    rec["wall_seconds"] = 2 * 3600.0  # its hours stand apart from the new run's minute in the cost table
    results.write_record(rec, tmp_path / "results")
    assert provenance.protocol_changes(rec) == [
        f"warmup_epochs: {exp.train.warmup_epochs + 1} -> {exp.train.warmup_epochs}"]
    assert comparison.summarize(results.read_records(tmp_path / "results"), ["t_rep_a"])[0]["n"] == 0
    seen = []
    monkeypatch.setattr(reproduce_module, "train", training_that_starts(seen, error=0.9))
    weights = checkpoint.weights_path("t_rep_a__seed0", tmp_path / "results")
    checkpoint.save(weights, {"run": "t_rep_a__seed0", "model": {}})
    old_weights = weights.read_bytes()
    kw = {**tiny_plan, "subset": None, "jobs": [("t_rep_a", 0)]}
    assert [j.status for j in reproduce(**kw)] == ["finished now"]
    assert seen == [("t_rep_a__seed0", False, True)]
    # the earlier run is kept, with its weights, out of the way of the new record: nothing is lost
    superseded = progress.superseded(tmp_path / "results")
    assert [r["config"]["train"]["warmup_epochs"] for r in superseded] == [old["warmup_epochs"]]
    assert superseded[0]["superseded_because"] == "trained again under the protocol as it stands"
    kept = tmp_path / "results" / "superseded" / "t_rep_a__seed0__abc.pt"  # named after the record's commit
    assert kept.read_bytes() == old_weights and checkpoint.load(kept)["run"] == "t_rep_a__seed0"
    assert not weights.exists() and not results.record_path("t_rep_a__seed0", tmp_path / "results").exists()
    # its cost counts (the stand-in above writes no record of the run trained again), outside the tables
    total = cost.compute_table(tmp_path / "results").set_index("machine and precision").loc["total"]
    assert total["runs"] == 1 and total["machine-hours"] == total[cost.OUTSIDE] == "2.0"
    # the run records appendix keeps its row, marked
    assert list(tables.run_records_table(tmp_path / "results")["run"]) == ["t_rep_a, seed 0 (superseded)"]
    assert tables.superseded_lines(tmp_path / "results") == (
        f"- `t_rep_a` seed 0: warmup_epochs: {old['warmup_epochs']} -> {exp.train.warmup_epochs}; "
        "trained again under the protocol as it stands")
    rec["config"]["train"] = exp.train.to_dict()
    results.write_record(rec, tmp_path / "results")
    seen.clear()
    assert [j.status for j in reproduce(**kw)] == ["done"] and seen == []


def test_a_redo_of_an_earlier_protocols_run_under_way_resumes_and_keeps_the_old_record(tiny_plan, tmp_path,
                                                                                        monkeypatch):
    from nin_repro.book import reproduce as reproduce_module
    from test_progress import snapshot

    exp = experiments.EXPERIMENTS["t_rep_a"]
    old = {**exp.train.to_dict(), "warmup_epochs": exp.train.warmup_epochs + 1}
    results.write_record(make_record("t_rep_a", seed=0, error=1.0, train=old, model=exp.model.to_dict()),
                         tmp_path / "results")
    snapshot(tmp_path / "results", "t_rep_a", 0, [50.0])  # the new protocol's training, one epoch in
    seen = []
    monkeypatch.setattr(reproduce_module, "train", training_that_starts(seen, error=0.9))
    reproduce(**{**tiny_plan, "subset": None, "jobs": [("t_rep_a", 0)]})
    assert seen == [("t_rep_a__seed0", True, False)]  # resumed, not started again
    assert [r["test_error"] for r in progress.superseded(tmp_path / "results")] == [1.0]


def test_the_status_times_what_is_left_here_by_the_pace_of_a_run_of_its_kind_trained_here(tmp_path, monkeypatch):
    """A run in progress here is timed by its own recent epochs; a run not
    started, by the last epoch of the run of its kind (same images, machine
    and precision) before it; the report sums them, and says how many runs
    it could not time."""
    from nin_repro.book import reproduce as reproduce_module
    from nin_repro.device import machine_name, resolve_device, resolve_precision

    dev = resolve_device("cpu")
    here = {"machine": machine_name(dev),
            "precision": resolve_precision(experiments.get("cifar10_full").train.precision, dev)}
    train = experiments.get("cifar10_full").train.to_dict() | {"epochs": 10, "test_every": 1}
    state = {"epoch": 4, "wall_seconds": 4 * 1800.0,
             "config": {"dataset": "cifar10", "overrides": {}, "train": train},
             "history": [{"epoch": e, "seconds": 1800.0, "test_error": 50.0, **here} for e in range(1, 5)]}
    monkeypatch.setattr(reproduce_module, "_newest_or_none",
                        lambda name, *_: (state, "") if name.startswith("cifar10_nodropout_full") else (None, ""))
    jobs = reproduce(jobs=[("cifar10_nodropout_full", 0), ("cifar100_full", 0), ("mnist_full", 0), ("svhn_full", 0)],
                     status_only=True, data_dir=tmp_path, cache_dir=tmp_path, results_dir=tmp_path,
                     log=lambda *_: None)
    epochs = experiments.get("cifar100_full").train.epochs
    assert [j.hours for j in jobs] == [3.0, epochs * 0.5, None, None]  # 6 epochs left at 30 min; no MNIST pace here
    assert jobs[1].note == (f"about {epochs * 0.5:.1f} h here at 30 min/epoch "
                            "(the recent pace of cifar10_nodropout_full__seed0)")
    assert reproduce_module.status_report(jobs).splitlines()[-2] == (
        f"about {3 + epochs * 0.5:.0f} h of training left on this machine for 2 of the 4 runs not done (the others "
        "lack their data, or an epoch of their kind trained here to time them by)")
    # a last epoch slowed by a job beside it (a test suite) moves neither forecast: both take the recent pace
    state["history"][-1]["seconds"] = 2700.0
    slowed = reproduce(jobs=[("cifar10_nodropout_full", 0), ("cifar100_full", 0)], status_only=True,
                       data_dir=tmp_path, cache_dir=tmp_path, results_dir=tmp_path, log=lambda *_: None)
    assert [j.hours for j in slowed] == [3.0, epochs * 0.5]
    state["history"][-1]["machine"] = "cpu (elsewhere)"  # its last epoch ran on another machine: not timed here
    assert reproduce(jobs=[("cifar10_nodropout_full", 0)], status_only=True, data_dir=tmp_path, cache_dir=tmp_path,
                     results_dir=tmp_path, log=lambda *_: None)[0].hours is None


def test_a_run_that_stalls_is_given_up_the_plan_goes_on_and_it_trains_again_once_its_recipe_changes(
        tiny_plan, tmp_path, monkeypatch):
    """A stall (or a divergence) gives the run up (results/stalls/) and the
    next run of the plan trains; later calls pass over it, training nothing
    of it, until its recipe changes: then it starts again from scratch, not
    from the failed attempt's state, and the attempt stays on file."""
    from dataclasses import replace

    stuck = tiny("t_rep_a", epochs=2, lr=1e-9, warmup_epochs=0.0, batch_size=32)
    monkeypatch.setitem(experiments.EXPERIMENTS, "t_rep_a", replace(stuck, model=replace(stuck.model, init="caffe")))
    kw = {**tiny_plan, "subset": 2048, "figure_runs": None}  # 64 steps an epoch: enough to judge a stall
    name, said = "t_rep_a__seed0__subset2048", []
    first = reproduce(**{**kw, "log": said.append})
    assert [j.status for j in first] == ["given up", "finished now"]
    assert first[0].note.startswith("stalled at chance level: training loss 2.30")
    assert any(line.startswith(f"nin-repro: [{name}] stalled at chance level") for line in said)
    [attempt] = results.given_up(tmp_path / "results")
    assert attempt["run"] == name and not checkpoint.snapshot_path(name, tmp_path / "results").exists()
    cached = checkpoint.cache_path(name, tmp_path / "cache")
    stamp = cached.stat().st_mtime_ns
    again = reproduce(**kw)
    assert [j.status for j in again] == ["given up", "done"]
    assert again[0].note.startswith("stalled at chance level") and "change its recipe" in again[0].note
    assert cached.stat().st_mtime_ns == stamp and len(results.given_up(tmp_path / "results")) == 1
    monkeypatch.setitem(experiments.EXPERIMENTS, "t_rep_a", tiny("t_rep_a", epochs=2, batch_size=32))
    fixed = reproduce(**kw)
    assert [j.status for j in fixed] == ["finished now", "done"]
    record = results.read_record(results.record_path(name, tmp_path / "results"))
    assert len(record["history"]) == 2 and record["history"][0] != attempt["history"][0]  # from scratch
    assert results.given_up(tmp_path / "results") == [attempt]
