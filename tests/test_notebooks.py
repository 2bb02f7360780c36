"""Papermill runs of each notebook: a tiny retrain on CPU writes real records,
and bad parameters fail in the first cell with a clear message. (nbval checks
the committed outputs separately: pytest --nbval notebooks/.)"""

import json
import re
from pathlib import Path

import papermill  # a test dependency (pyproject's [test]): missing, these tests fail rather than skip
import pytest
import torch

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


SMOKE = [  # notebook, experiments it trains, data (None: the shared datasets)
    ("mnist", ["mnist"], None),
    ("cifar10", ["cifar10", "cifar10_aug"], None),
    ("table5_heads", ["cifar10_fc", "cifar10_fc_dropout", "cifar10"], None),
    ("figure4_dropout", ["cifar10", "cifar10_nodropout"], None),
    ("cifar100", ["cifar100"], "cifar100"),
    ("svhn", ["svhn"], "svhn"),
]


@pytest.mark.parametrize("name, experiments, synthetic", SMOKE)
def test_notebook_retrains_a_tiny_subset_and_writes_records(name, experiments, synthetic, tmp_path, data_dir,
                                                             cache_dir, monkeypatch):
    from test_official_formats import write_cifar100, write_svhn

    # checkpoints of their own; decoded data and whitening fits (keyed by checksum) shared with the session
    (tmp_path / "cache").mkdir()
    for shared in ("decoded", "zca"):
        (cache_dir / shared).mkdir(parents=True, exist_ok=True)
        (tmp_path / "cache" / shared).symlink_to(cache_dir / shared, target_is_directory=True)
    monkeypatch.setenv("NIN_CACHE", str(tmp_path / "cache"))
    if synthetic:  # no offline copy exists: a small file in the official format
        folder = tmp_path / "data"
        folder.mkdir()
        # enough training images for the subset of 256 (SVHN's split holds 400 + 200 per class out)
        {"cifar100": write_cifar100, "svhn": lambda f: write_svhn(f, per_class_train=430)}[synthetic](folder)
        data_dir = folder
    out = tmp_path / f"{name}.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"), str(out), kernel_name="python3", cwd=str(NOTEBOOKS),
        parameters=dict(retrain=True, epochs=1, seeds=[0], subset=256, device="cpu",
                        data_dir=str(data_dir), results_dir=str(tmp_path / "results")),
        progress_bar=False)
    for exp in experiments:
        path = tmp_path / "results" / "runs" / f"{exp}__seed0__epochs1_subset256.json"
        record = json.loads(path.read_text())
        assert record["config"]["overrides"] == {"epochs": 1, "subset": 256}
        assert len(record["history"]) == 1
    executed = json.loads(out.read_text())
    text = "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    assert "retrain=False" not in text


@pytest.mark.parametrize("params, message", [
    (dict(epochs=-1), "epochs must be a positive integer"),
    (dict(device="gpu0"), "unknown device 'gpu0'"),
    (dict(seeds=[]), "seeds must be a non-empty list"),
])
def test_bad_parameters_fail_in_the_first_code_cell(params, message, tmp_path):
    out = tmp_path / "out.ipynb"
    with pytest.raises(papermill.PapermillExecutionError, match=message):
        papermill.execute_notebook(str(NOTEBOOKS / "mnist.ipynb"), str(out), kernel_name="python3",
                                   parameters=params, progress_bar=False, cwd=str(NOTEBOOKS))
    executed = json.loads(out.read_text())
    code_cells = [c for c in executed["cells"] if c["cell_type"] == "code"]
    # cell 0 holds the defaults, cell 1 the injected parameters, cell 2 the check that failed
    assert any(o.get("output_type") == "error" for o in code_cells[2]["outputs"])
    assert all(not c.get("outputs") for c in code_cells[3:])


READ_ONLY = ["intro", "method", "budget", "summary", "runs", "engineering"]  # pages whose one parameter is results_dir


@pytest.mark.parametrize("name", READ_ONLY)
def test_a_page_that_only_reads_records_takes_results_dir_and_refuses_a_missing_one(name, tmp_path):
    # papermill puts `-p results_dir` after the cell tagged "parameters": a page without one
    # would set results_dir back to None and show the committed records instead, silently
    out = tmp_path / "out.ipynb"
    missing = tmp_path / "no-such-folder"
    with pytest.raises(papermill.PapermillExecutionError, match=f"results folder {missing} does not exist"):
        papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out), kernel_name="python3",
                                   parameters=dict(results_dir=str(missing)), progress_bar=False,
                                   cwd=str(NOTEBOOKS))


def test_the_svhn_chapter_shows_a_finished_run_of_someone_with_the_data(tmp_path):
    # the study has no copy of SVHN: the page says what is tested instead (the claims row says why) until a
    # run exists, then its table and the run's sentence show
    from test_claims import record

    from nin_repro import results

    def shown(results_dir):
        out = tmp_path / "svhn.ipynb"
        papermill.execute_notebook(str(NOTEBOOKS / "svhn.ipynb"), str(out), kernel_name="python3",
                                   parameters=dict(results_dir=str(results_dir)), progress_bar=False,
                                   cwd=str(NOTEBOOKS))
        return "".join("".join(o.get("data", {}).get("text/markdown", "")) for c in json.loads(out.read_text())["cells"]
                       for o in c.get("outputs", []))

    (tmp_path / "results").mkdir()
    said = shown(tmp_path / "results")
    assert "| setting |" not in said and "SVHN, 22 epochs:" not in said
    assert "**Not run here.** The path is tested on synthetic files" in said
    results.write_record(record("svhn_full", 0, [5.0, 2.1]), tmp_path / "results")
    said = shown(tmp_path / "results")
    assert "| setting |" in said and "SVHN, 22 epochs: 2.10% test error over n=1 seed" in said
    assert "Not run here" not in said


def empty_hidden_input_cells(chapter: str, results_dir: Path, tmp_path: Path) -> list[list[str]]:
    """The cells of a chapter run on results_dir that hide their input and
    show nothing: on the page, a heading or a lead-in with nothing under it."""
    out = tmp_path / f"{chapter}.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS / f"{chapter}.ipynb"), str(out), kernel_name="python3",
                               parameters=dict(results_dir=str(results_dir)), progress_bar=False,
                               cwd=str(NOTEBOOKS))
    cells = json.loads(out.read_text())["cells"]
    return [c["source"][:2] for c in cells if c["cell_type"] == "code"
            and "remove-input" in c["metadata"].get("tags", []) and not c.get("outputs")]


@pytest.mark.parametrize("chapter, finished", [
    ("figure4_dropout", ["cifar10_full", "cifar10_nodropout_full"]),
    ("cifar100", ["cifar100_full", "cifar10_full"]),
    ("table5_heads", ["cifar10_full", "cifar10_fc_full"]),  # two heads: the pair so far, the third waited for
    ("table5_heads", ["cifar10_full", "cifar10_fc_full", "cifar10_fc_dropout_full"]),
])
def test_a_chapter_whose_runs_have_all_finished_leaves_no_hidden_input_cell_empty(tmp_path, chapter, finished):
    # a run's progress line shows only while it trains: once every run has finished, the cell that held it
    # must still show something
    from test_claims import record

    from nin_repro import results

    for name in finished:
        results.write_record(record(name, 0, [20.0, 15.0, 13.0]), tmp_path / "results")
    assert empty_hidden_input_cells(chapter, tmp_path / "results", tmp_path) == []


@pytest.mark.parametrize("chapter", sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")))
def test_a_chapter_run_on_an_empty_results_folder_says_what_is_not_run_in_every_hidden_input_cell(tmp_path,
                                                                                                  chapter):
    # a new study (or a user's own results folder) starts empty: every page must render and say what is
    # missing, not leave a cell that shows something only under a condition blank
    (tmp_path / "results").mkdir()
    assert empty_hidden_input_cells(chapter, tmp_path / "results", tmp_path) == []


def test_every_chapter_is_a_myst_markdown_notebook_paired_with_its_executed_ipynb():
    # The .md is the source a person edits; the .ipynb holds the same cells with
    # their outputs. A page whose .ipynb lags its .md would show prose or code
    # its source no longer has.
    from nin_repro.book import notebooks

    mds = sorted(p.stem for p in NOTEBOOKS.glob("*.md"))
    assert mds == sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert notebooks.out_of_sync(NOTEBOOKS) == []
    assert not (NOTEBOOKS / "_generate.py").exists()
    for md in NOTEBOOKS.glob("*.md"):
        head = md.read_text().split("---")[1]
        assert "format_name: myst" in head and "formats: ipynb,md:myst" in head, md.name


def test_out_of_sync_names_the_chapter_and_what_to_run(tmp_path):
    import shutil

    from nin_repro.book import notebooks

    for suffix in (".md", ".ipynb"):
        shutil.copy(NOTEBOOKS / f"svhn{suffix}", tmp_path / f"svhn{suffix}")
    assert notebooks.out_of_sync(tmp_path) == []
    md = tmp_path / "svhn.md"
    md.write_text(md.read_text().replace("**Not run here.**", "**Not run here, edited.**"))
    assert notebooks.out_of_sync(tmp_path) == ["svhn.ipynb differs from svhn.md: run `nin-repro render` "
                                               "(it executes the .md's cells and writes the .ipynb)"]
    (tmp_path / "new.md").write_text(md.read_text())
    assert "new.md has no new.ipynb: run `nin-repro render`" in notebooks.out_of_sync(tmp_path)


def test_the_book_builds_from_the_ipynb_and_leaves_the_markdown_twin_out():
    import yaml

    config = yaml.safe_load((NOTEBOOKS.parent / "_config.yml").read_text())
    assert "notebooks/*.md" in config["exclude_patterns"]


def test_inputs_are_hidden_and_parameters_removed_from_the_page():
    import nbformat

    for path in NOTEBOOKS.glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            tags = set(cell.metadata.get("tags") or ())
            assert tags & {"remove-cell", "remove-input", "hide-input"}, (path.name, cell.source[:60])
            if "parameters" in tags:
                assert "remove-cell" in tags, path.name
            # a cell whose input is hidden is there for its output: an empty one shows the reader
            # a heading with nothing under it (a value inside an `if` is not displayed: show_text)
            if "remove-input" in tags:
                assert cell.get("outputs"), (path.name, cell.source[:60])
            # findings are Markdown (tables, sentences), never print() lines on the page
            if "remove-input" in tags:
                assert not [o for o in cell.get("outputs", []) if o.get("output_type") == "stream"], \
                    (path.name, cell.source[:60])


FIGURE_PASTE = re.compile(r"```\{glue:figure\} (\S+)\n(.*?)```", re.S)


def uncaptioned_figures(nb) -> list[str]:
    """The figures of an executed chapter that the book would show without a
    caption: an image a code cell displays itself (myst-nb gives it no
    caption), or one glued but pasted by no `{glue:figure}` with a caption."""
    pasted = {}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for key, body in FIGURE_PASTE.findall(cell.source):
                pasted[key] = " ".join(line for line in body.splitlines() if not line.startswith(":")).strip()
    bad = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            images = [k for k in out.get("data", {}) if k.split("/")[-2:-1] == ["image"]]
            key = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if not images:
                continue
            if key is None:
                bad.append(f"an image shown bare by: {cell.source[:60]}")
            elif not pasted.get(key):
                bad.append(f"{key}: glued, not pasted by a {{glue:figure}} with a caption")
    return bad


def test_every_figure_a_chapter_draws_is_pasted_with_a_caption():
    import nbformat

    for path in NOTEBOOKS.glob("*.ipynb"):
        assert uncaptioned_figures(nbformat.read(path, as_version=4)) == [], path.name


def test_the_caption_check_catches_a_bare_figure_and_one_pasted_without_a_caption():
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    png = {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}
    glued = new_output("display_data", data={f"application/papermill.record/{k}": v for k, v in png.items()},
                       metadata={"scrapbook": {"name": "fig-x", "mime_prefix": "application/papermill.record/"}})
    paste = "```{glue:figure} fig-x\n:name: fig-x\n:alt: Error per epoch\n\n%s\n```\n"
    nb = new_notebook(cells=[new_code_cell("glue('fig-x', fig)", outputs=[glued]),
                             new_markdown_cell(paste % "Error per epoch of one run.")])
    assert uncaptioned_figures(nbformat.from_dict(nb)) == []
    nb.cells[1] = new_markdown_cell(paste % "")
    assert uncaptioned_figures(nb) == ["fig-x: glued, not pasted by a {glue:figure} with a caption"]
    nb.cells = [new_code_cell("plt.show()", outputs=[new_output("display_data", data=png)])]
    assert uncaptioned_figures(nb) == ["an image shown bare by: plt.show()"]


def test_retrain_trains_each_budget_row_of_the_chapter_for_each_seed_only_when_asked(monkeypatch, capsys):
    from nin_repro import train as train_module
    from nin_repro.book import notebooks

    calls = []
    monkeypatch.setattr(train_module, "train", lambda run, **kwargs: calls.append((run.experiment.name, run.seed)))
    params = dict(device="cpu", epochs=None, subset=None, data_dir=None, results_dir=None)
    notebooks.retrain_chapter("table5_heads", False, seeds=[0], **params)
    assert calls == [] and capsys.readouterr().out == "retrain=False: showing the committed run records\n"
    notebooks.retrain_chapter("table5_heads", True, seeds=[0, 1], **params)
    assert calls == [("cifar10_fc", 0), ("cifar10_fc", 1), ("cifar10_fc_dropout", 0), ("cifar10_fc_dropout", 1),
                     ("cifar10", 0), ("cifar10", 1)]


def test_setup_checks_styles_retrains_and_returns_the_chapter(monkeypatch, capsys):
    """A chapter's one setup call: a bad parameter fails before anything
    trains; else the book's figure style is set, the chapter's budget rows
    are trained only when asked, and the chapter's registry entry comes back."""
    import matplotlib as mpl

    from nin_repro import train as train_module
    from nin_repro.book import chapters, notebooks, plots

    calls = []
    monkeypatch.setattr(train_module, "train", lambda run, **kwargs: calls.append((run.experiment.name, run.seed)))
    params = dict(epochs=None, seeds=[0], device="cpu", data_dir=None, results_dir=None, subset=None)
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        notebooks.setup("mnist", True, **{**params, "device": "gpu0"})
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):  # misspelt, even where nothing trains
        notebooks.setup("mnist", False, **{**params, "device": "gpu0"})
    if not torch.cuda.is_available():  # a page read with device="cuda" trains nothing: no GPU needed
        with pytest.raises(ValueError, match="no CUDA GPU"):
            notebooks.setup("mnist", True, **{**params, "device": "cuda"})
        assert notebooks.setup("svhn", False, **{**params, "device": "cuda"}) is chapters.CHAPTERS["svhn"]
        capsys.readouterr()
    with pytest.raises(ValueError, match="no chapter 'mnsit' in chapters.CHAPTERS"):
        notebooks.setup("mnsit", True, **params)
    assert calls == []
    mpl.rcParams["font.size"] = 7
    assert notebooks.setup("svhn", False, **params) is chapters.CHAPTERS["svhn"]
    assert calls == [] and capsys.readouterr().out == "retrain=False: showing the committed run records\n"
    assert mpl.rcParams["font.size"] >= plots.MIN_TEXT_PT  # the book's style, set anew
    assert notebooks.setup("figure4_dropout", True, **params) is chapters.CHAPTERS["figure4_dropout"]
    assert calls == [("cifar10", 0), ("cifar10_nodropout", 0)]
    assert notebooks.setup(None, True, **params) is None and len(calls) == 2  # the page trains on its own


def test_retrain_twice_into_one_results_folder_trains_the_runs_again(tmp_path, data_dir, cache_dir, monkeypatch):
    """retrain=True means "train these runs": a run that has a record (the
    committed ones, or a first retrain) is trained anew, not refused."""
    from nin_repro import data, results
    from nin_repro.book import notebooks

    data.load_packed("mnist", data_dir, cache_dir)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "decoded").symlink_to(cache_dir / "decoded", target_is_directory=True)
    monkeypatch.setenv("NIN_CACHE", str(tmp_path / "cache"))
    params = dict(seeds=[0], device="cpu", epochs=1, subset=256, data_dir=data_dir, results_dir=tmp_path / "r")
    from nin_repro import train as train_module

    calls, real_train = [], train_module.train
    monkeypatch.setattr(train_module, "train", lambda run, **kw: calls.append(kw) or real_train(run, **kw))
    notebooks.retrain_chapter("mnist", True, **params)
    path = results.record_path("mnist__seed0__epochs1_subset256", tmp_path / "r")
    first = results.read_record(path)
    notebooks.retrain_chapter("mnist", True, **params)
    again = results.read_record(path)
    assert len(calls) == 2 and not any(kw.get("resume") for kw in calls)  # trained twice, from scratch
    assert again["wall_seconds"] != first["wall_seconds"]  # and the second record replaced the first
