"""Papermill runs of each notebook: a tiny retrain on CPU writes real records,
and bad parameters fail in the first cell with a clear message. (nbval checks
the committed outputs separately: pytest --nbval notebooks/.)"""

import json
from pathlib import Path

import pytest

papermill = pytest.importorskip("papermill")

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
                                                             monkeypatch):
    from test_official_formats import write_cifar100, write_svhn

    monkeypatch.setenv("NIN_CACHE", str(tmp_path / "cache"))
    if synthetic:  # no offline copy exists: a small file in the official format
        folder = tmp_path / "data"
        folder.mkdir()
        {"cifar100": write_cifar100, "svhn": write_svhn}[synthetic](folder)
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
    (dict(device="gpu0"), "device must be"),
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


def test_committed_notebooks_are_what_the_generator_writes(tmp_path):
    # The notebooks are generated from notebooks/_generate.py; an edit to one
    # side only (prose or code) would ship a book whose source and page disagree.
    import subprocess
    import sys

    import nbformat

    (tmp_path / "notebooks").mkdir()
    subprocess.run([sys.executable, str(NOTEBOOKS / "_generate.py")], cwd=tmp_path, check=True)
    generated = sorted(p.name for p in (tmp_path / "notebooks").glob("*.ipynb"))
    assert generated == sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    for name in generated:
        fresh = nbformat.read(tmp_path / "notebooks" / name, as_version=4)
        committed = nbformat.read(NOTEBOOKS / name, as_version=4)
        strip = lambda nb: [(c.id, c.cell_type, c.source, c.metadata.get("tags")) for c in nb.cells]
        assert strip(fresh) == strip(committed), (
            f"notebooks/{name} differs from what notebooks/_generate.py writes: run "
            "`python notebooks/_generate.py && nin-repro render`")
