"""The performance page's tables, built from synthetic records."""

import pytest

from nin_repro import report, results
from test_results import make_record


def curve(errors, seconds=60.0, experiment="mnist_fast", seed=0):
    rec = make_record(experiment=experiment, seed=seed, error=errors[-1])
    rec["epochs"] = len(errors)
    rec["history"] = [{**rec["history"][0], "epoch": i + 1, "test_error": e, "seconds": seconds}
                      for i, e in enumerate(errors)]
    return rec


def test_time_to_error_counts_whole_epochs_until_the_first_drop_below():
    rec = curve([3.0, 0.9, 1.2, 0.55], seconds=30.0)
    assert report.elapsed_minutes(rec) == [0.5, 1.0, 1.5, 2.0]
    assert report.time_to_error(rec, 1.0) == (1.0, 2)
    assert report.time_to_error(rec, 0.6) == (2.0, 4)
    assert report.time_to_error(rec, 0.5) is None
    assert report.time_to_error(rec, 0.9) == (2.0, 4)  # "below" is strict


def test_run_machines_names_each_kind_of_machine_a_resumed_run_used():
    rec = curve([3.0, 2.0, 1.0, 0.9])
    assert results.run_machines(rec) == rec["device"]  # epochs from before machines were recorded
    for h, m in zip(rec["history"], [None, "cpu (X), AVX2", "cpu (X), AVX2", "cpu (X), AVX512"]):
        if m:
            h["machine"] = m
    assert results.run_machines(rec) == (f"{rec['device']} (instruction set not recorded): epochs 1-1; "
                                        "cpu (X), AVX2: epochs 2-3; cpu (X), AVX512: epochs 4-4")
    for h in rec["history"]:
        h["machine"] = "cpu (X), AVX2"
    assert results.run_machines(rec) == "cpu (X), AVX2"
    results.validate(rec, "test")  # the field is allowed in a record


def test_tables_name_each_seeds_machine_and_precision(tmp_path):
    # Two seeds of one row on different machines: a bf16 run on AMX and an fp32
    # run on AVX2 are not the same measurement, and the tables must say so.
    bf16 = make_record(seed=0, error=0.7, train={"precision": "bf16"})
    fp32 = make_record(seed=1, error=0.9, train={"precision": "fp32"})
    for h in fp32["history"]:
        h["machine"] = "cpu (Y), AVX2"
    for r in (bf16, fp32):
        results.write_record(r, tmp_path)
    runs = report.runs_table("mnist", tmp_path)
    assert runs.loc[0, "device"] == "cpu (test), bf16" and runs.loc[1, "device"] == "cpu (Y), AVX2, fp32"
    row = report.results_table(["mnist"], tmp_path).iloc[0]
    assert row["device"] == "cpu (test), bf16; cpu (Y), AVX2, fp32"
    assert "on cpu (test), bf16; cpu (Y), AVX2, fp32" in report.verdict("mnist", tmp_path)
    results.write_record(make_record(seed=2, error=0.8, train={"precision": "bf16"}), tmp_path)
    assert report.results_table(["mnist"], tmp_path).iloc[0]["device"].count("bf16") == 1  # each kind once


def test_setup_caveat_says_when_compared_rows_ran_on_different_machines_or_precisions(tmp_path):
    names = ["cifar10", "cifar10_fc"]
    assert report.setup_caveat(names, tmp_path).startswith("setup: fewer than two")
    results.write_record(make_record(experiment="cifar10", error=18.9, train={"precision": "bf16"}), tmp_path)
    assert report.setup_caveat(names, tmp_path).startswith("setup: fewer than two")
    short = make_record(experiment="cifar10_fc", error=30.0, train={"precision": "bf16"})
    short["config"]["overrides"] = {"epochs": 2}  # not a protocol run: not part of the comparison
    results.write_record(short, tmp_path)
    assert report.setup_caveat(names, tmp_path).startswith("setup: fewer than two")
    results.write_record(make_record(experiment="cifar10_fc", error=20.0, train={"precision": "bf16"}), tmp_path)
    assert report.setup_caveat(names, tmp_path) == (
        "setup: cifar10, cifar10_fc all trained on cpu (test), bf16; like for like.")
    fp32 = make_record(experiment="cifar10_fc", error=20.0, train={"precision": "fp32"})
    for h in fp32["history"]:
        h["machine"] = "cpu (Y), AVX2"
    results.write_record(fp32, tmp_path)  # same seed: replaces the bf16 record
    text = report.setup_caveat(names, tmp_path)
    assert text.startswith("setup differs: cifar10 on cpu (test), bf16; cifar10_fc on cpu (Y), AVX2, fp32.")
    assert "not the setting" in text
    assert text.endswith("No machine and precision has trained two of these rows yet, so none compares them "
                         "like for like.")
    gap_fp32 = make_record(experiment="cifar10", seed=1, error=19.5, train={"precision": "fp32"})
    gap_fp32["history"][0]["machine"] = "cpu (Y), AVX2"
    results.write_record(gap_fp32, tmp_path)  # a second GAP seed, on the FC run's setup
    text = report.setup_caveat(names, tmp_path)
    assert text.startswith("setup differs: cifar10 on cpu (test), bf16; cpu (Y), AVX2, fp32; cifar10_fc on ")
    assert text.endswith("Like for like on cpu (Y), AVX2, fp32: cifar10 19.50% (n=1), cifar10_fc 20.00% (n=1).")


def test_heads_effect_compares_gap_with_each_fc_head_and_checks_the_papers_order(tmp_path):
    assert report.heads_effect(tmp_path).splitlines() == [
        "GAP vs FC: not run yet (needs records of cifar10 and cifar10_fc).",
        "GAP vs FC + dropout: not run yet (needs records of cifar10 and cifar10_fc_dropout).",
        "The paper's order (GAP < FC + dropout < FC): not checkable until two heads have records."]
    results.write_record(make_record(experiment="cifar10", error=18.9), tmp_path)
    results.write_record(make_record(experiment="cifar10_fc", error=18.5), tmp_path)
    lines = report.heads_effect(tmp_path).splitlines()
    assert lines[0] == "GAP 18.90% vs FC 18.50%: GAP 0.40 points higher (the paper: 1.18 points lower)."
    assert lines[1].startswith("GAP vs FC + dropout: not run yet")
    assert lines[2] == ("The paper's order (GAP < FC + dropout < FC) does not hold here (among the heads run so far): "
                        "FC 18.50% < GAP 18.90%.")
    assert lines[3] == ("At the last epoch (training error measured during it, in training mode): GAP 2.00% train "
                        "vs 18.90% test (a gap of 16.90 points); FC 2.00% train vs 18.50% test (a gap of 16.50 points).")
    assert lines[4].startswith("One seed only for GAP, FC:")
    for seed, error in ((1, 17.0), (2, 17.2)):  # GAP now lower on average, over three seeds
        results.write_record(make_record(experiment="cifar10", seed=seed, error=error), tmp_path)
    results.write_record(make_record(experiment="cifar10_fc_dropout", error=18.0), tmp_path)
    lines = report.heads_effect(tmp_path).splitlines()
    assert lines[0] == "GAP 17.70% vs FC 18.50%: GAP 0.80 points lower (the paper: 1.18 points lower)."
    assert lines[2] == "The paper's order (GAP < FC + dropout < FC) holds here: GAP 17.70% < FC + dropout 18.00% < FC 18.50%."
    assert lines[3].startswith("At the last epoch") and lines[3].count("train vs") == 3
    assert lines[4] == "One seed only for FC + dropout, FC: no seed-to-seed spread yet to tell these gaps from noise."


def test_augmentation_effect_gives_the_gap_and_how_closely_each_row_fit_its_training_set(tmp_path):
    assert report.augmentation_effect(tmp_path) == (
        "augmented vs not augmented: not run yet (needs records of cifar10_aug and cifar10).")
    plain = curve([30.0, 19.0], experiment="cifar10")
    plain["history"][-1]["train_error"] = 14.0
    results.write_record(plain, tmp_path)
    assert report.augmentation_effect(tmp_path).startswith("augmented vs not augmented: not run yet")
    for seed, (train, test) in enumerate([(18.5, 17.5), (18.7, 18.5)]):
        aug = curve([30.0, test], experiment="cifar10_aug", seed=seed)
        aug["history"][-1]["train_error"] = train
        results.write_record(aug, tmp_path)
    assert report.augmentation_effect(tmp_path).splitlines() == [
        "augmented 18.00% vs not augmented 19.00%: augmented 1.00 points lower (the paper: 1.60 points lower).",
        "At the last epoch (training error measured during it, in training mode): augmented 18.60% train vs 18.00% test "
        "(a gap of -0.60 points); not augmented 14.00% train vs 19.00% test (a gap of 5.00 points).",
        "One seed only for not augmented: no seed-to-seed spread yet to tell these gaps from noise."]


def test_dropout_effect_gives_the_relative_cut_or_says_what_is_missing(tmp_path):
    assert report.dropout_effect(tmp_path) == (
        "dropout vs no dropout: not run yet (needs records of cifar10 and cifar10_nodropout).")
    with_dropout = make_record(experiment="cifar10", error=16.0)
    with_dropout["history"][-1]["train_error"] = 12.0
    results.write_record(with_dropout, tmp_path)
    assert report.dropout_effect(tmp_path).startswith("dropout vs no dropout: not run yet")
    without = make_record(experiment="cifar10_nodropout", error=20.0)
    without["history"][-1]["train_error"] = 6.0  # fits its training set far more closely
    results.write_record(without, tmp_path)
    assert report.dropout_effect(tmp_path).splitlines() == [
        "test error 20.00% without dropout, 16.00% with it: a 20.0% relative reduction (the paper: more than 20%; "
        "n=1 and 1).",
        "At the last epoch (training error measured during it, in training mode): dropout 12.00% train vs 16.00% test "
        "(a gap of 4.00 points); no dropout 6.00% train vs 20.00% test (a gap of 14.00 points).",
        "One seed only for dropout, no dropout: no seed-to-seed spread yet to tell these gaps from noise."]


def test_time_to_accuracy_table_reports_reached_not_reached_and_not_run(tmp_path):
    results.write_record(curve([3.0, 0.9, 0.7], seconds=120.0), tmp_path)
    results.write_record(curve([5.0, 4.0], experiment="mnist", seed=1), tmp_path)
    table = report.time_to_accuracy_table("mnist", tmp_path)
    fast = table.loc[("fast recipe (mnist_fast)", 0)]
    assert fast["< 1%"] == "4.0 min (epoch 2)" and fast["< 0.6%"] == "not reached"
    assert fast["best error (%)"] == 0.7 and fast["run length"] == "6.0 min, 3 epochs"
    assert table.loc[("paper recipe (mnist)", 1)]["< 1%"] == "not reached"
    cifar = report.time_to_accuracy_table("cifar10", tmp_path)
    assert set(cifar["run length"]) == {report.NOT_RUN}


def test_plot_time_to_accuracy_draws_each_run(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    results.write_record(curve([3.0, 0.9, 0.7]), tmp_path)
    axes = report.plot_time_to_accuracy(tmp_path)
    mnist_ax = axes[list(report.TIME_TARGETS).index("mnist")]
    assert [len(line.get_xdata()) for line in mnist_ax.get_lines() if line.get_marker() == "."] == [3]


BENCH = {"matmul_2048_tflops": {"bf16": 0.4}, "rows": [
    {"config": "baseline: x", "images_per_second": 50.0},
    {"config": "+ malloc keeps freed memory (torch dropout)", "images_per_second": 200.0},
    {"config": "nin_repro: + dropout mask from random bits, batch 128", "images_per_second": 220.0},
    {"config": "lever: ReLU not in place", "images_per_second": 209.0}],
    "profile": {"batch": 128, "steps": 2, "step_ms": 500.0,
                "top_ops": [{"op": "aten::convolution_backward", "share": 0.6, "ms_per_step": 300.0}],
                "convolutions": [{"layer": "1x1 conv 192->192 at 16x16", "layers": 2, "forward_ms": 5.0,
                                  "backward_ms": 10.0, "forward_tflops": 0.3, "backward_tflops": 0.2}]}}


def test_lever_table_divides_rows_of_one_record():
    table = report.lever_table(BENCH)
    assert table.loc["dropout mask from random bits", "speed-up"] == "x1.10"
    assert table.loc["ReLU not in place", "speed-up"] == "x0.95"
    assert "torch.compile" not in table.index  # no such row measured: no ratio invented


def test_profile_tables_rate_each_convolution_against_the_matmul():
    ops, convs = report.bench_profile_tables(BENCH)
    assert ops.loc["aten::convolution_backward", "share of step"] == "60.0%"
    assert convs.loc["1x1 conv 192->192 at 16x16 (x2)", "backward, of bf16 matmul"] == "50%"
    assert report.bench_profile_tables({**BENCH, "profile": None}) is None


def test_each_kind_of_machine_shows_its_newest_bench(tmp_path):
    import json

    avx512 = {**BENCH, "device": "cpu (AMD EPYC)", "threads": 2, "finished_at": "2026-11-23T19:00:00+0000",
              "matmul_2048_tflops": {"bf16": 0.33, "fp32": 0.14},
              "onednn_kernels": [{"implementation": "brg_conv_fwd:avx512_core_bf16", "ms": 1.0}]}
    avx2 = {**avx512, "cpu_capability": "AVX2", "bf16_native": False, "library_precision": "fp32",
            "finished_at": "2026-11-24T08:00:00+0000", "onednn_kernels": None,
            "matmul_2048_tflops": {"bf16": 0.001, "fp32": 0.16}, "matmul_size": {"bf16": 1024, "fp32": 2048},
            "rows": [{"config": "baseline: x", "images_per_second": 50.0},
                     {"config": "nin_repro: + dropout mask, fp32", "images_per_second": 100.0}]}
    older_avx2 = {**avx2, "finished_at": "2026-11-24T07:00:00+0000"}
    # torch calls an AMX CPU's capability AVX512 too: its kernels tell the matrix units apart
    amx = {**avx2, "device": "cpu (Intel(R) Xeon(R) Processor)", "cpu_capability": "AVX512", "bf16_native": True,
           "library_precision": "bf16", "finished_at": "2026-11-25T07:00:00+0000",
           "onednn_kernels": [{"implementation": "brg_conv_fwd:avx10_1_512_amx", "ms": 1.0}]}
    (tmp_path / "bench").mkdir()
    for name, rec in [("bench_20261123T190000.json", avx512), ("bench_20261124T070000.json", older_avx2),
                      ("bench_20261124T080000.json", avx2), ("bench_20261125T070000.json", amx)]:
        (tmp_path / "bench" / name).write_text(json.dumps(rec))
    table = report.bench_machines_table(tmp_path)
    assert list(table.index) == ["cpu (AMD EPYC), AVX512 (from its oneDNN kernels), native bf16, 2 threads",
                                 "cpu (AMD EPYC), AVX2, no native bf16, 2 threads",
                                 "cpu (Intel(R) Xeon(R) Processor), AVX512 + AMX, native bf16, 2 threads"]
    assert list(table["measured"]) == ["2026-11-23", "2026-11-24", "2026-11-25"]
    assert list(table["× baseline"]) == ["x4.40", "x2.00", "x2.00"]
    assert list(table["library precision"]) == ["bf16", "fp32", "bf16"]
    # the size shows where it is not 2048^3 (an older record without sizes measured 2048 only)
    assert list(table["bf16 / fp32 matmul TFLOP/s"]) == ["0.33 / 0.14", "0.00 (n=1024) / 0.16",
                                                          "0.00 (n=1024) / 0.16"]
    assert report.cpu_kind({**amx, "onednn_kernels": None}) == "AVX512, native bf16"  # no kernel list: AMX untold
    assert report.latest_bench(tmp_path)["finished_at"] == amx["finished_at"]
    (tmp_path / "bench" / "bench_20261125T000000.json").write_text("{torn")
    with pytest.raises(results.RecordError, match="bench_20261125T000000.json: not valid JSON"):
        report.bench_machines_table(tmp_path)


def test_lever_table_follows_the_precision_the_library_ran():
    rec = {"library_precision": "fp32", "rows": [
        {"config": "tensor-resident data, fp32, channels-last, batch 128, glibc malloc defaults",
         "images_per_second": 100.0},
        {"config": "tensor-resident data, bf16, channels-last, batch 128, glibc malloc defaults",
         "images_per_second": 8.0},
        {"config": "+ malloc keeps freed memory (fp32, channels-last, torch dropout)", "images_per_second": 110.0}]}
    table = report.lever_table(rec)
    assert table.loc["malloc keeps freed memory (fp32)", "speed-up"] == "x1.10"


def test_onednn_table_shares_add_up():
    rec = {"onednn_kernels": [
        {"primitive": "convolution", "implementation": "a", "propagation": "backward_weights", "calls": 3, "ms": 3.0},
        {"primitive": "reorder", "implementation": "b", "propagation": "undef", "calls": 26, "ms": 1.0}]}
    table = report.onednn_table(rec)
    assert list(table["share"]) == ["75.0%", "25.0%"] and list(table["calls"]) == [3, 26]
    assert report.onednn_table({"onednn_kernels": None}) is None


def test_verdict_tells_not_run_yet_from_not_runnable_here(tmp_path):
    assert report.verdict("cifar10_aug", tmp_path) == f"cifar10_aug: {report.NOT_RUN}."
    for name in ("cifar100", "svhn"):  # no offline copy: the table and the sentence say the same
        assert report.verdict(name, tmp_path) == f"{name}: not run here: no offline copy."
        assert report.results_table([name], tmp_path)["ours (%)"].iloc[0] == "not run here: no offline copy"
    results.write_record(curve([3.0, 1.0], experiment="mnist"), tmp_path)
    assert report.verdict("mnist", tmp_path).startswith("mnist: 1.00% test error over n=1 seed (2 epochs")


def test_reproductions_place_ours_among_the_paper_and_later_runs_lowest_first(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    from nin_repro.paper import LATER_REPRODUCTIONS

    table = report.reproductions_table(tmp_path)
    assert list(table.index[-2:]) == ["ours, no augmentation (n=0)", "ours, augmented (n=0)"]
    assert list(table["test error (%)"].iloc[-2:]) == ["not run yet", "not run yet"]
    assert len(table) == 2 + len(LATER_REPRODUCTIONS) + 2
    assert table.loc["the paper, no augmentation", "test error (%)"] == "10.41"
    ax = report.plot_reproductions(tmp_path)
    assert len(ax.get_yticks()) == len(table) - 2  # rows not run yet are not drawn
    for seed, error in ((0, 11.0), (1, 12.0)):
        results.write_record(make_record(experiment="cifar10", seed=seed, error=error, train={"precision": "fp32"}),
                             tmp_path)
    table = report.reproductions_table(tmp_path)
    ours = table.loc["ours, no augmentation (n=2)"]
    assert ours["test error (%)"] == "11.50 ± 0.71" and ours["augmentation"] == "no"
    assert ours["training"] == "1 epochs, the CPU protocol, on cpu (test), fp32"
    errors = list(table.index)
    # sorted by error: ours (11.5) after the paper's 10.41, before a later run's 12.30
    assert errors.index("the paper, no augmentation") < errors.index("ours, no augmentation (n=2)") \
        < errors.index("Jasonlee1995/NIN")
    assert len(report.plot_reproductions(tmp_path).get_yticks()) == len(table) - 1


def test_runs_left_are_the_planned_runs_without_a_protocol_record_with_what_the_done_ones_cost(tmp_path):
    from nin_repro.experiments import BOOK_PLAN

    assert len(report.runs_left_table(tmp_path)) == len(BOOK_PLAN)
    done = make_record(experiment="cifar10", seed=0, error=18.9, train={"precision": "bf16"})
    done["wall_seconds"] = 1.5 * 3600
    results.write_record(done, tmp_path)
    results.write_record(make_record(experiment="cifar10_aug", seed=0, overrides={"epochs": 1}), tmp_path)
    left = report.runs_left_table(tmp_path)
    assert ("cifar10", 0) not in left.index and ("cifar10_aug", 0) in left.index  # a shortened run is not the row's
    assert left.loc[("cifar10", 1), "measured cost of this experiment"] == "seed 0 took 1.5 h on cpu (test), bf16"
    assert left.loc[("cifar10_aug", 0), "measured cost of this experiment"] == "no run of it yet"
    assert left.loc[("svhn", 0), "status"] == "not run here: no offline copy"
    assert len(left) == len(BOOK_PLAN) - 1
