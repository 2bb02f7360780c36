import json

from nin_repro.bench import run_bench


def test_bench_records_side_by_side_speeds(data_dir, cache_dir, tmp_path):
    record = run_bench(steps=1, warmup=1, data_dir=data_dir, cache_dir=cache_dir, results_dir=tmp_path,
                       configs=["baseline", "nin_repro: + dropout mask"], log=lambda *_: None)
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
