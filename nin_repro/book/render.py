"""Re-execute the book's notebooks in place with their default parameters, so
their committed outputs show the current run records (`nin-repro render`)."""

from __future__ import annotations

import os
from pathlib import Path

from nin_repro import paths, results

from . import notebooks as chapters

NOTEBOOKS = paths.REPO_ROOT / "notebooks"


def render(notebooks: list[str | Path] | None = None, timeout: int = 600, log=print,
           results_dir: str | os.PathLike | None = None) -> list[Path]:
    """`results_dir`: the records to show (default: results/); the notebooks'
    kernels read it from NIN_RESULTS, as their `results_dir=None` parameter does."""
    # The book's extra dependencies (pyproject's [book]): only rendering needs them.
    import nbformat
    from nbclient import NotebookClient  # Jupyter's packages come with the book's extras, not the base install

    # A malformed record would fail in a kernel, as a long traceback: name it here, before a notebook runs.
    folder = results.existing_results_dir(results_dir)
    results.read_records(folder)
    # A chapter named by its .md source renders into its .ipynb twin: never over the source.
    targets = [chapters.notebook_twin(p) for p in notebooks] if notebooks else chapters.chapters(NOTEBOOKS)
    missing = [str(p) for p in targets if not p.is_file() and not chapters.markdown_twin(p).is_file()]
    if missing:
        raise FileNotFoundError(f"no notebook {', '.join(missing)}; the book's are in {NOTEBOOKS}")
    before = os.environ.get("NIN_RESULTS")
    os.environ["NIN_RESULTS"] = str(folder)  # the kernels inherit it
    try:
        for path in targets:
            nb = chapters.notebook_to_execute(path)  # the cells of its MyST Markdown source
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            for cell in nb.cells:  # keep diffs small: no per-run execution metadata
                cell.get("metadata", {}).pop("execution", None)
            tmp = path.with_suffix(".ipynb.tmp")
            nbformat.write(nb, tmp)
            tmp.replace(path)
            log(f"rendered {path}")
    finally:
        if before is None:
            os.environ.pop("NIN_RESULTS", None)
        else:
            os.environ["NIN_RESULTS"] = before
    return targets
