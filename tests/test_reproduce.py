import pytest

from nin_repro import experiments
from nin_repro.reproduce import plan, reproduce
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
    from nin_repro import reproduce as reproduce_module, train as train_module

    status = lambda jobs: [j.status for j in jobs]  # noqa: E731
    assert status(reproduce(hours=0, **tiny_plan)) == ["left", "left"]  # no budget: nothing starts
    # A frozen wall clock (a loaded machine cannot make the budget pass before
    # the first epoch starts); each run's first epoch is longer than the
    # 0.36 ms budget, so each stops after it, checkpointed.
    clock = frozen_clock()
    with monkeypatch.context() as m:
        m.setattr(reproduce_module, "time", clock)
        m.setattr(train_module, "time", clock)
        first = reproduce(hours=1e-7, **tiny_plan)
    assert status(first) == ["in progress", "in progress"]
    assert first[0].note.startswith("checkpoint after epoch 1/2: test error ")  # how far it got
    assert not (tmp_path / "results" / "runs").exists()
    second = reproduce(**tiny_plan)
    assert status(second) == ["finished now", "finished now"]
    assert len(list((tmp_path / "results" / "runs").glob("t_rep_*.json"))) == 2
    third = reproduce(**tiny_plan)
    assert status(third) == ["done", "done"]


def test_figure5_is_redrawn_from_the_finished_run_once(tiny_plan, tmp_path):
    from nin_repro.figures import load_confidence_maps

    reproduce(figure_run=("t_rep_a", 0), **tiny_plan)
    maps = load_confidence_maps(tmp_path / "results")
    assert str(maps["run"]) == "t_rep_a__seed0__subset512" and int(maps["epoch"]) == 2
    before = (tmp_path / "results" / "figures" / "confidence_maps.npz").stat().st_mtime_ns
    reproduce(figure_run=("t_rep_a", 0), **tiny_plan)  # already from that run: left alone
    assert (tmp_path / "results" / "figures" / "confidence_maps.npz").stat().st_mtime_ns == before


def test_experiments_without_data_are_reported_not_fatal(tmp_path):
    jobs = reproduce(jobs=[("cifar100", 0)], data_dir=tmp_path, cache_dir=tmp_path, results_dir=tmp_path,
                     log=lambda *_: None)
    assert jobs[0].status == "no data" and "cifar100" in jobs[0].note


def test_plan_covers_every_table_and_rejects_unknown_names():
    names = {n for n, _ in plan()}
    assert {"mnist", "cifar10", "cifar10_aug", "cifar10_fc", "cifar10_fc_dropout", "cifar10_nodropout"} <= names
    assert plan(["cifar10_aug"]) == [("cifar10_aug", 0), ("cifar10_aug", 1), ("cifar10_aug", 2)]
    with pytest.raises(ValueError, match="unknown experiment"):
        plan(["cifar11"])


def test_seeds_pick_exact_jobs_in_the_books_order():
    # --only alone queues every planned seed: asking for one seed must not also start the others
    assert plan(["cifar10_aug"], seeds=[0]) == [("cifar10_aug", 0)]
    assert plan(["cifar10_fc", "cifar10"], seeds=[1, 1]) == [("cifar10_fc", 1), ("cifar10", 1)]  # unplanned seed: asked for
    assert plan(seeds=[2]) == [("mnist", 2), ("cifar10", 2), ("cifar10_aug", 2)]
    for bad in ([], [-1], ["0"]):
        with pytest.raises(ValueError, match="seeds must be one or more integers >= 0"):
            plan(["cifar10"], seeds=bad)


def test_cli_reproduce_seeds_reach_the_plan(monkeypatch, capsys):
    from nin_repro import cli, reproduce as reproduce_module

    # the real plan rejects a bad seed before anything trains: a clear error, not a traceback
    assert cli.main(["reproduce", "--only", "cifar10", "--seeds", "-1"]) == 2
    assert "seeds must be one or more integers >= 0" in capsys.readouterr().err
    seen = {}
    monkeypatch.setattr(reproduce_module, "reproduce", lambda **kw: seen.update(kw) or [])
    assert cli.main(["reproduce", "--only", "cifar10_aug", "--seeds", "0", "--hours", "1"]) == 0
    assert seen["only"] == ["cifar10_aug"] and seen["seeds"] == [0] and seen["hours"] == 1.0
