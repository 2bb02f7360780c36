"""The claims table and the abstract in the book's three states: nothing
full-length started (the CPU-budget rows decide, labelled so), a full-length
run in progress ("in progress (epoch k of N)"), and finished (the full-length
row decides). Built from synthetic records and snapshots, never results/."""

import json

import pytest

from nin_repro import experiments, results
from nin_repro.book import abstract, claims, cost, display, readme
from nin_repro.book.display import md_table
from test_progress import snapshot
from test_results import make_record


def record(experiment, seed, errors, train_error=5.0, lr=0.1):
    """A protocol run of `experiment` whose test error per epoch is `errors`."""
    e = experiments.get(experiment)
    rec = make_record(experiment=experiment, seed=seed, error=errors[-1])
    rec.update(dataset=e.dataset, epochs=len(errors), threads=2)
    rec["config"].update(model=e.model.to_dict(), train=e.train.to_dict(), dataset=e.dataset)
    rec["history"] = [{**rec["history"][0], "epoch": i + 1, "test_error": x, "train_error": train_error, "lr": lr}
                      for i, x in enumerate(errors)]
    return rec


def budget_rows(tmp_path, **errors):
    """A finished 30-epoch record (seed 0, the budget's rate) per experiment, with these test errors."""
    for name, errs in errors.items():
        results.write_record(record(name, 0, errs, lr=0.0005), tmp_path)


def by_key(results_dir):
    return {v.claim.key: v for v in claims.verdicts(results_dir)}


def test_tolerance_is_two_seed_stds_or_a_floor():
    assert claims.tolerance(10.41, None, 1) == pytest.approx(0.5205)  # 5% of the paper's number
    assert claims.tolerance(0.47, None, 1) == pytest.approx(0.1)       # the 0.1-point floor
    assert claims.tolerance(10.41, 0.4, 3) == pytest.approx(0.8)       # two seed stds
    assert claims.tolerance(10.41, 0.4, 2) == pytest.approx(0.5205)    # two seeds' spread does not count
    assert "2 standard deviations over our seeds (counted from 3 seeds on)" in claims.tolerance_rule()
    assert claims.tolerance_rule().endswith(f"more than {claims.MAPS_MAJORITY:g}% of the test images.")
    assert claims.tolerance_rule().count("\n- ") == 2  # three bullets: error claims, comparisons, Figure 5


def test_one_row_per_claim_and_every_verdict_from_the_fixed_vocabulary(tmp_path):
    table = claims.claims_table(tmp_path)
    assert len(table) == len(claims.CLAIMS) == 9
    assert list(table.columns) == ["claim", "verdict", "paper", "ours", "decided by"]
    for v in claims.verdicts(tmp_path):
        assert v.verdict.startswith(claims.VERDICTS)
    v = by_key(tmp_path)
    # the tables' words: a planned run without a snapshot is "not started", SVHN is not runnable here
    assert v["table2"].verdict == "pending: full-length run not started"
    assert v["table2"].ours == "not started"  # CIFAR-100 is here now: its full-length row will decide it
    assert v["table3"].verdict == "not run: no offline copy of the data"
    assert abstract.compared_copies(tmp_path) == []
    assert "no copy of the dataset was available" in v["table3"].ours
    assert v["table1_plain"].verdict.startswith("pending: ") and v["table1_plain"].ours == "not started"
    assert claims.tally(tmp_path)["pending"] == 6 and claims.tally(tmp_path)["not run"] == 2  # SVHN, the maps
    # a GAP head has no weights by definition: a check of the code, kept out of "reproduced"
    assert v["parameters"].verdict == "holds by construction"
    assert v["parameters"].ours.startswith("the GAP head has 0 parameters, a fully connected head 6,410;")
    assert "966,986, the same as the model-zoo definition" in v["parameters"].ours
    assert "{doc}`Table 1: CIFAR-10 without augmentation <cifar10>`" in md_table(table)


def test_budget_rows_decide_until_a_full_length_run_starts_and_are_labelled(tmp_path):
    for seed, err in ((0, 18.9), (1, 18.92)):
        results.write_record(record("cifar10", seed, [30.0, err]), tmp_path)
    results.write_record(record("mnist", 0, [1.0, 0.5]), tmp_path)
    v = by_key(tmp_path)
    # above the paper's at the budget: the full-length run decides, and it has not started
    assert v["table1_plain"].verdict == "pending: full-length run not started"
    assert v["table1_plain"].decided_by == ""
    assert v["table1_plain"].ours == "CPU budget (2 epochs): 18.91 ± 0.01% (n=2)"
    # within 0.1 points of the paper's 0.47%: reproduced, even at the budget (and labelled so)
    assert (v["table4"].verdict, v["table4"].decided_by) == ("reproduced", "CPU budget")


def test_a_full_length_run_in_progress_says_how_far_it_has_come(tmp_path):
    results.write_record(record("cifar10_aug", 0, [30.0, 19.1]), tmp_path)
    snapshot(tmp_path, "cifar10_aug_full", 0, [70.0, 50.0, 41.5])
    v = by_key(tmp_path)["table1_aug"]
    assert v.verdict == "in progress (epoch 3 of 260)"
    # at the base rate the latest test alone: a range over its tests would be the error's fall, not its noise
    assert v.ours == ("CIFAR-10, augmented, 260 epochs, seed 0: 41.50% at epoch 3 of 260; "
                      "CPU budget (2 epochs): 19.10% (n=1)")
    assert v.headline == ("19.10% (CPU budget, 2 epochs, n=1) and 41.50% after epoch 3 of the 260-epoch run "
                          "(still training)")
    assert claims.tally(tmp_path)["in progress"] == 1
    said = abstract.abstract(tmp_path)
    # a row still training: its headline, so far, against the paper's
    assert ("with augmentation 19.10% (CPU budget, 2 epochs, n=1) and 41.50% after epoch 3 of the 260-epoch run "
            "(still training) against the paper's 8.81%") in said
    assert said.count("\n") == 5  # six lines
    # once the rate has dropped: the latest test with the range of the last ones at that rate (at most 10), as
    # one epoch's number can be a lucky one
    errors = [50.0, 40.0, 30.0, 12.0, 11.0, 11.5, 11.2]
    snapshot(tmp_path, "cifar10_aug_full", 0, errors, lrs=[0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.01])
    v = by_key(tmp_path)["table1_aug"]
    assert v.ours.startswith("CIFAR-10, augmented, 260 epochs, seed 0: 11.20% at epoch 7 of 260, "
                             "11.00-12.00% over epochs 4-7; ")
    assert v.headline.endswith("and 11.20% after epoch 7 of the 260-epoch run (still training; 11.00-12.00% over "
                               "its last 4 tests at learning rate 0.01)")


def test_a_run_in_progress_tested_every_5th_epoch_quotes_its_tests(tmp_path):
    # the full-length first stage is tested after epochs 5, 10, ...: two epochs trained since the last test
    snapshot(tmp_path, "cifar10_aug_full", 0, [None] * 4 + [50.0] + [None] * 4 + [40.0] + [None] * 4 + [45.0, None])
    v = by_key(tmp_path)["table1_aug"]
    assert v.verdict == "in progress (epoch 16 of 260)"
    assert v.ours.startswith("CIFAR-10, augmented, 260 epochs, seed 0: 45.00% (tested after epoch 15) at epoch 16 of 260")
    # the abstract's headline: the epoch last tested, then how far training has gone since
    assert v.headline == "45.00% after epoch 15 of the 260-epoch run (still training, now at epoch 16)"
    assert "45.00% after epoch 15 of the 260-epoch run (still training, now at epoch 16" in abstract.abstract(tmp_path)
    # after the rate drops, untested epochs between the tests quoted are said so
    errors = [None] * 4 + [50.0] + [None] * 4 + [40.0] + [None, 12.0, None, 11.0, 11.5]
    snapshot(tmp_path, "cifar10_aug_full", 0, errors, lrs=[0.1] * 10 + [0.01] * 5)
    assert by_key(tmp_path)["table1_aug"].ours.startswith(
        "CIFAR-10, augmented, 260 epochs, seed 0: 11.50% at epoch 15 of 260, 11.00-12.00% over its last 3 tests "
        "(epochs 12-15)")


def test_a_run_in_progress_not_tested_yet_says_so_in_the_headline(tmp_path):
    results.write_record(record("cifar10_aug", 0, [30.0, 19.1]), tmp_path)
    snapshot(tmp_path, "cifar10_aug_full", 0, [None, None])
    assert by_key(tmp_path)["table1_aug"].headline == (
        "19.10% (CPU budget, 2 epochs, n=1) and not tested yet at full length (still training, at epoch 2 of 260)")


def test_a_finished_full_length_row_decides_and_can_fail(tmp_path):
    results.write_record(record("cifar10", 0, [30.0, 18.9]), tmp_path)
    results.write_record(record("cifar10_full", 0, [30.0, 10.8]), tmp_path)  # within 0.52 of 10.41
    results.write_record(record("cifar10_aug_full", 0, [30.0, 9.5]), tmp_path)  # 0.69 above 8.81: beyond 0.44
    v = by_key(tmp_path)
    assert (v["table1_plain"].verdict, v["table1_plain"].decided_by) == ("reproduced", "full length")
    assert v["table1_aug"].verdict == "not reproduced"
    # one of the two planned seeds: the verdict says it rests on fewer than planned
    assert v["table1_plain"].headline == "10.80% (full length, n=1 of 3 planned)"
    assert v["table1_plain"].ours == "10.80% (n=1 of 3 planned, full length, 2 epochs)"
    # the verdict on one seed says so where it is given, beside the fixed vocabulary's word (in the one-page
    # summary its "ours" says n=1 instead, keeping the verdict column narrow)
    assert claims.claims_table(tmp_path).iloc[0]["verdict"] == "**reproduced** (one seed)"
    assert claims.claims_table(tmp_path).iloc[1]["verdict"] == "**not reproduced** (one seed)"
    assert claims.claims_table(tmp_path, short=True).iloc[0]["verdict"] == "**reproduced**"
    # the abstract says which way a finished row differs from the paper, lower or higher (one seed: no more)
    said = abstract.abstract(tmp_path)
    assert "CIFAR-10 without augmentation 10.80% (n=1) against 10.41%, 0.39 points higher" in said
    results.write_record(record("cifar10_full", 0, [30.0, 10.1]), tmp_path)
    assert "CIFAR-10 without augmentation 10.10% (n=1) against 10.41%, 0.31 points lower" in abstract.abstract(tmp_path)


def test_table2_is_decided_by_the_cifar100_full_length_row(tmp_path):
    assert (by_key(tmp_path)["table2"].verdict, by_key(tmp_path)["table2"].ours) == (
        "pending: full-length run not started", "not started")
    snapshot(tmp_path, "cifar100_full", 0, [80.0, 60.0])
    v = by_key(tmp_path)["table2"]
    assert (v.verdict, v.decided_by) == ("in progress (epoch 2 of 260)", "full length (training)")
    assert v.ours.startswith("CIFAR-100, 260 epochs, seed 0: 60.00% at epoch 2 of 260")
    results.write_record(record("cifar100_full", 0, [60.0, 36.2]), tmp_path)  # within 5% of 35.68
    v = by_key(tmp_path)["table2"]
    assert (v.verdict, v.headline) == ("reproduced", "36.20% (full length, n=1 of 3 planned)")
    results.write_record(record("cifar100_full", 0, [60.0, 38.0]), tmp_path)
    assert by_key(tmp_path)["table2"].verdict == "not reproduced"
    # a second, worse seed does not widen the tolerance by the spread it adds (38.0 and 41.0: mean 39.5, std
    # 2.12; counted, two stds would have made it "reproduced")
    results.write_record(record("cifar100_full", 1, [60.0, 41.0]), tmp_path)
    assert by_key(tmp_path)["table2"].verdict == "not reproduced"


def test_table3_is_decided_by_the_svhn_full_length_row_once_someone_with_the_data_runs_it(tmp_path):
    from nin_repro.book.paper import paper_error

    claim = next(c for c in claims.CLAIMS if c.key == "table3")
    assert (claim.full, claim.budget) == (("svhn_full",), ("svhn",))
    # no data here: not run, as the tables say, and counted so
    assert (by_key(tmp_path)["table3"].verdict, by_key(tmp_path)["table3"].decided_by) == (
        "not run: no offline copy of the data", "")
    # a 10-epoch check of the path that misses the paper decides nothing: the full-length run is awaited
    results.write_record(record("svhn", 0, [10.0, 4.0]), tmp_path)
    assert by_key(tmp_path)["table3"].verdict == "pending: full-length run not started"
    paper = paper_error("svhn")
    near, far = paper + 0.9 * claims.tolerance(paper, None, 1), paper + 2 * claims.tolerance(paper, None, 1)
    results.write_record(record("svhn_full", 0, [10.0, near]), tmp_path)
    v = by_key(tmp_path)["table3"]
    assert (v.verdict, v.decided_by) == ("reproduced", "full length")
    assert v.headline == f"{near:.2f}% (full length, n=1)"
    results.write_record(record("svhn_full", 0, [10.0, far]), tmp_path)
    assert (by_key(tmp_path)["table3"].verdict, by_key(tmp_path)["table3"].decided_by) == (
        "not reproduced", "full length")
    (tmp_path / "runs" / "svhn__seed0.json").unlink()  # the full-length row alone decides it too
    assert by_key(tmp_path)["table3"].verdict == "not reproduced"


def test_table3_in_progress_is_no_longer_not_run(tmp_path):
    snapshot(tmp_path, "svhn_full", 0, [8.0, 4.0])
    v = by_key(tmp_path)["table3"]
    length = experiments.get("svhn_full").train.epochs
    assert (v.verdict, v.decided_by) == (f"in progress (epoch 2 of {length})", "full length (training)")


def test_comparisons_weigh_the_gap_against_the_noise(tmp_path):
    # Figure 4 at the budget: a 0.2-point cut, inside a 0.5-point epoch-to-epoch range
    results.write_record(record("cifar10", 0, [19.3, 18.9], lr=0.0005), tmp_path)
    results.write_record(record("cifar10_nodropout", 0, [19.6, 19.1], lr=0.0005), tmp_path)
    v = by_key(tmp_path)["figure4"]
    assert v.verdict == "pending: full-length dropout and no dropout not started"
    assert v.ours == ("CPU budget (30 epochs): a 1.0% cut, 0.200 points (no dropout 19.10%, dropout 18.90%); "
                      "last-2 spreads 0.50 and 0.40 points; n=1 each; "
                      "dropout lowered the error by 1.0% (the paper: over 20%), within the noise")
    # at full length, a cut of more than 20% beyond the noise reproduces it
    results.write_record(record("cifar10_full", 0, [10.6, 10.5], lr=0.001), tmp_path)
    results.write_record(record("cifar10_nodropout_full", 0, [14.2, 14.0], lr=0.001), tmp_path)
    v = by_key(tmp_path)["figure4"]
    assert (v.verdict, v.decided_by) == ("reproduced", "full length")
    # Table 5's order at full length: holds by more than the noise
    results.write_record(record("cifar10_fc_dropout_full", 0, [11.0, 11.0], lr=0.001), tmp_path)
    results.write_record(record("cifar10_fc_full", 0, [11.8, 11.7], lr=0.001), tmp_path)
    assert by_key(tmp_path)["table5"].verdict == "reproduced"
    results.write_record(record("cifar10_fc_full", 0, [10.7, 10.6], lr=0.001), tmp_path)  # FC beats FC + dropout
    assert by_key(tmp_path)["table5"].verdict == "not reproduced"


@pytest.mark.parametrize("without, verdict, effect, reading", [
    # 3.50 points off 13.70: past the 20% mark (2.74 points) by 0.76, beyond a noise of 0.10
    (13.7, "reproduced", "ours passes it by 0.76 points, beyond the noise.",
     "dropout lowers the error, past the paper's 20% mark by more than the noise."),
    # 2.60 points off 12.80, a 20.3% cut: past the mark (2.56 points) by 0.04, inside the noise
    (12.8, "inconclusive", "ours passes it by 0.04 points, within the noise.",
     "dropout lowers the error; whether by more than the paper's 20% lies within the noise."),
    # 1.80 points off 12.00, a 15% cut: short of the mark (2.40 points) by 0.60, beyond the noise
    # (the effect's line says it no further: a cut well short of the mark is plainly smaller)
    (12.0, "not reproduced", "The rows' noise is up to 0.10 points, so the difference is beyond it.",
     "dropout lowers the error, but short of the paper's 20% mark by more than the noise."),
])
def test_a_full_length_cut_is_weighed_against_the_papers_mark_as_well_as_the_noise(tmp_path, without, verdict,
                                                                                    effect, reading):
    from nin_repro.book import findings

    results.write_record(record("cifar10_full", 0, [10.3, 10.2], lr=0.001), tmp_path)  # spread 0.10
    results.write_record(record("cifar10_nodropout_full", 0, [without + 0.1, without], lr=0.001), tmp_path)
    v = by_key(tmp_path)["figure4"]
    assert (v.verdict, v.decided_by) == (verdict, "full length")
    said = findings.dropout_effect(tmp_path, full=True).splitlines()[0]
    assert said.endswith(effect) and "The rows' noise is up to 0.10 points, so the difference is beyond it." in said
    read = findings.dropout_reading(tmp_path)
    assert read.startswith("At full length") and reading in read
    # counted under its own verdict, not under "inconclusive at this budget"
    tally = claims.tally(tmp_path)
    assert (tally["inconclusive"], tally["inconclusive at this budget"]) == (int(verdict == "inconclusive"), 0)
    # n = 1 said plainly, with what it leaves out
    assert read.endswith(" Each row rests on one seed (n = 1): the spread between seeds is not measured, only each "
                         "run's over its last tests.")
    results.write_record(record("cifar10_full", 1, [10.3, 10.2], lr=0.001), tmp_path)
    assert findings.dropout_reading(tmp_path).endswith(" No dropout rests on one seed (n = 1): the spread between "
                                                       "seeds is not measured, only each run's over its last tests.")


def test_the_full_length_heads_reading_says_which_heads_rest_on_one_seed(tmp_path):
    from nin_repro.book import findings

    for name, errors in (("cifar10_full", [10.3, 10.2]), ("cifar10_fc_dropout_full", [11.0, 10.9]),
                         ("cifar10_fc_full", [11.8, 11.7])):
        results.write_record(record(name, 0, errors, lr=0.001), tmp_path)
    read = findings.heads_reading(tmp_path)
    assert read.startswith("At full length (2 epochs), GAP has the lowest test error")
    assert read.endswith(" Each row rests on one seed (n = 1): the spread between seeds is not measured, only each "
                         "run's over its last tests.")
    results.write_record(record("cifar10_full", 1, [10.3, 10.2], lr=0.001), tmp_path)
    assert " FC + dropout and FC rest on one seed (n = 1)" in findings.heads_reading(tmp_path)


def test_full_length_comparisons_give_each_gap_beside_every_runs_spread_and_the_seeds(tmp_path):
    # 12 epochs at the final rate: the spread is the range of the last 10 test errors only
    def last_ten(first, errors):
        return [first, first] + errors

    results.write_record(record("cifar10_full", 0, last_ten(9.0, [10.1, 10.2] * 5), lr=0.001), tmp_path)
    results.write_record(record("cifar10_nodropout_full", 0, last_ten(20.0, [13.4, 13.7] * 5), lr=0.001), tmp_path)
    v = by_key(tmp_path)["figure4"]
    assert (v.verdict, v.decided_by) == ("reproduced", "full length")
    assert v.ours == ("full length: a 25.5% cut, 3.50 points (no dropout 13.70%, dropout 10.20%); last-10 spreads "
                      "0.30 and 0.10 points; n=1 each; dropout lowered the error by 25.5%, beyond the noise, "
                      "the 20% mark beyond the noise")
    assert v.headline == ("a 25.5% cut, 3.50 points (no dropout 13.70%, dropout 10.20%); last-10 spreads 0.30 and "
                          "0.10 points; n=1 each")
    # dropout raising the error beyond the noise: a rise, not reproduced
    results.write_record(record("cifar10_nodropout_full", 0, last_ten(20.0, [9.0, 9.1] * 5), lr=0.001), tmp_path)
    v = by_key(tmp_path)["figure4"]
    assert v.verdict == "not reproduced"
    assert v.headline.startswith("a 12.1% rise, 1.10 points (no dropout 9.10%, dropout 10.20%)")
    # Table 5: the heads in order, each gap, each run's spread, and the seeds (a second GAP seed: n differs)
    results.write_record(record("cifar10_fc_dropout_full", 0, last_ten(9.0, [11.0, 11.4] * 5), lr=0.001), tmp_path)
    results.write_record(record("cifar10_fc_full", 0, last_ten(9.0, [12.0, 12.9] * 5), lr=0.001), tmp_path)
    results.write_record(record("cifar10_full", 1, last_ten(9.0, [10.3, 10.4] * 5), lr=0.001), tmp_path)
    v = by_key(tmp_path)["table5"]
    assert v.verdict == "reproduced"
    assert v.ours == ("full length: GAP 10.30% < FC + dropout 11.40% < FC 12.90%; last-10 spreads 0.10, 0.40 and "
                      "0.90 points; n=2, 1, 1; seed std 0.14, -, -; the paper's order (GAP < FC + dropout < FC); "
                      "every gap beyond the noise")


def test_the_abstract_states_each_comparison_decided_at_full_length_before_the_30_epoch_ones(tmp_path):
    budget_rows(tmp_path, cifar10=[19.17, 18.91], cifar10_nodropout=[19.4, 19.13])
    line = abstract.abstract(tmp_path).splitlines()[3]
    assert line.startswith("4. **Comparisons.** At 30 epochs") and "At full length" not in line
    assert line.endswith(", and the full-length runs decide the paper's comparisons, in the claims table below.")
    # Figure 4 decided, Table 5 not: the decided one first, with its seeds; the rest left to the claims table
    results.write_record(record("cifar10_full", 0, [9.0, 9.0] + [10.1, 10.2] * 5, lr=0.001), tmp_path)
    results.write_record(record("cifar10_nodropout_full", 0, [20.0, 20.0] + [13.4, 13.7] * 5, lr=0.001), tmp_path)
    line = abstract.abstract(tmp_path).splitlines()[3]
    assert line.startswith("4. **Comparisons.** At full length, Figure 4's claim that dropout between mlpconv "
                           "layers cuts the test error is reproduced: a 25.5% cut, 3.50 points (no dropout 13.70%, "
                           "dropout 10.20%), n=1 each. At 30 epochs")
    assert "Table 5" not in line and line.endswith("the full-length runs decide the paper's comparisons, in the "
                                                   "claims table below.")
    # the README's front page says the same: ours once decided, the verdict either way
    shown = readme.comparisons_table(tmp_path).set_index("paper's comparison")
    assert shown.loc["Figure 4: dropout between mlpconv layers cuts the test error"].tolist() == [
        "by more than 20% (relative)", "a 25.5% cut, 3.50 points (no dropout 13.70%, dropout 10.20%), n=1 each",
        "reproduced"]
    table5 = "Table 5: global average pooling beats fully connected heads"
    assert shown.loc[table5, "ours"] == "-"  # no other head has trained
    # undecided with two heads finished: what the claims table shows of it so far, in the same words
    results.write_record(record("cifar10_fc_full", 0, [9.0, 9.0] + [12.0, 12.9] * 5, lr=0.001), tmp_path)
    pending = by_key(tmp_path)["table5"]
    assert pending.verdict.startswith("pending") and pending.headline.startswith("full length so far: GAP 10.20% <")
    assert readme.comparisons_table(tmp_path).set_index("paper's comparison").loc[table5, "ours"] == pending.headline
    # both decided: nothing left for the claims table to decide
    results.write_record(record("cifar10_fc_dropout_full", 0, [9.0, 9.0] + [11.0, 11.4] * 5, lr=0.001), tmp_path)
    results.write_record(record("cifar10_fc_full", 0, [9.0, 9.0] + [12.0, 12.9] * 5, lr=0.001), tmp_path)
    line = abstract.abstract(tmp_path).splitlines()[3]
    assert ("Table 5's claim that global average pooling beats fully connected heads is reproduced: GAP 10.20% < "
            "FC + dropout 11.40% < FC 12.90%, n=1 each.") in line
    assert line.endswith("decide no comparison; {doc}`budget` gives how each pair came out.")


def test_rows_on_different_copies_of_the_data_are_not_compared_until_they_share_one(tmp_path):
    from nin_repro.book import findings

    def on(copy, rec):
        rec["data_source"] = copy
        return rec

    near_lossless, official = "cifar10.npz (recovered; sha256 393f6a5dbfc8b440)", "official cifar10 files at /u/data"
    tail = [9.0, 9.0] + [10.1, 10.2] * 5
    results.write_record(on(near_lossless, record("cifar10_full", 0, tail, lr=0.001)), tmp_path)
    results.write_record(on(official, record("cifar10_nodropout_full", 0, [20.0, 20.0] + [13.4, 13.7] * 5,
                                             lr=0.001)), tmp_path)
    v = by_key(tmp_path)["figure4"]
    assert v.verdict == "pending: its rows trained on different copies of the data"
    assert v.ours.startswith("full length: dropout 10.20% (n=1) on the near-lossless copy, no dropout 13.70% (n=1) "
                             "on the official files; not compared across copies")
    assert v.verdict.startswith(claims.VERDICTS) and v.decided_by == ""
    effect = findings.dropout_effect(tmp_path, full=True)
    assert effect.startswith("- The rows trained on different copies of the data (dropout on the near-lossless "
                             "copy, no dropout on the official files)")
    assert findings.dropout_reading(tmp_path).startswith("The rows trained on different copies of the data")
    # a run of the row on the other's copy: the comparison rests on that copy and decides
    results.write_record(on(near_lossless, record("cifar10_nodropout_full", 1, [20.0, 20.0] + [13.4, 13.7] * 5,
                                                  lr=0.001)), tmp_path)
    v = by_key(tmp_path)["figure4"]
    assert (v.verdict, v.decided_by) == ("reproduced", "full length")
    assert "different copies" not in findings.dropout_effect(tmp_path, full=True)
    assert "different copies" not in findings.dropout_reading(tmp_path)


def test_a_comparison_names_its_full_length_rows_that_finished_before_the_others(tmp_path):
    budget_rows(tmp_path, cifar10=[19.3, 18.9], cifar10_nodropout=[19.6, 19.1], cifar10_fc=[18.0, 18.0],
                cifar10_fc_dropout=[18.8, 18.8])
    results.write_record(record("cifar10_full", 0, [10.6, 10.5], lr=0.001), tmp_path)
    # the GAP / dropout row finished; its comparison rows have not started: pending, in the tables' words
    v = by_key(tmp_path)["figure4"]
    assert (v.verdict, v.decided_by) == ("pending: full-length no dropout not started", "")
    assert v.ours.startswith("full length so far: dropout 10.50% (n=1); no dropout not started; "
                             "CPU budget (30 epochs): ")
    t5 = by_key(tmp_path)["table5"]
    assert t5.verdict == "pending: full-length FC + dropout and FC not started"
    assert t5.ours.startswith("full length so far: GAP 10.50% (n=1); FC + dropout and FC not started")
    # the short form (a table cell) leaves the runs waited for to the verdict, and GAP's number to Table 1's row
    assert t5.headline.startswith("at 30 epochs, ")
    pending = {k for k, v in by_key(tmp_path).items() if v.verdict.startswith("pending")}
    # and every error claim whose full-length row has not started: CIFAR-10 augmented, CIFAR-100, MNIST
    assert pending == {"figure4", "table5", "table1_aug", "table2", "table4"}
    assert claims.tally(tmp_path)["pending"] == len(pending) and claims.tally(tmp_path)["inconclusive at this budget"] == 0
    # one of them training: in progress, with the finished row beside it
    snapshot(tmp_path, "cifar10_nodropout_full", 0, [60.0, 40.0])
    v = by_key(tmp_path)["figure4"]
    assert (v.verdict, v.decided_by) == ("in progress (epoch 2 of 260)", "full length (training)")
    assert v.ours.startswith("CIFAR-10, no dropout, 260 epochs, seed 0: 40.00% at epoch 2 of 260; full length so far: dropout 10.50% (n=1); no dropout in progress; "
                             "at epoch 2 of each: dropout 10.50%, no dropout 40.00% (a 73.8% cut there); "
                             "CPU budget (30 epochs): ")
    # a second of Table 5's rows finished (FC), the third not started: the two stand in the short form,
    # their order and spreads before the budget's reversed one; the verdict waits for the third
    results.write_record(record("cifar10_fc_full", 0, [11.8, 11.6], lr=0.001), tmp_path)
    t5 = by_key(tmp_path)["table5"]
    assert t5.verdict == "pending: full-length FC + dropout not started"
    assert t5.headline == "full length so far: GAP 10.50% < FC 11.60%; last-2 spreads 0.10 and 0.20 points; n=1 each"
    assert t5.ours.startswith(t5.headline + "; FC + dropout not started; CPU budget (30 epochs): ")


def test_budget_comparisons_decide_neither_way_and_say_which_way_the_pairs_went(tmp_path):
    # Table 5 at the budget, the paper's order (GAP < FC + dropout < FC) reversed beyond the noise
    for name, err in (("cifar10", 19.0), ("cifar10_fc_dropout", 18.6), ("cifar10_fc", 18.0)):
        results.write_record(record(name, 0, [err, err], lr=0.0005), tmp_path)
    v = by_key(tmp_path)["table5"]
    assert (v.verdict, v.decided_by) == ("pending: full-length GAP, FC + dropout and FC not started", "")
    assert v.ours.endswith("FC 18.00% < FC + dropout 18.60% < GAP 19.00%; last-2 spreads 0.00, 0.00 and 0.00 "
                           "points; n=1 each; the paper's order reversed (FC < FC + dropout < GAP); every gap "
                           "beyond the noise")
    # the paper's order at the budget is no confirmation either
    for name, err in (("cifar10", 18.0), ("cifar10_fc_dropout", 18.6), ("cifar10_fc", 19.0)):
        results.write_record(record(name, 0, [err, err], lr=0.0005), tmp_path)
    v = by_key(tmp_path)["table5"]
    assert v.verdict.startswith("pending: ")
    assert v.ours.endswith("; the paper's order (GAP < FC + dropout < FC); every gap beyond the noise")
    # Figure 4: a cut beyond the noise but under the paper's 20%
    results.write_record(record("cifar10_nodropout", 0, [19.0, 19.0], lr=0.0005), tmp_path)
    assert by_key(tmp_path)["figure4"].ours.endswith(
        "dropout lowered the error by 5.3% (the paper: over 20%), beyond the noise")


def test_a_claim_whose_pairs_split_says_how_many_gaps_lie_beyond_the_noise(tmp_path):
    # the 30-epoch heads as the study has them: GAP 0.06 points above FC + dropout (within a 0.26-point noise),
    # 0.91 above FC (beyond it); dropout 0.22 points lower (the paper's direction, within the noise)
    budget_rows(tmp_path, cifar10=[19.17, 18.91], cifar10_fc_dropout=[18.95, 18.85], cifar10_fc=[18.2, 18.0],
                cifar10_nodropout=[19.4, 19.13])
    v = by_key(tmp_path)["table5"]
    assert ("at 30 epochs, the paper's order reversed (FC < FC + dropout < GAP); 2 of 3 gaps beyond the noise"
            ) in v.headline
    assert by_key(tmp_path)["figure4"].headline.endswith(
        "at 30 epochs, dropout lowered the error by 1.2% (the paper: over 20%), within the noise")
    line = abstract.abstract(tmp_path).splitlines()[3]
    assert "came out against the paper" not in line and "opposite order" not in line
    assert "decide no comparison" in line and "gaps beyond the noise" not in line  # the pairs: the table's, once


def test_the_noise_window_is_the_last_epochs_at_the_final_rate():
    rec = record("cifar10", 0, [30.0, 25.0, 20.0, 19.0, 19.4, 19.2])
    for h, lr in zip(rec["history"], [0.1, 0.1, 0.1, 0.01, 0.01, 0.01]):
        h["lr"] = lr
    assert [h["epoch"] for h in claims.last_epochs(rec)] == [4, 5, 6]
    assert claims.epoch_spread(rec) == pytest.approx(0.4)


def test_compute_table_splits_a_run_that_moved_and_counts_runs_in_progress(tmp_path):
    moved = record("cifar10", 0, [30.0, 20.0, 19.0])
    moved["wall_seconds"] = 3 * 3600
    for h, (machine, precision) in zip(moved["history"], [("cpu (A), AVX512", "bf16")] + [("cpu (B), AVX2", "fp32")] * 2):
        h.update(machine=machine, precision=precision, seconds=100.0)
    results.write_record(moved, tmp_path)
    snapshot(tmp_path, "mnist_full", 0, [9.0, 2.0])
    table = cost.compute_table(tmp_path).set_index("machine and precision")
    assert table.loc["B, AVX2, fp32", "machine-hours"] == "2.0"
    assert table.loc["A, AVX512, bf16", "core-hours"] == "2.0"
    assert table.loc["X, AVX2, fp32", "epochs"] == 2
    assert table.loc["X, AVX2, fp32", cost.OUTSIDE] == table.loc["X, AVX2, fp32", "machine-hours"] == "0.3"
    assert table.loc["B, AVX2, fp32", cost.OUTSIDE] == "0.0"  # finished: in the tables
    # an old snapshot names no core count: its core-hours are left out, and the hours that are, said
    assert table.loc["X, AVX2, fp32", "core-hours"] == "0.0"
    assert cost.uncounted_cores(tmp_path) == pytest.approx(1000 / 3600)
    assert table.loc["total", "runs"] == 2
    # the run that moved counts once, in the row of the machine it spent most of its time on
    assert table.loc["B, AVX2, fp32", "runs"] == 1
    assert table.loc["A, AVX512, bf16", "runs"] == "-"  # epochs of a run counted in another row
    assert table.loc["total", "runs"] == table.drop("total")["runs"].replace("-", 0).sum()
    assert table.loc["total", "core-hours"] == "6.0"
    snapshot(tmp_path, "mnist_full", 0, [9.0, 2.0], provenance={"threads": 2, "torch_version": "2.x"})
    table = cost.compute_table(tmp_path).set_index("machine and precision")
    assert table.loc["X, AVX2, fp32", "machine-hours"] == "0.3"  # 2 epochs of 500 s
    assert table.loc["X, AVX2, fp32", "core-hours"] == "0.6"
    assert table.loc["total", "core-hours"] == f"{6 + 1000 * 2 / 3600:.1f}"
    assert cost.uncounted_cores(tmp_path) == 0
    stalls = tmp_path / "stalls"  # an attempt of the run in progress, given up: its own run, its cost counted
    stalls.mkdir()
    (stalls / "mnist_full__seed0.json").write_text(json.dumps(
        {"run": "mnist_full__seed0", "config": {"experiment": "mnist_full", "seed": 0, "train": {"epochs": 60}},
         "wall_seconds": 1800.0,
         "given_up_because": "stalled", "history": [{"epoch": 1, "seconds": 900.0, "precision": "fp32",
                                                    "machine": "cpu (X), AVX2", "lr": 0.1, "train_loss": 2.3026,
                                                    "train_error": 90.0, "test_loss": 2.3026,
                                                    "test_error": 90.0}] * 2}))
    table = cost.compute_table(tmp_path).set_index("machine and precision")
    assert table.loc["X, AVX2, fp32", "machine-hours"] == table.loc["X, AVX2, fp32", cost.OUTSIDE] == "0.8"
    assert table.loc["X, AVX2, fp32", "epochs"] == 4
    assert table.loc["total", "runs"] == 3
    assert list(table.index) == ["B, AVX2, fp32", "A, AVX512, bf16", "X, AVX2, fp32", "total"]  # most hours first
    t = cost.totals(tmp_path)
    assert (t["runs"], t["machine_hours"], t["core_hours"]) == (1, 3.0, 6.0)
    assert (t["cpus"], t["precisions"], t["threads"]) == (["A", "B"], ["bf16", "fp32"], [2])
    # the abstract gives the hardware beside the hours
    # and the hours of every run beside the finished ones': the cost table's total
    assert ("1 run finished in 3 machine-hours (6 core-hours; 4 machine-hours in all, counting the runs in progress, "
            "superseded or given up) on 2-core CPUs (A and B), in bf16 or fp32") in abstract.abstract(tmp_path)
    assert f"{cost.all_machine_hours(tmp_path):.1f}" == table.loc["total", "machine-hours"]


def test_md_table_escapes_pipes_and_keeps_named_indexes():
    import pandas as pd

    df = pd.DataFrame({"a": ["x|y", None], "b": [1, 2]}, index=pd.Index([0, 1], name="seed"))
    assert md_table(df).splitlines() == ["| seed | a | b |", "| --- | --- | --- |", "| 0 | x\\|y | 1 |",
                                         "| 1 |  | 2 |"]
    assert md_table(df.reset_index(drop=True)).splitlines()[0] == "| a | b |"


def maps_file(results_dir, run, epoch, epochs, true_peak):
    """A Figure 5 file as `figures.extract_confidence_maps` writes it, with
    the whole-test-set check's numbers given."""
    import numpy as np

    from nin_repro.book.figure5 import figure_path

    path = figure_path(results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, labels=np.array([0]), preds=np.array([0]), maps=np.zeros((1, 10, 8, 8)),
                        images=np.zeros((1, 32, 32, 3), dtype=np.uint8), classes=np.array([str(i) for i in range(10)]),
                        run=np.array(run), epoch=np.array(epoch), epochs=np.array(epochs), test_error=np.array(23.4),
                        stats_n=np.array(10_000), stats_true_peak=np.array(true_peak), stats_true_mean=np.array(76.6),
                        stats_peak_central=np.array(60.0), stats_central_share=np.array(25.0))


def test_maps_of_a_run_in_progress_wait_for_its_end_and_then_decide(tmp_path):
    maps_file(tmp_path, "cifar10_aug_full__seed0", 20, 260, true_peak=71.2)
    v = by_key(tmp_path)["figure5"]
    # a majority already, but the net is still training: in progress, not reproduced
    assert (v.verdict, v.decided_by) == ("in progress (epoch 20 of 260)", "full length (training)")
    assert v.ours == ("CIFAR-10, augmented, 260 epochs, seed 0 at epoch 20 of 260 (23.40% test error): the true class's map "
                      "holds the strongest response in 71.2% of the 10,000 test images")
    assert claims.tally(tmp_path)["in progress"] == 1
    maps_file(tmp_path, "cifar10_aug_full__seed0", 260, 260, true_peak=71.2)
    assert (by_key(tmp_path)["figure5"].verdict, by_key(tmp_path)["figure5"].decided_by) == ("reproduced",
                                                                                             "full length")
    maps_file(tmp_path, "cifar10_aug_full__seed0", 260, 260, true_peak=41.0)
    assert by_key(tmp_path)["figure5"].verdict == "not reproduced"
    # MNIST's full-length run is 60 epochs long: its maps are a full-length run's, whatever the count
    maps_file(tmp_path, "mnist_full__seed0", 60, 60, true_peak=41.0)
    assert (by_key(tmp_path)["figure5"].verdict, by_key(tmp_path)["figure5"].decided_by) == (
        "not reproduced", "full length")
    maps_file(tmp_path, "cifar10__seed2", 30, 30, true_peak=41.0)
    assert (by_key(tmp_path)["figure5"].verdict, by_key(tmp_path)["figure5"].decided_by) == (
        "inconclusive at this budget", "CPU budget")


def test_words_joins_a_list_as_prose():
    assert display.listed([30]) == "30" and display.listed([30, 15]) == "30 and 15" and display.listed([]) == "no"


def test_full_length_hours_are_given_by_the_precisions_each_run_trained_in(tmp_path):
    assert cost.full_length_hours(tmp_path) == ""
    for experiment, hours, precisions in (("cifar10_full", 5.6, ["bf16"]), ("cifar100_full", 6.0, ["bf16"]),
                                          ("cifar10_aug_full", 15.7, ["fp32", "bf16"]), ("mnist_full", 0.5, ["bf16"])):
        r = record(experiment, 0, [20.0] * (experiments.get(experiment).train.epochs - 1) + [10.0])
        r["wall_seconds"] = hours * 3600
        for h, p in zip(r["history"], precisions * len(r["history"])):
            h["precision"] = p
        results.write_record(r, tmp_path)
    # MNIST's 60 epochs are not a full-length CIFAR run; the fastest group first
    assert cost.full_length_hours(tmp_path) == ("5.6-6.0 hours in bf16 (2 runs) and 15.7 hours in bf16 and fp32 "
                                                "(1 run)")


def test_cifar100_joins_the_abstract_once_its_full_length_run_has_finished(tmp_path):
    snapshot(tmp_path, "cifar100_full", 0, [90.0, 80.0])  # training: its claim row says so, the abstract not yet
    assert "CIFAR-100" not in "\n".join(abstract.abstract(tmp_path).splitlines()[:3])
    done = record("cifar100_full", 0, [40.0, 33.0])
    done["data_source"] = "CIFAR-100 recovered bit-exact from public mirrors: ...; all 60,000 images lossless; ..."
    results.write_record(done, tmp_path)
    run, data, headline = abstract.abstract(tmp_path).splitlines()[:3]
    assert "CIFAR-10 and CIFAR-100 for the 260 epochs and schedule the first author published for CIFAR-10" in run
    assert data.endswith("One copy of CIFAR-100, from public mirrors, all 60,000 of its images bit-exact "
                         "({doc}`cifar100`).")
    assert "; CIFAR-100 33.00% (n=1) against 35.68%, 2.68 points lower; MNIST " in headline
    done["data_source"] = "CIFAR-100 from somewhere"  # a source that does not say: no claim of bit-exactness
    results.write_record(done, tmp_path)
    assert abstract.abstract(tmp_path).splitlines()[1].endswith("One copy of CIFAR-100 ({doc}`cifar100`).")


def test_the_abstract_says_which_copy_each_30_epoch_run_trained_on_and_whose_length_it_is(tmp_path):
    jpeg = "cifar10.npz (mirror; sha256 54356694fbb1a8f3)"
    near = "cifar10.npz (recovered; sha256 393f6a5dbfc8b440)"
    for seed, source, err in ((0, jpeg, 18.9), (1, jpeg, 18.92), (2, near, 14.8)):
        results.write_record({**record("cifar10", seed, [30.0, err]), "data_source": source}, tmp_path)
    said = abstract.abstract(tmp_path)
    what, data = said.splitlines()[:2]
    # the paper gives no length: 260 epochs is the first author's published schedule, MNIST's a schedule of ours
    assert "the paper's length" not in what and "the paper gives no length" in what
    assert "the 260 epochs and schedule the first author published for it" in what
    assert "MNIST, with his MNIST net, for 60 epochs on a schedule of ours" in what
    # one run trained on the near-lossless copy: the sentence is read from the records, not asserted
    assert "trained on that JPEG copy itself" not in data
    assert ("Of the 3 CIFAR-10 runs of 30 epochs, 2 (without augmentation, seeds 0 and 1) trained on the JPEG "
            "copy, 1 (without augmentation, seed 2) on the near-lossless copy; at 2 epochs the JPEG copy cost 4.1 "
            "points of test error") in data
    results.write_record({**record("cifar10", 2, [30.0, 18.8]), "data_source": jpeg}, tmp_path)
    assert "The 30-epoch CIFAR-10 runs all trained on the JPEG copy." in abstract.abstract(tmp_path)
    # two copies: the full-length runs' is read from their records too
    assert "260-epoch" not in abstract.abstract(tmp_path).splitlines()[1]
    results.write_record({**record("cifar10_full", 0, [30.0, 10.1]), "data_source": near}, tmp_path)
    data = abstract.abstract(tmp_path).splitlines()[1]
    assert "Two copies of CIFAR-10" in data and "an all-JPEG copy (quality 75)" in data
    assert ("The 260-epoch CIFAR-10 runs all trained on the near-lossless copy. The 30-epoch CIFAR-10 runs all "
            "trained on the JPEG copy.") in data


def test_a_row_whose_run_was_given_up_under_its_protocol_says_so_not_not_started(tmp_path):
    """A stall under the recipe as it stands: the row, its verdict and its
    sentence say "given up", until the recipe changes (then the attempt is
    history, in the runs appendix, and the row is "not started" again) or
    the run trains again."""
    from dataclasses import replace

    from nin_repro.book import findings, tables
    from nin_repro.run_config import resolve_run

    def give_up(config):
        history = [{**make_record()["history"][0], "epoch": i + 1, "train_loss": 4.6052} for i in range(2)]
        results.write_given_up({"run": "cifar100_full__seed0", "config": config, "history": history,
                                "wall_seconds": 60.0, "given_up_because": "stalled at chance level: training loss "
                                "4.6052 through epoch 2"}, tmp_path)

    give_up(json.loads(json.dumps(resolve_run("cifar100_full", 0).config)))
    said = "given up after epoch 2: stalled at chance level"
    assert by_key(tmp_path)["table2"].verdict == "pending: full-length run given up"
    assert tables.results_table(["cifar100_full"], tmp_path)["ours (%)"].iloc[0] == said
    assert findings.verdict("cifar100_full", tmp_path) == f"CIFAR-100, 260 epochs: {said}."
    # a compared row given up: the comparison waits, saying for which row and why
    fc = json.loads(json.dumps(resolve_run("cifar10_fc_full", 0).config))
    results.write_given_up({"run": "cifar10_fc_full__seed0", "config": fc, "history": [make_record()["history"][0]],
                            "wall_seconds": 60.0, "given_up_because": "loss became nan in epoch 2 (step 50)"}, tmp_path)
    assert by_key(tmp_path)["table5"].verdict == ("pending: full-length GAP and FC + dropout not started; "
                                                  "full-length FC given up")
    # GAP finished and a further seed of it training: that run cannot complete the comparison, so the
    # verdict still waits for the given-up row (it said "in progress") and the row's sentence says why
    results.write_record(record("cifar10_full", 0, [60.0, 10.1]), tmp_path)
    snapshot(tmp_path, "cifar10_full", 1, [70.0, 50.0])
    assert by_key(tmp_path)["table5"].verdict == ("pending: full-length FC + dropout not started; "
                                                  "full-length FC given up")
    assert ("FC head, 260 epochs, seed 0: given up after epoch 1: loss became nan in epoch 2 (step 50)."
            in findings.heads_reading(tmp_path))
    # a second seed given up too: each seed's line says its own state
    results.write_given_up({"run": "cifar10_fc_full__seed1", "config": {**fc, "seed": 1},
                            "history": [make_record()["history"][0]] * 2, "wall_seconds": 60.0,
                            "given_up_because": "stalled at chance level"}, tmp_path)
    assert findings.progress_line("cifar10_fc_full", 0, tmp_path).endswith("given up after epoch 1: loss became nan "
                                                                            "in epoch 2 (step 50).")
    assert findings.progress_line("cifar10_fc_full", 1, tmp_path).endswith("given up after epoch 2: stalled at "
                                                                            "chance level.")
    # the recipe changed since: the attempt is history, and the row waits for its run again
    (tmp_path / "stalls" / "cifar100_full__seed0.json").unlink()
    old = resolve_run(replace(experiments.get("cifar100_full"),
                              train=replace(experiments.get("cifar100_full").train, warmup_epochs=0.0)), 0).config
    give_up(json.loads(json.dumps(old)))
    assert by_key(tmp_path)["table2"].verdict == "pending: full-length run not started"
    assert tables.results_table(["cifar100_full"], tmp_path)["ours (%)"].iloc[0] == "not started"


def test_a_run_given_up_stays_given_up_beside_a_smoke_runs_record_and_its_latest_attempt_stands(tmp_path):
    """A smoke run of the same experiment and seed (--epochs 2) finishing is
    no finished run of the protocol; and of a run given up ten times, the
    tenth attempt stands (`<run>__10.json` sorts after `<run>__2.json`)."""
    from nin_repro.book import progress
    from nin_repro.run_config import resolve_run

    config = json.loads(json.dumps(resolve_run("cifar100_full", 0).config))
    for attempt in range(1, 11):
        history = [{**make_record()["history"][0], "epoch": i + 1} for i in range(attempt)]
        results.write_given_up({"run": "cifar100_full__seed0", "config": config, "history": history,
                                "wall_seconds": 60.0, "given_up_because": f"attempt {attempt}"}, tmp_path)
    assert (tmp_path / "stalls" / "cifar100_full__seed0__10.json").exists()
    assert [g["given_up_because"] for g in results.given_up(tmp_path)] == [f"attempt {a}" for a in range(1, 11)]
    assert progress.given_up_runs(tmp_path)[("cifar100_full", 0)]["given_up_because"] == "attempt 10"
    smoke = record("cifar100_full", 0, [80.0, 70.0])
    smoke["config"]["overrides"] = {"epochs": 2}
    results.write_record(smoke, tmp_path)
    assert ("cifar100_full", 0) in progress.given_up_runs(tmp_path)
    assert by_key(tmp_path)["table2"].verdict == "pending: full-length run given up"
