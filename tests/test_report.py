"""The chapters' tables and sentences (tables.py, findings.py), built from synthetic
records."""


import pytest

from nin_repro import checkpoint, results
from nin_repro.book import display, findings, provenance, tables
from test_results import make_record


def curve(errors, seconds=60.0, experiment="mnist_fast", seed=0):
    rec = make_record(experiment=experiment, seed=seed, error=errors[-1])
    rec["epochs"] = len(errors)
    rec["history"] = [{**rec["history"][0], "epoch": i + 1, "test_error": e, "seconds": seconds}
                      for i, e in enumerate(errors)]
    return rec


def test_run_machines_names_each_kind_of_machine_a_resumed_run_used():
    rec = curve([3.0, 2.0, 1.0, 0.9])
    # a record from before the library stored the instruction set says so in the field itself
    for h, m in zip(rec["history"], ["cpu (X), instruction set not recorded", "cpu (X), AVX2", "cpu (X), AVX2",
                                     "cpu (X), AVX512"]):
        h["machine"] = m
    assert provenance.run_machines(rec) == ("cpu (X), instruction set not recorded: epoch 1; "
                                        "cpu (X), AVX2: epochs 2-3; cpu (X), AVX512: epoch 4")
    results.validate(rec, "test")
    for h in rec["history"]:
        h["machine"] = "cpu (X), AVX2"
    assert provenance.run_machines(rec) == "cpu (X), AVX2"
    del rec["history"][2]["machine"]  # every epoch names its machine: a record without it is incomplete
    with pytest.raises(results.RecordError, match=r"history\[2\] lacks \['machine'\]"):
        results.validate(rec, "test")


def test_tables_name_each_seeds_machine_and_precision(tmp_path):
    # Two seeds of one row on different machines: a bf16 run on AMX and an fp32
    # run on AVX2 are not the same measurement, and the tables must say so.
    bf16 = make_record(seed=0, error=0.7, train={"precision": "bf16"})
    fp32 = make_record(seed=1, error=0.9, train={"precision": "fp32"})
    for h in fp32["history"]:
        h["machine"] = "cpu (Intel(R) Xeon(R) Processor), AVX2"
    for r in (bf16, fp32):
        results.write_record(r, tmp_path)
    assert "on test, AVX2, bf16; Intel Xeon, AVX2, fp32" in findings.verdict("mnist", tmp_path)
    # the full provenance is in the run records appendix, epoch by epoch
    appendix = tables.run_records_table(tmp_path).set_index("run")
    assert appendix.loc["mnist, seed 0", tables.MACHINE_COLUMN] == "test, AVX2, bf16"
    assert appendix.loc["mnist, seed 1", tables.MACHINE_COLUMN] == "Intel Xeon, AVX2, fp32"
    assert tables.run_records_table(tmp_path).set_index("run").loc["mnist, seed 1", "core-hours"] == "0.03"


def test_the_appendix_names_each_runs_copy_of_the_data_in_a_word_or_two(tmp_path):
    # CIFAR-100's packed copy (the study's only one, every image bit-exact) records a paragraph on how it
    # was recovered: the appendix says "lossless", as for MNIST, and a CIFAR-10 copy by its name
    source = ("cifar100.npz (CIFAR-100 recovered bit-exact from public mirrors: PFLlib-format float32 chunks, "
              "split recovered by replaying PFLlib's seeded partition; sha256 3c5bafe20c5e4d76)")
    results.write_record({**make_record("cifar100_full"), "dataset": "cifar100", "data_source": source}, tmp_path)
    results.write_record({**make_record("cifar10_full"), "dataset": "cifar10",
                          "data_source": "cifar10.npz (...; sha256 393f6a5dbfc8b440)"}, tmp_path)
    results.write_record(make_record("mnist"), tmp_path)
    copies = tables.run_records_table(tmp_path).set_index("run")["data copy"]
    assert copies.to_dict() == {"cifar100_full, seed 0": "lossless", "cifar10_full, seed 0": "near\u2011lossless",
                                "mnist, seed 0": "lossless"}  # a hyphen that does not break the cell's line


def test_short_where_keeps_what_tells_machines_apart():
    assert display.short_where("cpu (Intel(R) Xeon(R) Processor), AVX512, bf16") == "Intel Xeon, AVX512, bf16"
    assert display.short_where("cpu (AMD EPYC), AVX2, fp32: epochs 1-3") == "AMD EPYC, AVX2, fp32: epochs 1-3"
    assert display.short_where("NVIDIA H200, bf16") == "NVIDIA H200, bf16"


def test_results_table_names_the_protocol_and_shows_a_run_in_progress(tmp_path):
    from test_progress import snapshot

    results.write_record(make_record(experiment="mnist", error=0.8), tmp_path)
    table = tables.results_table(["mnist_full", "mnist", "svhn", "cifar100"], tmp_path)
    # a planned row not yet run names the protocol it will run; one the plan leaves out has none
    assert list(table["protocol"]) == ["full length", "CPU budget", "CPU budget", "-"]
    assert list(table["ours (%)"]) == ["not started", "0.80", "not run: no offline copy of the data",
                                       tables.NOT_PLANNED]
    assert list(table["epochs"]) == ["0 of 60", 1, "0 of 10", ""]
    snapshot(tmp_path, "mnist_full", 0, [9.0, 2.5])
    row = tables.results_table(["mnist_full"], tmp_path).iloc[0]
    assert (row["ours (%)"], row["epochs"], row["n"]) == ("in progress: 2.50% at epoch 2 of 60", "2 of 60", 0)
    last = tables.run_records_table(tmp_path).iloc[-1]
    assert (last["run"], last["epochs"], last["test error (%)"]) == (
        "mnist_full, seed 0 (in progress)", "2 of 60", "2.50% so far")
    # a snapshot from before snapshots kept their provenance says so; a newer one shows it
    path = snapshot(tmp_path, "cifar10_aug_full", 0, [70.0, 50.0])

    def appendix_row():
        return tables.run_records_table(tmp_path).set_index("run").loc["cifar10_aug_full, seed 0 (in progress)"]

    old = appendix_row()
    assert (old["data copy"], old["torch"], old["commit"]) == ("not recorded", "not recorded", "not recorded")
    assert (old["core-hours"], old["train img/s"]) == ("", "")  # nor did its epochs time themselves
    state = checkpoint.load(path)
    for row, speed in zip(state["history"], (90.0, 112.0)):
        row["train_images_per_second"] = speed
    state["provenance"] = {"data_source": "mnist.npz (sha256 393f6a5dbfc8b440)", "torch_version": "2.14.1",
                           "git_commit": "0123456789abcdef0123456789abcdef01234567-dirty", "threads": 2}
    checkpoint.save(path, state)
    new = appendix_row()
    assert (new["data copy"], new["torch"], new["commit"]) == (
        "near\u2011lossless", "2.14.1",
        "01234567-dirty")  # enough of the hash for git, and whether the tree was clean
    # its cores known, its core-hours so far are (2 epochs of 500 s on 2 threads), as the compute table counts them
    assert new["core-hours"] == "0.56"
    assert new["train img/s"] == "101"  # the mean over its epochs so far, as a finished run's record has it


def test_a_row_with_records_says_which_further_seed_is_training(tmp_path):
    from test_progress import snapshot

    done = make_record(experiment="mnist_full", error=0.4)
    done["config"]["overrides"] = {}
    results.write_record(done, tmp_path)
    assert tables.results_table(["mnist_full"], tmp_path).iloc[0]["ours (%)"] == "0.40"
    snapshot(tmp_path, "mnist_full", 1, [9.0])
    row = tables.results_table(["mnist_full"], tmp_path).iloc[0]
    assert (row["ours (%)"], row["n"]) == ("0.40; seed 1 training (epoch 1 of 60)", 1)


def lines(markdown):
    """The bullet lines of an effect, without their "- "."""
    out = markdown.splitlines()
    assert all(line.startswith("- ") for line in out)
    return [line[2:] for line in out]


def test_heads_effect_compares_gap_with_each_fc_head_and_checks_the_papers_order(tmp_path):
    assert lines(findings.heads_effect(tmp_path)) == [
        "GAP vs FC: not compared yet (needs records of CIFAR-10, 30 epochs and CIFAR-10, FC head, 30 epochs).",
        "GAP vs FC + dropout: not compared yet (needs records of CIFAR-10, 30 epochs and CIFAR-10, FC + dropout head, 30 epochs).",
        "FC + dropout vs FC: not compared yet (needs records of CIFAR-10, FC + dropout head, 30 epochs and CIFAR-10, FC "
        "head, 30 epochs).",
        "The paper's order (GAP < FC + dropout < FC): checked once GAP, FC + dropout and FC have records."]
    results.write_record(make_record(experiment="cifar10", error=18.9), tmp_path)
    results.write_record(make_record(experiment="cifar10_fc", error=18.5), tmp_path)
    out = lines(findings.heads_effect(tmp_path))
    # one epoch each: no epoch-to-epoch range and one seed, so no noise to speak of
    assert out[0] == ("GAP 18.90% vs FC 18.50%: GAP 0.40 points higher (the paper: 1.18 points lower; the rows' "
                      "noise is up to 0.00 points, so the gap is beyond it).")
    # a pair with one row done needs the other's record alone
    assert out[1] == "GAP vs FC + dropout: not compared yet (needs a record of CIFAR-10, FC + dropout head, 30 epochs)."
    assert out[2] == "FC + dropout vs FC: not compared yet (needs a record of CIFAR-10, FC + dropout head, 30 epochs)."
    # a three-way order cannot hold or fail with its middle head missing: the pair above says how these two stand
    assert out[3] == "The paper's order (GAP < FC + dropout < FC): checked once FC + dropout has a record."
    assert out[4] == ("At the last epoch (training error taken during it, dropout on): "
                      "GAP 2.00% train "
                      "vs 18.90% test (a gap of 16.90 points); FC 2.00% train vs 18.50% test (a gap of 16.50 points).")
    assert out[5].startswith("Noise (seed spread; each run's range over at most its last 10 tests at the final "
                             "rate)")
    # a row on one seed says so in its noise, which is then its range alone
    assert "GAP (one seed): one test at the final rate, so no range" in out[5] and out[5].count("(one seed)") == 2
    assert out[6:] == ["Every row trained on test, AVX2, fp32."]
    for seed, error in ((1, 17.0), (2, 17.2)):  # GAP now lower on average, over three seeds
        results.write_record(make_record(experiment="cifar10", seed=seed, error=error), tmp_path)
    results.write_record(make_record(experiment="cifar10_fc_dropout", error=18.0), tmp_path)
    out = lines(findings.heads_effect(tmp_path))
    assert out[0] == ("GAP 17.70% vs FC 18.50%: GAP 0.80 points lower (the paper: 1.18 points lower; the rows' "
                      "noise is up to 1.04 points, so the gap is within it).")  # GAP's seeds spread by 1.04
    assert out[3] == "The paper's order (GAP < FC + dropout < FC) holds here: GAP 17.70% < FC + dropout 18.00% < FC 18.50%."
    assert out[4].startswith("At the last epoch") and out[4].count("train vs") == 3
    assert "GAP: seed std 1.04; one test at the final rate, so no range" in out[5]
    assert "FC + dropout (one seed): " in out[5] and "FC (one seed): " in out[5] and out[5].count("(one seed)") == 2


@pytest.mark.parametrize("errors, train, reading", [
    # GAP lowest in test error, the FC heads fit closer: the paper's reading
    ((18.0, 18.5, 19.0), (6.0, 4.0, 2.0),
     "GAP has the lowest test error; FC fits its training set most closely. GAP wins while fitting its training "
     "set less closely: the reading the paper gives"),
    # GAP lowest in both: it does not win as a regularizer would
    ((18.0, 18.5, 19.0), (2.0, 4.0, 6.0),
     "GAP has the lowest test error and also fits its training set most closely. GAP wins by fitting better, "
     "not as a regularizer would"),
    # every head at 0.00% training error (as full-length runs may end): the training errors cannot say why
    ((18.0, 18.5, 19.0), (0.0, 0.0, 0.0),
     "GAP has the lowest test error and fits its training set as closely as FC + dropout and FC, within the range "
     "of the training errors over the last epochs. So the training errors cannot say why GAP is lowest."),
    # two FC heads tied closest, GAP above them: still the paper's reading
    ((18.0, 18.5, 19.0), (6.0, 0.0, 0.0),
     "GAP has the lowest test error; FC + dropout and FC fit their training sets most closely. GAP wins while "
     "fitting its training set less closely: the reading the paper gives"),
    # an FC head lowest in both: at the budget's length overfitting has not yet cost test error
    ((18.6, 18.5, 18.0), (6.0, 4.0, 2.0),
     "FC has the lowest test error and also fits its training set most closely. Fitting the training set has not "
     "cost test error here, so a regularizing head has nothing to win: the paper's argument for GAP"),
])
def test_heads_reading_says_which_head_fits_closest_and_what_that_means_for_gap(tmp_path, errors, train, reading):
    assert findings.heads_reading(tmp_path).startswith("Not every head has a record yet")
    for name, error, train_error in zip(("cifar10", "cifar10_fc_dropout", "cifar10_fc"), errors, train):
        rec = make_record(experiment=name, error=error)
        rec["history"][-1]["train_error"] = train_error
        results.write_record(rec, tmp_path)
    out = findings.heads_reading(tmp_path)
    assert out.startswith("At the CPU budget (1 epochs), ")
    assert reading in out and "18.00" not in out  # the numbers are in heads_effect's lines, above it
    assert ("the reading the paper gives" in out) == ("the reading the paper gives" in reading)


def test_heads_reading_does_not_tell_training_errors_apart_within_their_noise(tmp_path):
    # GAP ends 0.10% above the FC heads' training error, but its own training
    # error moved by 0.30 points over its last epochs at the final rate
    for name, error, train in (("cifar10", 18.0, (0.3, 0.0, 0.1)), ("cifar10_fc_dropout", 18.5, (0.0, 0.0, 0.0)),
                               ("cifar10_fc", 19.0, (0.0, 0.0, 0.0))):
        rec = make_record(experiment=name, error=error)
        rec["history"] = [{**rec["history"][0], "epoch": i + 1, "train_error": t} for i, t in enumerate(train)]
        results.write_record(rec, tmp_path)
    out = findings.heads_reading(tmp_path)
    assert "fits its training set as closely as FC + dropout and FC" in out
    assert "cannot say why GAP is lowest" in out
    # GAP's three seeds end at 0.1, 0.0 and 1.0% training error (mean 0.37, std 0.55): 0.37 points above the
    # FC heads is beyond seed 0's range over its last epochs (0.3) but within the seeds' spread
    for seed, train in ((1, 0.0), (2, 1.0)):
        rec = make_record(experiment="cifar10", seed=seed, error=18.0)
        rec["history"][-1]["train_error"] = train
        results.write_record(rec, tmp_path)
    out = findings.heads_reading(tmp_path)
    assert "fits its training set as closely as FC + dropout and FC" in out
    assert "regularizer" not in out  # no reading of why from training errors that cannot be told apart


def test_augmentation_effect_gives_the_gap_and_how_closely_each_row_fit_its_training_set(tmp_path):
    assert findings.augmentation_effect(tmp_path) == (
        "- augmented vs not augmented: not compared yet (needs records of CIFAR-10, augmented, 30 epochs and CIFAR-10, 30 epochs).")
    plain = curve([30.0, 19.0], experiment="cifar10")
    plain["history"][-1]["train_error"] = 14.0
    results.write_record(plain, tmp_path)
    assert findings.augmentation_effect(tmp_path).startswith("- augmented vs not augmented: not compared yet")
    for seed, (train, test) in enumerate([(18.5, 17.5), (18.7, 18.5)]):
        aug = curve([30.0, test], experiment="cifar10_aug", seed=seed)
        aug["history"][-1]["train_error"] = train
        results.write_record(aug, tmp_path)
    out = lines(findings.augmentation_effect(tmp_path))
    # both epochs ran at one rate here, so each run's last-epochs range spans its whole curve
    assert out[0] == ("augmented 18.00% vs not augmented 19.00%: augmented 1.00 points lower (the paper: 1.60 points "
                      "lower; the rows' noise is up to 12.50 points, so the gap is within it).")
    assert out[1] == ("At the last epoch (training error taken during it, dropout on): "
                      "augmented 18.60% train "
                      "vs 18.00% test (a gap of -0.60 points); not augmented 14.00% train vs 19.00% test (a gap of "
                      "5.00 points).")
    assert "not augmented (one seed): " in out[2] and out[2].count("(one seed)") == 1


def test_dropout_effect_gives_the_relative_cut_beside_the_noise_or_says_what_is_missing(tmp_path):
    assert findings.dropout_effect(tmp_path) == (
        "- dropout vs no dropout: not compared yet (needs records of CIFAR-10, 30 epochs and CIFAR-10, no dropout, 30 epochs).")
    with_dropout = make_record(experiment="cifar10", error=16.0)
    with_dropout["history"][-1]["train_error"] = 12.0
    results.write_record(with_dropout, tmp_path)
    assert findings.dropout_effect(tmp_path).startswith("- dropout vs no dropout: not compared yet")
    without = curve([20.5, 20.0], experiment="cifar10_nodropout")  # moved by 0.5 over its last epochs
    without["history"][-1]["train_error"] = 6.0  # fits its training set far more closely
    results.write_record(without, tmp_path)
    out = lines(findings.dropout_effect(tmp_path))
    assert out[0] == ("Test error 20.00% without dropout, 16.00% with it: a 20.0% relative reduction, 4.00 points "
                      "(the paper: a reduction of more than 20%). The rows' noise is up to 0.50 points, "
                      "so the difference is beyond it. A 20% cut would be 4.00 points: ours matches it, within the "
                      "noise.")
    assert out[1] == ("At the last epoch (training error taken during it, dropout on): "
                      "dropout 12.00% train "
                      "vs 16.00% test (a gap of 4.00 points); no dropout 6.00% train vs 20.00% test (a gap of 14.00 "
                      "points).")
    assert "dropout (one seed): one test at the final rate, so no range" in out[2]
    assert "no dropout (one seed): range over the last 2 tests 0.50 points" in out[2]
    assert out[2].count("(one seed)") == 2
    reading = findings.dropout_reading(tmp_path)  # what the lines above mean, without their numbers again
    assert reading.startswith("At the CPU budget (1 epochs), dropout narrows the gap between training and test "
                              "error, and the test errors differ by more than the noise: dropout lowers the error; "
                              "whether by more than the paper's 20% lies within the noise.")
    assert "4.00" not in reading and "20.0%" not in reading
    assert "CIFAR-10, no dropout, 260 epochs, seed 0: not started (epoch 0 of 260)." in reading


@pytest.mark.parametrize("train_with, train_without, reading", [
    # the net without dropout fits its training set more closely, yet ends as close to the test error
    (12.0, 6.0, "dropout narrows the gap between training and test error, yet the two test errors end close "
                "together: the net without dropout has fitted its training set without yet paying"),
    # it does not fit more closely: no "fitted without paying"
    (6.0, 12.0, "dropout does not narrow the gap between training and test error, and the two test errors end "
                "close together. The full-length pair decides it at the paper's length: "),
])
def test_dropout_reading_says_when_the_test_errors_end_within_the_noise(tmp_path, train_with, train_without,
                                                                        reading):
    with_dropout = make_record(experiment="cifar10", error=19.0)
    with_dropout["history"][-1]["train_error"] = train_with
    without = curve([19.5, 19.1], experiment="cifar10_nodropout")  # a 0.4-point range: 0.1 apart is within it
    without["history"][-1]["train_error"] = train_without
    for r in (with_dropout, without):
        results.write_record(r, tmp_path)
    assert findings.dropout_reading(tmp_path).startswith(f"At the CPU budget (1 epochs), {reading}")


def test_dropout_raising_the_error_reads_as_a_rise_and_equal_means_as_no_change(tmp_path):
    with_dropout = make_record(experiment="cifar10", error=21.0)
    results.write_record(with_dropout, tmp_path)
    results.write_record(make_record(experiment="cifar10_nodropout", error=19.5), tmp_path)
    assert lines(findings.dropout_effect(tmp_path))[0].startswith(
        "Test error 19.50% without dropout, 21.00% with it: a 7.7% relative rise, 1.50 points")
    results.write_record(make_record(experiment="cifar10_nodropout", error=21.0), tmp_path)
    assert lines(findings.dropout_effect(tmp_path))[0].startswith(
        "Test error 21.00% without dropout, 21.00% with it: no relative change, 0.00 points")
    for seed, error in ((1, 21.0), (2, 21.01)):  # with dropout 21.0033 over three seeds: 21.00 as printed
        results.write_record(make_record(experiment="cifar10", seed=seed, error=error), tmp_path)
    assert lines(findings.dropout_effect(tmp_path))[0].startswith(
        "Test error 21.00% without dropout, 21.00% with it: no relative change, 0.00 points")


def test_heads_level_to_the_printed_digit_are_a_tie_not_an_order(tmp_path):
    for seed, error in enumerate((18.0, 18.01, 18.0)):  # GAP's mean 18.0033 prints as 18.00
        results.write_record(make_record(experiment="cifar10", seed=seed, error=error), tmp_path)
    results.write_record(make_record(experiment="cifar10_fc_dropout", error=18.0), tmp_path)
    results.write_record(make_record(experiment="cifar10_fc", error=19.0), tmp_path)
    out = lines(findings.heads_effect(tmp_path))
    assert out[1].startswith("GAP 18.00% vs FC + dropout 18.00%: GAP level with it (the paper: 0.47 points lower")
    assert out[2].startswith("FC + dropout 18.00% vs FC 19.00%: FC + dropout 1.00 points lower (the paper: 0.71 "
                             "points lower")
    assert out[3] == ("The paper's order (GAP < FC + dropout < FC) does not hold here: GAP 18.00% = FC + dropout "
                      "18.00% < FC 19.00%.")
    assert display.order_text(["a", "b"], {"a": 1.004, "b": 1.0}) == "a 1.00% = b 1.00%"


def test_heads_reading_draws_no_why_from_a_lead_within_the_noise(tmp_path):
    for name, error, train in (("cifar10", 18.0, 6.0), ("cifar10_fc_dropout", 18.1, 4.0), ("cifar10_fc", 19.0, 2.0)):
        rec = curve([18.3, error], experiment=name)  # each run moved 0.3 points or more over its last epochs
        for h in rec["history"]:
            h["train_error"] = train
        results.write_record(rec, tmp_path)
    out = findings.heads_reading(tmp_path)
    assert "GAP has the lowest test error, with FC + dropout within the rows' noise of it" in out
    assert "GAP wins" not in out and "regularizer" not in out


def test_a_cut_is_taken_from_the_unrounded_means(tmp_path):
    # Means of 19.1335 and 18.9145 print as 19.13 and 18.91; the records
    # differ by 0.219 points, a cut of 1.1% (the printed values would give
    # 1.2%): the cut comes from the records, and the chapter's points, two
    # decimals, from the printed means (0.22) that the reader subtracts; the
    # claims table keeps the records' 0.219.
    with_dropout = make_record(experiment="cifar10", error=18.9145)
    with_dropout["history"][-1]["train_error"] = 13.6861  # prints 13.69: a gap of 5.22 (unrounded: 5.2284)
    without = make_record(experiment="cifar10_nodropout", error=19.1335)
    for r in (with_dropout, without):
        results.write_record(r, tmp_path)
    out = lines(findings.dropout_effect(tmp_path))
    assert out[0].startswith("Test error 19.13% without dropout, 18.91% with it: a 1.1% relative reduction, "
                             "0.22 points")
    assert "dropout 13.69% train vs 18.91% test (a gap of 5.22 points)" in out[1]
    from nin_repro.book import claims
    fig4 = next(v for v in claims.verdicts(tmp_path) if v.claim.chapter == "figure4_dropout")
    assert "a 1.1% cut, 0.219 points (no dropout 19.13%, dropout 18.91%); no spread" in fig4.ours

    # a second dropout seed: the noise marks only the row that still has one
    results.write_record(make_record(experiment="cifar10", seed=1, error=18.9345), tmp_path)
    noise, where = lines(findings.dropout_effect(tmp_path))[-2:]
    assert "no dropout (one seed): " in noise and noise.count("(one seed)") == 1
    assert where == "Every row trained on test, AVX2, fp32."  # where, once: the rows share it


def test_a_comparison_says_where_its_rows_trained_and_that_a_setup_apart_may_hold_a_gap(tmp_path):
    results.write_record(make_record(experiment="cifar10", error=19.0), tmp_path)
    moved = make_record(experiment="cifar10_aug", error=18.0)
    moved["history"] = [{**moved["history"][0], "epoch": e, "machine": m, "precision": p}
                        for e, m, p in ((1, "cpu (AMD EPYC), AVX2", "fp32"), (2, "cpu (Xeon), AMX", "bf16"))]
    results.write_record(moved, tmp_path)
    assert lines(findings.augmentation_effect(tmp_path))[-1] == (
        "The rows trained on different machines or precisions, so a gap may hold the setup's effect too: augmented "
        "(AMD EPYC, AVX2, fp32: epoch 1; Xeon, AMX, bf16: epoch 2), not augmented (test, AVX2, fp32).")
    # a run that spent most of its epochs on one kind of machine is named by it; its stretches are the appendix's
    moved["history"] += [{**moved["history"][1], "epoch": 3}]
    results.write_record(moved, tmp_path)
    assert lines(findings.augmentation_effect(tmp_path))[-1].endswith(
        "augmented (mostly Xeon, AMX, bf16: 2 of 3 epochs), not augmented (test, AVX2, fp32).")
    assert tables.moved_lines(tmp_path) == ("- `cifar10_aug` seed 0: AMD EPYC, AVX2, fp32: epoch 1; Xeon, AMX, bf16: "
                                            "epochs 2-3")


def test_verdict_tells_not_run_yet_from_not_runnable_here(tmp_path):
    assert findings.verdict("cifar10_aug", tmp_path) == f"CIFAR-10, augmented, 30 epochs: {tables.NOT_RUN}."
    assert findings.verdict("cifar10_aug_full", tmp_path) == "CIFAR-10, augmented, 260 epochs: not started."
    # no offline copy: the table and the sentence say the same
    assert findings.verdict("svhn", tmp_path) == f"SVHN, 10 epochs: {tables.NO_OFFLINE_COPY}."
    assert tables.results_table(["svhn"], tmp_path)["ours (%)"].iloc[0] == tables.NO_OFFLINE_COPY
    # a CPU-budget row the plan leaves to its full-length twin says so, rather than wait to be run
    assert findings.verdict("cifar100", tmp_path) == f"CIFAR-100, 30 epochs: {tables.NOT_PLANNED}."
    assert list(tables.results_table(["cifar100_full", "cifar100"], tmp_path)["ours (%)"]) == [
        "not started", "not planned: the full-length row stands for it"]
    results.write_record(curve([3.0, 1.0], experiment="mnist"), tmp_path)
    assert findings.verdict("mnist", tmp_path).startswith("MNIST, 15 epochs: 1.00% test error over n=1 seed (2 epochs")
    # at the experiment's own length, the length is said once, in the row's name
    results.write_record({**curve([3.0, 1.0], experiment="mnist"), "epochs": 15}, tmp_path)
    assert findings.verdict("mnist", tmp_path).startswith("MNIST, 15 epochs: 1.00% test error over n=1 seed (1 min on ")
    results.write_record({**curve([3.0, 1.0], experiment="mnist", seed=1), "epochs": 15}, tmp_path)
    assert findings.verdict("mnist", tmp_path).startswith(
        "MNIST, 15 epochs: 1.00 ± 0.00% test error over n=2 seeds (1 min per run on ")


def test_a_difference_from_the_paper_inside_the_rows_noise_is_called_unresolved(tmp_path):
    results.write_record(curve([0.50, 0.46], experiment="mnist"), tmp_path)  # the paper: 0.47%
    said = findings.verdict("mnist", tmp_path)
    assert said.endswith("ours is 0.01 points lower than the paper (within this row's noise of 0.04 points, the "
                         "range of its test error over its last epochs and over seeds: not a difference these "
                         "records resolve).")
    results.write_record(curve([0.90, 0.80], experiment="mnist"), tmp_path)  # 0.33 above, noise 0.10
    assert findings.verdict("mnist", tmp_path).endswith("ours is 0.33 points higher than the paper.")


def test_reproductions_place_ours_among_the_paper_and_later_runs_lowest_first(tmp_path):
    from nin_repro.book.paper import LATER_REPRODUCTIONS

    table = tables.reproductions_table(tmp_path).set_index("source")
    assert list(table.index[-2:]) == ["ours, no augmentation, CPU budget (n=0)", "ours, augmented, CPU budget (n=0)"]
    assert list(table["test error (%)"].iloc[-2:]) == ["not run yet", "not run yet"]
    assert len(table) == 2 + len(LATER_REPRODUCTIONS) + 2  # full-length rows without records are left out
    assert table.loc["the paper, no augmentation", "test error (%)"] == "10.41"
    for seed, error in ((0, 11.0), (1, 12.0)):
        results.write_record(make_record(experiment="cifar10", seed=seed, error=error, train={"precision": "fp32"}),
                             tmp_path)
    table = tables.reproductions_table(tmp_path).set_index("source")
    ours = table.loc["ours, no augmentation, CPU budget (n=2)"]
    assert ours["test error (%)"] == "11.50 ± 0.71" and ours["augmentation"] == "no"
    assert ours["training"] == "1 epochs, the CPU-budget protocol, in fp32"
    errors = list(table.index)
    # sorted by error: ours (11.5) after the paper's 10.41, before a later run's 12.30
    assert errors.index("the paper, no augmentation") < errors.index("ours, no augmentation, CPU budget (n=2)") \
        < errors.index("Jasonlee1995/NIN")


def test_runs_left_are_the_planned_runs_without_a_protocol_record_with_what_the_done_ones_cost(tmp_path):
    from nin_repro.book.chapters import BOOK_PLAN
    from test_progress import snapshot

    assert len(tables.runs_left_table(tmp_path)) == len(BOOK_PLAN)
    done = make_record(experiment="cifar10", seed=0, error=18.9, train={"precision": "bf16"})
    done["wall_seconds"] = 1.5 * 3600
    results.write_record(done, tmp_path)
    results.write_record(make_record(experiment="cifar10_aug", seed=0, overrides={"epochs": 1}), tmp_path)
    snapshot(tmp_path, "cifar10_aug_full", 0, [70.0, 50.0])
    left = tables.runs_left_table(tmp_path).set_index(["experiment", "seed"])
    assert ("cifar10", 0) not in left.index and ("cifar10_aug", 0) in left.index  # a shortened run is not the row's
    assert left.loc[("cifar10", 1), "measured cost of this experiment"] == "seed 0 took 1.5 h on test, AVX2, bf16"
    assert left.loc[("cifar10_aug", 0), "measured cost of this experiment"] == "no run of it yet"
    assert left.loc[("svhn", 0), "status"] == tables.NO_OFFLINE_COPY
    assert left.loc[("cifar10_aug_full", 0), "status"] == "in progress, epoch 2 of 260"
    # no finished run of it to measure by: what this one has cost so far
    assert left.loc[("cifar10_aug_full", 0), "measured cost of this experiment"] == \
        "this run so far: 2 epochs in 0.3 h on X, AVX2, fp32"
    assert left.loc[("cifar10_full", 0), "status"] == "not started"
    assert len(left) == len(BOOK_PLAN) - 1
    # in words: a run alone in its state keeps it in brackets, runs in a row sharing one are listed under it
    said = tables.runs_left_words(tmp_path)
    assert said.startswith(f"1 of the {len(BOOK_PLAN)} planned runs have finished. Left, in the order "
                           "`nin-repro reproduce` trains them: ")
    assert "CIFAR-10, augmented, 260 epochs, seed 0 (in progress, epoch 2 of 260)" in said
    assert said.endswith(". SVHN, 10 epochs, seed 0 (not run: no offline copy of the data).")
    # every run named once; "not started" said once for each stretch of such runs, not run by run
    assert said.count("seed") == len(left)
    assert 0 < said.lower().count("not started") < (left["status"] == "not started").sum()


def test_the_protocol_table_comes_from_the_train_config():
    # one row per distinct protocol, the experiments sharing it named together, each setting in its column
    table = tables.protocol_table(["cifar10", "cifar10_fc", "mnist_full"])
    assert list(table["experiments"]) == ["`cifar10`, `cifar10_fc`", "`mnist_full`"]  # the names a command takes
    full = table.iloc[1]
    assert (full["protocol"], full["epochs (rate ÷10 after)"], full["init"], full["input"]) == (
        "full length", "60 (46, 53)", "Gaussian 0.05", "raw")
    assert (table.iloc[0]["rate"], table.iloc[0]["warm-up (epochs)"]) == ("0.05", "1")
    fast = tables.protocol_table(["mnist_fast"]).iloc[0]
    assert (fast["rate"], fast["warm-up (epochs)"], fast["epochs (rate ÷10 after)"]) == ("0.2", "2", "8 (one-cycle)")
    # Method shows the table without the columns its Settings paragraph states once, per kind of protocol:
    # biases go undecayed at full length only, label smoothing is the fast recipe's alone
    from nin_repro.book.chapters import BOOK_PLAN

    every = tables.protocol_table(list(dict.fromkeys(name for name, _ in BOOK_PLAN)))
    assert set(zip(every["protocol"], every["biases decayed"])) == {
        ("full length", "no"), ("CPU budget", "yes"), ("short check", "yes"), ("fast recipe", "yes")}
    assert set(every.loc[every["label smoothing"] != "-", "protocol"]) == {"fast recipe"}
    # Table 1's augmented run shares its protocol's row, marked on its name
    table = tables.protocol_table(["cifar10_full", "cifar10_aug_full", "cifar10_aug"])
    assert list(table["experiments"]) == ["`cifar10_full`, `cifar10_aug_full` (+ translate, flip)",
                                          "`cifar10_aug` (+ translate, flip)"]
    assert set(table["input"]) == {"gcn_zca"}


def test_every_net_of_the_study_has_a_label_of_its_own():
    # MNIST has two nets, ours at the CPU budget and the first author's mnist_def at full length:
    # the table names whose each is, so no two rows read alike
    sizes = tables.sizes_table(["mnist", "mnist_full", "mnist_fast", "cifar10", "cifar10_full"])
    # the nets that decide the claims (full length) first, then the others in the order named
    assert list(sizes["net"]) == ["MNIST (the author's mnist_def)", "CIFAR-10", "MNIST (ours)",
                                  "MNIST (ours), BatchNorm"]
    assert list(sizes["protocols"])[:3] == ["full length", "CPU budget, full length", "CPU budget"]
    assert not tables.sizes_table()["net"].duplicated().any()


def test_runs_on_two_copies_of_the_data_get_a_row_each_and_the_gap_between_them(tmp_path):
    from test_results import JPEG_SOURCE, LOSSLESS_SOURCE, on_copy

    assert findings.copy_effect("cifar10", tmp_path) == (
        "CIFAR-10, 30 epochs has no runs yet, so what the copy changes is not measured.")
    for seed, error in ((0, 18.9), (1, 19.1)):
        results.write_record(on_copy(make_record(experiment="cifar10", seed=seed, error=error), JPEG_SOURCE), tmp_path)
    results.write_record(on_copy(make_record(experiment="cifar10_aug", error=19.0), JPEG_SOURCE), tmp_path)
    assert findings.copy_effect("cifar10", tmp_path).startswith("CIFAR-10, 30 epochs has runs on one copy of the data only")
    table = tables.results_table(["cifar10"], tmp_path)
    assert list(table["protocol"]) == ["CPU budget, JPEG copy"] and list(table["n"]) == [2]
    lossless = on_copy(make_record(experiment="cifar10", seed=2, error=14.8), LOSSLESS_SOURCE,
                       "2026-12-03T00:00:00+0000")
    lossless["history"][0]["machine"] = "cpu (Y), AVX2"
    results.write_record(lossless, tmp_path)
    table = tables.results_table(["cifar10", "cifar10_aug"], tmp_path)
    assert list(table["protocol"]) == ["CPU budget, JPEG copy", "CPU budget, near-lossless copy",
                                       "CPU budget, JPEG copy"]
    assert list(table["ours (%)"]) == ["19.00 ± 0.14", "14.80", "19.00"] and list(table["n"]) == [2, 1, 1]
    assert findings.copy_effect("cifar10", tmp_path) == (
        "CIFAR-10, 30 epochs: on the JPEG copy 19.00 ± 0.14% (n=2, seeds 0, 1, on test, AVX2, fp32); on the "
        "near-lossless copy 14.80% (n=1, seed 2, on Y, AVX2, fp32). On the near-lossless copy the test error is "
        "4.20 points lower, beyond the rows' noise of up to 0.14 points. No machine and precision trained both "
        "copies, so part of the gap may come from the setup.")
    # the comparison with augmentation uses the JPEG rows only, the copy both have runs on
    assert lines(findings.augmentation_effect(tmp_path))[0].startswith(
        "augmented 19.00% vs not augmented 19.00%: augmented level with it")
    # Table 5 sets GAP beside the heads on the copy they share: the JPEG one
    results.write_record(on_copy(make_record(experiment="cifar10_fc", error=18.0), JPEG_SOURCE), tmp_path)
    heads = tables.heads_table(tmp_path)
    assert list(heads["head"]) == ["FC", "FC + dropout", "GAP"] and list(heads["n"]) == [1, 0, 2]
    assert heads.loc[2, "protocol"] == "CPU budget, JPEG copy" and heads.loc[2, "ours (%)"] == "19.00 ± 0.14"
    lossless["history"][0]["machine"] = "cpu (test), AVX2"  # now on the JPEG runs' machine
    results.write_record(lossless, tmp_path)
    assert findings.copy_effect("cifar10", tmp_path).endswith(
        "Like for like on test, AVX2, fp32: JPEG copy 19.00% (n=2), near-lossless copy 14.80% (n=1).")


def test_the_papers_numbers_are_read_by_name_not_by_position(tmp_path):
    from nin_repro.book.paper import PAPER_ERRORS, paper_error

    assert PAPER_ERRORS["cifar10_fc"].table == "Table 5" and PAPER_ERRORS["cifar10_fc"].error == 11.59
    assert paper_error("cifar10_fc") == 11.59 and paper_error("no such row") is None and paper_error(None) is None
    # Table 5's heads as the tables show them: the paper's number of each head
    assert list(tables.heads_table(tmp_path)["paper (%)"]) == ["11.59", "10.88", "10.41"]


def test_the_authors_cifar100_params_cannot_be_changed_through_as_sgds_default():
    from nin_repro.book.paper import AUTHOR_CIFAR100_PARAMS, as_sgd

    before = as_sgd()
    with pytest.raises(TypeError):
        AUTHOR_CIFAR100_PARAMS["epsW"] = 1.0
    assert as_sgd() == before and before["lr"] == pytest.approx(0.02)
    # a caller's own parameters still work, a plain dict among them
    assert as_sgd({**AUTHOR_CIFAR100_PARAMS, "epsW": 0.02})["lr"] == pytest.approx(0.04)


def test_standing_says_which_finished_rows_reach_the_papers_error_and_which_stay_above(tmp_path):
    names = ["cifar10_full", "mnist_full", "cifar100_full"]
    assert findings.standing(names, tmp_path) == "have no finished row to set against the paper yet"
    results.write_record(curve([0.50, 0.40], experiment="mnist_full"), tmp_path)  # the paper: 0.47%
    # below the paper on one seed: the Discussion's next sentence (`below_paper`) says so, not this clause
    assert findings.standing(names, tmp_path) == "reach the paper's error or lower on MNIST"
    results.write_record(curve([12.0, 11.0], experiment="cifar10_full"), tmp_path)  # the paper: 10.41%
    results.write_record(curve([0.45, 0.44], experiment="mnist_full", seed=1), tmp_path)
    assert findings.standing(names, tmp_path) == ("reach the paper's error or lower on MNIST, and stay above it on "
                                                  "CIFAR-10 (by 0.59 points); one seed so far on CIFAR-10")
    above = tmp_path / "above"
    results.write_record(curve([12.0, 11.0], experiment="cifar10_full"), above)
    results.write_record(curve([40.0, 36.0], experiment="cifar100_full"), above)  # the paper: 35.68%
    assert findings.standing(names, above).startswith(
        "stay above the paper's error on CIFAR-10 (by 0.59 points) and CIFAR-100 (by 0.32 points)")


def test_the_first_authors_stages_stand_beside_our_run_without_augmentation_only(tmp_path):
    from test_progress import snapshot

    for name in ("cifar10_full", "cifar10_aug_full"):
        snapshot(tmp_path, name, 0, [70.0 - 0.2 * i for i in range(200)])
    assert tables.stages_table("cifar10_full", 0, tmp_path).loc["1-200", tables.AUTHOR_COLUMN] == "about 14"
    # his release reports no augmented run: the column is there, for the table the two share, but blank
    assert tables.stages_table("cifar10_aug_full", 0, tmp_path).loc["1-200", tables.AUTHOR_COLUMN] == ""


def test_the_discussion_weighs_rows_below_the_paper_against_their_noise_and_seeds(tmp_path):
    names = ["cifar10_full", "mnist_full"]
    assert findings.below_paper(names, tmp_path) == ""
    results.write_record(curve([12.0, 11.0], experiment="cifar10_full"), tmp_path)  # above the paper's 10.41%
    assert findings.below_paper(names, tmp_path) == ""
    # below the paper's 0.47% by 0.07, within its last epochs' range of 0.10
    results.write_record(curve([0.50, 0.40], experiment="mnist_full"), tmp_path)
    why = ("The study tests no cause of the gap: the recipe's differences from the paper's are the candidates.")
    assert findings.below_paper(names, tmp_path) == (
        "The MNIST row ends below the paper's error, within its own noise (the range of its last tests at the "
        "final rate, or its seeds' spread); the paper gives one number a row, and MNIST rests on one seed here, "
        "so a further seed may move the gap. " + why)
    results.write_record(curve([10.2, 10.0], experiment="cifar10_full"), tmp_path)  # 0.41 below, range 0.20
    for seed, error in ((1, 0.41), (2, 0.40)):  # three MNIST seeds, spread 0.006: 0.07 below is beyond it now
        results.write_record(curve([0.41, error], experiment="mnist_full", seed=seed), tmp_path)
    results.write_record(curve([0.40, 0.40], experiment="mnist_full"), tmp_path)
    assert findings.below_paper(names, tmp_path) == (
        "Every finished full-length row of an error claim ends below the paper's error, each by more than its own "
        "noise (the range of its last tests at the final rate, or its seeds' spread); the paper gives one number a "
        "row, and CIFAR-10 rests on one seed here, so a further seed may move the gap. " + why)


def test_a_chapter_names_the_finished_runs_its_protocol_trained_again(tmp_path):
    import json

    assert findings.superseded_note("mnist_full", tmp_path) == ""
    (tmp_path / "superseded").mkdir()
    for seed, error in ((1, 0.40), (0, 0.46)):
        rec = make_record(experiment="mnist_full", seed=seed, error=error)
        rec["superseded_because"] = "seed 2 collapsed to one class with the 1-epoch warm-up; every seed trained again"
        (tmp_path / "superseded" / f"mnist_full__seed{seed}.json").write_text(json.dumps(rec))
    assert findings.superseded_note("mnist_full", tmp_path) == (
        "Seeds 0 and 1 first finished at 0.46% and 0.40% under an earlier version of this protocol; seed 2 "
        "collapsed to one class with the 1-epoch warm-up; every seed trained again. The claim counts only runs of "
        "the protocol as it stands ({doc}`runs` keeps the earlier ones).")
    assert findings.superseded_note("cifar10_full", tmp_path) == ""
    # the runs appendix gives them one line: one experiment, one reason
    said = tables.superseded_lines(tmp_path).splitlines()
    assert len(said) == 1 and said[0].startswith("- `mnist_full` seeds 0 and 1: ")


def test_the_noise_line_names_the_seed_of_each_runs_range(tmp_path):
    for seed, errors in ((0, [19.5, 19.0]), (1, [19.2, 19.0])):
        results.write_record(curve(errors, experiment="cifar10", seed=seed), tmp_path)
    labels = {"cifar10": "GAP"}
    line = findings.noise_line(findings._summarized(labels, tmp_path), labels)
    assert "over its last 2 tests at the final rate): GAP: seed std 0.00; ranges 0.50 and 0.20 points (seeds 0 and 1)." \
        in line
    # runs over windows of different lengths: each row names its own
    results.write_record(curve([19.9, 19.6, 19.5], experiment="cifar10_fc"), tmp_path)
    labels = {"cifar10": "GAP", "cifar10_fc": "FC"}
    line = findings.noise_line(findings._summarized(labels, tmp_path), labels)
    assert line.startswith("Noise (seed spread; each run's range over at most its last 10 tests at the final "
                           "rate): ")
    assert "GAP: seed std 0.00; range over the last 2 tests 0.50 and 0.20 points (seeds 0 and 1)" in line
    assert "FC (one seed): range over the last 3 tests 0.40 points" in line


def test_the_short_runs_chapter_says_each_rows_fit_and_noise_once_not_in_every_comparison(tmp_path):
    for name, error in (("cifar10", 18.9), ("cifar10_aug", 19.1), ("cifar10_fc", 18.0), ("cifar10_fc_dropout", 18.8),
                        ("cifar10_nodropout", 19.1)):
        results.write_record(curve([error + 0.2, error], experiment=name), tmp_path)
    effects = [findings.augmentation_effect(tmp_path, details=False), findings.heads_effect(tmp_path, details=False),
               findings.dropout_effect(tmp_path, details=False)]
    assert not any("At the last epoch" in e or "Noise (" in e for e in effects)
    assert "At the last epoch" in findings.heads_effect(tmp_path)  # a chapter of its own keeps them
    behind = lines(findings.rows_behind(["cifar10", "table5_heads", "figure4_dropout"], tmp_path))
    assert behind[0].count("train vs") == 5 and behind[0].count("the paper's net 2.00% train vs 18.90% test") == 1
    assert behind[1:] == ["Every row trained on test, AVX2, fp32."]  # each pair's noise: the comparisons' table
    assert set(findings.budget_comparisons(tmp_path)["noise"]) == {"0.20"}


def test_the_short_runs_comparisons_table_reads_each_pair_against_the_paper_and_the_noise(tmp_path):
    table = findings.budget_comparisons(tmp_path)
    assert list(table["compared"]) == ["augmented vs not augmented", "GAP vs FC", "GAP vs FC + dropout",
                                       "FC + dropout vs FC", "dropout vs no dropout"]
    assert set(table["reading"]) == {"not compared yet"} and set(table["ours"]) == {""}
    # each row's last two tests 0.2 apart: a noise of 0.20 points for every pair
    for name, error in (("cifar10", 18.9), ("cifar10_aug", 18.0), ("cifar10_fc", 19.0), ("cifar10_fc_dropout", 18.0),
                        ("cifar10_nodropout", 23.9)):
        results.write_record(curve([error + 0.2, error], experiment=name), tmp_path)
    rows = findings.budget_comparisons(tmp_path).set_index("compared")
    assert rows.loc["augmented vs not augmented"].tolist() == ["0.90", "1.60", "0.20", "the paper's way"]
    assert rows.loc["GAP vs FC"].tolist() == ["0.10", "1.18", "0.20", "within the noise"]
    assert rows.loc["GAP vs FC + dropout"].tolist() == ["-0.90", "0.47", "0.20", "not the paper's way"]
    assert rows.loc["FC + dropout vs FC", "reading"] == "the paper's way"
    # Figure 4: a cut of 5.00 points from 23.90% is 20.9%, past the paper's mark by more than the noise
    assert rows.loc["dropout vs no dropout"].tolist() == ["5.00 (a 20.9% cut)", "a cut over 20%", "0.20",
                                                          "the paper's way"]

    def dropout_row():
        return findings.budget_comparisons(tmp_path).set_index("compared").loc["dropout vs no dropout"].tolist()

    results.write_record(curve([20.1, 19.9], experiment="cifar10_nodropout", seed=1), tmp_path)
    # no dropout now 21.90 ± 2.83 over two seeds: a 3.00-point cut, beyond that spread; 20% would be 4.38 points,
    # a mark within the noise of it
    assert dropout_row() == ["3.00 (a 13.7% cut)", "a cut over 20%", "2.83", "a cut, 20% within the noise"]
    for seed in (0, 1):
        results.write_record(curve([21.2, 21.0], experiment="cifar10_nodropout", seed=seed), tmp_path)
    assert dropout_row() == ["2.10 (a 10.0% cut)", "a cut over 20%", "0.20", "a cut, short of 20%"]
    for seed in (0, 1):
        results.write_record(curve([18.5, 18.3], experiment="cifar10_nodropout", seed=seed), tmp_path)
    assert dropout_row() == ["-0.60", "a cut over 20%", "0.20", "not the paper's way"]  # dropout raised the error


def test_the_short_runs_comparisons_table_reads_no_gap_between_rows_on_different_copies(tmp_path):
    from test_results import JPEG_SOURCE, LOSSLESS_SOURCE, on_copy

    results.write_record(on_copy(make_record(experiment="cifar10", error=14.8), LOSSLESS_SOURCE), tmp_path)
    results.write_record(on_copy(make_record(experiment="cifar10_aug", error=19.0), JPEG_SOURCE), tmp_path)
    row = findings.budget_comparisons(tmp_path).set_index("compared").loc["augmented vs not augmented"]
    assert row["reading"] == "rows on different copies of the data"
