import json

from nin_repro.bench import run_bench


def test_bench_records_side_by_side_speeds(data_dir, cache_dir, tmp_path):
    record = run_bench(steps=1, warmup=1, data_dir=data_dir, cache_dir=cache_dir, results_dir=tmp_path,
                       configs=["baseline", "nin_repro: bf16, channels-last, batch 128"], log=lambda *_: None)
    files = list((tmp_path / "bench").glob("bench_*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text()) == json.loads(json.dumps(record))
    names = [r["config"] for r in record["rows"]]
    assert names[0].startswith("baseline") and len(names) == 2
    for r in record["rows"]:
        assert r["images_per_second"] > 0 and r["tflops"] > 0 and r["peak_rss_mib"] > 0
    assert record["rows"][0]["speedup_vs_baseline"] == 1.0
    assert record["eval_images_per_second"] > 0 and record["matmul_2048_tflops"]["bf16"] > 0
    assert record["device"].startswith("cpu (") and record["threads"] >= 1
