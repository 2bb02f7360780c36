"""Run records: one JSON per run in results/runs/ (and one per run given up,
in results/stalls/), written atomically, read back with validation, and the
runs a table rests on."""

from __future__ import annotations

import json
import math
import os
from dataclasses import MISSING, fields
from pathlib import Path

from . import paths
from .atomic import atomic_write_text
from .errors import NinReproError
from .experiments import EXPERIMENTS, NOT_IDENTITY_TRAIN, TrainConfig
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
    if not record["history"]:
        raise RecordError(f"{where}: empty history; {RESTORE}")
    for i, row in enumerate(record["history"]):
        if not isinstance(row, dict):
            raise RecordError(f"{where}: history[{i}] has type {type(row).__name__}, expected an object; {RESTORE}")
        missing = [k for k in HISTORY_FIELDS if k not in row]
        if missing:
            raise RecordError(f"{where}: history[{i}] lacks {missing}; {RESTORE}")
        untested = row["test_error"] is None and row["test_loss"] is None
        wrong = [f"{k!r} has type {type(row[k]).__name__}" for k, typ in HISTORY_TYPES.items()
                 if (not isinstance(row[k], typ) or isinstance(row[k], bool))
                 and not (untested and k in UNTESTED_FIELDS)]
        wrong += [f"{k!r} has type {type(row[k]).__name__}" for k, typ in OPTIONAL_HISTORY_TYPES.items()
                  if k in row and not _is(row[k], typ)]
        if not wrong and row["precision"] not in PRECISIONS:
            wrong.append(f"'precision' is {row['precision']!r}, not one of {', '.join(PRECISIONS)}")
        if wrong:
            raise RecordError(f"{where}: history[{i}]: {', '.join(wrong)}; {RESTORE}")
    if not (0.0 <= record["test_error"] <= 100.0) or not math.isfinite(record["test_error"]):
        raise RecordError(f"{where}: test_error {record['test_error']} is not a percentage; {RESTORE}")
    if record["history"][-1]["test_error"] != record["test_error"]:
        raise RecordError(f"{where}: test_error differs from the last epoch's in history; {RESTORE}")
    return record


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


def tested(history: list[dict]) -> list[dict]:
    """The epochs of a history that end with a test evaluation (all but those
    `TrainConfig.test_every` skips; a finished run's last always does)."""
    return [h for h in history if h["test_error"] is not None]


def last_tested(history: list[dict]) -> dict | None:
    """The latest epoch with a test error: what a run in progress has shown so far."""
    done = tested(history)
    return done[-1] if done else None


def recent_epoch_seconds(history: list[dict], test_every: int = 1) -> float:
    """How long an epoch takes, for a forecast: the slowest of the last
    `test_every` epochs on the machine and precision of the last one (one of
    them evaluated the test split; the others were the shorter)."""
    last = history[-1]
    return max(h["seconds"] for h in history[-test_every:]
               if (h.get("machine"), h.get("precision")) == (last.get("machine"), last.get("precision")))


def latest_test_cell(history: list[dict]) -> str:
    """A table cell for the latest test of a run (or of a stretch of its
    epochs): "41.50" when its last epoch was tested, "13.89 (epoch 45)" when
    later ones were not, "not tested yet" before its first test."""
    last = last_tested(history)
    if last is None:
        return "not tested yet"
    return f"{last['test_error']:.2f}" + ("" if last is history[-1] else f" (epoch {last['epoch']})")


def error_so_far(history: list[dict], prefix: str = "", suffix: str = "") -> str:
    """A run in progress's test error so far: "41.50%" when its latest epoch
    was tested, "13.89% (tested after epoch 45)" when later epochs were not,
    each between `prefix` and `suffix`; "not tested yet" before its first test."""
    last = last_tested(history)
    if last is None:
        return "not tested yet"
    said = f"{last['test_error']:.2f}%"
    if last is not history[-1]:
        said += f" (tested after epoch {last['epoch']})"
    return prefix + said + suffix


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
GIVEN_UP_FIELDS = ("run", "config", "history", "wall_seconds", "given_up_because")


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
    config, history, wall_seconds, given_up_because; sorted by file name
    (a run's attempts in the order they were given up)."""
    runs = []
    for path in sorted(stalls_dir(results_dir).glob("*.json")):
        try:
            run = json.loads(path.read_text())
            missing = [k for k in GIVEN_UP_FIELDS if k not in run] + \
                [f"config.{k}" for k in ("experiment", "seed") if k not in run.get("config", {})]
        except (ValueError, TypeError, AttributeError) as e:
            missing = [f"readable JSON ({type(e).__name__}: {e})"]
        if missing:
            raise RecordError(f"{path} is not a given-up run's file (no {', '.join(missing)}); restore it from git")
        runs.append(run)
    return runs


def existing_results_dir(results_dir: str | os.PathLike | None = None) -> Path:
    """The results folder, for commands that only read it: one that does not
    exist is a mistyped --results-dir (or NIN_RESULTS), not a study without runs."""
    return paths.existing_folder(paths.results_dir(results_dir), "results",
                                 "--results-dir (default: results/ of this checkout, or NIN_RESULTS)")


def _spans(record: dict, key) -> list[list]:
    """[value, first epoch, last epoch] for each stretch of epochs with one `key(row)`."""
    spans = []
    for h in record["history"]:
        value = key(h)
        if spans and spans[-1][0] == value:
            spans[-1][2] = h["epoch"]
        else:
            spans.append([value, h["epoch"], h["epoch"]])
    return spans


# The CIFAR-10 copies the study has trained on, by the start of their SHA-256
# (see the data folder's README): runs of the 30-epoch protocol trained on a
# JPEG (quality 75) copy; later runs on a near-lossless one (59,891 of 60,000
# images bit-exact).
JPEG_COPY = "JPEG copy (quality 75)"
DATA_COPIES = {"54356694fbb1a8f3": JPEG_COPY,
               "393f6a5dbfc8b440": "near-lossless copy (99.8% of images bit-exact)"}


# The near-lossless copy's images that no lossless mirror held, by split,
# filled from the JPEG copy (the data folder's README, which flags each).
NEAR_LOSSLESS_JPEG_FILLS = {"train": 86, "test": 23}


def data_copy(record: dict) -> str:
    """Which copy of the dataset a run trained on, in words."""
    source = record.get("data_source", "")
    for digest, words in DATA_COPIES.items():
        if f"sha256 {digest}" in source:
            return words
    return source or "not recorded"


def copy_label(copy: str | None) -> str:
    """A data copy of `DATA_COPIES` in two or three words ("JPEG copy",
    "near-lossless copy"), for a table's protocol column or a legend; "" for
    any other (a dataset the study has one copy of, or no copy at all)."""
    return copy.split(" (")[0] if copy in DATA_COPIES.values() else ""


def copy_name(copy: str) -> str:
    """A copy in words for a sentence or a legend: `copy_label`'s short
    name of a known copy, any other as the record names it."""
    return copy_label(copy) or copy


def run_machines(record: dict) -> str:
    """Where a run trained: the machine its epochs name (CPU name and
    instruction set), or, for a run resumed on another kind of machine, each
    machine with its epochs."""
    spans = _spans(record, lambda h: h["machine"])
    if len(spans) == 1:
        return spans[0][0]
    return "; ".join(f"{m}: {epoch_span(a, b)}" for m, a, b in spans)


def where_spans(record: dict) -> list[tuple[str, str, int, int]]:
    """(machine, precision, first epoch, last epoch) for each stretch of a
    run's epochs trained on one kind of machine in one precision."""
    return [(m, p, a, b) for (m, p), a, b in _spans(record, lambda h: (h["machine"], h["precision"]))]


def run_where(record: dict) -> str:
    """Machine(s) and precision of a run. The same CPU name can be machines of
    different speed and numerics (bf16 on AVX512-BF16/AMX, fp32 on AVX2): the
    precision tells them apart wherever a run's error or cost is shown. A run
    that moved names each machine and precision with its epochs."""
    spans = where_spans(record)
    if len(spans) == 1:
        return f"{run_machines(record)}, {spans[0][1]}"
    return "; ".join(f"{m}, {p}: {epoch_span(a, b)}" for m, p, a, b in spans)


def epoch_span(first: int, last: int) -> str:
    """"epochs 1-175", or "epoch 176" for a stretch of one epoch."""
    return f"epoch {first}" if first == last else f"epochs {first}-{last}"


def protocol_changes(record: dict) -> list[str]:
    """How the protocol a record's run followed differs from its
    experiment's protocol as the registry defines it now, one "setting:
    then -> now" each ("warmup_epochs: 1.0 -> 5.0"): a run of an earlier
    version of the protocol, which no table counts and `reproduce` trains
    again. Empty where they agree; for a run with overrides (not a protocol
    run in any case), an experiment no longer in the registry, or a config
    part the record does not keep. Not compared: the settings that do not
    change what is trained (`experiments.NOT_IDENTITY_TRAIN`, as a checkpoint
    resumes across them; the precision among them: a record names the one
    `auto` picked on its machine) and settings the code no longer has; a setting added since the record was written compares its
    default, the behaviour the run had."""
    exp = EXPERIMENTS.get(record["experiment"])
    if exp is None or record["config"].get("overrides"):
        return []
    changes = []
    for part, cls, now in (("train", TrainConfig, exp.train.to_dict()), ("model", ModelConfig, exp.model.to_dict())):
        then = record["config"].get(part)
        if not isinstance(then, dict):
            continue
        defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
        then, now, defaults = (json.loads(json.dumps(d)) for d in (then, now, defaults))  # tuples as JSON lists
        for key in now:
            if key in NOT_IDENTITY_TRAIN or (key not in then and key not in defaults):
                continue
            was = then.get(key, defaults.get(key))
            if was != now[key]:
                changes.append(f"{key}: {was} -> {now[key]}")
    return changes


def is_protocol_run(record: dict) -> bool:
    """A full run of its experiment's protocol as it stands: no epoch or
    subset overrides, and no setting changed since (`protocol_changes`)."""
    return not record["config"].get("overrides") and not protocol_changes(record)


def protocol_runs(records: list[dict], experiments) -> list[dict]:
    """The records of `experiments` (a name or several) that follow their
    protocol (no epoch, subset or batch overrides): the runs a table rests on."""
    names = {experiments} if isinstance(experiments, str) else set(experiments)
    return [r for r in records if r["experiment"] in names and is_protocol_run(r)]


def earlier_runs(experiment: str, results_dir=None) -> str:
    """What a planned run will cost, as measured: the wall time of each
    finished protocol run of the same experiment, with where it trained."""
    records = protocol_runs(read_records(results_dir), experiment)
    return "; ".join(f"seed {r['seed']} took {r['wall_seconds'] / 3600:.1f} h on {run_where(r)}"
                     for r in records)


def copy_groups(runs: list[dict]) -> list[tuple[str, list[dict]]]:
    """Runs grouped by the copy of the data they trained on (`data_copy`):
    the copy with the most runs first and, between copies with as many, the
    one whose latest run finished last. A row pools the runs of one copy
    only: the copy can move the test error by more than the seeds do (the
    CIFAR-10 chapter measures it for the budget protocol)."""
    groups: dict[str, list[dict]] = {}
    for r in runs:
        groups.setdefault(data_copy(r), []).append(r)
    return sorted(groups.items(), key=lambda kv: (len(kv[1]), max(r.get("finished_at", "") for r in kv[1])),
                  reverse=True)


def shared_copy(records: list[dict], experiments) -> str | None:
    """The copy of the data on which every one of `experiments` has protocol
    runs (the one with the most runs among them, then the newer), so that
    rows compared with each other rest on the same data; None where they
    share none."""
    groups = [dict(copy_groups(protocol_runs(records, name))) for name in experiments]
    shared = set.intersection(*(set(g) for g in groups)) if groups else set()
    pooled = copy_groups([r for g in groups for c, runs in g.items() if c in shared for r in runs])
    return pooled[0][0] if pooled else None
