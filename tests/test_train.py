import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from nin_repro import checkpoint, results
from nin_repro.book import provenance
from nin_repro.checkpoint import CheckpointError
from nin_repro.experiments import TrainConfig
from nin_repro.device import bf16_is_native, resolve_device, resolve_precision
from nin_repro.preprocess import load_inputs
from nin_repro.run_config import resolve_run
from nin_repro.train import DivergedError, StalledError, evaluate_split, learning_rate, param_groups, train
from nin_repro.loader import TensorLoader
from nin_repro.model import NiN
from tiny import frozen_clock, tiny


def run(exp, tmp_path, data_dir, cache_dir, *, seed=0, subset=1024, epochs=None, batch_size=None, ckpt=None,
        **call):
    """Train `exp` quietly, its checkpoints in `ckpt` (else tmp_path/ckpt) and
    its files in tmp_path/results; `call`: train()'s own arguments."""
    it = resolve_run(exp, seed, epochs=epochs, subset=subset, batch_size=batch_size, data_dir=data_dir,
                     cache_dir=ckpt or tmp_path / "ckpt", results_dir=tmp_path / "results")
    return train(it, progress=False, log=lambda *_: None, **call)


@pytest.fixture
def shared_decoded(data_dir, cache_dir, tmp_path):
    """A fresh cache folder for checkpoints that shares the session's decoded
    data (cached by checksum), so each test does not decode MNIST again."""
    from nin_repro import data

    data.load_packed("mnist", data_dir, cache_dir)
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "decoded").symlink_to(cache_dir / "decoded", target_is_directory=True)
    return ckpt


def test_one_epoch_on_a_subset_lowers_the_loss(data_dir, cache_dir, tmp_path, shared_decoded):
    exp = tiny("t_lowers", epochs=1, warmup_epochs=0.2, batch_size=16)
    _, _, test_x, test_y, _ = load_inputs(exp, data_dir, shared_decoded, subset=2048)
    torch.manual_seed(0)  # the same initial weights as the run below
    loss_sum, _ = evaluate_split(NiN(exp.model).to(memory_format=torch.channels_last),
                                  TensorLoader(test_x, test_y, 256, train=False), torch.device("cpu"), "bf16")
    before = loss_sum.item() / len(test_y)
    rec = run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, subset=2048)
    assert rec["history"][0]["train_loss"] < before
    assert rec["history"][0]["test_loss"] < before - 0.1


def test_record_has_every_field_and_is_written(data_dir, cache_dir, tmp_path, shared_decoded):
    rec = run(tiny("t_record", epochs=1), tmp_path, data_dir, cache_dir, ckpt=shared_decoded)
    path = tmp_path / "results" / "runs" / "t_record__seed0__subset1024.json"
    on_disk = json.loads(path.read_text())
    assert on_disk == json.loads(json.dumps(rec))
    for key in results.REQUIRED_FIELDS:
        assert key in on_disk
    assert on_disk["config"]["overrides"] == {"subset": 1024}
    assert on_disk["device"].startswith("cpu (") and on_disk["torch_version"] == torch.__version__
    assert all(h["stopped_seconds"] >= 0 for h in on_disk["history"])  # time stopped, left out of "seconds"
    assert not provenance.is_protocol_run(on_disk)


def test_a_tree_without_git_records_the_commit_its_launcher_gives(monkeypatch, tmp_path):
    from nin_repro import paths, train as train_module

    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)  # a copy of the tree, no .git in it
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # git may not look above it
    train_module.git_commit.cache_clear()
    try:
        monkeypatch.delenv("NIN_GIT_COMMIT", raising=False)
        assert train_module.git_commit() == "unknown"
        train_module.git_commit.cache_clear()
        monkeypatch.setenv("NIN_GIT_COMMIT", "8df9f9a0")
        assert train_module.git_commit() == "8df9f9a0"
    finally:
        train_module.git_commit.cache_clear()


def test_auto_precision_is_bf16_only_where_the_device_has_it_natively(monkeypatch):
    from nin_repro import device as device_module

    cpu = torch.device("cpu")
    # the instructions decide: oneDNN's own check also says yes on AVX-512 CPUs that only emulate bf16
    monkeypatch.setattr(device_module, "cpu_flags", lambda: {"avx2", "avx512f", "avx512bw", "avx512vl"})
    assert resolve_precision("auto", cpu) == "fp32"
    monkeypatch.setattr(device_module, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16"})
    assert resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(device_module, "cpu_flags", lambda: {"avx2", "amx_bf16", "amx_tile"})
    assert resolve_precision("auto", cpu) == "bf16"
    monkeypatch.undo()
    flags = device_module.cpu_flags()
    if flags is not None:  # this machine: as its /proc/cpuinfo says
        assert resolve_precision("auto", cpu) == ("bf16" if flags & {"avx512_bf16", "amx_bf16"} else "fp32")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    with pytest.raises(ValueError, match="unknown precision 'fp16'; use 'auto'"):
        resolve_precision("fp16", cpu)
    assert TrainConfig(epochs=1).precision == "auto"  # the library's default path picks for the machine


def test_record_stores_the_precision_that_ran(data_dir, cache_dir, tmp_path, shared_decoded):
    rec = run(tiny("t_precision", epochs=1), tmp_path, data_dir, cache_dir, ckpt=shared_decoded, subset=256,
              write=False)
    expected = "bf16" if bf16_is_native(torch.device("cpu")) else "fp32"
    assert rec["config"]["train"]["precision"] == "auto"  # as asked; each epoch says what it trained in
    assert rec["history"][0]["precision"] == expected


def test_same_seed_gives_identical_metrics(data_dir, cache_dir, tmp_path, shared_decoded):
    exp = tiny("t_determinism", epochs=1)
    a = run(exp, tmp_path / "a", data_dir, cache_dir, ckpt=shared_decoded, write=False)
    b = run(exp, tmp_path / "b", data_dir, cache_dir, ckpt=shared_decoded, write=False)
    strip = lambda h: [{k: v for k, v in row.items() if "second" not in k} for row in h]  # noqa: E731
    assert strip(a["history"]) == strip(b["history"])


def test_resume_continues_exactly_where_it_stopped(data_dir, cache_dir, tmp_path, shared_decoded):
    exp = tiny("t_resume", epochs=2)
    straight = run(exp, tmp_path / "a", data_dir, cache_dir, ckpt=tmp_path / "other", write=False)
    assert run(exp, tmp_path / "b", data_dir, cache_dir, ckpt=shared_decoded, stop_after_epoch=1) is None
    assert not (tmp_path / "b" / "results" / "runs").exists()  # an unfinished run writes no record
    resumed = run(exp, tmp_path / "c", data_dir, cache_dir, ckpt=shared_decoded, resume=True, write=False)
    for key in ("train_loss", "train_error", "test_loss", "test_error", "lr"):
        assert [h[key] for h in resumed["history"]] == [h[key] for h in straight["history"]]


def test_resume_refuses_a_checkpoint_of_another_configuration(data_dir, cache_dir, tmp_path, shared_decoded):
    exp = tiny("t_mismatch", epochs=2)
    run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, stop_after_epoch=1)
    other = replace(exp, train=replace(exp.train, lr=0.01))
    with pytest.raises(CheckpointError, match="another configuration"):
        run(other, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, resume=True)


@pytest.mark.parametrize("first, then", [("bf16", "fp32"), ("fp32", "bf16")])
def test_resumed_run_trains_each_epoch_in_its_machines_precision(first, then, data_dir, cache_dir, tmp_path,
                                                                shared_decoded, monkeypatch):
    """A run checkpointed on a machine with native bf16 resumes in fp32 on one
    without (and the other way round) under `auto`: each epoch's row names its
    precision, and the schedule and the random streams (data order, dropout)
    continue as if the run had stayed on one machine."""
    import nin_repro.device as device_module

    exp = tiny("t_switch", epochs=2, dropout=0.5)
    native = lambda p: (lambda dev: p == "bf16")  # noqa: E731  a machine whose auto picks p
    monkeypatch.setattr(device_module, "bf16_is_native", native(first))
    assert run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, subset=256, stop_after_epoch=1) is None
    assert checkpoint.load(checkpoint.cache_path("t_switch__seed0__subset256", shared_decoded))["history"][0][
        "precision"] == first
    monkeypatch.setattr(device_module, "bf16_is_native", native(then))
    switched = run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, subset=256, resume=True,
                   write=False)
    assert [h["precision"] for h in switched["history"]] == [first, then]
    assert switched["config"]["train"]["precision"] == "auto"
    after_switch = checkpoint.load(checkpoint.cache_path("t_switch__seed0__subset256", shared_decoded))
    # An uninterrupted run on the first machine: the same schedule, and the
    # same random state after epoch 2 (the precision draws no random numbers).
    monkeypatch.setattr(device_module, "bf16_is_native", native(first))
    other = tmp_path / "straight_cache"
    other.mkdir()
    (other / "decoded").symlink_to(shared_decoded / "decoded", target_is_directory=True)
    straight = run(exp, tmp_path / "straight", data_dir, cache_dir, ckpt=other, subset=256, write=False)
    after_straight = checkpoint.load(checkpoint.cache_path("t_switch__seed0__subset256", other))
    assert [h["lr"] for h in straight["history"]] == [h["lr"] for h in switched["history"]]
    assert switched["history"][0]["test_loss"] == straight["history"][0]["test_loss"]
    for a, b in zip(after_switch["rng"], after_straight["rng"]):
        assert torch.equal(a["torch"], b["torch"]) and torch.equal(a["loader"], b["loader"])


def _stopped_after_one_epoch(exp, name, tmp_path, data_dir, cache_dir, ckpt):
    """The snapshot of `exp` stopped after epoch 1, its cache copy gone (a
    fresh machine), as (path, state)."""
    assert run(exp, tmp_path, data_dir, cache_dir, ckpt=ckpt, stop_after_epoch=1) is None
    checkpoint.remove(checkpoint.cache_path(name, ckpt))
    snapshot = checkpoint.snapshot_path(name, tmp_path / "results")
    return snapshot, checkpoint.load(snapshot)


def test_a_snapshot_written_on_a_gpu_resumes_on_a_cpu_machine(data_dir, cache_dir, tmp_path, shared_decoded):
    """A GPU machine's snapshot also holds its GPU's dropout stream; a CPU
    machine leaves that behind and continues the CPU streams (data order and
    augmentation are drawn on the CPU on every device), ending where a run
    that never moved ends."""
    exp = tiny("t_moved", epochs=2, dropout=0.5)
    straight = run(exp, tmp_path / "a", data_dir, cache_dir, ckpt=tmp_path / "other", write=False)
    snapshot, state = _stopped_after_one_epoch(exp, "t_moved__seed0__subset1024", tmp_path, data_dir, cache_dir,
                                               shared_decoded)
    assert state["rng"][0]["loader"].numel() > 16  # a CPU generator's state, not a CUDA one's (16 bytes)
    state["rng"][0]["cuda"] = torch.zeros(16, dtype=torch.uint8)  # as torch.cuda.get_rng_state() returns it
    checkpoint.save(snapshot, state)
    resumed = run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, resume=True, write=False)
    assert [h["test_loss"] for h in resumed["history"]] == [h["test_loss"] for h in straight["history"]]


@pytest.mark.parametrize("damage", ["streams", "weights", "optimizer"])
def test_a_snapshot_whose_state_cannot_be_restored_is_one_clear_error(damage, data_dir, cache_dir, tmp_path,
                                                                       shared_decoded):
    """A loader state drawn on a GPU (16 bytes of Philox state, as versions
    before the CPU-side loader stream wrote them) cannot continue on the CPU
    generator; weights or an optimizer state missing a tensor (a file of
    another version, its checksum sound) cannot fill the net: one line naming
    the file and what to do, before training."""
    exp = tiny("t_streams", epochs=2)
    snapshot, state = _stopped_after_one_epoch(exp, "t_streams__seed0__subset1024", tmp_path, data_dir,
                                               cache_dir, shared_decoded)
    if damage == "streams":
        state["rng"][0]["loader"] = torch.zeros(16, dtype=torch.uint8)
        said = "its random streams cannot be restored"
    elif damage == "weights":
        state["model"].pop(next(iter(state["model"])))
        said = "its weights and optimizer state do not fit this run's net"
    else:
        del state["optimizer"]
        said = "its weights and optimizer state do not fit this run's net"
    checkpoint.save(snapshot, state)
    with pytest.raises(CheckpointError, match=rf"{snapshot}: {said}.*--restart"):
        run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, resume=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_a_cpu_snapshot_continues_on_a_gpu(data_dir, cache_dir, tmp_path, shared_decoded):
    """The campaign's runs start on CPU machines; one lent a GPU continues
    them there: same schedule, the data stream continued, each epoch naming
    its machine."""
    exp = tiny("t_to_gpu", epochs=2, dropout=0.5)
    _stopped_after_one_epoch(exp, "t_to_gpu__seed0__subset1024", tmp_path, data_dir, cache_dir, shared_decoded)
    it = resolve_run(exp, 0, device="cuda", subset=1024, data_dir=data_dir, cache_dir=shared_decoded,
                     results_dir=tmp_path / "results")
    rec = train(it, resume=True, progress=False, log=lambda *_: None)
    # The record and each epoch name the device by its name ("NVIDIA H200"), not by "cuda".
    gpu = torch.cuda.get_device_name()
    assert len(rec["history"]) == 2 and rec["device"] == gpu
    assert rec["history"][0]["machine"].startswith("cpu (") and rec["history"][1]["machine"] == gpu
    after = checkpoint.load(checkpoint.cache_path("t_to_gpu__seed0__subset1024", shared_decoded))
    assert after["rng"][0]["cuda"] is not None and after["rng"][0]["loader"].numel() > 16


def test_a_run_stalled_at_chance_level_is_given_up_with_one_line_its_epochs_kept(data_dir, cache_dir, tmp_path,
                                                                                 shared_decoded):
    """A net that learns nothing (here: a learning rate of 1e-9 on the Caffe
    init, whose tiny weights score every image alike) sits at ln 10 for a whole
    epoch after the warm-up: the run stops there, saying so; it is given up,
    its epochs in results/stalls/, its state in the cache only (a snapshot
    of an earlier stop leaves the repository: the book would show it in
    progress); a net that learns, with as many steps per epoch, trains on."""
    caffe = lambda exp: replace(exp, model=replace(exp.model, init="caffe"))  # noqa: E731
    stuck = caffe(tiny("t_stuck", epochs=3, lr=1e-9, warmup_epochs=1.0, batch_size=32))
    name, results_dir = "t_stuck__seed0__subset2048", tmp_path / "results"
    run(stuck, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, subset=2048, stop_after_epoch=1)  # the warm-up
    assert checkpoint.snapshot_path(name, results_dir).exists()
    with pytest.raises(StalledError, match=r"\[t_stuck__seed0__subset2048\] stalled at chance level: training "
                                           r"loss 2\.30\d\d through epoch 2, after a 1-epoch warm-up.*kept in .*"
                                           r"stalls/t_stuck__seed0__subset2048\.json.*--restart`$"):
        run(stuck, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, subset=2048, resume=True)
    assert not checkpoint.snapshot_path(name, results_dir).exists()
    assert checkpoint.load(checkpoint.cache_path(name, shared_decoded))["epoch"] == 2
    [kept] = results.given_up(results_dir)
    assert kept["run"] == name and len(kept["history"]) == 2 == kept["epochs_trained"]
    assert kept["given_up_because"].startswith("stalled at chance level: training loss 2.30")
    assert kept["config"]["train"]["lr"] == 1e-9 and kept["wall_seconds"] > 0
    healthy = tiny("t_unstuck", epochs=2, batch_size=32)
    assert len(run(healthy, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, subset=2048)["history"]) == 2


def test_chance_level_is_ln_of_the_nets_number_of_classes():
    """CIFAR-100's chance-level loss is ln 100 = 4.61: a 100-class net at
    ln 10 = 2.30 has learned a lot, one at ln 100 has learned nothing."""
    import math

    from nin_repro.experiments import get
    from nin_repro.train import _stalled

    cfg = get("cifar100_full").train
    at = lambda loss, classes, epoch=1: _stalled({"train_loss": loss}, epoch, cfg, classes, 390)  # noqa: E731
    assert at(math.log(100), 100) and not at(math.log(10), 100)
    assert at(math.log(10), 10) and not at(math.log(100), 10)
    assert not at(math.log(100), 100, epoch=0)  # the warm-up epoch is not judged
    assert get("cifar100_full").model.num_classes == 100  # what train() passes as `classes`


def test_a_corrupt_checkpoint_is_an_error_naming_the_file(data_dir, cache_dir, tmp_path, shared_decoded):
    """One flipped byte (or a missing checksum) stops the run before training,
    with the file's name: never a silent resume, never a diverging loss."""
    exp = tiny("t_corrupt", epochs=2)
    assert run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, stop_after_epoch=1) is None
    snapshot = checkpoint.snapshot_path("t_corrupt__seed0__subset1024", tmp_path / "results")
    checkpoint.remove(checkpoint.cache_path("t_corrupt__seed0__subset1024", shared_decoded))  # a fresh machine
    data = bytearray(snapshot.read_bytes())
    data[len(data) // 2] ^= 0xFF
    snapshot.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=rf"{snapshot} is corrupt: its SHA-256 is"):
        run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, resume=True)
    snapshot.with_name(snapshot.name + ".sha256").unlink()
    with pytest.raises(CheckpointError, match="has no checksum file"):
        run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, resume=True)


def test_a_stopped_run_leaves_its_snapshot_in_the_repository_and_a_fresh_machine_resumes_from_it(
        data_dir, cache_dir, tmp_path, shared_decoded):
    """Stopped: the snapshot (fp32 weights and momentum, checksummed) lies in
    results/checkpoints/; a machine with an empty cache resumes from it and
    ends where an uninterrupted run ends; finished, the snapshot leaves the
    tree and fp16 weights take its place."""
    exp = tiny("t_snapshot", epochs=2)
    name = "t_snapshot__seed0__subset1024"
    straight = run(exp, tmp_path / "a", data_dir, cache_dir, ckpt=tmp_path / "other", write=False)
    assert run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, stop_after_epoch=1) is None
    snapshot = checkpoint.snapshot_path(name, tmp_path / "results")
    state = checkpoint.load(snapshot)
    assert state["epoch"] == 1 and set(state) == {"config", "epoch", "history", "wall_seconds", "model",
                                                   "optimizer", "rng", "provenance"}
    assert state["provenance"]["torch_version"] == torch.__version__
    assert "sha256" in state["provenance"]["data_source"] and state["provenance"]["git_commit"]
    assert all(v.dtype == torch.float32 for v in state["model"].values())
    assert snapshot.stat().st_size < 8_000_000
    checkpoint.remove(checkpoint.cache_path(name, shared_decoded))  # the cache did not survive the move
    resumed = run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, resume=True)
    assert [h["test_loss"] for h in resumed["history"]] == [h["test_loss"] for h in straight["history"]]
    assert not snapshot.exists() and not snapshot.with_name(snapshot.name + ".sha256").exists()
    weights = checkpoint.load_weights(checkpoint.weights_path(name, tmp_path / "results"))
    final = checkpoint.load(checkpoint.cache_path(name, shared_decoded))["model"]
    assert weights.keys() == final.keys()
    assert all(torch.allclose(weights[k], final[k], rtol=1e-3, atol=1e-4) for k in final)


def test_the_newer_of_cache_and_snapshot_is_resumed(data_dir, cache_dir, tmp_path, shared_decoded):
    exp = tiny("t_newer", epochs=3)
    name = "t_newer__seed0__subset1024"
    assert run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, stop_after_epoch=1) is None
    old = checkpoint.load(checkpoint.snapshot_path(name, tmp_path / "results"))
    assert run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, stop_after_epoch=2, resume=True) is None
    checkpoint.save(checkpoint.snapshot_path(name, tmp_path / "results"), old)  # an older copy in the repository
    found_path, found = checkpoint.newest(name, shared_decoded, tmp_path / "results")
    assert found["epoch"] == 2 and found_path == checkpoint.cache_path(name, shared_decoded)
    checkpoint.remove(checkpoint.cache_path(name, shared_decoded))
    assert checkpoint.newest(name, shared_decoded, tmp_path / "results")[1]["epoch"] == 1


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), OSError(28, "No space left on device")],
                         ids=["interrupted", "disk-full"])
def test_an_interrupted_or_failed_run_leaves_its_last_complete_epoch_in_the_repository(
        stop, data_dir, cache_dir, tmp_path, shared_decoded, monkeypatch):
    """Ctrl-C (SIGTERM through the CLI) or any other failure but a stall or
    a divergence: the last good epoch goes into the repository, since a cache
    may not outlive the machine."""
    import nin_repro.train as train_module

    real = train_module.train_epoch

    def stopped_in_epoch_2(*args, **kw):
        if kw["epoch"] == 1:  # the second epoch
            raise stop
        return real(*args, **kw)

    monkeypatch.setattr(train_module, "train_epoch", stopped_in_epoch_2)
    with pytest.raises(type(stop)):
        run(tiny("t_interrupt", epochs=3), tmp_path, data_dir, cache_dir, ckpt=shared_decoded)
    assert checkpoint.load(checkpoint.snapshot_path("t_interrupt__seed0__subset1024", tmp_path / "results")
                           )["epoch"] == 1



def test_a_stopped_run_says_where_its_last_epoch_is_or_that_none_is_kept(tmp_path):
    """The failure handler on its own: a full disk names the file and where
    the run's state is (or that no epoch had completed); a snapshot that
    cannot be written is reported, and what stopped the run still surfaces."""
    from nin_repro.atomic import DiskFullError
    from nin_repro.train import _keep_last_epoch

    lines = []
    ckpt, snapshot = tmp_path / "cache" / "r.pt", tmp_path / "results" / "checkpoints" / "r.pt"
    full = DiskFullError(tmp_path / "cache" / "r.pt")
    told = _keep_last_epoch(full, "r", None, snapshot, True, lines.append)
    assert isinstance(told, DiskFullError) and "no epoch had completed, so nothing is kept" in str(told)
    assert _keep_last_epoch(KeyboardInterrupt(), "r", None, snapshot, True, lines.append) is None
    assert not snapshot.exists() and lines == []

    checkpoint.save(ckpt, {"epoch": 1})
    told = _keep_last_epoch(full, "r", ckpt, snapshot, True, lines.append)
    assert f"the last epoch is kept in {snapshot}" in str(told) and checkpoint.load(snapshot)["epoch"] == 1
    assert lines == [f"[r] stopped by DiskFullError; the last complete epoch is kept in {snapshot}; "
                     "continue with --resume"]

    blocked = tmp_path / "results2"
    blocked.write_text("a file where the results folder should be")
    lines.clear()
    assert _keep_last_epoch(KeyboardInterrupt(), "r", ckpt, blocked / "checkpoints" / "r.pt", True,
                            lines.append) is None
    assert len(lines) == 1 and lines[0].startswith("[r] interrupted; its state could not be left in the repository")


def test_an_unfinished_run_is_not_overwritten_without_resume(data_dir, cache_dir, tmp_path, shared_decoded):
    exp = tiny("t_overwrite", epochs=2)
    assert run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, stop_after_epoch=1) is None
    ckpt = checkpoint.cache_path("t_overwrite__seed0__subset1024", shared_decoded)
    stamp = ckpt.stat().st_mtime_ns
    with pytest.raises(ValueError, match=r"unfinished checkpoint \(after epoch 1\).*pass --resume"):
        run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded)
    assert ckpt.stat().st_mtime_ns == stamp


def test_published_caffe_rates_become_parameter_groups():
    """Biases at 2x without decay, the class maps (weights and bias) at 0.1x,
    everything else at 1x with weight decay; the default config: one group."""
    from nin_repro.experiments import FULL_TRAIN, CIFAR_FULL_MODEL

    model = NiN(CIFAR_FULL_MODEL)
    groups = {(g["lr_mult"], g["weight_decay"]): g["params"] for g in param_groups(model, FULL_TRAIN)}
    class_maps = model.class_map_layer()
    assert class_maps.out_channels == 10 and class_maps.kernel_size == (1, 1)
    assert groups[(0.1, 1e-4)] == [class_maps.weight] and groups[(0.2, 0.0)] == [class_maps.bias]
    assert all(p.dim() == 1 for p in groups[(2.0, 0.0)]) and all(p.dim() == 4 for p in groups[(1.0, 1e-4)])
    assert sum(len(ps) for ps in groups.values()) == len(list(model.parameters()))
    plain = param_groups(model, TrainConfig(epochs=1))
    assert len(plain) == 1 and plain[0]["lr_mult"] == 1.0 and plain[0]["weight_decay"] == 5e-4
    # the group's rate follows the schedule: 0.1 x 0.01 after the second drop
    assert learning_rate(FULL_TRAIN, 230, 0, 390) * 0.1 == pytest.approx(1e-4)
    assert learning_rate(FULL_TRAIN, 199, 389, 390) == pytest.approx(0.1)
    assert learning_rate(FULL_TRAIN, 200, 0, 390) == pytest.approx(0.01)
    # warmed up over the first epoch (without it the first full-length CIFAR-10 run stalled)
    assert learning_rate(FULL_TRAIN, 0, 0, 390) == pytest.approx(0.1 / 390)
    assert learning_rate(FULL_TRAIN, 0, 389, 390) == pytest.approx(0.1)


def test_diverging_loss_stops_with_a_clear_error_and_keeps_the_checkpoint(data_dir, cache_dir, tmp_path,
                                                                       shared_decoded, monkeypatch):
    import nin_repro.train as train_module

    # A sane first epoch, then a learning rate that blows the weights up.
    monkeypatch.setattr(train_module, "learning_rate", lambda cfg, epoch, step, steps: 0.05 if epoch == 0 else 1e9)
    exp = tiny("t_diverge", epochs=3, warmup_epochs=0)
    with pytest.raises(DivergedError, match=r"loss became nan in epoch 2 .*its state after epoch 1 is kept in "):
        run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded)
    assert not (tmp_path / "results" / "runs").exists()  # no record of a failed run
    state = checkpoint.load(checkpoint.cache_path("t_diverge__seed0__subset1024", shared_decoded))
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    # not left in the repository: resumed, it would diverge again, and the book would show it in progress
    assert not checkpoint.snapshot_path("t_diverge__seed0__subset1024", tmp_path / "results").exists()
    [kept] = results.given_up(tmp_path / "results")  # given up: the book shows what it cost
    assert kept["given_up_because"].startswith("loss became nan in epoch 2") and len(kept["history"]) == 1


def test_a_redo_that_finished_but_could_not_write_its_record_writes_it_when_run_again(
        data_dir, cache_dir, tmp_path, shared_decoded, monkeypatch):
    import nin_repro.train as train_module

    exp = tiny("t_redo_record", epochs=1)
    name = "t_redo_record__seed0__subset1024"
    first = run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded)
    with monkeypatch.context() as m:
        m.setattr(results, "write_record", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "disk full")))
        with pytest.raises(OSError):
            run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, restart=True)
    redo = checkpoint.load(checkpoint.cache_path(name, shared_decoded))
    assert redo["history"] != first["history"]  # its own epochs (their seconds differ), no record yet
    # its state beside the earlier record in the repository too: `reproduce` resumes it, not "done"
    assert checkpoint.load(checkpoint.snapshot_path(name, tmp_path / "results"))["history"] == redo["history"]
    # with or without --resume it is completed from its checkpoint: never trained from scratch over the record
    monkeypatch.setattr(train_module, "train_epoch", lambda *a, **k: pytest.fail("an epoch was trained"))
    rec = run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded)
    assert rec["history"] == redo["history"]
    assert results.read_record(results.record_path(name, tmp_path / "results"))["history"] == \
        redo["history"]


@pytest.mark.parametrize("kw, message", [
    (dict(epochs=-1), "epochs must be a positive integer, got -1"),
    (dict(batch_size=0), "batch size must be a positive integer, got 0"),
    (dict(batch_size=-8), "batch size must be a positive integer, got -8"),
    (dict(subset=0), "subset must be a positive integer, got 0"),
    (dict(seed=-1), "seed must be an integer from 0 to 2147483647, got -1"),
    (dict(seed=2**64 - 1), "seed must be an integer from 0 to 2147483647"),
])
def test_bad_numbers_are_refused_before_any_data_is_read(kw, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        run(tiny("t_bad"), tmp_path, tmp_path / "no-data-here", tmp_path, **kw)
    assert not (tmp_path / "results").exists()


def test_a_resolved_run_knows_its_name_and_its_configuration(monkeypatch):
    """Epochs (where they differ from the experiment's), subset and batch size
    name the run; precision and compile change its training configuration,
    not its name; `config` is what its checkpoints and record store."""
    assert resolve_run("mnist", 3, epochs=15).name == "mnist__seed3"  # mnist's own 15 epochs
    short = resolve_run("mnist", epochs=2, subset=256, batch_size=64, precision="fp32", compile=False)
    assert short.name == "mnist__seed0__batch64_epochs2_subset256" and short.subset == 256
    assert (short.train.epochs, short.train.batch_size, short.train.precision) == (2, 64, "fp32")
    assert list(short.config) == ["experiment", "dataset", "preprocess", "paper_key", "model", "train", "seed",
                                  "overrides", "description"]
    assert short.config["overrides"] == {"epochs": 2, "subset": 256, "batch": 64}
    assert short.config["train"] == short.train.to_dict() and short.config["seed"] == 0
    # Under torchrun the number of processes is part of the configuration,
    # and the batch is split among them.
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert resolve_run("mnist").config["world_size"] == 2
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ValueError, match="batch size 128 is not divisible by the 3 processes"):
        resolve_run("mnist")


@pytest.mark.parametrize("kw, message", [
    (dict(seed=True), "seed must be an integer from 0 to 2147483647, got True"),
    (dict(seed="0"), "seed must be an integer from 0 to 2147483647, got '0'"),
    (dict(epochs=1.5), "epochs must be a positive integer, got 1.5"),
    (dict(batch_size=0), "batch size must be a positive integer, got 0"),
    (dict(precision="fp16"), "unknown precision 'fp16'"),
    (dict(device="tpu9"), "unknown device 'tpu9'"),
])
def test_resolve_run_refuses_a_bad_argument_with_one_line(kw, message):
    seed = kw.pop("seed", 0)
    with pytest.raises(ValueError, match=message):
        resolve_run("mnist", seed, data_dir="/no-data-here", **kw)  # no data is read


@pytest.mark.parametrize("where", ["file", "read-only", "refused by the filesystem"])
def test_an_unwritable_results_folder_is_refused_before_training(where, tmp_path):
    import os

    results_dir = tmp_path / "results"
    if where == "file":
        results_dir.write_text("not a folder")
        message = "is a file, not a folder"
    elif where == "read-only":
        results_dir.mkdir()
        os.chmod(results_dir, 0o500)
        if os.access(results_dir, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        message = "is not writable"
    else:
        # /proc takes no new folder, not even root's, though os.access tells root it may write there
        if not Path("/proc/self").is_dir():
            pytest.skip("no /proc on this system")
        results_dir = Path("/proc/nin-repro-results")
        message = r"cannot write run records to /proc/nin-repro-results/runs: /proc is not writable \("
    with pytest.raises(ValueError, match=message):  # the data folder is never reached
        train(resolve_run(tiny("t_unwritable"), data_dir=tmp_path / "no-data-here", cache_dir=tmp_path / "cache",
                          results_dir=results_dir), progress=False, log=lambda *_: None)


def test_a_cache_folder_that_cannot_be_made_is_one_line_naming_it(tmp_path, capsys):
    from nin_repro import cli

    blocked = tmp_path / "a-file"
    blocked.write_text("a file where the cache folder would go")
    with pytest.raises(ValueError, match=rf"cannot use {blocked / 'cache'} as the cache folder .*NIN_CACHE"):
        train(resolve_run(tiny("t_cache_file"), data_dir=tmp_path / "no-data-here", cache_dir=blocked / "cache",
                          results_dir=tmp_path / "results"), progress=False, log=lambda *_: None)
    assert cli.main(["train", "--experiment", "mnist", "--cache-dir", str(blocked / "cache"),
                     "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "as the cache folder" in err


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="unknown experiment 'cifar11'; known experiments: mnist"):
        resolve_run("cifar11")


def test_cuda_requested_without_a_gpu_is_explained(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a machine without one
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")


def test_schedule_warms_up_then_divides_by_ten_twice():
    cfg = TrainConfig(epochs=20, lr=0.1, warmup_epochs=1)
    assert cfg.milestones() == (12, 17)
    assert learning_rate(cfg, 0, 0, 100) == pytest.approx(0.001)
    assert learning_rate(cfg, 0, 99, 100) == pytest.approx(0.1)
    assert learning_rate(cfg, 11, 5, 100) == pytest.approx(0.1)
    assert learning_rate(cfg, 12, 0, 100) == pytest.approx(0.01)
    assert learning_rate(cfg, 19, 99, 100) == pytest.approx(0.001)


def test_fast_step_matches_a_plain_fp32_step():
    """bf16 autocast + channels-last (the default path) against fp32 NCHW on
    the same weights and batch: loss within 2% and every gradient with cosine
    similarity above 0.99 to the fp32 one."""
    from nin_repro.model import ModelConfig

    torch.manual_seed(0)
    ref = NiN(ModelConfig(dropout=0.0))
    fast = NiN(ModelConfig(dropout=0.0)).to(memory_format=torch.channels_last)
    fast.load_state_dict(ref.state_dict())
    x, y = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
    loss_ref = torch.nn.functional.cross_entropy(ref(x), y)
    loss_ref.backward()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss_fast = torch.nn.functional.cross_entropy(fast(x.contiguous(memory_format=torch.channels_last)).float(), y)
    loss_fast.backward()
    assert abs(loss_fast.item() - loss_ref.item()) / loss_ref.item() < 0.02
    for (name, p_ref), p_fast in zip(ref.named_parameters(), fast.parameters()):
        cos = torch.nn.functional.cosine_similarity(p_ref.grad.flatten(), p_fast.grad.flatten(), dim=0)
        assert cos > 0.99, (name, cos.item())


def test_onecycle_rises_over_the_warmup_then_falls_to_zero():
    cfg = TrainConfig(epochs=10, lr=0.2, warmup_epochs=2, schedule="onecycle")
    assert cfg.milestones() == ()
    rates = [learning_rate(cfg, e, s, 50) for e in range(10) for s in range(50)]
    peak = rates.index(max(rates))
    assert max(rates) == pytest.approx(0.2) and peak == 2 * 50 - 1
    assert all(a < b for a, b in zip(rates[:peak], rates[1:peak + 1]))
    assert all(a > b for a, b in zip(rates[peak:-1], rates[peak + 1:]))
    assert rates[-1] == pytest.approx(0.0, abs=1e-12) and rates[0] == pytest.approx(0.2 / 100)
    with pytest.raises(ValueError, match="unknown schedule"):
        learning_rate(TrainConfig(epochs=2, schedule="cosine"), 0, 0, 10)


def test_fast_recipe_trains_and_resumes_with_batchnorm(data_dir, cache_dir, tmp_path, shared_decoded):
    """BatchNorm + one-cycle + label smoothing + Nesterov on the tiny net:
    the loss falls, and a run stopped after epoch 1 and resumed equals an
    uninterrupted one (BatchNorm's running statistics are checkpointed)."""
    exp = tiny("t_fast", epochs=2, schedule="onecycle", warmup_epochs=0.5, label_smoothing=0.1, nesterov=True,
               lr=0.1)
    exp = replace(exp, model=replace(exp.model, batchnorm=True))
    whole = run(exp, tmp_path / "a", data_dir, cache_dir, ckpt=shared_decoded)
    assert whole["history"][1]["train_loss"] < whole["history"][0]["train_loss"]
    assert whole["history"][1]["test_error"] < 50
    # another cache: the finished checkpoint in this one would be completed, not trained again
    other = tmp_path / "other"
    other.mkdir()
    (other / "decoded").symlink_to(shared_decoded / "decoded", target_is_directory=True)
    assert run(exp, tmp_path / "b", data_dir, cache_dir, ckpt=other, stop_after_epoch=1, write=False) is None
    resumed = run(exp, tmp_path / "b", data_dir, cache_dir, ckpt=other, resume=True)
    assert [h["test_loss"] for h in resumed["history"]] == [h["test_loss"] for h in whole["history"]]


def test_the_full_length_protocol_tests_every_5th_epoch_of_its_first_stage_then_every_epoch():
    from nin_repro.experiments import get

    cfg = get("cifar10_aug_full").train
    assert [e + 1 for e in range(cfg.epochs) if cfg.tests_after(e)] == [*range(5, 200, 5), *range(200, 261)]
    assert all(get(name).train.tests_after(e) for name in ("cifar10", "mnist_full") for e in range(60))
    with pytest.raises(ValueError, match="test_every must be a positive integer"):
        TrainConfig(epochs=2, test_every=0)


def test_testing_fewer_epochs_trains_the_same_net_and_resumes_across_cadences(data_dir, cache_dir, tmp_path,
                                                                              shared_decoded):
    """Evaluation draws no random numbers: a run tested after epochs 2 and 3
    only (every 2nd, and the last) trains what a run tested every epoch does,
    dropout and all; its untested epoch has no test numbers; and a snapshot
    left under one cadence resumes under the other."""
    def own_cache(where):  # each run its own checkpoints (they share a name), the decoded data shared
        (where / "ckpt").mkdir(parents=True)
        (where / "ckpt" / "decoded").symlink_to(shared_decoded / "decoded", target_is_directory=True)
        return where / "ckpt"

    every = tiny("t_every", dropout=0.5, epochs=3, lr_drop_epochs=(10,))
    sparse = replace(every, train=replace(every.train, test_every=2))
    whole = run(every, tmp_path / "a", data_dir, cache_dir, ckpt=own_cache(tmp_path / "a"), write=False)
    some = run(sparse, tmp_path / "b", data_dir, cache_dir, ckpt=own_cache(tmp_path / "b"))  # its record validates
    assert [h["test_error"] is None for h in some["history"]] == [True, False, False]
    assert some["history"][0]["test_loss"] is None and some["history"][0]["eval_images_per_second"] is None
    train_numbers = ("train_loss", "train_error", "lr")
    assert [[h[k] for k in train_numbers] for h in some["history"]] == \
        [[h[k] for k in train_numbers] for h in whole["history"]]
    assert [h["test_loss"] for h in some["history"][1:]] == [h["test_loss"] for h in whole["history"][1:]]
    c = own_cache(tmp_path / "c")
    assert run(sparse, tmp_path / "c", data_dir, cache_dir, ckpt=c, stop_after_epoch=1) is None
    resumed = run(every, tmp_path / "c", data_dir, cache_dir, ckpt=c, resume=True)
    assert resumed["history"][0]["test_error"] is None
    assert [h["test_loss"] for h in resumed["history"][1:]] == [h["test_loss"] for h in whole["history"][1:]]


def test_deadline_stops_before_an_epoch_that_would_end_past_it(data_dir, cache_dir, tmp_path, shared_decoded,
                                                                  monkeypatch):
    from nin_repro import train as train_module

    # A frozen wall clock: the deadline never passes, so only the forecast
    # (now + the epoch just measured) can stop the run.
    clock = frozen_clock()
    now = clock.time()
    monkeypatch.setattr(train_module, "time", clock)
    exp = tiny("t_deadline", epochs=3)
    assert run(exp, tmp_path / "a", data_dir, cache_dir, ckpt=shared_decoded, deadline=now + 1e-6) is None
    assert checkpoint.load(checkpoint.cache_path("t_deadline__seed0__subset1024", shared_decoded))["epoch"] == 1
    record = run(exp, tmp_path / "b", data_dir, cache_dir, ckpt=shared_decoded, resume=True, deadline=now + 1e6)
    assert record is not None and len(record["history"]) == 3


def test_restart_starts_an_unfinished_run_again(data_dir, cache_dir, tmp_path, shared_decoded):
    exp = tiny("t_restart", epochs=2)
    assert run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, stop_after_epoch=1) is None
    rec = run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, restart=True)
    fresh = run(exp, tmp_path / "fresh", data_dir, cache_dir, ckpt=tmp_path / "elsewhere", write=False)
    assert [h["test_loss"] for h in rec["history"]] == [h["test_loss"] for h in fresh["history"]]


def test_restart_deletes_a_corrupt_checkpoint_without_reading_it(data_dir, cache_dir, tmp_path, shared_decoded):
    exp = tiny("t_restart_corrupt", epochs=2)
    assert run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, stop_after_epoch=1) is None
    for path in (checkpoint.cache_path("t_restart_corrupt__seed0__subset1024", shared_decoded),
                 checkpoint.snapshot_path("t_restart_corrupt__seed0__subset1024", tmp_path / "results")):
        path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(CheckpointError, match="is corrupt"):
        run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, resume=True)
    assert run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, restart=True)["epochs"] == 2


def test_a_finished_run_is_trained_again_only_with_restart(data_dir, cache_dir, tmp_path, shared_decoded):
    """Its record is never overwritten by a run from scratch or from a
    checkpoint older than the record (a stale cache on a machine the run
    moved off)."""
    exp = tiny("t_finished", epochs=2)
    name = "t_finished__seed0__subset1024"
    assert run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, stop_after_epoch=1) is None
    stale = checkpoint.load(checkpoint.cache_path(name, shared_decoded))
    rec = run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, resume=True)
    record = results.record_path(name, tmp_path / "results")
    stamp = record.stat().st_mtime_ns
    with pytest.raises(ValueError, match=rf"{name} has finished already \({rec['test_error']:.2f}% after 2 "
                                         r"epochs.*pass --restart"):
        run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded)
    checkpoint.save(checkpoint.cache_path(name, shared_decoded), stale)  # the cache of an earlier machine
    with pytest.raises(ValueError, match="is from before that record"):
        run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, resume=True)
    assert record.stat().st_mtime_ns == stamp
    again = run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, restart=True)
    assert [h["test_loss"] for h in again["history"]] == [h["test_loss"] for h in rec["history"]]


def test_the_weights_are_written_before_the_record_that_marks_a_run_done(data_dir, cache_dir, tmp_path,
                                                                         shared_decoded, monkeypatch):
    def full_disk(*args, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "save_weights", full_disk)
    with pytest.raises(OSError, match="No space left"):
        run(tiny("t_order", epochs=1), tmp_path, data_dir, cache_dir, ckpt=shared_decoded)
    assert not (results.runs_dir(tmp_path / "results") / "t_order__seed0__subset1024.json").exists()


def test_a_stop_held_back_during_the_final_write_leaves_no_snapshot_beside_the_record(
        data_dir, cache_dir, tmp_path, shared_decoded, monkeypatch):
    """Ctrl-C or SIGTERM during the final write is delivered when the writes
    are done: the run is finished, and no snapshot says it is in progress."""
    import contextlib

    name = "t_held__seed0__subset1024"
    record = results.record_path(name, tmp_path / "results")

    @contextlib.contextmanager
    def delivered_at_the_end():  # a signal that arrived during the writes that wrote the record
        yield
        if record.exists():
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "signals_held", delivered_at_the_end)
    with pytest.raises(KeyboardInterrupt):
        run(tiny("t_held", epochs=1), tmp_path, data_dir, cache_dir, ckpt=shared_decoded)
    assert record.exists()
    assert not checkpoint.snapshot_path(name, tmp_path / "results").exists()


def test_a_snapshot_holding_more_epochs_is_not_replaced_by_a_shorter_run(data_dir, cache_dir, tmp_path,
                                                                        shared_decoded):
    """Two trainings of one run (one brought back from another machine while
    this one trained): the repository keeps the longer."""
    exp = tiny("t_longer", epochs=3)
    name = "t_longer__seed0__subset1024"
    assert run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, stop_after_epoch=2) is None
    longer = checkpoint.load(checkpoint.snapshot_path(name, tmp_path / "results"))
    other_cache = tmp_path / "other"
    other_cache.mkdir()
    (other_cache / "decoded").symlink_to(shared_decoded / "decoded", target_is_directory=True)
    checkpoint.remove(checkpoint.snapshot_path(name, tmp_path / "results"))
    assert run(exp, tmp_path, data_dir, cache_dir, ckpt=other_cache, stop_after_epoch=1) is None
    checkpoint.save(checkpoint.snapshot_path(name, tmp_path / "results"), longer)  # collected meanwhile
    said = []
    it = resolve_run(exp, 0, subset=1024, data_dir=data_dir, cache_dir=other_cache, results_dir=tmp_path / "results")
    import nin_repro.train as train_module

    where = train_module._leave_snapshot(checkpoint.cache_path(name, other_cache),
                                         checkpoint.snapshot_path(name, it.results_dir), True, said.append)
    assert where == checkpoint.cache_path(name, other_cache)
    assert checkpoint.load(checkpoint.snapshot_path(name, tmp_path / "results"))["epoch"] == 2
    assert "holds 2 epochs, more than the 1" in said[0]


def test_a_second_process_on_the_same_run_is_refused_and_a_stale_lock_taken_over(tmp_path):
    import os
    import subprocess
    import sys

    from nin_repro.lock import run_lock

    lock = tmp_path / "r__seed0.lock"
    with run_lock(lock):
        with pytest.raises(ValueError, match=rf"r__seed0 is already training in process {os.getpid()}"):
            with run_lock(lock):
                pass
    assert not lock.exists()  # released
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    import socket

    lock.write_text(f"{dead} {socket.gethostname()}\n")  # left by a process that was killed
    with run_lock(lock):
        assert lock.read_text().split()[0] == str(os.getpid())
    # created empty, written an instant later: a run taking the lock now, not a stale lock
    import threading

    lock.write_text("")
    threading.Timer(0.2, lambda: lock.write_text(f"{os.getpid()} {socket.gethostname()}\n")).start()
    with pytest.raises(ValueError, match="is already training"):
        with run_lock(lock):
            pass
    lock.write_text("")  # and empty for good: left by a process killed between creating and writing it
    with run_lock(lock):
        assert lock.read_text().split()[0] == str(os.getpid())


def test_a_snapshot_written_by_the_committed_format_still_resumes(data_dir, cache_dir, tmp_path, shared_decoded):
    """tests/fixtures holds a snapshot of a tiny run after epoch 1, as the
    library writes them. Full-length runs in progress have such snapshots
    committed in results/checkpoints/: a change to the checkpoint or
    configuration format must keep them resuming (migrate them, and this
    fixture, in the same change), or this test fails."""
    import shutil
    from pathlib import Path

    fixtures = Path(__file__).parent / "fixtures"
    snapshot = checkpoint.snapshot_path("t_format__seed0__subset256", tmp_path / "results")
    snapshot.parent.mkdir(parents=True)
    for suffix in (".pt", ".pt.sha256"):
        shutil.copy(fixtures / f"t_format__seed0__subset256{suffix}", snapshot.parent)
    before = checkpoint.load(snapshot)
    rec = run(tiny("t_format", epochs=2, dropout=0.5), tmp_path, data_dir, cache_dir, ckpt=shared_decoded,
              subset=256, resume=True)
    assert rec["history"][0] == before["history"][0] and len(rec["history"]) == 2
