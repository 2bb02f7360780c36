import pytest
import torch

from nin_repro import checkpoint, experiments, results
from nin_repro.evaluate import evaluate_run
from nin_repro.run_config import resolve_run
from nin_repro.train import train
from tiny import tiny


def test_saved_weights_give_the_records_test_error_and_a_damaged_file_is_refused(data_dir, cache_dir, tmp_path, monkeypatch):
    """A finished run's fp16 weights, evaluated alone, give the error its
    record holds, within 0.05 points; a flipped byte in them is refused.
    In fp32: a tiny net after one epoch is near chance, its top two logits
    often within 1e-3 of each other, and bf16's rounding (in other kernels
    than training's) flips some of those predictions, fp16 weights or not."""
    exp = tiny("t_eval", epochs=1, dropout=0.5, precision="fp32")
    monkeypatch.setitem(experiments.EXPERIMENTS, "t_eval", exp)
    rec = train(resolve_run(exp, subset=2000, data_dir=data_dir, cache_dir=cache_dir, results_dir=tmp_path),
                progress=False, log=lambda *_: None)
    got = evaluate_run("t_eval", subset=2000, data_dir=data_dir, cache_dir=cache_dir, results_dir=tmp_path)
    assert got["recorded"] == rec["test_error"] and got["precision"] == rec["history"][-1]["precision"]
    assert abs(got["test_error"] - rec["test_error"]) <= 0.05
    weights = checkpoint.weights_path("t_eval__seed0__subset2000", tmp_path)
    assert {v.dtype for v in checkpoint.load(weights)["model"].values()} == {torch.float16}
    data = bytearray(weights.read_bytes())
    data[-100] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(checkpoint.CheckpointError, match="is corrupt"):
        evaluate_run("t_eval", subset=2000, data_dir=data_dir, cache_dir=cache_dir, results_dir=tmp_path)


def test_evaluating_a_run_without_record_or_weights_says_what_to_do(tmp_path, capsys):
    from nin_repro import cli
    from test_results import make_record

    assert cli.main(["evaluate", "cifar10_full", "--results-dir", str(tmp_path)]) == 2
    assert "has not finished" in capsys.readouterr().err
    results.write_record(make_record("cifar10", seed=0), tmp_path)
    assert cli.main(["evaluate", "cifar10", "--results-dir", str(tmp_path)]) == 2
    assert "runs finished before the study kept weights have none" in capsys.readouterr().err


@pytest.mark.parametrize("weights", sorted(checkpoint.weights_path("x").parent.glob("*.pt")) or [None],
                         ids=lambda p: p.stem if p else "none-yet")
def test_every_committed_weights_file_matches_its_record(weights, data_dir, cache_dir):
    """The repository's own weights (one file per finished run since the
    study kept them) reproduce their records' test errors: every full-length
    run's, the runs the claims rest on. A 30-epoch run's weights are checked
    to load into the net its record describes; evaluating them too would
    cost CI three minutes on a CPU without AVX-512 for a number no claim
    rests on (`nin-repro evaluate` checks it by hand)."""
    from nin_repro.evaluate import _net_of

    if weights is None:
        pytest.skip("no run has finished with weights yet")
    record_path = results.runs_dir() / (weights.stem + ".json")
    record = results.read_record(record_path)
    if not record["experiment"].endswith("_full"):
        assert _net_of(record, record_path, weights) is not None
        return
    got = evaluate_run(record["experiment"], record["seed"], data_dir=data_dir, cache_dir=cache_dir)
    assert abs(got["test_error"] - record["test_error"]) <= 0.05


@pytest.mark.parametrize("native", [True, False])
def test_a_bf16_run_is_evaluated_in_bf16_only_where_the_cpu_has_it(native, monkeypatch):
    """Emulated bf16 takes about 13 times fp32's time, so a CPU without bf16
    instructions checks a bf16 run in fp32 and says why; one asked for, or
    an fp32 record, is evaluated as asked or recorded."""
    from nin_repro import device
    from nin_repro.evaluate import evaluation_precision

    monkeypatch.setattr(device, "bf16_is_native", lambda dev: native)
    precision, why = evaluation_precision("bf16")
    assert (precision, bool(why)) == (("bf16", False) if native else ("fp32", True))
    assert "emulates" in why or native
    assert evaluation_precision("fp32") == ("fp32", "")
    assert evaluation_precision("bf16", asked="bf16") == ("bf16", "")
    assert evaluation_precision("fp32", asked="auto")[0] == ("bf16" if native else "fp32")


def test_the_readmes_python_example_gives_the_records_test_error(data_dir, cache_dir, monkeypatch, capsys):
    """The README's "In Python" block, run as written (datasets and cache
    through their environment settings): the committed net's test error is
    its record's, within 0.05 points (fp32 here, bf16 in training)."""
    import re

    from nin_repro import paths

    readme = (paths.REPO_ROOT / "README.md").read_text()
    block = re.search(r"In Python, .*?```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.setenv("NIN_DATA", str(data_dir))
    monkeypatch.setenv("NIN_CACHE", str(cache_dir))
    exec(compile(block, "README.md", "exec"), {})
    printed = re.search(r"test error ([\d.]+)%", capsys.readouterr().out)
    name = re.search(r'trained_net\("(\w+)", seed=(\d+)\)', block)
    record = results.read_record(results.record_path(f"{name[1]}__seed{name[2]}"))
    assert printed and abs(float(printed[1]) - record["test_error"]) <= 0.05


def test_a_trained_net_is_refused_in_one_line_where_its_run_has_not_finished(tmp_path):
    from nin_repro.evaluate import trained_net

    with pytest.raises(FileNotFoundError, match="the run cifar100_full__seed1 has not finished"):
        trained_net("cifar100_full", seed=1, results_dir=tmp_path)
