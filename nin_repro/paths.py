"""Where data, caches and records live. Every location is a setting, never a
hard-coded path: an explicit argument wins, then an environment variable,
then a default."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The folder with the packed datasets (`--data-dir`, else `NIN_DATA`)."""
    value = explicit or os.environ.get("NIN_DATA")
    if not value:
        raise FileNotFoundError(
            "no data directory given: pass --data-dir (data_dir=... in notebooks) or set "
            "NIN_DATA to the folder holding cifar10.npz / mnist.npz (in this project: "
            "../shared/data), or fetch the official files with `nin-repro train ... --download` (with internet)"
        )
    return Path(value).expanduser().resolve()


def cache_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Decoded arrays, preprocessing fits and checkpoints (`NIN_CACHE`, else
    ~/.cache/nin_repro). Kept outside the repository on purpose."""
    value = explicit or os.environ.get("NIN_CACHE") or Path.home() / ".cache" / "nin_repro"
    path = Path(value).expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # read-only, a file in the way, no space: one line, not a traceback
        raise ValueError(f"cannot use {path} as the cache folder ({e.strerror or e}); point NIN_CACHE or "
                         "--cache-dir to a folder you can write") from e
    return path


def results_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Run records (`NIN_RESULTS`, else results/ of this checkout)."""
    value = explicit or os.environ.get("NIN_RESULTS") or REPO_ROOT / "results"
    return Path(value).expanduser().resolve()


def existing_folder(folder: Path, name: str, check: str) -> Path:
    """`folder` where it is one: a mistyped path (missing, or a file) is said
    in one line naming it and the setting to `check`, before anything runs."""
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise FileNotFoundError(f"{name} folder {folder} {what}; check {check}")
    return folder
