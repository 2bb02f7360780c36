"""The book's chapters as MyST Markdown notebooks, paired with jupytext.

Each chapter is two files in `notebooks/`:

- `<name>.md`, the source a person edits and diffs: prose and code cells in
  MyST Markdown (`jupytext --to ipynb` reads it, so does Jupyter with the
  jupytext extension);
- `<name>.ipynb`, the same cells with their outputs: what `nin-repro render`
  writes (it takes the cells from the `.md` and executes them), what nbval
  checks and what the book is built from (`_config.yml` leaves the `.md` twin
  out of the build).

A test checks that every pair holds the same cells, so a page cannot ship
with prose or code its source does not have.

A chapter's first two code cells are its papermill parameters (the cell
tagged `parameters`, the same in every chapter that trains) and one call,
`CHAPTER = notebooks.setup("<name>", retrain, ...)`: it checks the
parameters, sets the figures' style and, with `retrain=True`, trains the
experiments the chapter shows (`chapters.CHAPTERS`) through the library.
"""

from __future__ import annotations

from pathlib import Path

from nin_repro import data, paths, results

from . import plots
from .chapters import CHAPTERS, Chapter

# jupytext and nbformat are imported where they are used: they come with the
# book's extra dependencies (pyproject's [book]), which `nin-repro train` does
# not need.
FOLDER = paths.REPO_ROOT / "notebooks"
FORMATS = "ipynb,md:myst"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def markdown_twin(path: str | Path) -> Path:
    return Path(path).with_suffix(".md")


def notebook_twin(path: str | Path) -> Path:
    return Path(path).with_suffix(".ipynb")


def chapters(folder: str | Path = FOLDER) -> list[Path]:
    """Every chapter's .ipynb path, whether or not it has been rendered yet
    (a new chapter is its .md alone until `nin-repro render` writes it)."""
    folder = Path(folder)
    names = {p.stem for p in folder.glob("*.md")} | {p.stem for p in folder.glob("*.ipynb")}
    return [folder / f"{n}.ipynb" for n in sorted(names)]


def read_source(path: str | Path):
    """The notebook a chapter's .md describes, ready to execute: cells with
    stable ids (`<name>-<i>`, so re-rendered notebooks diff small), the
    kernel, and the jupytext pairing in its metadata."""
    import jupytext  # Jupyter's packages come with the book's extras, not the base install

    md = markdown_twin(path)
    nb = jupytext.read(md, fmt="md:myst")
    for i, cell in enumerate(nb.cells):
        cell.id = f"{md.stem}-{i}"
        tags = cell.metadata.get("tags")
        cell.metadata = {"tags": tags} if tags else {}
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"},
                   "jupytext": {"formats": FORMATS}}
    nb.nbformat, nb.nbformat_minor = 4, 5  # cell ids
    return nb


def is_notebook_source(path: str | Path) -> bool:
    """Whether `path`'s .md twin, where it has one, is a notebook's MyST
    source (its front matter names jupytext), not any Markdown file."""
    md = markdown_twin(path)
    if not md.is_file():
        return True  # an .ipynb alone
    text = md.read_text(encoding="utf-8", errors="replace")
    return text.startswith("---") and "jupytext:" in text.split("\n---", 1)[0]


def notebook_to_execute(path: str | Path):
    """What `nin-repro render` executes for `path`: the cells of its .md
    twin where there is one, else the .ipynb itself."""
    import nbformat  # Jupyter's packages come with the book's extras, not the base install

    if markdown_twin(path).is_file():
        return read_source(path)
    return nbformat.read(path, as_version=4)


def cells(nb) -> list[tuple]:
    """What a pair must agree on: each cell's kind, source and tags."""
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags") or ())) for c in nb.cells]


def out_of_sync(folder: str | Path = FOLDER) -> list[str]:
    """The chapters whose .ipynb does not hold the cells of their .md (or
    lacks one of the two files), each with what to run."""
    import nbformat  # Jupyter's packages come with the book's extras, not the base install

    problems = []
    for ipynb in chapters(folder):
        md = markdown_twin(ipynb)
        if not md.is_file():
            problems.append(f"{ipynb.name} has no {md.name}: write its source with "
                            f"`jupytext --to md:myst {ipynb}`")
        elif not ipynb.is_file():
            problems.append(f"{md.name} has no {ipynb.name}: run `nin-repro render`")
        elif cells(read_source(ipynb)) != cells(nbformat.read(ipynb, as_version=4)):
            problems.append(f"{ipynb.name} differs from {md.name}: run `nin-repro render` "
                            "(it executes the .md's cells and writes the .ipynb)")
    return problems


def check_notebook_params(retrain, epochs, seeds, device, subset) -> None:
    """Fail in the notebook's first cell, with a message that says what to
    pass: the library's own checks (`run_config`, `device`), so a notebook
    accepts exactly what `nin-repro train` does."""
    from nin_repro import run_config  # imports torch: only once a notebook runs its setup
    from nin_repro.device import parse_device, resolve_device

    if not isinstance(retrain, bool):
        raise ValueError(f"retrain must be True or False, got {retrain!r}")
    run_config.check_seeds(seeds)
    run_config.check_numbers(seeds[0], epochs=epochs, subset=subset)
    # a page that only reads its records uses no device: "cuda" must be spelled right, not present
    (resolve_device if retrain else parse_device)(device)


def page_setup(results_dir) -> None:
    """The setup cell of a page that only reads the records (its one
    papermill parameter, `results_dir`): a mistyped folder fails here in
    one line, not as a study without runs; figures take the book's style."""
    results.existing_results_dir(results_dir)
    plots.book_style()


def setup(chapter: str | None, retrain, epochs, seeds, device, data_dir, results_dir, subset) -> Chapter | None:
    """A chapter's setup cell, given its papermill parameters: fail on a bad
    one before anything runs, set the book's figure style, retrain the
    chapter's CPU-budget rows if asked, and return what the chapter shows
    (`chapters.CHAPTERS[chapter]`). `chapter=None`: a page whose figures
    come from its own computation, which it runs itself; nothing is trained here."""
    if chapter is not None and chapter not in CHAPTERS:
        raise ValueError(f"no chapter {chapter!r} in chapters.CHAPTERS: pick one of {', '.join(CHAPTERS)}")
    check_notebook_params(retrain, epochs, seeds, device, subset)
    paths.results_dir(results_dir)  # a path, where one is given: an empty one must not mean results/
    if not retrain:  # a page that only reads the records: a mistyped folder is no study without runs
        results.existing_results_dir(results_dir)
    data.existing_data_dir(data_dir)  # a page reading data without retraining (CIFAR-100's duplicates) too
    plots.book_style()
    if chapter is None:
        return None
    retrain_chapter(chapter, retrain, seeds=seeds, device=device, epochs=epochs, subset=subset, data_dir=data_dir,
                    results_dir=results_dir)
    return CHAPTERS[chapter]


def retrain_chapter(chapter: str, retrain: bool, *, seeds, device, epochs, subset, data_dir, results_dir) -> None:
    """With `retrain=True`, train each CPU-budget experiment of the chapter
    (`chapters.CHAPTERS[chapter].budget`) for each seed, writing run records;
    else say that the page shows the committed ones."""
    if not retrain:
        print("retrain=False: showing the committed run records")
        return
    # Imported only to train: the training loop's progress bar (tqdm.auto) warns on
    # stderr in a kernel without ipywidgets, which would be output on every page.
    from nin_repro import run_config, train

    # Every run resolved (its arguments checked) before the first one trains.
    runs = [run_config.resolve_run(name, seed, device=device, epochs=epochs, subset=subset, data_dir=data_dir,
                                   results_dir=results_dir)
            for name in CHAPTERS[chapter].budget for seed in dict.fromkeys(seeds)]  # a repeated seed: once
    for run in runs:  # each checked (folders, lock) before the first trains
        train.preflight(run, restart=True)
    for run in runs:
        # retrain=True asks for the runs again: a run with a record is trained anew and its record
        # replaced at the end (train() refuses that without restart)
        train.train(run, restart=True, progress=False)
