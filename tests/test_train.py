import json
from dataclasses import replace

import pytest
import torch

from nin_repro import experiments, results
from nin_repro.experiments import TrainConfig
from nin_repro.train import (CheckpointError, DivergedError, bf16_is_native, checkpoint_path, evaluate,
                             learning_rate, load_inputs, read_checkpoint, resolve_device, resolve_precision,
                             train)
from nin_repro.loader import TensorLoader
from nin_repro.model import NiN
from tiny import frozen_clock, tiny


def run(exp, tmp_path, data_dir, cache_dir, **kw):
    kw.setdefault("subset", 1024)
    return train(exp, seed=kw.pop("seed", 0), data_dir=data_dir, cache_dir=kw.pop("ckpt", tmp_path / "ckpt"),
                 results_dir=tmp_path / "results", progress=False, log=lambda *_: None, **kw)


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
    loss_sum, _ = evaluate(NiN(exp.model).to(memory_format=torch.channels_last),
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
    assert not results.is_protocol_run(on_disk)


def test_auto_precision_is_bf16_only_where_the_device_has_it_natively():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == ("bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    with pytest.raises(ValueError, match="unknown precision 'fp16'; use 'auto'"):
        resolve_precision("fp16", cpu)
    assert TrainConfig(epochs=1).precision == "auto"  # the library's default path picks for the machine


def test_record_stores_the_precision_that_ran(data_dir, cache_dir, tmp_path, shared_decoded):
    rec = run(tiny("t_precision", epochs=1), tmp_path, data_dir, cache_dir, ckpt=shared_decoded, subset=256,
              write=False)
    expected = "bf16" if bf16_is_native(torch.device("cpu")) else "fp32"
    assert rec["config"]["train"]["precision"] == expected


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
    assert not (tmp_path / "b" / "results").exists()  # an unfinished run writes no record
    resumed = run(exp, tmp_path / "c", data_dir, cache_dir, ckpt=shared_decoded, resume=True, write=False)
    for key in ("train_loss", "train_error", "test_loss", "test_error", "lr"):
        assert [h[key] for h in resumed["history"]] == [h[key] for h in straight["history"]]


def test_resume_refuses_a_checkpoint_of_another_configuration(data_dir, cache_dir, tmp_path, shared_decoded):
    exp = tiny("t_mismatch", epochs=2)
    run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, stop_after_epoch=1)
    other = replace(exp, train=replace(exp.train, lr=0.01))
    with pytest.raises(CheckpointError, match="another configuration"):
        run(other, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, resume=True)


def test_resume_on_another_kind_of_machine_keeps_the_checkpoints_precision(data_dir, cache_dir, tmp_path,
                                                                            shared_decoded):
    """A run started in the precision `auto` would not pick here (as when it
    began on a machine with native bf16, or without) continues in that
    precision under `auto`, names each epoch's machine, and refuses a forced
    other precision with an error that names the setting."""
    exp = tiny("t_keep_precision", epochs=2)
    here = resolve_precision("auto", torch.device("cpu"))
    there = "fp32" if here == "bf16" else "bf16"
    assert run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, subset=256, precision=there,
               stop_after_epoch=1) is None
    with pytest.raises(CheckpointError, match=f"train.precision: '{there}' there, '{here}' here"):
        run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, subset=256, precision=here, resume=True)
    rec = run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, subset=256, resume=True, write=False)
    assert rec["config"]["train"]["precision"] == there and len(rec["history"]) == 2
    machine = rec["device"] + f", {torch.backends.cpu.get_cpu_capability()}"
    assert [h["machine"] for h in rec["history"]] == [machine, machine]


def test_torn_checkpoint_is_detected(data_dir, cache_dir, tmp_path, shared_decoded):
    exp = tiny("t_torn", epochs=1)
    path = checkpoint_path("t_torn__seed0__subset1024", shared_decoded)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK\x03\x04torn")
    with pytest.raises(CheckpointError, match="torn or unreadable"):
        run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded, resume=True)


def test_diverging_loss_stops_with_a_clear_error_and_keeps_the_checkpoint(data_dir, cache_dir, tmp_path,
                                                                       shared_decoded, monkeypatch):
    import nin_repro.train as train_module

    # A sane first epoch, then a learning rate that blows the weights up.
    monkeypatch.setattr(train_module, "learning_rate", lambda cfg, epoch, step, steps: 0.05 if epoch == 0 else 1e9)
    exp = tiny("t_diverge", epochs=3, warmup_epochs=0)
    with pytest.raises(DivergedError, match=r"in epoch 2 .*last good checkpoint \(after epoch 1\)"):
        run(exp, tmp_path, data_dir, cache_dir, ckpt=shared_decoded)
    assert not (tmp_path / "results" / "runs").exists()  # no record of a failed run
    state = torch.load(checkpoint_path("t_diverge__seed0__subset1024", shared_decoded), weights_only=False)
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_bad_parameters_are_rejected(data_dir, cache_dir, tmp_path):
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        run(tiny("t_bad"), tmp_path, data_dir, cache_dir, epochs=-1)
    with pytest.raises(ValueError, match="unknown experiment 'cifar11'; known experiments: mnist"):
        train("cifar11")


def test_cuda_requested_without_a_gpu_is_explained():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu9")


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
    assert run(exp, tmp_path / "b", data_dir, cache_dir, ckpt=shared_decoded, stop_after_epoch=1,
               write=False) is None
    resumed = run(exp, tmp_path / "b", data_dir, cache_dir, ckpt=shared_decoded, resume=True)
    assert [h["test_loss"] for h in resumed["history"]] == [h["test_loss"] for h in whole["history"]]


def test_checkpoints_of_an_older_release_still_resume():
    """A setting added to the library later (e.g. `schedule`) at its default
    matches a checkpoint written before it existed; any other change does not."""
    from nin_repro.train import same_config

    exp = experiments.get("cifar10")
    current = {"experiment": "cifar10", "model": exp.model.to_dict(), "train": exp.train.to_dict(), "seed": 0}
    old = {**current, "train": {k: v for k, v in current["train"].items() if k not in ("schedule", "nesterov")},
           "model": {k: v for k, v in current["model"].items() if k != "batchnorm"}}
    assert same_config(old, current)
    assert not same_config({**old, "seed": 1}, current)
    changed = {**current, "train": {**current["train"], "schedule": "onecycle"}}
    assert not same_config(old, changed)
    assert not same_config(None, current)


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
    assert read_checkpoint(checkpoint_path("t_deadline__seed0__subset1024", shared_decoded))["epoch"] == 1
    record = run(exp, tmp_path / "b", data_dir, cache_dir, ckpt=shared_decoded, resume=True, deadline=now + 1e6)
    assert record is not None and len(record["history"]) == 3
