import pytest

from nin_repro.cli import main
from test_results import make_record
from nin_repro import results


def test_experiments_lists_every_table(capsys):
    assert main(["experiments"]) == 0
    out = capsys.readouterr().out
    for name in ("mnist", "cifar10", "cifar10_aug", "cifar10_fc", "cifar100", "svhn"):
        assert f"\n{name} " in "\n" + out


def test_table_shows_paper_and_ours(tmp_path, capsys):
    results.write_record(make_record(error=0.55), tmp_path)
    assert main(["table", "mnist", "cifar10", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "0.47" in out and "0.55" in out and "not run yet" in out


def test_unknown_experiment_is_a_clear_error(capsys, tmp_path):
    assert main(["train", "-e", "cifar11", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'cifar11'" in err and "mnist" in err


def test_missing_data_is_a_clear_error(capsys, tmp_path):
    assert main(["train", "-e", "mnist", "--data-dir", str(tmp_path), "--results-dir", str(tmp_path)]) == 2
    assert "mnist.npz not found" in capsys.readouterr().err


def test_malformed_results_file_is_a_clear_error(capsys, tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "mnist__seed0.json").write_text("{")
    assert main(["table", "--results-dir", str(tmp_path)]) == 2
    assert "mnist__seed0.json: not valid JSON" in capsys.readouterr().err


def test_help_exits_cleanly():
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
