import json

from nin_repro.bench import run_bench


def test_bench_records_side_by_side_speeds(data_dir, cache_dir, tmp_path):
    record = run_bench(steps=1, warmup=1, data_dir=data_dir, cache_dir=cache_dir, results_dir=tmp_path,
                       configs=["baseline", "nin_repro: + dropout mask"], profile=False,
                       log=lambda *_: None)
    files = list((tmp_path / "bench").glob("bench_*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text()) == json.loads(json.dumps(record))
    names = [r["config"] for r in record["rows"]]
    assert names[0].startswith("baseline") and len(names) == 2
    for r in record["rows"]:
        assert r["images_per_second"] > 0 and r["tflops"] > 0 and r["peak_rss_mib"] > 0
    assert record["rows"][0]["speedup_vs_baseline"] == 1.0
    assert record["eval_images_per_second"] > 0 and record["matmul_2048_tflops"]["bf16"] > 0
    assert record["device"].startswith("cpu (") and record["threads"] >= 1


def test_lever_rows_switch_exactly_one_thing():
    """The bench's model variants: torch's dropout, no dropout, ReLU not in place."""
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
    relus = [m for m in _with_levers(NiN(ModelConfig()), relu_inplace=False).modules()
             if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == 8 and not any(r.inplace for r in relus)


def test_profile_names_every_convolution_and_where_the_step_goes():
    import torch

    from nin_repro.bench import profile_step

    torch.manual_seed(0)
    prof = profile_step(torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,)), batch=16, steps=1, warmup=1)
    layers = {r["layer"]: r for r in prof["convolutions"]}
    assert set(layers) == {"5x5 conv 3->192 at 32x32", "1x1 conv 192->160 at 32x32", "1x1 conv 160->96 at 32x32",
                           "5x5 conv 96->192 at 16x16", "1x1 conv 192->192 at 16x16", "3x3 conv 192->192 at 8x8",
                           "1x1 conv 192->192 at 8x8", "1x1 conv 192->10 at 8x8"}
    assert layers["1x1 conv 192->192 at 16x16"]["layers"] == 2
    for r in layers.values():
        assert r["forward_ms"] > 0 and r["backward_ms"] > 0 and r["forward_tflops"] > 0
    shares = [o["share"] for o in prof["top_ops"]]
    assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 1.0 + 1e-9
    assert "aten::convolution_backward" in [o["op"] for o in prof["top_ops"]]


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

    kernels = onednn_kernels(batch=4)
    convs = [k for k in kernels if k["primitive"] == "convolution"]
    assert {k["propagation"] for k in convs} == {"forward_training", "backward_data", "backward_weights"}
    # every one of the 9 convolutions runs forward and computes its weight gradient once per step
    assert sum(k["calls"] for k in convs if k["propagation"] == "forward_training") == 9
    assert sum(k["calls"] for k in convs if k["propagation"] == "backward_weights") == 9


def test_benchmarks_script_is_the_cli_bench():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, check=True).stdout
    assert "usage: nin-repro bench" in out and "--no-profile" in out
