import pytest

from nin_repro.book.cli import main
from test_results import make_record
from nin_repro import results


def test_experiments_lists_every_table(capsys):
    assert main(["experiments"]) == 0
    out = capsys.readouterr().out
    for name in ("mnist", "cifar10", "cifar10_aug", "cifar10_fc", "cifar100", "svhn"):
        assert f"\n{name} " in "\n" + out
    # one column each: the dataset starts at the same place on every experiment's line, the longest name's too
    heads = [line for line in out.splitlines() if not line.startswith(" ")]
    assert len({line.index(line.split()[1], len(line.split()[0])) for line in heads}) == 1


def test_table_shows_paper_and_ours_and_says_what_a_row_without_records_is_as_the_book_does(tmp_path, capsys):
    from nin_repro.book import tables
    from test_progress import snapshot

    results.write_record(make_record(error=0.55), tmp_path)
    snapshot(tmp_path, "cifar100_full", 0, [60.0, 45.08])
    names = ["mnist", "cifar100_full", "cifar10_fc_dropout_full", "svhn_full"]
    assert main(["table", *names, "--results-dir", str(tmp_path)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["mnist"].split() == ["mnist", "0.47", "0.55", "1", "+0.08", "1"]  # make_record: 1 epoch
    book = tables.results_table(names, tmp_path).set_index("setting")["ours (%)"].tolist()
    assert book[1:] == ["in progress: 45.08% at epoch 2 of 260", tables.NOT_STARTED, tables.NO_OFFLINE_COPY]
    for name, words in zip(names[1:], book[1:]):  # after the paper's number, as the book's table words it
        assert rows[name].split(None, 2)[2] == words


def test_table_gives_runs_on_each_copy_of_the_data_a_row_of_their_own(tmp_path, capsys):
    from test_results import JPEG_SOURCE, LOSSLESS_SOURCE, on_copy

    results.write_record(on_copy(make_record("cifar10", seed=0, error=18.9), JPEG_SOURCE), tmp_path)
    results.write_record(on_copy(make_record("cifar10", seed=1, error=19.1), JPEG_SOURCE), tmp_path)
    results.write_record(on_copy(make_record("cifar10", seed=2, error=14.8), LOSSLESS_SOURCE), tmp_path)
    assert main(["table", "cifar10", "--results-dir", str(tmp_path)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows == [["cifar10", "(JPEG", "copy)", "10.41", "19.00", "±", "0.14", "2", "+8.59", "1"],
                    ["cifar10", "(near-lossless", "copy)", "10.41", "14.80", "1", "+4.39", "1"]]


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


def _one_error_line(capsys) -> str:
    """What a user sees of an error: one line, no traceback."""
    err = capsys.readouterr().err.strip()
    assert err.startswith("nin-repro: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_table_of_an_unknown_experiment_is_an_error(tmp_path, capsys):
    assert main(["table", "mnist", "nosuch", "--results-dir", str(tmp_path)]) == 2
    assert "unknown experiment(s) ['nosuch']" in _one_error_line(capsys)
    # an experiment no longer defined still has its row where it has records
    results.write_record(make_record(experiment="retired", error=0.6), tmp_path)
    assert main(["table", "retired", "--results-dir", str(tmp_path)]) == 0
    assert "0.60" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["table"], ["reproduce", "--status"], ["evaluate", "mnist"],
                                     ["render"]])
def test_a_mistyped_results_dir_is_named(tmp_path, capsys, command):
    missing = tmp_path / "reslts"
    assert main([*command, "--results-dir", str(missing)]) == 2
    assert f"results folder {missing} does not exist" in _one_error_line(capsys)


@pytest.mark.parametrize("command", [["table"], ["render"]])
def test_a_wrongly_typed_record_is_one_line_naming_it(tmp_path, capsys, monkeypatch, command):
    import json

    import nbclient

    monkeypatch.setattr(nbclient, "NotebookClient", lambda *a, **k: pytest.fail("ran a notebook"))
    rec = make_record()
    rec["history"] = [["epoch", 1]]
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "mnist__seed0.json").write_text(json.dumps(rec))
    assert main([*command, "--results-dir", str(tmp_path)]) == 2
    assert "mnist__seed0.json: history[0] has type list" in _one_error_line(capsys)


def test_render_shows_the_records_of_its_results_dir(tmp_path, monkeypatch, capsys):
    """The notebooks read `results_dir=None`, i.e. NIN_RESULTS: render sets it
    for their kernels, and only for them."""
    import os

    import nbclient
    import nbformat

    seen = []

    class Client:
        def __init__(self, nb, **kw):
            self.nb = nb

        def execute(self):
            seen.append(os.environ.get("NIN_RESULTS"))
            return self.nb

    monkeypatch.setattr(nbclient, "NotebookClient", Client)
    monkeypatch.delenv("NIN_RESULTS", raising=False)
    notebook = tmp_path / "book.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), notebook)
    results.write_record(make_record(), tmp_path / "records")
    assert main(["render", str(notebook), "--results-dir", str(tmp_path / "records")]) == 0
    assert seen == [str((tmp_path / "records").resolve())] and "NIN_RESULTS" not in os.environ
    assert main(["render", str(tmp_path / "nosuch.ipynb"), "--results-dir", str(tmp_path / "records")]) == 2
    assert "no notebook" in _one_error_line(capsys) and len(seen) == 1


@pytest.mark.parametrize("hours", ["nan", "-1", "inf"])
def test_reproduce_refuses_a_budget_that_is_no_number_of_hours(tmp_path, capsys, monkeypatch, hours):
    from nin_repro.book import reproduce

    monkeypatch.setattr(reproduce, "train", lambda *a, **k: pytest.fail("trained"))
    assert main(["reproduce", "--only", "mnist", "--hours", hours, "--results-dir", str(tmp_path)]) == 2
    assert f"--hours must be a finite number of hours >= 0, got {float(hours)}" in _one_error_line(capsys)
    with pytest.raises(ValueError, match="--hours must be a finite number"):
        reproduce.reproduce(hours=float(hours), jobs=[("mnist", 0)], results_dir=tmp_path)


def test_render_of_a_chapters_markdown_source_writes_its_notebook_not_over_the_source(tmp_path, monkeypatch):
    import nbclient
    import nbformat

    class Client:
        def __init__(self, nb, **kw):
            self.nb = nb

        def execute(self):
            return self.nb

    monkeypatch.setattr(nbclient, "NotebookClient", Client)
    source = tmp_path / "chapter.md"
    text = "---\njupytext:\n  formats: ipynb,md:myst\n---\n\n# A chapter\n\n```{code-cell} ipython3\n1 + 1\n```\n"
    source.write_text(text)
    results.write_record(make_record(), tmp_path / "records")
    assert main(["render", str(source), "--results-dir", str(tmp_path / "records")]) == 0
    assert source.read_text() == text  # the source a person edits is untouched
    written = nbformat.read(tmp_path / "chapter.ipynb", as_version=4)
    assert [c.source for c in written.cells] == ["# A chapter", "1 + 1"]


def test_figure5_without_a_run_says_when_there_is_nothing_to_draw(tmp_path, capsys):
    assert main(["figure5", "--results-dir", str(tmp_path), "--cache-dir", str(tmp_path)]) == 0
    assert "no run has a trained net yet" in capsys.readouterr().out
    assert not (tmp_path / "figures").exists()
