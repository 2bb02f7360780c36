"""Re-execute the book's notebooks in place with their default parameters, so
their committed outputs show the current run records (`nin-repro render`)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from nin_repro import results
from nin_repro.atomic import atomic_path
from nin_repro.errors import NinReproError

from . import notebooks, progress
from .figure5 import load_confidence_maps

class RenderError(NinReproError, ValueError):
    """A notebook's cell raised while it was rendered."""


def _first_line(text: str) -> str:
    """The first line of an error's words, without terminal colour codes."""
    plain = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(text)).strip()
    return plain.splitlines()[0] if plain else "(no message)"


def render(chosen: list[str | Path] | None = None, timeout: int = 600, log=print,
           results_dir: str | os.PathLike | None = None) -> list[Path]:
    """Render the notebooks at `chosen` (default: every chapter).
    `results_dir`: the records to show (default: results/); the notebooks'
    kernels read it from NIN_RESULTS, as their `results_dir=None` parameter
    does. A cell that raises is a `RenderError` of one line naming the
    notebook and the cell's error; the notebook is left as it was."""
    # The book's extra dependencies (pyproject's [book]): only rendering needs them.
    import nbformat
    from nbclient import NotebookClient  # Jupyter's packages come with the book's extras, not the base install
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    # A malformed record, given-up file, snapshot or Figure 5 file would fail in a kernel, blamed on a
    # cell: name it here, before a notebook runs.
    folder = results.existing_results_dir(results_dir)
    results.read_records(folder)
    results.given_up(folder)
    progress.in_progress(folder)
    load_confidence_maps(folder)
    # A chapter named by its .md source renders into its .ipynb twin: never over the source.
    targets = [notebooks.notebook_twin(p) for p in chosen] if chosen else notebooks.chapters()
    missing = [str(p) for p in targets if not p.is_file() and not notebooks.markdown_twin(p).is_file()]
    if missing:
        raise FileNotFoundError(f"no notebook {', '.join(missing)}; the book's are in {notebooks.FOLDER}")
    plain = [str(notebooks.markdown_twin(p)) for p in targets if not notebooks.is_notebook_source(p)]
    if plain:  # README.md: executed, it would become a README.ipynb
        raise ValueError(f"{', '.join(plain)} is no notebook's source (no jupytext header); the book's chapters "
                         f"are in {notebooks.FOLDER}")
    before = os.environ.get("NIN_RESULTS")
    os.environ["NIN_RESULTS"] = str(folder)  # the kernels inherit it
    try:
        for path in targets:
            nb = notebooks.notebook_to_execute(path)  # the cells of its MyST Markdown source
            try:
                NotebookClient(nb, timeout=timeout, kernel_name="python3",
                               resources={"metadata": {"path": str(path.parent)}}).execute()
            except CellExecutionError as e:  # its message is the whole traceback, in terminal colours
                source = notebooks.markdown_twin(path)
                source = source if source.is_file() else path
                raise RenderError(f"{path}: a cell raised {e.ename}: {_first_line(e.evalue)}; fix the cell in "
                                  f"{source} (or what it reads), then render again; {path.name} is left as it "
                                  "was") from None
            except (CellTimeoutError, DeadKernelError) as e:  # a TimeoutError (an OSError) and a RuntimeError:
                # the command line would blame the folder, or print a traceback
                what = (f"a cell ran past the {timeout} s each cell may take" if isinstance(e, CellTimeoutError)
                        else "its kernel died (out of memory?)")
                raise RenderError(f"{path}: {what}; {path.name} is left as it was; run it in Jupyter to see "
                                  "which cell, then render again") from None
            for cell in nb.cells:  # keep diffs small: no per-run execution metadata
                cell.get("metadata", {}).pop("execution", None)
            with atomic_path(path) as tmp:
                nbformat.write(nb, str(tmp))
            log(f"rendered {path}")
    finally:
        if before is None:
            os.environ.pop("NIN_RESULTS", None)
        else:
            os.environ["NIN_RESULTS"] = before
    return targets
