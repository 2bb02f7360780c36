"""Where data, caches and records live. Every location is a setting, never a
hard-coded path: an explicit argument wins, then an environment variable,
then a default."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


# How a user names each location (the command line's option, a notebook's parameter).
SETTINGS = {"data_dir": "--data-dir (data_dir in a notebook)", "cache_dir": "--cache-dir",
            "results_dir": "--results-dir (results_dir in a notebook)"}


def check_given(**locations) -> None:
    """`given` for each of data_dir, cache_dir, results_dir passed: before
    a run reads any of them."""
    for key, value in locations.items():
        given(value, SETTINGS[key])


def given(explicit, setting: str) -> str | os.PathLike | None:
    """A location passed explicitly, None where none was: an empty string
    (a mistyped variable in `--results-dir "$RESULTS"`) must not quietly
    mean the default, the committed results/ included, and a number or a
    list is no folder. (An environment variable set to nothing counts as
    unset, as shells write it to unset one for a command.)"""
    if explicit is None:
        return None
    if not isinstance(explicit, (str, os.PathLike)):
        raise ValueError(f"{setting} must be a folder path (a string), got {explicit!r}")
    if not str(explicit).strip():
        raise ValueError(f"{setting} is empty: pass a folder, or leave it out for the default")
    return explicit


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The folder with the packed datasets (`--data-dir`, else `NIN_DATA`)."""
    value = given(explicit, SETTINGS["data_dir"]) or os.environ.get("NIN_DATA")
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
    value = (given(explicit, SETTINGS["cache_dir"]) or os.environ.get("NIN_CACHE")
             or Path.home() / ".cache" / "nin_repro")
    path = Path(value).expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # read-only, a file in the way, no space: one line, not a traceback
        raise ValueError(f"cannot use {path} as the cache folder ({e.strerror or e}); point NIN_CACHE or "
                         "--cache-dir to a folder you can write") from e
    return path


def results_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Run records (`NIN_RESULTS`, else results/ of this checkout)."""
    value = (given(explicit, SETTINGS["results_dir"]) or os.environ.get("NIN_RESULTS")
             or REPO_ROOT / "results")
    return Path(value).expanduser().resolve()


def existing_folder(folder: Path, name: str, check: str) -> Path:
    """`folder` where it is one: a mistyped path (missing, or a file) is said
    in one line naming it and the setting to `check`, before anything runs."""
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise FileNotFoundError(f"{name} folder {folder} {what}; check {check}")
    return folder
