"""Bad inputs a new user meets, each answered with one line naming the file
and the remedy (exit 2, no traceback), and nothing trained or lost: the
defects of a round of 161 probes, one test (or one row of a table) each,
numbered as the probes' report groups them (1: compute lost ... 8: seeds)."""

import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nin_repro import checkpoint, data, experiments, results
from nin_repro.book import provenance
from nin_repro.book.cli import main  # the `nin-repro` script: the library's commands and the book's
from test_data import _edit_decoded, _pack
from test_results import make_record
from tiny import tiny

REPO = Path(__file__).resolve().parent.parent


def one_line(capsys) -> str:
    """What a user sees of an error: one line, no traceback."""
    err = capsys.readouterr().err.strip()
    assert err.startswith("nin-repro: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture
def cli_run(data_dir, cache_dir, tmp_path, monkeypatch):
    """`train(name, *args)`: `nin-repro train` of a tiny MNIST experiment
    (registered under `name`, on 256 images) with its checkpoints in
    tmp_path/cache (sharing the session's decoded MNIST) and its records in
    tmp_path/results unless `--results-dir` is among `args`."""
    data.load_packed("mnist", data_dir, cache_dir)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "decoded").symlink_to(cache_dir / "decoded", target_is_directory=True)

    def train(name, *args, epochs=1):
        monkeypatch.setitem(experiments.EXPERIMENTS, name, tiny(name, epochs=epochs))
        where = [] if "--results-dir" in args else ["--results-dir", str(tmp_path / "results")]
        return main(["train", "-e", name, "--subset", "256", "--no-progress", "--data-dir", str(data_dir),
                     "--cache-dir", str(cache), *where, *args])

    train.cache = cache
    return train


def no_training(monkeypatch):
    import nin_repro.train as train_module

    monkeypatch.setattr(train_module, "train_epoch", lambda *a, **k: pytest.fail("an epoch was trained"))


def write_raw_record(folder, record, name="mnist__seed0"):
    path = Path(folder) / "runs" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


# 1. Compute lost: a finished checkpoint without its record or weights.

def test_1_a_finished_run_whose_record_went_to_another_folder_is_completed_not_trained_again(
        cli_run, tmp_path, monkeypatch, capsys):
    assert cli_run("t_elsewhere", "--results-dir", str(tmp_path / "a")) == 0
    ckpt = checkpoint.cache_path("t_elsewhere__seed0__subset256", cli_run.cache)
    before = ckpt.read_bytes()
    capsys.readouterr()
    no_training(monkeypatch)
    assert cli_run("t_elsewhere", "--results-dir", str(tmp_path / "b")) == 0
    assert "writing its record and weights from it, training nothing" in capsys.readouterr().out
    a, b = (results.read_record(results.record_path("t_elsewhere__seed0__subset256", tmp_path / x)) for x in "ab")
    assert b["history"] == a["history"] and b["data_source"] == a["data_source"]
    assert checkpoint.weights_path("t_elsewhere__seed0__subset256", tmp_path / "b").exists()
    assert ckpt.read_bytes() == before  # never overwritten


def test_1_a_full_disk_at_the_record_keeps_the_last_epoch_and_a_plain_rerun_writes_it(
        cli_run, tmp_path, monkeypatch, capsys):
    from nin_repro import atomic

    def full_disk(path, text):  # the record's temporary file cannot be written
        with atomic.atomic_path(path) as tmp:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    name = "t_fullrec__seed0__subset256"
    record = results.record_path(name, tmp_path / "results")
    with monkeypatch.context() as m:
        m.setattr(results, "atomic_write_text", full_disk)
        assert cli_run("t_fullrec") == 2
    snapshot = checkpoint.snapshot_path(name, tmp_path / "results")
    assert one_line(capsys) == (f"nin-repro: error: no space left on device writing {record}; the last epoch is "
                                f"kept in {snapshot}; free some space, then rerun: its record and weights are "
                                "written from it")
    kept = checkpoint.load(snapshot)
    no_training(monkeypatch)
    assert cli_run("t_fullrec") == 0  # no --resume needed: nothing to train, only to write
    assert results.read_record(record)["history"] == kept["history"]
    assert not snapshot.exists()  # finished: its record replaces it


# 2. Silent wrong result: the decoded-data cache trusted once its shapes pass.

@pytest.mark.parametrize("change", [
    lambda a: a.update(train_images=np.zeros_like(a["train_images"])),      # images zeroed
    lambda a: a.update(test_images=a["test_images"].astype(np.float32)),    # stored as floats
    lambda a: a.update(train_labels=a["train_labels"].astype(np.int32)),    # labels of another dtype
    lambda a: a.pop(data.CACHE_SUM),                                        # a cache from before the checksum
], ids=["zeroed", "float", "int32-labels", "no-checksum"])
def test_2_a_changed_decoded_cache_is_decoded_again_not_trained_on(small_mnist, tmp_path, change):
    _pack(tmp_path / "mnist.npz", 20, 10)
    first = data.load_packed("mnist", tmp_path, tmp_path / "cache")
    assert first.train_images.any()
    cached = _edit_decoded(tmp_path / "cache", change)
    again = data.load_packed("mnist", tmp_path, tmp_path / "cache")
    for key in ("train_images", "train_labels", "test_images", "test_labels"):
        got, want = getattr(again, key), getattr(first, key)
        assert got.dtype == want.dtype and np.array_equal(got, want), key
    assert again.source == first.source and "mnist.npz" in again.source
    assert data._read_cache(cached, data.spec("mnist")) is not None  # written anew, and it verifies


# 3 and 6: bench refuses what it cannot measure, before measuring.

@pytest.mark.parametrize("args, message", [
    (["--only", "basline"], "no configuration's name contains any of ['basline']"),
    (["--steps", "-1"], "--steps must be a positive number, got -1"),
    (["--steps", "0"], "--steps must be a positive number, got 0"),
    (["--levers", "--rounds", "0"], "--rounds must be a positive number, got 0"),
    (["--levers", "--only", "nosuch"], "no lever matches ['nosuch']"),
])
def test_3_6_bench_refuses_a_bad_option_before_measuring_and_writes_no_record(tmp_path, capsys, monkeypatch,
                                                                             args, message):
    from nin_repro import bench

    monkeypatch.setattr(bench, "_bench_inputs", lambda *a, **k: pytest.fail("measured"))
    assert main(["bench", *args, "--results-dir", str(tmp_path)]) == 2
    assert message in one_line(capsys)
    assert not (tmp_path / "bench").exists()
    if "--steps" in args:
        with pytest.raises(ValueError, match="need at least 1 timed step"):
            bench.run_bench(steps=int(args[1]), results_dir=tmp_path, log=lambda *_: None)


# 4, 6 and 7: records validated by type, once, where they are read; one line naming the file and field.

BAD_RECORDS = [
    ("4-epochs-string", lambda r: r["config"]["train"].update(epochs="15"),
     'config.train.epochs is "15" (str), expected int'),
    ("4-bool-epochs", lambda r: r["config"]["train"].update(epochs=True), "config.train.epochs is true (bool)"),
    ("4-warmup-string", lambda r: r["config"]["train"].update(warmup_epochs="1"),
     'config.train.warmup_epochs is "1" (str), expected int or float'),
    ("4-milestone-strings", lambda r: r["config"]["train"].update(lr_drop_fractions=["0.6"]),
     "config.train.lr_drop_fractions is"),
    ("6-model-block", lambda r: r["config"]["model"].update(block1=5), "config.model.block1 is 5 (int), expected a list of numbers"),
    ("6-data-source", lambda r: r.update(data_source=5), "field 'data_source' has type int, expected str"),
    ("6-finished-at", lambda r: r.update(finished_at=20240101), "field 'finished_at' has type int, expected str"),
    ("6-machine", lambda r: r["history"][0].update(machine=["x"]), "history[0]: 'machine' has type list"),
    ("6-eval-speed", lambda r: r["history"][0].update(eval_images_per_second="fast"),
     "history[0]: 'eval_images_per_second' has type str"),
    ("7-unknown-precision", lambda r: r["history"][0].update(precision="fp64"),
     "history[0]: 'precision' is 'fp64', not one of bf16, fp32"),
    ("7-unknown-train-precision", lambda r: r["config"]["train"].update(precision="fp16"),
     "config.train.precision is 'fp16', not one of auto, bf16, fp32"),
]


def mnist_record(**changes):
    rec = make_record(train=experiments.EXPERIMENTS["mnist"].train.to_dict(),
                      model=experiments.EXPERIMENTS["mnist"].model.to_dict())
    rec["history"][0]["precision"] = "fp32"  # what "auto" trained in
    rec["config"].update(changes)
    return rec


@pytest.mark.parametrize("command", [["table"], ["reproduce", "--status"], ["render"], ["evaluate", "mnist"]])
@pytest.mark.parametrize("defect, mutate, message", BAD_RECORDS, ids=[b[0] for b in BAD_RECORDS])
def test_4_6_7_a_wrongly_typed_record_is_one_line_naming_it_and_its_field(tmp_path, capsys, monkeypatch,
                                                                         command, defect, mutate, message):
    import nbclient

    from nin_repro.book import reproduce

    monkeypatch.setattr(nbclient, "NotebookClient", lambda *a, **k: pytest.fail("ran a notebook"))
    monkeypatch.setattr(reproduce, "supersede", lambda *a, **k: pytest.fail("moved a record to superseded/"))
    rec = mnist_record()
    mutate(rec)
    path = write_raw_record(tmp_path, rec)
    assert main([*command, "--results-dir", str(tmp_path)]) == 2
    assert f"{path}: {message}" in one_line(capsys)


def test_4_a_weights_file_in_a_snapshots_place_is_one_line_not_a_keyerror(tmp_path, cli_run, capsys):
    """A weights file (or any checksummed dict) copied to results/checkpoints/:
    its checksum matches, but it holds no epoch, history or configuration,
    which resuming it and the book's progress tables read."""
    from nin_repro.book import progress
    from nin_repro.model import NiN

    name = "t_weights_in_place__seed0__subset256"
    snapshot = checkpoint.snapshot_path(name, tmp_path / "results")
    checkpoint.save_weights(snapshot, NiN(tiny("t_weights_in_place").model).state_dict(), name)
    for read in (lambda: checkpoint.newest(name, tmp_path / "cache", tmp_path / "results"),
                 lambda: progress.in_progress(tmp_path / "results")):
        with pytest.raises(checkpoint.CheckpointError, match=rf"{name}\.pt matches its checksum but is no training "
                                                             r"checkpoint \(its config, epoch, history, wall_seconds"):
            read()
    capsys.readouterr()
    assert cli_run("t_weights_in_place", "--resume") == 2
    assert "is no training checkpoint" in one_line(capsys)


def test_4_a_well_typed_record_of_the_protocol_is_no_earlier_protocol(tmp_path):
    """The other side of the epochs-as-a-string row: the same record with an
    int is the protocol's run, counted by the table."""
    write_raw_record(tmp_path, mnist_record())
    [rec] = results.read_records(tmp_path)
    assert provenance.protocol_changes(rec) == [] and provenance.is_protocol_run(rec)


# 5. figure5 with a mistyped --results-dir.

@pytest.mark.parametrize("run", [[], ["cifar10__seed0"]])
def test_5_figure5_names_a_mistyped_results_dir(tmp_path, capsys, run):
    missing = tmp_path / "reslts"
    assert main(["figure5", *run, "--results-dir", str(missing), "--cache-dir", str(tmp_path)]) == 2
    assert f"results folder {missing} does not exist" in one_line(capsys)


# 6. evaluate with a config.model that describes no net, or another net than the weights'.

@pytest.mark.parametrize("model, message", [
    ({}, "does not fit the net that config.model of"),
    ({"nonsense": 1}, "config.model describes no net of this study"),
    ({"head": "nosuch"}, "config.model describes no net of this study"),
])
def test_6_evaluate_with_a_model_config_that_does_not_fit_is_one_line(tmp_path, capsys, model, message):
    from nin_repro.model import NiN

    good = experiments.EXPERIMENTS["mnist"].model
    checkpoint.save_weights(checkpoint.weights_path("mnist__seed0", tmp_path), NiN(good).state_dict(),
                            "mnist__seed0")
    path = write_raw_record(tmp_path, mnist_record(model=model))
    assert main(["evaluate", "mnist", "--results-dir", str(tmp_path)]) == 2
    err = one_line(capsys)
    assert message in err and str(path) in err and "train the run again with --restart" in err


# 7. Messages that help: a full disk, a checkpoint that cannot be loaded, committed weights, a snapshot
# outside the repository, a results path that is a file.

def test_7_a_full_disk_during_an_epoch_names_the_file_and_where_the_last_epoch_is(cli_run, tmp_path, monkeypatch,
                                                                                capsys):
    real_open = open
    saves = []

    def filling_open(file, mode="r", *args, **kw):  # the second epoch's checkpoint finds the disk full
        if "w" in mode and str(file).endswith(".tmp") and ".sha256." not in str(file):
            saves.append(file)
            if len(saves) == 2:
                raise OSError(errno.ENOSPC, "No space left on device", str(file))
        return real_open(file, mode, *args, **kw)

    monkeypatch.setattr(checkpoint, "open", filling_open, raising=False)
    assert cli_run("t_fulldisk", epochs=2) == 2
    name = "t_fulldisk__seed0__subset256"
    ckpt, snapshot = checkpoint.cache_path(name, cli_run.cache), checkpoint.snapshot_path(name, tmp_path / "results")
    err = one_line(capsys)
    assert err == (f"nin-repro: error: no space left on device writing {ckpt}; the last epoch is kept in "
                   f"{snapshot}; free some space, then rerun with --resume")
    assert checkpoint.load(ckpt)["epoch"] == checkpoint.load(snapshot)["epoch"] == 1  # nothing torn, nothing lost


def test_7_a_real_full_disk_is_said_of_the_file_being_written(tmp_path):
    """On a 64 KiB tmpfs (in a user and mount namespace, where the machine
    allows one): torch's own writer would say "unexpected pos"."""
    mount = tmp_path / "small"
    mount.mkdir()
    code = (f"from nin_repro import checkpoint; import torch; "
            f"checkpoint.save(__import__('pathlib').Path({str(mount / 'run.pt')!r}), {{'w': torch.zeros(100_000)}})")
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no user namespaces here to mount a small tmpfs in")
    out = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {mount} && "
                          f"{sys.executable} -c \"{code}\""],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert out.returncode != 0
    assert f"DiskFullError: no space left on device writing {mount / 'run.pt'}" in out.stderr
    assert "unexpected pos" not in out.stderr


class Crafted:
    """A pickle that would run code: never loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def crafted_file(path, marker):
    """A checkpoint-like file holding `Crafted`, with a matching checksum."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 1, "x": Crafted(marker)}, path)
    path.with_name(path.name + ".sha256").write_text(f"{checkpoint.sha256(path)}  {path.name}\n")


def test_7_a_checkpoint_that_cannot_be_loaded_is_one_line_without_torchs_advice(cli_run, tmp_path, capsys):
    snapshot = checkpoint.snapshot_path("t_crafted__seed0__subset256", tmp_path / "results")
    crafted_file(snapshot, tmp_path / "ran")
    assert cli_run("t_crafted", "--resume") == 2
    err = one_line(capsys)
    assert f"{snapshot} matches its checksum but is not a checkpoint this study can load" in err
    assert "weights_only" not in err and not (tmp_path / "ran").exists()
    assert "outside the repository" in err  # 7: and its remedy is not itself


def test_7_a_corrupt_snapshot_outside_the_repository_is_not_told_to_resume_from_itself(cli_run, tmp_path, capsys):
    assert cli_run("t_outside") == 0
    name = "t_outside__seed0__subset256"
    results_dir, cache = tmp_path / "results", cli_run.cache
    snapshot = checkpoint.snapshot_path(name, results_dir)
    checkpoint.copy(checkpoint.cache_path(name, cache), snapshot)
    checkpoint.remove(checkpoint.cache_path(name, cache))  # a fresh machine: the snapshot is all there is
    snapshot.write_bytes(snapshot.read_bytes()[:-5])
    capsys.readouterr()
    assert cli_run("t_outside", "--resume") == 2
    err = one_line(capsys)
    assert f"{snapshot} is corrupt" in err and "outside the repository, so git cannot restore it" in err
    assert "resumes from its snapshot" not in err and f"cache checkpoint {checkpoint.cache_path(name, cache)}" in err


def test_7_a_corrupt_cache_checkpoint_names_the_snapshot_it_falls_back_to(tmp_path):
    cache, res = tmp_path / "c", tmp_path / "r"
    cpath, spath = checkpoint.cache_path("r", cache), checkpoint.snapshot_path("r", res)
    checkpoint.save(cpath, {"epoch": 1})
    cpath.write_bytes(cpath.read_bytes()[:-1])
    with pytest.raises(checkpoint.CheckpointError, match=f"the run then resumes from its snapshot {spath}"):
        checkpoint.newest("r", cache, res)


@pytest.mark.parametrize("damage", ["crafted", "no-model", "truncated"])
def test_7_committed_weights_that_fail_are_restored_from_git_not_deleted(tmp_path, capsys, monkeypatch, damage):
    from nin_repro import paths

    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)  # the results folder is the repository's
    res = tmp_path / "results"
    write_raw_record(res, mnist_record())
    weights = checkpoint.weights_path("mnist__seed0", res)
    if damage == "crafted":
        crafted_file(weights, tmp_path / "ran")
    else:
        checkpoint.save(weights, {"run": "mnist__seed0"})
        if damage == "truncated":
            weights.write_bytes(weights.read_bytes()[:-3])
    assert main(["evaluate", "mnist", "--results-dir", str(res)]) == 2
    err = one_line(capsys)
    assert str(weights) in err
    assert "git checkout -- results/weights/mnist__seed0.pt results/weights/mnist__seed0.pt.sha256" in err
    assert "start the run again" not in err and "weights_only" not in err


@pytest.mark.parametrize("command", [["table"], ["reproduce", "--status"], ["render"], ["evaluate", "mnist"],
                                     ["figure5"]])
def test_7_a_results_path_that_is_a_file_is_said_to_be_a_file(tmp_path, capsys, command):
    afile = tmp_path / "results.json"
    afile.write_text("{}")
    assert main([*command, "--results-dir", str(afile)]) == 2
    assert f"results folder {afile} is a file, not a folder" in one_line(capsys)


# 8. --resume with --restart; a seed given twice; a finished seed among several.

def test_8_resume_and_restart_together_are_refused(tmp_path, capsys, monkeypatch):
    import nin_repro.train as train_module
    from nin_repro.run_config import resolve_run

    real = train_module.train
    monkeypatch.setattr(train_module, "train", lambda *a, **k: pytest.fail("trained"))
    assert main(["train", "-e", "mnist", "--resume", "--restart", "--results-dir", str(tmp_path)]) == 2
    assert "pass one of them, not both" in one_line(capsys)
    with pytest.raises(ValueError, match="not both"):
        real(resolve_run("mnist", results_dir=tmp_path), resume=True, restart=True)
    assert not any(tmp_path.iterdir())


def test_8_a_seed_given_twice_is_trained_once(tmp_path, capsys, monkeypatch):
    import nin_repro.train as train_module

    trained = []
    monkeypatch.setattr(train_module, "train", lambda run, **k: trained.append(run.seed))
    assert main(["train", "-e", "mnist", "--seed", "5", "5", "6", "5", "--results-dir", str(tmp_path)]) == 0
    assert trained == [5, 6]
    assert "each trained once (5 6)" in capsys.readouterr().err


def test_8_a_finished_seed_among_several_is_skipped_with_a_line_and_the_next_ones_train(cli_run, tmp_path,
                                                                                       capsys):
    assert cli_run("t_seeds") == 0
    first = results.record_path("t_seeds__seed0__subset256", tmp_path / "results")
    stamp = first.stat().st_mtime_ns
    capsys.readouterr()
    assert cli_run("t_seeds", "--seed", "0", "1") == 0
    err = capsys.readouterr().err
    assert "nin-repro: skipped: t_seeds__seed0__subset256 has finished already" in err and "Traceback" not in err
    assert results.record_path("t_seeds__seed1__subset256", tmp_path / "results").exists()
    assert first.stat().st_mtime_ns == stamp
    assert cli_run("t_seeds", "--seed", "0") == 2  # one seed asked for: it is the error
    assert "has finished already" in one_line(capsys)


def test_8_a_seed_finished_elsewhere_while_an_earlier_one_trained_is_skipped_and_the_rest_train(tmp_path, capsys,
                                                                                                  monkeypatch):
    import nin_repro.train as train_module

    trained = []

    def train(run, **k):
        if run.seed == 6:  # its record appeared after the preflight, while seed 5 trained
            raise train_module.FinishedError(f"{run.name} has finished already")
        trained.append(run.seed)

    monkeypatch.setattr(train_module, "train", train)
    assert main(["train", "-e", "mnist", "--seed", "5", "6", "7", "--results-dir", str(tmp_path)]) == 0
    assert trained == [5, 7]
    assert "nin-repro: skipped: mnist__seed6 has finished already" in capsys.readouterr().err
    assert main(["train", "-e", "mnist", "--seed", "6", "--results-dir", str(tmp_path)]) == 2  # alone: the error
    assert "has finished already" in one_line(capsys)


# 9. An audit of bad input against what is already written: every argument, the data included, is checked
# before anything is deleted, moved or trained.

def bad_data_folder(tmp_path, data_dir, kind):
    """A data folder whose mnist.npz is missing, empty or cut short."""
    folder = tmp_path / f"data_{kind}"
    folder.mkdir()
    if kind == "empty":
        (folder / "mnist.npz").write_bytes(b"")
    elif kind == "truncated":
        with open(data_dir / "mnist.npz", "rb") as f:
            (folder / "mnist.npz").write_bytes(f.read(1_000_000))
    return folder


def saved_state(*paths):
    """Stand-ins for a run's checkpoint and snapshot, and their bytes, to check that none is deleted."""
    for path in paths:
        checkpoint.save(path, {"epoch": 1})
    return {path: path.read_bytes() for path in paths}


@pytest.mark.parametrize("kind", ["missing", "empty", "truncated"])
def test_9_restart_with_a_bad_data_folder_deletes_neither_checkpoint_nor_snapshot(cli_run, tmp_path, data_dir,
                                                                                   monkeypatch, capsys, kind):
    name = "t_restart_bad__seed0__subset256"
    kept = saved_state(checkpoint.cache_path(name, cli_run.cache), checkpoint.snapshot_path(name, tmp_path / "results"))
    no_training(monkeypatch)
    folder = bad_data_folder(tmp_path, data_dir, kind)
    assert cli_run("t_restart_bad", "--restart", "--data-dir", str(folder)) == 2
    assert str(folder) in one_line(capsys)
    assert {path: path.read_bytes() for path in kept} == kept


def test_9_a_notebooks_retrain_with_a_bad_data_folder_deletes_nothing(tmp_path, data_dir, monkeypatch):
    from nin_repro.book import notebooks

    monkeypatch.setenv("NIN_CACHE", str(tmp_path / "cache"))
    name = "mnist__seed0__epochs1_subset256"
    kept = saved_state(checkpoint.cache_path(name), checkpoint.snapshot_path(name, tmp_path / "r"))
    no_training(monkeypatch)
    with pytest.raises(data.DataError, match="mnist.npz not found in"):
        notebooks.retrain_chapter("mnist", True, seeds=[0], device="cpu", epochs=1, subset=256,
                                  data_dir=bad_data_folder(tmp_path, data_dir, "missing"), results_dir=tmp_path / "r")
    assert {path: path.read_bytes() for path in kept} == kept


def test_9_reproduce_redo_with_a_bad_data_folder_deletes_nothing(tmp_path, data_dir, monkeypatch):
    from nin_repro.book.reproduce import reproduce

    monkeypatch.setitem(experiments.EXPERIMENTS, "t_redo_bad", tiny("t_redo_bad", epochs=1))
    rec = make_record("t_redo_bad", seed=0)
    results.write_record(rec, tmp_path / "r")
    ckpt = checkpoint.cache_path("t_redo_bad__seed0", tmp_path / "c")
    checkpoint.save(ckpt, {"config": rec["config"], "epoch": 1, "history": rec["history"],  # the record's own
                           "wall_seconds": rec["wall_seconds"]})
    kept = {ckpt: ckpt.read_bytes()}
    no_training(monkeypatch)
    with pytest.raises(data.DataError, match="not a readable numpy archive"):
        reproduce(jobs=[("t_redo_bad", 0)], redo=True, data_dir=bad_data_folder(tmp_path, data_dir, "empty"),
                  cache_dir=tmp_path / "c", results_dir=tmp_path / "r", figure_runs=None, log=lambda *_: None)
    assert {path: path.read_bytes() for path in kept} == kept
    assert results.read_records(tmp_path / "r") == [rec]


def test_9_every_seed_is_checked_before_the_first_run_trains(tmp_path, capsys, monkeypatch):
    import nin_repro.train as train_module

    monkeypatch.setattr(train_module, "train", lambda *a, **k: pytest.fail("trained a seed before checking the others"))
    assert main(["train", "-e", "mnist", "--seed", "3", "-1", "--results-dir", str(tmp_path)]) == 2
    assert "seed must be an integer from 0 to 2147483647, got -1" in one_line(capsys)


@pytest.mark.parametrize("param, value, message", [
    ("retrain", 1, "retrain must be True or False"),
    ("seeds", [True], "seeds must be a non-empty list of integers from 0 to 2147483647"),
    ("seeds", [2**31], "seeds must be a non-empty list of integers from 0 to 2147483647"),
    ("seeds", [], "seeds must be a non-empty list"),
    ("epochs", True, "epochs must be a positive integer, got True"),
    ("subset", 0, "subset must be a positive integer, got 0"),
    ("device", "gpu0", "unknown device 'gpu0'"),
    ("device", 0, "device must be a name"),  # torch would read it as cuda:0
    ("device", "cpu:1", "the CPU takes no index"),
    ("subset", 100_000, "subset 100000 is more than mnist's 60,000 training images"),
    ("subset", 5, "subset 5 is fewer images than one batch of 128"),
    ("data_dir", 5, r"data_dir in a notebook\) must be a folder path \(a string\), got 5"),
    ("results_dir", ["results"], r"results_dir in a notebook\) must be a folder path"),
    ("results_dir", "", r"results_dir in a notebook\) is empty"),
])
def test_9_a_notebooks_parameters_are_checked_by_the_librarys_own_rules(monkeypatch, param, value, message):
    from nin_repro import train as train_module
    from nin_repro.book import notebooks

    monkeypatch.setattr(train_module, "train", lambda *a, **k: pytest.fail("trained"))
    params = dict(retrain=True, epochs=None, seeds=[0], device="cpu", data_dir=None, results_dir=None, subset=None)
    with pytest.raises(ValueError, match=message):
        notebooks.setup("mnist", **{**params, param: value})


def test_9_a_notebook_with_a_mistyped_results_folder_is_refused(tmp_path):
    from nin_repro.book import notebooks

    missing = tmp_path / "mistyped"
    with pytest.raises(FileNotFoundError, match=f"results folder {missing} does not exist"):
        notebooks.setup("mnist", False, None, [0], "cpu", None, missing, None)
    # the data folder too, though a page that only reads records reads data in one place (CIFAR-100's
    # duplicate images): there a mistyped folder would have read as "no data at hand"
    with pytest.raises(FileNotFoundError, match=f"data folder {missing} does not exist"):
        notebooks.setup("cifar100", False, None, [0], "cpu", missing, None, None)


def earlier_protocol_record(folder, name="t_early"):
    """A finished run of `name` (a tiny MNIST experiment) under an earlier warm-up, with its weights."""
    exp = experiments.EXPERIMENTS[name]
    old = {**exp.train.to_dict(), "warmup_epochs": exp.train.warmup_epochs + 1}
    rec = make_record(name, seed=0, error=1.0, train=old, model=exp.model.to_dict())
    path = results.write_record(rec, folder)
    checkpoint.save(checkpoint.weights_path(f"{name}__seed0", folder), {"run": f"{name}__seed0", "model": {}})
    return path


@pytest.mark.parametrize("bad", ["device", "no-data-folder", "no-data-file"])
def test_9_reproduce_checks_its_arguments_before_it_supersedes_a_record(tmp_path, monkeypatch, bad):
    from nin_repro.book.reproduce import reproduce

    monkeypatch.setitem(experiments.EXPERIMENTS, "t_early", tiny("t_early", epochs=1))
    path = earlier_protocol_record(tmp_path / "r")
    before = path.read_bytes()
    no_training(monkeypatch)
    kw = dict(jobs=[("t_early", 0)], cache_dir=tmp_path / "c", results_dir=tmp_path / "r", figure_runs=None,
              data_dir=tmp_path, log=lambda *_: None)
    expected = {"device": (ValueError, "unknown device 'nonsense'"),
                "no-data-folder": (FileNotFoundError, f"data folder {tmp_path / 'nosuch'} does not exist"),
                "no-data-file": (data.MissingDataError, f"mnist.npz not found in {tmp_path}")}[bad]
    if bad == "device":
        kw["device"] = "nonsense"
    elif bad == "no-data-folder":
        kw["data_dir"] = tmp_path / "nosuch"
    with pytest.raises(expected[0], match=expected[1]):
        reproduce(**kw)
    assert path.read_bytes() == before and not (tmp_path / "r" / "superseded").exists()
    assert checkpoint.weights_path("t_early__seed0", tmp_path / "r").exists()


@pytest.mark.parametrize("status", [[], ["--status"]])
def test_9_reproduce_refuses_a_bad_device_with_nothing_to_train(tmp_path, capsys, status):
    write_raw_record(tmp_path, mnist_record())  # mnist seed 0 is done: nothing to train
    assert main(["reproduce", "--only", "mnist", "--seeds", "0", *status, "--device", "nonsense",
                 "--results-dir", str(tmp_path), "--cache-dir", str(tmp_path / "c")]) == 2
    assert "unknown device 'nonsense'" in one_line(capsys)


def test_9_a_run_superseded_twice_keeps_both_earlier_records_and_their_weights(tmp_path, monkeypatch):
    from nin_repro.book import progress
    from nin_repro.book.reproduce import supersede

    monkeypatch.setitem(experiments.EXPERIMENTS, "t_early", tiny("t_early", epochs=1))
    folder = tmp_path / "superseded"
    folder.mkdir()
    (folder / "t_early__seed0.json").write_text("legacy")  # a record superseded under the first naming
    weights = {}
    for when in ("2026-01-01T10:00:00+0000", "2026-02-01T10:00:00+0000"):
        path = earlier_protocol_record(tmp_path)
        path.write_text(json.dumps({**json.loads(path.read_text()), "finished_at": when}))
        weights[when] = checkpoint.weights_path("t_early__seed0", tmp_path).read_bytes()
        supersede("t_early__seed0", "because", tmp_path)
    assert (folder / "t_early__seed0.json").read_text() == "legacy"  # never over an earlier one
    for when, stamp in (("2026-01-01T10:00:00+0000", "20260101T100000"), ("2026-02-01T10:00:00+0000",
                                                                             "20260201T100000")):
        assert json.loads((folder / f"t_early__seed0__{stamp}.json").read_text())["finished_at"] == when
        kept = folder / f"t_early__seed0__{stamp}.pt"
        assert kept.read_bytes() == weights[when]
        assert kept.with_name(kept.name + ".sha256").read_text().split() == [checkpoint.sha256(kept), kept.name]
    (folder / "t_early__seed0.json").unlink()
    assert len(progress.superseded(tmp_path)) == 2  # the book's reader finds both


def test_9_supersede_refuses_corrupt_weights_and_moves_nothing(tmp_path, monkeypatch):
    from nin_repro.book.reproduce import supersede

    monkeypatch.setitem(experiments.EXPERIMENTS, "t_early", tiny("t_early", epochs=1))
    path = earlier_protocol_record(tmp_path)
    weights = checkpoint.weights_path("t_early__seed0", tmp_path)
    weights.write_bytes(weights.read_bytes()[:-3])
    with pytest.raises(checkpoint.CheckpointError, match=f"{weights} is corrupt"):
        supersede("t_early__seed0", "because", tmp_path)
    assert path.exists() and weights.exists() and not list((tmp_path / "superseded").glob("*"))


@pytest.mark.parametrize("setting", sorted(experiments.NOT_RECIPE_TRAIN))
def test_9_a_setting_that_does_not_change_what_is_trained_is_no_earlier_protocol(setting):
    now = experiments.EXPERIMENTS["mnist"].train.to_dict()
    other = {"precision": "bf16", "compile": not now["compile"], "eval_batch_size": now["eval_batch_size"] + 1,
             "channels_last": not now["channels_last"], "test_every": now["test_every"] + 4}[setting]
    rec = mnist_record()
    rec["config"]["train"][setting] = other
    assert provenance.protocol_changes(rec) == []  # reproduce would supersede and train the run again
    config = {**rec["config"], "train": {**rec["config"]["train"], setting: now[setting]}}
    assert checkpoint.config_differences(rec["config"], config) == []  # one set for both


# torchvision's MNIST reader, offline: it tries each mirror, then raises this (torchvision/datasets/mnist.py)
MIRRORS_FAILED = RuntimeError(
    "Error downloading train-images-idx3-ubyte.gz:\n"
    "Tried https://ossci-datasets.s3.amazonaws.com/mnist/, got:\n<urlopen error [Errno -2] Name or service not known>\n"
    "Tried http://yann.lecun.com/exdb/mnist/, got:\n<urlopen error [Errno -2] Name or service not known>\n")


@pytest.mark.parametrize("failure", ["url error", "every mirror failed"])
def test_9_a_network_failure_under_download_says_so(failure, cli_run, tmp_path, monkeypatch, capsys):
    import urllib.error

    import torchvision

    def offline(*a, **k):
        if failure == "url error":
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
        raise MIRRORS_FAILED

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    folder = tmp_path / "empty"
    folder.mkdir()
    assert cli_run("t_offline", "--download", "--data-dir", str(folder)) == 2
    err = one_line(capsys)
    assert f"no internet access: copy the official files into {folder}, or rerun with network" in err
    assert "free the space" not in err
    if failure == "every mirror failed":
        assert ("(RuntimeError: Error downloading train-images-idx3-ubyte.gz: <urlopen error [Errno -2] Name or "
                "service not known>)") in err


def test_9_a_command_without_download_never_tells_to_pass_it(tmp_path, capsys):
    from nin_repro.model import NiN

    checkpoint.save_weights(checkpoint.weights_path("mnist__seed0", tmp_path),
                            NiN(experiments.EXPERIMENTS["mnist"].model).state_dict(), "mnist__seed0")
    write_raw_record(tmp_path, mnist_record())
    (tmp_path / "data").mkdir()
    assert main(["evaluate", "mnist", "--results-dir", str(tmp_path), "--data-dir", str(tmp_path / "data")]) == 2
    err = one_line(capsys)
    assert f"mnist.npz not found in {tmp_path / 'data'}" in err
    assert "pass --download" not in err and "`nin-repro train ... --download` fetches them" in err


def test_9_a_corrupt_data_file_is_never_taken_for_a_missing_one(tmp_path):
    """Whatever its folder is called: a folder named "missing..." once turned
    an unreadable file into "not found"."""
    from test_official_formats import write_cifar100

    folder = tmp_path / "missing_files"
    write_cifar100(folder)
    (folder / "cifar-100-python" / "train").write_bytes(b"not a pickle")
    with pytest.raises(data.DataError, match="unreadable") as e:
        data.load("cifar100", folder)
    assert not isinstance(e.value, data.MissingDataError)


@pytest.mark.parametrize("damage", ["mnist-short-header", "cifar100-not-a-dict", "svhn-empty-mat"])
def test_9_a_damaged_official_file_is_one_line_however_its_parser_fails(tmp_path, damage):
    import pickle

    from test_official_formats import write_cifar100, write_idx, write_svhn

    name = damage.split("-")[0]
    if name == "mnist":
        raw = tmp_path / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for f, n in (("train-images-idx3-ubyte", 30), ("t10k-images-idx3-ubyte", 10)):
            write_idx(raw / f, np.zeros((n, 28, 28)))
        write_idx(raw / "train-labels-idx1-ubyte", np.arange(30) % 10)
        (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\0\0")  # cut inside its header
    elif name == "cifar100":
        write_cifar100(tmp_path)
        (tmp_path / "cifar-100-python" / "train").write_bytes(pickle.dumps([1, 2, 3]))
    else:
        write_svhn(tmp_path, per_class_train=1, per_class_extra=1, n_test=10)
        (tmp_path / "test_32x32.mat").write_bytes(b"")
    with pytest.raises(data.DataError, match=rf"^{name}: the official files under .* are unreadable \(\w+: .*\); "
                                             "download them again$"):
        data.load(name, tmp_path)


def test_9_render_of_a_notebook_whose_cell_raises_is_one_line_naming_it(tmp_path, capsys):
    import nbformat

    path = tmp_path / "broken.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_code_cell("raise KeyError('no such run')")])
    nbformat.write(nb, str(path))
    before = path.read_bytes()
    assert main(["render", str(path), "--results-dir", str(tmp_path)]) == 2
    err = one_line(capsys)
    assert err.startswith(f"nin-repro: error: {path}: a cell raised KeyError: 'no such run'; fix the cell in {path}")
    assert "\x1b[" not in err and "then render again" in err
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["broken.ipynb"]


def test_9_render_of_a_notebook_whose_cell_runs_too_long_is_one_line_naming_it(tmp_path):
    import nbformat

    from nin_repro.book.render import RenderError, render

    path = tmp_path / "slow.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time; time.sleep(30)")]),
                   str(path))
    before = path.read_bytes()
    with pytest.raises(RenderError, match=rf"^{re.escape(str(path))}: a cell ran past the 2 s each cell may take; "
                                          r"slow\.ipynb is left as it was"):
        render([path], timeout=2, results_dir=tmp_path, log=lambda *_: None)
    assert path.read_bytes() == before


def test_10_an_unexpected_runtime_error_keeps_its_traceback_and_a_known_one_is_one_line(tmp_path, capsys,
                                                                                       monkeypatch):
    import nin_repro.train as train_module

    def out_of_memory(*a, **k):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(train_module, "train", out_of_memory)
    with pytest.raises(RuntimeError, match="CUDA out of memory"):  # a bug or the machine: not a bad input
        main(["train", "-e", "mnist", "--results-dir", str(tmp_path)])

    def diverged(*a, **k):
        raise train_module.DivergedError("[mnist__seed0] loss became nan; lower the learning rate")

    monkeypatch.setattr(train_module, "train", diverged)
    assert main(["train", "-e", "mnist", "--results-dir", str(tmp_path)]) == 2
    assert "loss became nan; lower the learning rate" in one_line(capsys)



# 11. A second audit: checks that came after work had begun, or never.

def test_11_a_later_seed_that_cannot_train_is_refused_before_the_first_one_trains(cli_run, tmp_path, capsys,
                                                                                  monkeypatch, data_dir):
    from nin_repro.run_config import resolve_run
    from nin_repro.train import train

    monkeypatch.setitem(experiments.EXPERIMENTS, "t_later", tiny("t_later", epochs=2))
    later = resolve_run("t_later", 1, subset=256, data_dir=data_dir, cache_dir=cli_run.cache,
                        results_dir=tmp_path / "results")
    assert train(later, stop_after_epoch=1, progress=False, log=lambda *_: None) is None  # seed 1 unfinished
    capsys.readouterr()
    no_training(monkeypatch)
    assert cli_run("t_later", "--seed", "0", "1", epochs=2) == 2
    assert "t_later__seed1__subset256 has an unfinished checkpoint (after epoch 1)" in one_line(capsys)
    assert not checkpoint.cache_path("t_later__seed0__subset256", cli_run.cache).exists()


def test_11_a_later_seeds_checkpoint_of_another_configuration_is_refused_before_the_first_trains(
        cli_run, tmp_path, capsys, monkeypatch, data_dir):
    from nin_repro.run_config import resolve_run
    from nin_repro.train import train

    monkeypatch.setitem(experiments.EXPERIMENTS, "t_recipe", tiny("t_recipe", epochs=2, lr=0.02))
    later = resolve_run("t_recipe", 1, subset=256, data_dir=data_dir, cache_dir=cli_run.cache,
                        results_dir=tmp_path / "results")
    assert train(later, stop_after_epoch=1, progress=False, log=lambda *_: None) is None
    capsys.readouterr()
    no_training(monkeypatch)
    assert cli_run("t_recipe", "--seed", "0", "1", "--resume", epochs=2) == 2  # cli_run's recipe: lr 0.05
    assert "was written by a run with another configuration (train.lr: 0.02 there, 0.05 here)" in one_line(capsys)
    assert not checkpoint.cache_path("t_recipe__seed0__subset256", cli_run.cache).exists()


def test_11_a_later_seed_training_elsewhere_is_refused_before_the_first_one_trains(cli_run, capsys, monkeypatch):
    monkeypatch.setitem(experiments.EXPERIMENTS, "t_busy", tiny("t_busy"))
    lock = checkpoint.cache_path("t_busy__seed1__subset256", cli_run.cache).with_suffix(".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(f"{os.getppid()} {__import__('socket').gethostname()}\n")  # a live process holds it
    no_training(monkeypatch)
    assert cli_run("t_busy", "--seed", "0", "1") == 2
    assert f"t_busy__seed1__subset256 is already training in process {os.getppid()}" in one_line(capsys)


@pytest.mark.parametrize("args, message", [
    (["--subset", "100000"], "subset 100000 is more than mnist's 60,000 training images: pass at most 60000"),
    (["--subset", "5"], "subset 5 is fewer images than one batch of 128: pass a subset of 128 or more"),
    (["--device", "cpu:1"], "the CPU takes no index"),
    (["--results-dir", ""], "--results-dir (results_dir in a notebook) is empty: pass a folder"),
    (["--data-dir", ""], "--data-dir (data_dir in a notebook) is empty"),
    (["--cache-dir", ""], "--cache-dir is empty"),
])
def test_11_train_refuses_what_it_would_quietly_have_changed(tmp_path, capsys, monkeypatch, args, message):
    import nin_repro.train as train_module

    monkeypatch.setattr(train_module, "train", lambda *a, **k: pytest.fail("trained"))
    where = [] if "--results-dir" in args else ["--results-dir", str(tmp_path)]
    assert main(["train", "-e", "mnist", *where, *args]) == 2
    assert message in one_line(capsys)


def test_11_a_gpu_index_the_machine_lacks_is_refused(monkeypatch):
    from nin_repro.device import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"device 'cuda:7' requested, but this machine has 1 GPU \(cuda:0 to "
                                         r"cuda:0\)"):
        resolve_device("cuda:7")
    assert resolve_device("cuda:0") == torch.device("cuda", 0)


def test_11_evaluate_checks_the_seed(tmp_path, capsys):
    assert main(["evaluate", "mnist", "--seed", "-1", "--results-dir", str(tmp_path)]) == 2
    assert "seed must be an integer from 0 to 2147483647, got -1" in one_line(capsys)


def test_11_reproduce_of_seeds_the_plan_lacks_says_so(tmp_path, capsys):
    assert main(["reproduce", "--seeds", "7", "--status", "--results-dir", str(tmp_path)]) == 2
    assert "no planned run has seed 7 (the plan's seeds: 0, 1, 2); pass --only EXPERIMENT --seeds 7" in \
        one_line(capsys)


def test_11_a_seed_given_twice_in_a_notebook_is_trained_once(monkeypatch):
    from nin_repro import train as train_module
    from nin_repro.book import notebooks

    trained = []
    monkeypatch.setattr(train_module, "train", lambda run, **k: trained.append(run.seed))
    notebooks.setup("mnist", True, None, [0, 1, 0], "cpu", None, None, None)
    assert trained == [0, 1]


@pytest.mark.parametrize("damage", ["a-file", "a-folder-for-its-file", "checksums-not-text"])
def test_11_a_data_folder_that_is_no_data_folder_is_named(tmp_path, capsys, damage, data_dir):
    import shutil

    folder = tmp_path / "data"
    if damage == "a-file":
        folder.write_text("not a folder")
        message = f"data folder {folder} is a file, not a folder"
    elif damage == "a-folder-for-its-file":
        (folder / "mnist.npz").mkdir(parents=True)
        message = f"{folder / 'mnist.npz'} is not a file (a folder?): copy mnist.npz again"
    else:
        folder.mkdir()
        shutil.copy(data_dir / "mnist.npz", folder / "mnist.npz")
        (folder / "SHA256SUMS").write_bytes(b"\xff\xfe\x00garbage")
        message = f"{folder / 'SHA256SUMS'} is no list of checksums (not text)"
    with pytest.raises((data.DataError, FileNotFoundError), match=re.escape(message)):
        data.load("mnist", folder, tmp_path / "cache")


def test_11_a_checksum_file_that_is_no_text_is_a_mismatch_and_the_snapshot_is_used(tmp_path):
    state = {"config": {"train": {"epochs": 3}}, "epoch": 1, "history": [], "wall_seconds": 1.0}
    cache, repo = checkpoint.cache_path("r", tmp_path / "c"), checkpoint.snapshot_path("r", tmp_path / "res")
    checkpoint.save(cache, {**state, "epoch": 2})
    checkpoint.save(repo, state)
    cache.with_suffix(".pt.sha256").write_bytes(b"\xff\xfe not a checksum")
    warned = []
    path, found = checkpoint.newest("r", tmp_path / "c", tmp_path / "res", warn=warned.append)
    assert path == repo and found["epoch"] == 1 and "corrupt" in warned[0]


def write_figure5_file(folder, raw: bytes):
    path = folder / "figures" / "confidence_maps.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize("raw", [b"", b"PK\x03\x04 cut short",
                                 b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1\n"],
                         ids=["empty", "cut-short", "lfs-pointer"])
def test_11_a_damaged_figure5_file_is_one_line_and_reproduce_draws_it_again(tmp_path, capsys, monkeypatch, raw):
    from nin_repro.book import reproduce as reproduce_module
    from nin_repro.book.figure5 import FigureError, load_confidence_maps

    path = write_figure5_file(tmp_path, raw)
    with pytest.raises(FigureError, match=rf"^{re.escape(str(path))} is no readable Figure 5 file .*; restore it"):
        load_confidence_maps(tmp_path)
    monkeypatch.setattr(reproduce_module, "figure_source", lambda *a: ("cifar10_full__seed0", 260))
    drawn = []
    monkeypatch.setattr(reproduce_module, "extract_confidence_maps", lambda name, **k: drawn.append(name) or path)
    said = []
    assert reproduce_module.refresh_figure5(["cifar10_full__seed0"], results_dir=tmp_path, log=said.append)
    assert drawn == ["cifar10_full__seed0"] and said[0].startswith(f"warning: {path} is no readable Figure 5 file")


def test_11_a_figure5_file_of_other_arrays_is_named(tmp_path):
    from nin_repro.book.figure5 import FigureError, load_confidence_maps

    path = tmp_path / "figures" / "confidence_maps.npz"
    path.parent.mkdir()
    np.savez(path, images=np.zeros(1))
    with pytest.raises(FigureError, match=r"lacks maps, labels, preds, classes, run, epoch, epochs: it is no Figure 5"):
        load_confidence_maps(tmp_path)


GIVEN_UP = {"run": "mnist_full__seed2", "wall_seconds": 10.0, "given_up_because": "stalled at chance level",
            "provenance": {}}


def given_up_entry(**changes):
    rec = mnist_record()
    entry = {**GIVEN_UP, "config": {**rec["config"], "experiment": "mnist_full", "seed": 2},
             "history": rec["history"]}
    entry.update(changes)
    return entry


@pytest.mark.parametrize("changes, message", [
    (dict(history=[]), "empty history"),
    (dict(history="lost"), "field 'history' has type str, expected list"),
    (dict(history=[{"epoch": 1}]), r"history\[0\] lacks"),
    (dict(config=["experiment", "seed"]), "field 'config' has type list, expected dict"),
    (dict(config={"experiment": "mnist_full", "seed": 2}), "config.train is null, expected dict"),
    (dict(config={"experiment": "mnist_full", "seed": 2, "train": {}}), "config.train.epochs is null, expected int"),
    (dict(wall_seconds="ten"), "field 'wall_seconds' has type str"),
])
def test_11_a_malformed_given_up_file_is_one_line_naming_it_in_the_book_and_render(tmp_path, capsys, monkeypatch,
                                                                                    changes, message):
    import nbclient

    path = results.stalls_dir(tmp_path) / "mnist_full__seed2.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(given_up_entry(**changes)))
    with pytest.raises(results.RecordError, match=rf"^{re.escape(str(path))}: .*{message}"):
        results.given_up(tmp_path)
    monkeypatch.setattr(nbclient, "NotebookClient", lambda *a, **k: pytest.fail("a kernel started"))
    assert main(["render", "--results-dir", str(tmp_path)]) == 2
    assert str(path) in one_line(capsys)


def test_11_a_well_formed_given_up_file_is_read(tmp_path):
    path = results.write_given_up(given_up_entry(), tmp_path)
    assert results.given_up(tmp_path)[0]["run"] == "mnist_full__seed2" and path.name == "mnist_full__seed2.json"


def test_11_render_of_a_markdown_file_that_is_no_notebook_is_refused(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# A project\n\nSome words.\n")
    assert main(["render", str(readme), "--results-dir", str(tmp_path)]) == 2
    assert f"{readme} is no notebook's source (no jupytext header)" in one_line(capsys)
    assert not (tmp_path / "README.ipynb").exists()
