"""Re-execute the book's notebooks in place with their default parameters, so
their committed outputs show the current run records (`nin-repro render`)."""

from __future__ import annotations

from pathlib import Path

from . import paths

NOTEBOOKS = paths.REPO_ROOT / "notebooks"


def render(notebooks: list[str | Path] | None = None, timeout: int = 600, log=print) -> list[Path]:
    import nbformat
    from nbclient import NotebookClient

    targets = [Path(p) for p in notebooks] if notebooks else sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in targets:
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        for cell in nb.cells:  # keep diffs small: no per-run execution metadata
            cell.get("metadata", {}).pop("execution", None)
        tmp = path.with_suffix(".ipynb.tmp")
        nbformat.write(nb, tmp)
        tmp.replace(path)
        log(f"rendered {path}")
    return targets
