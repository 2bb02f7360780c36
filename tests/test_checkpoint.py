"""The checkpoint files on their own: a file and its checksum written as a
pair even when a stop arrives in between, a damaged file never copied over a
good one, a corrupt copy passed over (loudly) for a sound one, and what
counts as "the same run" when a checkpoint is resumed."""

import os
import signal

import pytest
import torch

from nin_repro import checkpoint
from nin_repro.checkpoint import CheckpointError


def state(epoch, **extra):
    return {"config": {"experiment": "t", "train": {"epochs": 5}}, "epoch": epoch, "history": [], "wall_seconds": 1.0,
            "model": {"w": torch.full((3,), float(epoch))}, **extra}


def test_a_stop_during_a_save_waits_until_file_and_checksum_are_both_written(tmp_path, monkeypatch):
    def stop(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, stop)
    try:
        path = tmp_path / "run.pt"
        real_save = torch.save

        def save_then_sigterm(obj, f):
            real_save(obj, f)
            os.kill(os.getpid(), signal.SIGTERM)  # arrives between the file and its checksum

        monkeypatch.setattr(torch, "save", save_then_sigterm)
        with pytest.raises(KeyboardInterrupt):
            checkpoint.save(path, state(2))
        monkeypatch.undo()
        assert checkpoint.load(path)["epoch"] == 2  # the pair matches: the stop came after both
        assert signal.getsignal(signal.SIGTERM) is stop  # the handler is back
    finally:
        signal.signal(signal.SIGTERM, old)


def test_without_a_signal_the_held_block_changes_nothing(tmp_path):
    before = signal.getsignal(signal.SIGINT)
    with checkpoint.signals_held():
        checkpoint.save(tmp_path / "a.pt", state(1))
    assert signal.getsignal(signal.SIGINT) is before
    assert checkpoint.load(tmp_path / "a.pt")["epoch"] == 1


def test_a_damaged_file_is_never_copied_over_a_good_one(tmp_path):
    src, dst = tmp_path / "cache" / "r.pt", tmp_path / "repo" / "r.pt"
    src.parent.mkdir()
    dst.parent.mkdir()
    checkpoint.save(src, state(3))
    checkpoint.save(dst, state(2))
    src.write_bytes(src.read_bytes()[:-5])  # torn
    with pytest.raises(CheckpointError,
                       match=r"r.pt is corrupt: its SHA-256 is .*; it was not copied to .*, which is left as it was"):
        checkpoint.copy(src, dst)
    assert checkpoint.load(dst)["epoch"] == 2
    checkpoint.save(src, state(3))
    (tmp_path / "cache" / "r.pt.sha256").unlink()  # a file with no checksum cannot be vouched for either
    with pytest.raises(CheckpointError,
                       match=r"r.pt has no checksum file r.pt.sha256 beside it, so it cannot be trusted; it was not copied"):
        checkpoint.copy(src, dst)
    assert checkpoint.load(dst)["epoch"] == 2


def cache_and_snapshot(tmp_path, cache_state, snapshot_state):
    """A run's cache checkpoint and repository snapshot, both sound: (cache
    folder, results folder, cache path, snapshot path)."""
    cache, results = tmp_path / "cache", tmp_path / "results"
    cpath, spath = checkpoint.cache_path("r", cache), checkpoint.snapshot_path("r", results)
    for p in (cpath, spath):
        p.parent.mkdir(parents=True)
    checkpoint.save(cpath, cache_state)
    checkpoint.save(spath, snapshot_state)
    return cache, results, cpath, spath


def test_a_corrupt_copy_is_passed_over_for_a_sound_one_and_said(tmp_path):
    cache, results, cpath, spath = cache_and_snapshot(tmp_path, state(4), state(3))
    cpath.write_bytes(cpath.read_bytes()[:-5])  # the newer one torn
    said = []
    path, found = checkpoint.newest("r", cache, results, warn=said.append)
    assert (path, found["epoch"]) == (spath, 3)
    assert len(said) == 1 and f"{cpath} is corrupt" in said[0] and f"using {spath} (after epoch 3)" in said[0]
    spath.write_bytes(spath.read_bytes()[:-5])  # both torn: an error, not a fresh start
    with pytest.raises(CheckpointError, match="is corrupt"):
        checkpoint.newest("r", cache, results, warn=said.append)


def test_a_cache_torn_between_its_file_and_checksum_falls_back_to_the_snapshot_it_was_copied_to(tmp_path):
    """The stop copied the cache to the repository (same checksum); the next
    epoch's save was killed after its file and before its checksum: the two
    checksum files still agree, but only the repository's copy is sound."""
    cache, results = tmp_path / "cache", tmp_path / "results"
    cpath, spath = checkpoint.cache_path("r", cache), checkpoint.snapshot_path("r", results)
    cpath.parent.mkdir(parents=True)
    checkpoint.save(cpath, state(3))
    checkpoint.copy(cpath, spath)
    torch.save(state(4), cpath)  # the new file, its checksum never written
    said = []
    path, found = checkpoint.newest("r", cache, results, warn=said.append)
    assert (path, found["epoch"]) == (spath, 3) and f"{cpath} is corrupt" in said[0]


def test_a_corrupt_snapshot_stops_even_when_the_cache_is_sound(tmp_path):
    """Passed over, the repository's copy would be overwritten at the next
    stop, where git could have restored it."""
    cache, results, cpath, spath = cache_and_snapshot(tmp_path, state(2), state(3))
    spath.write_bytes(spath.read_bytes()[:-5])
    with pytest.raises(CheckpointError, match=f"{spath} is corrupt"):
        checkpoint.newest("r", cache, results, warn=pytest.fail)


def test_a_held_signal_that_was_ignored_does_not_swallow_a_stop_after_it(tmp_path):
    def stop(signum, frame):
        raise KeyboardInterrupt

    old_int, old_term = signal.signal(signal.SIGINT, signal.SIG_IGN), signal.signal(signal.SIGTERM, stop)
    try:
        with pytest.raises(KeyboardInterrupt):
            with checkpoint.signals_held():
                os.kill(os.getpid(), signal.SIGINT)   # ignored by this process (as in a `cmd &` of a script)
                os.kill(os.getpid(), signal.SIGTERM)  # a real stop
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def test_the_repair_hint_fits_where_the_file_is(tmp_path):
    outside = tmp_path / "x.pt"
    checkpoint.save(outside, state(1))
    outside.write_bytes(outside.read_bytes()[:-1])
    with pytest.raises(CheckpointError, match="delete it and its .sha256"):
        checkpoint.load(outside)
    inside = checkpoint.paths.REPO_ROOT / "results" / "checkpoints" / "x.pt"
    assert "git checkout -- results/checkpoints/x.pt results/checkpoints/x.pt.sha256" in \
        checkpoint._repair_hint(inside)


def test_a_setting_added_to_the_code_since_a_checkpoint_resumes_it_at_its_default():
    """A run of days must survive a new TrainConfig or ModelConfig setting:
    its checkpoint, written without it, trained with its default. The same
    test decides which record is of an earlier protocol."""
    from nin_repro.experiments import EXPERIMENTS

    exp = EXPERIMENTS["cifar10_full"]
    now = {"experiment": exp.name, "dataset": exp.dataset, "preprocess": exp.preprocess, "seed": 0,
           "overrides": {}, "train": exp.train.to_dict(), "model": exp.model.to_dict()}
    older = {**now, "train": {k: v for k, v in now["train"].items() if k != "label_smoothing"},
             "model": {k: v for k, v in now["model"].items() if k != "final_relu"}}
    assert checkpoint.check_config("p", {"config": older}, now)
    smoothed = {**now, "train": {**now["train"], "label_smoothing": 0.1}}
    with pytest.raises(CheckpointError, match=r"train.label_smoothing: 0.1 there, 0.0 here"):
        checkpoint.check_config("p", {"config": smoothed}, now)
    other_data = {**now, "preprocess": "lcn"}
    with pytest.raises(CheckpointError, match=r"preprocess: 'lcn' there, 'gcn_zca' here"):
        checkpoint.check_config("p", {"config": other_data}, now)
    with pytest.raises(CheckpointError, match=r"seed: 1 there, 0 here"):
        checkpoint.check_config("p", {"config": {**now, "seed": 1}}, now)
    with pytest.raises(CheckpointError, match=r"model: none there"):  # nothing to compare is no match
        checkpoint.check_config("p", {"config": {k: v for k, v in now.items() if k != "model"}}, now)
    # a setting the code no longer has is not read, so it does not refuse the checkpoint
    assert checkpoint.check_config("p", {"config": {**older, "train": {**older["train"], "retired": 3}}}, now)


def test_words_and_arithmetic_settings_do_not_make_another_run():
    saved = {"experiment": "e", "description": "old words", "paper_key": "cifar10", "seed": 0,
             "model": {"dropout": 0.5}, "train": {"lr": 0.1, "precision": "auto", "compile": False,
                                                  "eval_batch_size": 500, "channels_last": True}}
    reworded = {**saved, "description": "new words",
                "train": {**saved["train"], "precision": "fp32", "compile": True, "eval_batch_size": 250,
                          "channels_last": False}}
    assert checkpoint.check_config("p", {"config": saved}, reworded)
    other_rate = {**saved, "train": {**saved["train"], "lr": 0.05}}
    with pytest.raises(CheckpointError, match=r"train.lr: 0.1 there, 0.05 here"):
        checkpoint.check_config("p", {"config": saved}, other_rate)
    with pytest.raises(CheckpointError, match="model.dropout"):
        checkpoint.check_config("p", {"config": saved}, {**saved, "model": {"dropout": 0.0}})
