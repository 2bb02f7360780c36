"""Run records: one JSON per run in results/runs/ (and one per run given up,
in results/stalls/), written atomically and read back with validation. Which
of them a table counts, and on what data, is `nin_repro.book.provenance`'s."""

from __future__ import annotations

import json
import math
import os
from dataclasses import MISSING, fields
from pathlib import Path

from . import paths
from .atomic import atomic_write_text
from .errors import NinReproError
from .experiments import TrainConfig
from .model import ModelConfig

REQUIRED_FIELDS = {
    "experiment": str, "dataset": str, "seed": int, "test_error": (int, float), "epochs": int,
    "device": str, "threads": int, "torch_version": str, "git_commit": str,
    "wall_seconds": (int, float), "images_per_second": (int, float), "config": dict, "history": list,
}
HISTORY_TYPES = {"epoch": int, "lr": (int, float), "train_loss": (int, float), "train_error": (int, float),
                 "test_loss": (int, float), "test_error": (int, float), "seconds": (int, float), "precision": str,
                 # the CPU or GPU and, for a CPU, the instruction set (`device.machine_name`): one CPU name
                 # covers machines of different speed and numerics
                 "machine": str}
HISTORY_FIELDS = tuple(HISTORY_TYPES)
# An epoch the test split was not evaluated after (`TrainConfig.test_every`) has these None.
UNTESTED_FIELDS = ("test_loss", "test_error")
# Parts of `config` the tables, plots and `evaluate` read, where a record has them.
CONFIG_TYPES = {"train": dict, "model": dict, "overrides": (dict, type(None))}
# Fields a record may lack (records from before the library wrote them), of
# this type where it has them: the tables, plots and `reproduce` read them.
OPTIONAL_TYPES = {"data_source": str, "finished_at": str, "python_version": str, "world_size": int,
                  "parameters": int}
OPTIONAL_HISTORY_TYPES = {"train_images_per_second": (int, float),
                          "eval_images_per_second": (int, float, type(None)), "stopped_seconds": (int, float)}
PRECISIONS = ("bf16", "fp32")  # what an epoch trains in (`device.PRECISIONS`)


class RecordError(NinReproError, ValueError):
    """A results file is malformed; the message names the file."""


RESTORE = "restore the file from git or rerun the run"  # what to do about a malformed record


def runs_dir(results_dir: str | os.PathLike | None = None) -> Path:
    return paths.results_dir(results_dir) / "runs"


def run_name(experiment: str, seed: int, overrides: dict | None = None) -> str:
    """A run's name: its record, checkpoint and weights files are named after it."""
    name = f"{experiment}__seed{seed}"
    if overrides:
        name += "__" + "_".join(f"{k}{v}" for k, v in sorted(overrides.items()))
    return name


def record_name(record: dict) -> str:
    return run_name(record["experiment"], record["seed"], record["config"].get("overrides"))


def record_filename(record: dict) -> str:
    return record_name(record) + ".json"


def record_path(run_name: str, results_dir: str | os.PathLike | None = None) -> Path:
    """Where a run's record is, or will be once it finishes."""
    return runs_dir(results_dir) / f"{run_name}.json"


def validate(record: dict, where: str = "record") -> dict:
    if not isinstance(record, dict):
        raise RecordError(f"{where}: expected a JSON object, got {type(record).__name__}; {RESTORE}")
    for key, typ in REQUIRED_FIELDS.items():
        if key not in record:
            raise RecordError(f"{where}: missing field {key!r}; the file is not a complete run record "
                              "(rerun the run or delete the file)")
        if not isinstance(record[key], typ) or isinstance(record[key], bool):
            raise RecordError(f"{where}: field {key!r} has type {type(record[key]).__name__}, expected "
                              f"{_names(typ)}; {RESTORE}")
    for key, typ in OPTIONAL_TYPES.items():
        if key in record and not _is(record[key], typ):
            raise RecordError(f"{where}: field {key!r} has type {type(record[key]).__name__}, expected "
                              f"{_names(typ)}; {RESTORE}")
    for key, typ in CONFIG_TYPES.items():
        if key in record["config"] and not isinstance(record["config"][key], typ):
            raise RecordError(f"{where}: config.{key} has type {type(record['config'][key]).__name__}, "
                              f"expected an object; {RESTORE}")
    _validate_settings(record["config"], where)
    _validate_history(record["history"], where)
    if not (0.0 <= record["test_error"] <= 100.0) or not math.isfinite(record["test_error"]):
        raise RecordError(f"{where}: test_error {record['test_error']} is not a percentage; {RESTORE}")
    if record["history"][-1]["test_error"] != record["test_error"]:
        raise RecordError(f"{where}: test_error differs from the last epoch's in history; {RESTORE}")
    return record


def _validate_history(history: list, where: str, restore: str = RESTORE) -> None:
    """A non-empty list of epoch rows, each with `HISTORY_FIELDS` of their types."""
    if not history:
        raise RecordError(f"{where}: empty history; {restore}")
    for i, row in enumerate(history):
        if not isinstance(row, dict):
            raise RecordError(f"{where}: history[{i}] has type {type(row).__name__}, expected an object; {restore}")
        missing = [k for k in HISTORY_FIELDS if k not in row]
        if missing:
            raise RecordError(f"{where}: history[{i}] lacks {missing}; {restore}")
        untested = row["test_error"] is None and row["test_loss"] is None
        wrong = [f"{k!r} has type {type(row[k]).__name__}" for k, typ in HISTORY_TYPES.items()
                 if (not isinstance(row[k], typ) or isinstance(row[k], bool))
                 and not (untested and k in UNTESTED_FIELDS)]
        wrong += [f"{k!r} has type {type(row[k]).__name__}" for k, typ in OPTIONAL_HISTORY_TYPES.items()
                  if k in row and not _is(row[k], typ)]
        if not wrong and row["precision"] not in PRECISIONS:
            wrong.append(f"'precision' is {row['precision']!r}, not one of {', '.join(PRECISIONS)}")
        if wrong:
            raise RecordError(f"{where}: history[{i}]: {', '.join(wrong)}; {restore}")


def _is(value, typ) -> bool:
    """isinstance, but a bool is no number (JSON's true is no epoch count)."""
    return isinstance(value, typ) and not (isinstance(value, bool) and bool not in _tuple(typ))


def _tuple(typ) -> tuple:
    return typ if isinstance(typ, tuple) else (typ,)


def _names(typ) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in _tuple(typ))


def _setting_types(cls) -> dict:
    """The JSON types each setting of a config dataclass (`TrainConfig`,
    `ModelConfig`) may have in a record, from its default (a setting without
    one, `epochs`, is an int): a float setting takes an int too; a tuple one,
    a list (of numbers); one whose default is None, a list or null."""
    kinds = {}
    for f in fields(cls):
        default = f.default
        if default is MISSING or isinstance(default, bool) or isinstance(default, (int, str)):
            kinds[f.name] = int if default is MISSING else type(default)
        elif isinstance(default, float):
            kinds[f.name] = (int, float)
        elif isinstance(default, tuple):
            kinds[f.name] = (list, tuple)  # a tuple in a record being written, a list read back
        else:
            kinds[f.name] = (list, tuple, type(None))
    return kinds


def _validate_settings(config: dict, where: str) -> None:
    """The settings of `config.train` and `config.model` that this code has
    (others, of settings it no longer has, are not read), each of its type:
    an epoch count that is a string would read as another protocol's."""
    for part, cls in (("train", TrainConfig), ("model", ModelConfig)):
        settings = config.get(part)
        if not isinstance(settings, dict):
            continue
        for key, typ in _setting_types(cls).items():
            if key not in settings:
                continue
            value = settings[key]
            bad = not _is(value, typ) or (
                isinstance(value, (list, tuple)) and not all(_is(v, (int, float)) for v in value))
            if not bad and key == "precision" and value not in ("auto", *PRECISIONS):
                raise RecordError(f"{where}: config.train.precision is {value!r}, not one of auto, "
                                  f"{', '.join(PRECISIONS)}; {RESTORE}")
            if bad:
                expected = _names(typ).replace("list or tuple", "a list of numbers")
                raise RecordError(f"{where}: config.{part}.{key} is {json.dumps(value)} ({type(value).__name__}), "
                                  f"expected {expected}; {RESTORE}")


def recent_epoch_seconds(history: list[dict], test_every: int = 1) -> float:
    """How long an epoch takes, for a forecast: the slowest of the last
    `test_every` epochs on the machine and precision of the last one (one of
    them evaluated the test split; the others were the shorter)."""
    last = history[-1]
    return max(h["seconds"] for h in history[-test_every:]
               if (h.get("machine"), h.get("precision")) == (last.get("machine"), last.get("precision")))


def mean_train_speed(history: list[dict]) -> float | None:
    """Training images per second, the mean over the epochs that timed it: a
    finished run's `images_per_second`, and a run in progress's so far (None
    where no epoch did: snapshots from before epochs were timed)."""
    speeds = [h["train_images_per_second"] for h in history if "train_images_per_second" in h]
    return sum(speeds) / len(speeds) if speeds else None


def write_record(record: dict, results_dir: str | os.PathLike | None = None) -> Path:
    validate(record)
    path = record_path(record_name(record), results_dir)
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
    return path


def read_record(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise RecordError(f"{path}: not a text file (byte {e.start} is not UTF-8), so no run record; "
                          f"move it out of {path.parent}") from e
    except json.JSONDecodeError as e:
        raise RecordError(f"{path}: not valid JSON ({e}); the file is truncated or hand-edited. "
                          "Restore it from git or rerun the run.") from e
    except OSError as e:
        raise RecordError(f"{path}: cannot be read ({e.strerror or e})") from e
    return validate(record, str(path))


def read_records(results_dir: str | os.PathLike | None = None) -> list[dict]:
    """Every record in results/runs/, sorted by file name. A malformed file stops
    with a RecordError naming it, so a table is never built from half the data;
    so does a file not named after the run it holds (a backup copy, a renamed
    file), which would count its run twice or as another: one file per run."""
    folder = runs_dir(results_dir)
    if not folder.exists():
        return []
    records = []
    for path in sorted(folder.glob("*.json")):
        record = read_record(path)
        if path.name != record_filename(record):
            raise RecordError(f"{path}: holds the run {record_name(record)}, whose record is "
                              f"{record_filename(record)}; a copy or a renamed record would count as another "
                              f"run: move it out of {folder}")
        records.append(record)
    return records


# A run given up (a stall at chance level, a diverged loss): what its file in results/stalls/ holds.
GIVEN_UP_TYPES = {"run": str, "config": dict, "history": list, "wall_seconds": (int, float),
                  "given_up_because": str}
GIVEN_UP_FIELDS = tuple(GIVEN_UP_TYPES)


def stalls_dir(results_dir: str | os.PathLike | None = None) -> Path:
    return paths.results_dir(results_dir) / "stalls"


def write_given_up(entry: dict, results_dir: str | os.PathLike | None = None) -> Path:
    """Keep a given-up run (`GIVEN_UP_FIELDS`) in results/stalls/, where the
    book shows what it cost and why it stopped: `<run>.json`, or beside an
    earlier attempt `<run>__<n>.json`, never over it; written atomically."""
    folder = stalls_dir(results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target, n = folder / f"{entry['run']}.json", 1
    while target.exists():
        n += 1
        target = folder / f"{entry['run']}__{n}.json"
    atomic_write_text(target, json.dumps(entry, indent=1, sort_keys=True) + "\n")
    return target


def given_up(results_dir: str | os.PathLike | None = None) -> list[dict]:
    """The runs given up (results/stalls/), each as its file holds it: run,
    config, history, wall_seconds, given_up_because; by run, each run's
    attempts in the order they were given up (`<run>.json`, then
    `<run>__2.json`, ... `<run>__10.json`: by number, not by name)."""
    def attempt(path: Path) -> tuple[str, int]:
        run, _, n = path.stem.rpartition("__")
        return (run, int(n)) if run and n.isdigit() else (path.stem, 1)

    runs = []
    for path in sorted(stalls_dir(results_dir).glob("*.json"), key=attempt):
        try:
            run = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise RecordError(f"{path} is not a given-up run's file (not readable JSON: {e}); "
                              f"{_restore_given_up(path)}") from None
        runs.append(_validate_given_up(run, str(path)))
    return runs


def _restore_given_up(path) -> str:
    return f"restore it from git, or move it out of {Path(path).parent} (the run is then trained again)"


def _validate_given_up(run, where: str) -> dict:
    """A given-up run's file as the book reads it: `GIVEN_UP_TYPES`, its
    config's experiment, seed and epochs, and a history of epoch rows."""
    restore = _restore_given_up(where)
    if not isinstance(run, dict):
        raise RecordError(f"{where}: expected a JSON object, got {type(run).__name__}; {restore}")
    missing = [k for k in GIVEN_UP_FIELDS if k not in run]
    if missing:
        raise RecordError(f"{where} is not a given-up run's file (no {', '.join(missing)}); {restore}")
    for key, typ in GIVEN_UP_TYPES.items():
        if not _is(run[key], typ):
            raise RecordError(f"{where}: field {key!r} has type {type(run[key]).__name__}, expected "
                              f"{_names(typ)}; {restore}")
    config = run["config"]
    for key, typ in (("experiment", str), ("seed", int), ("train", dict)):
        if not _is(config.get(key), typ):
            raise RecordError(f"{where}: config.{key} is {json.dumps(config.get(key))}, expected {_names(typ)}; "
                              f"{restore}")
    if not _is(config["train"].get("epochs"), int):
        raise RecordError(f"{where}: config.train.epochs is {json.dumps(config['train'].get('epochs'))}, expected "
                          f"int; {restore}")
    _validate_settings(config, where)
    _validate_history(run["history"], where, restore)
    return run


def existing_results_dir(results_dir: str | os.PathLike | None = None) -> Path:
    """The results folder, for commands that only read it: one that does not
    exist is a mistyped --results-dir (or NIN_RESULTS), not a study without runs."""
    return paths.existing_folder(paths.results_dir(results_dir), "results",
                                 "--results-dir (default: results/ of this checkout, or NIN_RESULTS)")
