"""The engineering notes' tables (bench records, time to accuracy), built from synthetic records."""

import pytest

from nin_repro import results
from nin_repro.book import engineering
from test_report import curve


def test_time_to_error_counts_whole_epochs_until_the_first_drop_below():
    rec = curve([3.0, 0.9, 1.2, 0.55], seconds=30.0)
    assert engineering.elapsed_minutes(rec) == [0.5, 1.0, 1.5, 2.0]
    assert engineering.time_to_error(rec, 1.0) == (1.0, 2)
    assert engineering.time_to_error(rec, 0.6) == (2.0, 4)
    assert engineering.time_to_error(rec, 0.5) is None
    assert engineering.time_to_error(rec, 0.9) == (2.0, 4)  # "below" is strict


def test_time_to_accuracy_table_reports_reached_not_reached_and_not_run(tmp_path):
    results.write_record(curve([3.0, 0.9, 0.7], seconds=120.0), tmp_path)
    results.write_record(curve([5.0, 4.0], experiment="mnist", seed=1), tmp_path)
    table = engineering.time_to_accuracy_table("mnist", tmp_path)
    fast = table.loc["fast recipe (mnist_fast), seed 0"]
    assert fast["< 1%"] == "4.0 min (epoch 2)" and fast["< 0.6%"] == "not reached"
    assert fast["best (%)"] == 0.7 and fast["length"] == "6.0 min, 3 epochs"
    assert table.loc["CPU-budget recipe (mnist), seed 1"]["< 1%"] == "not reached"
    cifar = engineering.time_to_accuracy_table("cifar10", tmp_path)
    assert set(cifar["length"]) == {engineering.NOT_RUN}


BENCH = {"matmul_tflops": {"bf16": 0.4}, "matmul_size": {"bf16": 2048}, "library_precision": "bf16",
         "cpu_capability": None, "bf16_native": None, "onednn_kernels": None, "rows": [
    {"config": "baseline: x", "images_per_second": 50.0, "precision": "fp32"},
    {"config": "+ malloc keeps freed memory (torch dropout)", "images_per_second": 200.0, "precision": "bf16"},
    {"config": "nin_repro: + dropout mask from random bits, batch 128", "images_per_second": 220.0,
     "precision": "bf16"},
    {"config": "lever: ReLU not in place", "images_per_second": 209.0, "precision": "bf16"}],
    "profile": {"batch": 128, "steps": 2, "step_ms": 500.0, "precision": "bf16",
                "top_ops": [{"op": "aten::convolution_backward", "share": 0.6, "ms_per_step": 300.0}],
                "convolutions": [{"layer": "1x1 conv 192->192 at 16x16", "layers": 2, "forward_ms": 5.0,
                                  "backward_ms": 10.0, "forward_tflops": 0.3, "backward_tflops": 0.2,
                                  "paths": ["oneDNN"]}]}}


def test_profile_tables_rate_each_convolution_against_the_matmul():
    ops, convs = engineering.bench_profile_tables(BENCH)
    assert ops.loc["aten::convolution_backward", "share of step"] == "60.0%"
    assert convs.loc["1x1 conv 192->192 at 16x16 (x2)", "bwd, of bf16 matmul"] == "50%"
    assert engineering.bench_profile_tables({**BENCH, "profile": None}) is None


def test_the_ceiling_finds_rows_by_name_and_says_what_a_partial_bench_did_not_measure():
    full = {**BENCH, "step_gflop_per_image": 1.0}  # bound: 0.4 TFLOP/s / 1 GFLOP = 400 images/s
    c = engineering.ceiling(full)
    assert (c["baseline"], c["library"], c["best"], c["bound"]) == (50.0, 220.0, 220.0, pytest.approx(400.0))
    # `nin-repro bench --only`: rows in another order, or without the baseline or the library's rows
    reordered = {**full, "rows": full["rows"][::-1]}
    assert engineering.ceiling(reordered)["baseline"] == 50.0
    assert engineering.ceiling_text(full).endswith(
        "the library reached 220 at the protocols' batch of 128 (55% of that bound, x4.40 the baseline).")
    # a faster row at a batch the runs never train with is not the library's speed
    bigger = {**full, "rows": full["rows"] + [{"config": "nin_repro: batch 256, bf16", "images_per_second": 300.0,
                                               "precision": "bf16"}]}
    assert (engineering.ceiling(bigger)["library"], engineering.ceiling(bigger)["best"]) == (220.0, 300.0)
    library_only = {**full, "rows": [r for r in full["rows"] if r["config"].startswith("nin_repro:")]}
    assert engineering.ceiling(library_only)["baseline"] is None
    assert engineering.ceiling_text(library_only).endswith(
        "the library reached 220 at the protocols' batch of 128 (55% of that bound); this bench did not measure the "
        "baseline.")
    baseline_only = {**full, "rows": full["rows"][:1]}
    assert engineering.ceiling(baseline_only)["library"] is None
    assert engineering.ceiling_text(baseline_only).endswith(
        "bounds the step at 400 images/s; this bench did not measure the library's path.")


def test_each_kind_of_machine_shows_its_newest_bench(tmp_path):
    import json

    avx512 = {**BENCH, "device": "cpu (AMD EPYC)", "threads": 2, "finished_at": "2026-11-23T19:00:00+0000",
              "matmul_tflops": {"bf16": 0.33, "fp32": 0.14}, "matmul_size": {"bf16": 2048, "fp32": 2048},
              "onednn_kernels": [{"implementation": "brg_conv_fwd:avx512_core_bf16", "ms": 1.0}]}
    avx2 = {**avx512, "cpu_capability": "AVX2", "bf16_native": False, "library_precision": "fp32",
            "finished_at": "2026-11-24T08:00:00+0000", "onednn_kernels": None,
            "matmul_tflops": {"bf16": 0.001, "fp32": 0.16}, "matmul_size": {"bf16": 1024, "fp32": 2048},
            "rows": [{"config": "baseline: x", "images_per_second": 50.0, "precision": "fp32"},
                     {"config": "nin_repro: + dropout mask, fp32", "images_per_second": 100.0, "precision": "fp32"}]}
    older_avx2 = {**avx2, "finished_at": "2026-11-24T07:00:00+0000"}
    # torch calls an AMX CPU's capability AVX512 too: its kernels tell the matrix units apart
    amx = {**avx2, "device": "cpu (Intel(R) Xeon(R) Processor)", "cpu_capability": "AVX512", "bf16_native": True,
           "library_precision": "bf16", "finished_at": "2026-11-25T07:00:00+0000",
           "onednn_kernels": [{"implementation": "brg_conv_fwd:avx10_1_512_amx", "ms": 1.0}]}
    (tmp_path / "bench").mkdir()
    for name, rec in [("bench_20261123T190000.json", avx512), ("bench_20261124T070000.json", older_avx2),
                      ("bench_20261124T080000.json", avx2), ("bench_20261125T070000.json", amx)]:
        (tmp_path / "bench" / name).write_text(json.dumps(rec))
    table = engineering.bench_machines_table(tmp_path)
    # every bench on 2 threads: said once, in the header
    assert table.index.name == "machine (2 threads each)"
    assert list(table.index) == ["AMD EPYC, AVX512 (from its oneDNN kernels), native bf16",
                                 "AMD EPYC, AVX2, no native bf16", "Intel Xeon, AVX512 + AMX, native bf16"]
    assert list(table["measured"]) == ["2026\u201111\u201123", "2026\u201111\u201124", "2026\u201111\u201125"]
    assert list(table["× baseline"]) == ["x4.40", "x2.00", "x2.00"]
    assert list(table["library precision"]) == ["bf16", "fp32", "bf16"]
    # the size shows where it is not 2048^3 (an older record without sizes measured 2048 only)
    # an emulated bf16's rate keeps a digit of its own rather than print as 0.00
    assert list(table["bf16 / fp32 matmul TFLOP/s"]) == ["0.33 / 0.14", "0.001 (n=1024) / 0.16",
                                                          "0.001 (n=1024) / 0.16"]
    assert engineering.cpu_kind({**amx, "onednn_kernels": None}) == "AVX512, native bf16"  # no kernel list: AMX untold
    # neither recorded nor in the kernels' names: said as the run records appendix says it
    assert engineering.cpu_kind({**avx512, "onednn_kernels": []}) == "instruction set not recorded"
    assert engineering.latest_bench(tmp_path)["finished_at"] == amx["finished_at"]
    # a bench on other threads: each machine's cell names its own
    (tmp_path / "bench" / "bench_20261126T070000.json").write_text(json.dumps({**amx, "threads": 4}))
    table = engineering.bench_machines_table(tmp_path)
    assert table.index.name == "machine"
    assert list(table.index)[-2:] == ["Intel Xeon, AVX512 + AMX, native bf16, 2 threads",
                                      "Intel Xeon, AVX512 + AMX, native bf16, 4 threads"]
    (tmp_path / "bench" / "bench_20261126T070000.json").unlink()
    # the story pages' line compares like with like: the library at the runs' batch of 128, not its best row
    (tmp_path / "bench" / "bench_20261125T000000.json").write_text("{torn")
    with pytest.raises(results.RecordError, match="bench_20261125T000000.json: not valid JSON"):
        engineering.bench_machines_table(tmp_path)


def test_a_bench_record_of_another_format_is_refused_by_name(tmp_path):
    import json

    (tmp_path / "bench").mkdir()
    old = {k: v for k, v in BENCH.items() if k != "matmul_size"}
    path = tmp_path / "bench" / "bench_20261123T190000.json"
    path.write_text(json.dumps({**old, "device": "cpu (X)", "threads": 2, "finished_at": "2026-11-23"}))
    with pytest.raises(results.RecordError, match=rf"{path}: not a bench record of the current format \(lacks "
                                                  r"matmul_size\)"):
        engineering.all_benches(tmp_path)


def test_the_committed_bench_records_are_all_of_the_current_format():
    from nin_repro import paths

    committed = sorted((paths.results_dir() / "bench").glob("bench_*.json"))
    assert committed and len(engineering.all_benches()) == len(committed)  # none skipped, none refused
