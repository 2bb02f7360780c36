import json

import pytest

from nin_repro.bench import run_bench


def test_bench_records_side_by_side_speeds(data_dir, cache_dir, tmp_path):
    record = run_bench(steps=1, warmup=1, data_dir=data_dir, cache_dir=cache_dir, results_dir=tmp_path,
                       configs=["baseline", "nin_repro: + ReLU fused"], profile=False,
                       eval_images=500, matmul_seconds=1.0, log=lambda *_: None)
    files = list((tmp_path / "bench").glob("bench_*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text()) == json.loads(json.dumps(record))
    names = [r["config"] for r in record["rows"]]
    assert names[0].startswith("baseline") and len(names) == 2
    for r in record["rows"]:
        assert r["images_per_second"] > 0 and r["tflops"] > 0 and r["peak_rss_mib"] > 0
    assert record["rows"][0]["speedup_vs_baseline"] == 1.0
    assert record["eval_images_per_second"] > 0 and record["matmul_tflops"]["bf16"] > 0
    # the size each matmul rate was measured at: a power of two from 512 to 2048
    assert set(record["matmul_size"]) == {"bf16", "fp32"}
    assert all(n in (512, 1024, 2048) for n in record["matmul_size"].values())
    assert record["device"].startswith("cpu (") and record["threads"] >= 1
    # the library's rows run in the precision the library picks for this CPU; the baseline in fp32
    from nin_repro.device import bf16_is_native

    import torch

    assert record["library_precision"] == ("bf16" if bf16_is_native(torch.device("cpu")) else "fp32")
    assert [r["precision"] for r in record["rows"]] == ["fp32", record["library_precision"]]
    assert record["cpu_capability"] == torch.backends.cpu.get_cpu_capability()


def test_rows_build_the_library_path_in_both_precisions_then_run_the_librarys():
    from nin_repro.bench import bench_configs

    for precision in ("fp32", "bf16"):
        rows = bench_configs(precision)
        names = list(rows)
        assert rows[names[0]][1] == "fp32" and names[0].startswith("baseline")
        # bf16 and fp32 are both measured before the allocator row, whatever the library picks
        assert {rows[n][1] for n in names[1:5]} == {"fp32", "bf16"}
        after = names[names.index(next(n for n in names if n.startswith("+ malloc keeps"))):]
        assert len(after) == 7 and all(rows[n][1] == precision for n in after)
        assert all(rows[n][4] for n in after)  # malloc kept from there on
        # ReLUs in place, as a plain script has them, up to the row that takes them out of place,
        # and as their own modules up to the library's row, which fuses them into the convolutions
        not_in_place = names.index(next(n for n in names if n.startswith("+ ReLU not in place")))
        library = names.index(next(n for n in names if n.startswith("nin_repro: + ReLU fused")))
        assert library == not_in_place + 1
        assert all(rows[n][5].get("relu_inplace") for n in names[:not_in_place])
        assert all("relu_inplace" not in rows[n][5] for n in names[not_in_place:])
        assert all(rows[n][5].get("fuse_relu") is False for n in names[:library])
        assert all("fuse_relu" not in rows[n][5] for n in names[library:])


def test_a_slow_row_is_cut_short_after_its_time_but_not_below_two_steps(monkeypatch):
    """What the bench decides, on a clock that moves 0.05 s per step and only
    then: a machine's load cannot change when the row stops or what it reports."""
    from types import SimpleNamespace

    import torch

    from nin_repro import bench
    from nin_repro.bench import _time_steps

    clock = [100.0]
    monkeypatch.setattr(bench, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    calls = []

    class Slow(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, x):
            calls.append(1)
            clock[0] += 0.05
            return x * self.w

    model = Slow()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    batch = (torch.randn(4, 10), torch.randint(0, 10, (4,)))
    ips = _time_steps(model, opt, iter([batch] * 100), steps=50, warmup=1, bf16=False, max_seconds=0.12)
    # timed steps end at 0.05, 0.10, 0.15 s: past 0.12 s after the third, so warm-up + 3 steps of 4 images
    assert len(calls) == 1 + 3 and ips == pytest.approx(3 * 4 / 0.15)
    calls.clear()
    _time_steps(model, opt, iter([batch] * 100), steps=50, warmup=1, bf16=False, max_seconds=0.0)
    assert len(calls) == 1 + 2  # past its time at once, yet two steps are timed
    calls.clear()
    _time_steps(model, opt, iter([batch] * 100), steps=3, warmup=1, bf16=False)
    assert len(calls) == 4  # without a time cap: warm-up + every step


def test_lever_rows_switch_exactly_one_thing():
    """The bench's model variants: torch's dropout, no dropout, ReLUs as
    their own modules, in place."""
    import torch

    from nin_repro.bench import _with_levers
    from nin_repro.model import BitDropout, NiN, ModelConfig

    kinds = lambda m: [type(x) for x in m.modules()]  # noqa: E731
    default = NiN(ModelConfig())
    assert kinds(_with_levers(NiN(ModelConfig()))) == kinds(default)
    torch_drop = kinds(_with_levers(NiN(ModelConfig()), dropout="torch"))
    assert torch_drop.count(torch.nn.Dropout) == 2 and BitDropout not in torch_drop
    none = kinds(_with_levers(NiN(ModelConfig()), dropout="none"))
    assert BitDropout not in none and torch.nn.Dropout not in none
    from nin_repro.model import MlpConv

    blocks = lambda m: [b for b in m.modules() if isinstance(b, MlpConv)]  # noqa: E731
    assert len(blocks(default)) == 3 and all(b.fuse_relu for b in blocks(default))
    unfused = _with_levers(NiN(ModelConfig()), fuse_relu=False)
    assert not any(b.fuse_relu for b in blocks(unfused)) and kinds(unfused) == kinds(default)
    inplace = _with_levers(NiN(ModelConfig()), relu_inplace=True, fuse_relu=False)
    relus = [m for m in inplace.modules() if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == 8 and all(r.inplace for r in relus) and not any(b.fuse_relu for b in blocks(inplace))
    with pytest.raises(ValueError, match="in-place ReLU is a ReLU run as its own module"):
        _with_levers(NiN(ModelConfig()), relu_inplace=True)
    # left as the library builds them unless asked: not in place
    assert not any(m.inplace for m in _with_levers(NiN(ModelConfig())).modules() if isinstance(m, torch.nn.ReLU))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_profile_names_every_convolution_and_where_the_step_goes(precision):
    import torch

    from nin_repro.bench import profile_step

    torch.manual_seed(0)
    prof = profile_step(torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,)), batch=16, steps=1, warmup=1,
                        precision=precision)
    layers = {r["layer"]: r for r in prof["convolutions"]}
    assert set(layers) == {"5x5 conv 3->192 at 32x32", "1x1 conv 192->160 at 32x32", "1x1 conv 160->96 at 32x32",
                           "5x5 conv 96->192 at 16x16", "1x1 conv 192->192 at 16x16", "3x3 conv 192->192 at 8x8",
                           "1x1 conv 192->192 at 8x8", "1x1 conv 192->10 at 8x8"}
    assert layers["1x1 conv 192->192 at 16x16"]["layers"] == 2
    for r in layers.values():
        assert r["forward_ms"] > 0 and r["backward_ms"] > 0 and r["forward_tflops"] > 0
        assert r["paths"] and set(r["paths"]) <= {"oneDNN", "oneDNN, ReLU fused", "ATen"}
    # the 1x1 convolution that makes the class maps has no ReLU after it, so it is never fused
    assert "oneDNN, ReLU fused" not in layers["1x1 conv 192->10 at 8x8"]["paths"]
    shares = [o["share"] for o in prof["top_ops"]]
    assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 1.0 + 1e-9
    # the convolutions' backward leads the step, through oneDNN or ATen's fallback
    assert {"aten::convolution_backward", "aten::_slow_conv2d_backward"} & {o["op"] for o in prof["top_ops"]}


def test_profile_tells_the_first_layer_by_its_input_channels_on_one_channel_images():
    """The first convolution's backward has no input gradient to compute, so
    its backward is counted at the forward's flop; the others' at twice it.
    An MNIST-like net reads 1 channel, not CIFAR's 3."""
    import torch

    from nin_repro.bench import profile_step
    from nin_repro.model import ModelConfig

    cfg = ModelConfig(in_channels=1, block1=(8, 8, 8), block2=(8, 8, 8), block3=(8, 8), input_size=28)
    torch.manual_seed(0)
    prof = profile_step(torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,)), batch=8, steps=1, warmup=1,
                        precision="fp32", config=cfg)
    layers = {r["layer"]: r for r in prof["convolutions"]}
    assert "5x5 conv 1->8 at 28x28" in layers
    for name, r in layers.items():
        # flop counted = tflops * ms; backward over forward is 1 for the first layer, 2 for the others
        ratio = (r["backward_tflops"] * r["backward_ms"]) / (r["forward_tflops"] * r["forward_ms"])
        assert ratio == pytest.approx(1.0 if name.startswith("5x5 conv 1->") else 2.0), name
        assert set(r) == {"layer", "layers", "paths", "forward_ms", "backward_ms", "forward_tflops",
                          "backward_tflops"}


def test_onednn_verbose_is_parsed_from_the_marked_step_only():
    from nin_repro.bench import ONEDNN_MARK, parse_onednn_verbose

    line = ("onednn_verbose,v1,primitive,exec,cpu,convolution,{impl},{prop},src:bf16::blocked:acdb::f0,"
            "attr-scratchpad:user,alg:convolution_direct,mb8_ic3oc192_ih32oh32kh5,{ms}")
    text = "\n".join([line.format(impl="warmup", prop="forward_training", ms=99.0), ONEDNN_MARK,
                      "onednn_verbose,v1,primitive,info,template:operation,engine,primitive,implementation",
                      line.format(impl="brg_conv_fwd:avx512_core_bf16", prop="forward_training", ms=2.0),
                      line.format(impl="brg_conv_fwd:avx512_core_bf16", prop="forward_training", ms=1.5),
                      line.format(impl="jit_bf16:avx512_core_bf16", prop="backward_weights", ms=4.0)])
    assert parse_onednn_verbose(text) == [
        {"primitive": "convolution", "implementation": "jit_bf16:avx512_core_bf16",
         "propagation": "backward_weights", "calls": 1, "ms": 4.0},
        {"primitive": "convolution", "implementation": "brg_conv_fwd:avx512_core_bf16",
         "propagation": "forward_training", "calls": 2, "ms": 3.5}]


def test_onednn_kernels_of_a_real_step():
    from nin_repro.bench import onednn_kernels

    kernels = onednn_kernels(batch=32)  # in the library's precision for this CPU; at batch 4 ATen takes some
    convs = [k for k in kernels if k["primitive"] == "convolution"]
    # a convolution with its ReLU fused runs as oneDNN's inference primitive (model.conv_relu), the
    # same arithmetic; the class-map convolution, with no ReLU after it, as the training one
    forward = ("forward_training", "forward_inference")
    assert {k["propagation"] for k in convs} - set(forward) == {"backward_data", "backward_weights"}
    assert "forward_training" in {k["propagation"] for k in convs}
    # every one of the 9 convolutions runs forward and computes its weight gradient once per step
    assert sum(k["calls"] for k in convs if k["propagation"] in forward) == 9
    assert sum(k["calls"] for k in convs if k["propagation"] == "backward_weights") == 9


def test_benchmarks_script_is_the_cli_bench():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, check=True).stdout
    assert "usage: nin-repro bench" in out and "--no-profile" in out


def test_levers_alternate_rounds_with_the_librarys_path_from_the_same_weights(monkeypatch, tmp_path):
    """run_levers' rounds, on a fake step timer that says which net ran:
    library, lever, then lever, library; both nets start alike; the speed-up
    is over all rounds and the range is the rounds' own ratios."""
    import torch

    from nin_repro import bench

    x, y = torch.zeros(512, 3, 32, 32), torch.zeros(512, dtype=torch.long)
    monkeypatch.setattr(bench, "_bench_inputs", lambda *a: (None, None, x, y))
    seen, speeds = [], iter([100.0, 110.0, 120.0, 100.0, 90.0, 99.0, 100.0, 100.0])

    from nin_repro.model import MlpConv

    def fake_steps(model, opt, batches, steps, warmup, bf16, max_seconds=None):
        unfused = not next(m.fuse_relu for m in model.modules() if isinstance(m, MlpConv))  # the lever's side
        if warmup:  # the warm-up step of each net
            seen.append(("warm-up", unfused, [p.clone() for p in model.parameters()]))
            return 1.0
        seen.append(("lever" if unfused else "library", steps))
        return next(speeds)

    monkeypatch.setattr(bench, "_time_steps", fake_steps)
    record = bench.run_levers(["ReLU"], rounds=4, steps=3, results_dir=tmp_path, log=lambda *_: None)
    (_, lib_unfused, lib_w), (_, lever_unfused, lever_w) = seen[:2]
    assert not lib_unfused and lever_unfused and all(torch.equal(a, b) for a, b in zip(lib_w, lever_w))
    assert seen[2:] == [("library", 3), ("lever", 3), ("lever", 3), ("library", 3),
                        ("library", 3), ("lever", 3), ("lever", 3), ("library", 3)]
    (row,) = record["rows"]
    assert row["library_images_per_second"] == [100.0, 100.0, 90.0, 100.0]
    assert row["lever_images_per_second"] == [110.0, 120.0, 99.0, 100.0]
    assert row["ratio"] == pytest.approx(429 / 390) and (row["ratio_low"], row["ratio_high"]) == (1.0, 1.2)
    files = list((tmp_path / "bench").glob("levers_*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text()) == json.loads(json.dumps(record))
    assert (record["rounds"], record["steps_per_round"], record["kind"]) == (4, 3, "levers")


def test_levers_run_real_steps_and_refuse_an_unknown_lever(data_dir, cache_dir, tmp_path):
    from nin_repro import bench, cli

    # any case: the README writes `--only relu`
    record = bench.run_levers(["relu"], rounds=2, steps=1, data_dir=data_dir, cache_dir=cache_dir,
                              results_dir=tmp_path, log=lambda *_: None)
    (row,) = record["rows"]
    assert row["lever"].startswith("ReLU as its own operation") and len(row["library_images_per_second"]) == 2
    assert all(v > 0 for v in row["library_images_per_second"] + row["lever_images_per_second"])
    assert row["ratio_low"] <= row["ratio"] <= row["ratio_high"]
    with pytest.raises(ValueError, match="no lever matches \\['relu6'\\]; the levers are: ReLU as its own operation "):
        bench.run_levers(["relu6"], results_dir=tmp_path)
    with pytest.raises(ValueError, match="need at least 2 rounds"):
        bench.run_levers(rounds=1, results_dir=tmp_path)
    assert cli.main(["bench", "--levers", "--only", "relu6", "--results-dir", str(tmp_path)]) == 2
    assert len(list((tmp_path / "bench").glob("levers_*.json"))) == 1  # nothing written by the refused ones


@pytest.mark.parametrize("command", ["bench", "levers"])
def test_a_bench_refuses_a_folder_it_cannot_write_before_it_measures(tmp_path, monkeypatch, command):
    from nin_repro import bench

    blocked = tmp_path / "a-file"
    blocked.write_text("a file where the results folder would go")
    monkeypatch.setattr(bench, "_bench_inputs", lambda *a: pytest.fail("measured before checking the folder"))
    run = bench.run_bench if command == "bench" else bench.run_levers
    with pytest.raises(ValueError, match=rf"cannot use {blocked / 'bench'} for bench records: .* is a file"):
        run(results_dir=blocked, log=lambda *_: None)


def test_a_failed_kernel_probe_is_a_line_and_no_list_not_a_lost_bench(monkeypatch):
    import subprocess

    from nin_repro import bench

    failed = subprocess.CompletedProcess([], 1, stdout="", stderr="Traceback ...\nRuntimeError: probe broke\n")
    monkeypatch.setattr(bench.subprocess, "run", lambda *a, **k: failed)
    said = []
    assert bench.onednn_kernels(batch=4, log=said.append) is None
    assert said == ["warning: the oneDNN kernel probe failed (RuntimeError: probe broke); the record has no "
                    "kernel list"]
