"""`nin-repro evaluate`: check a finished run's headline number without
training: load its committed weights, run the test split through them, and
set the error beside the one its record holds."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from . import checkpoint, device, paths, results  # device's functions looked up on call: tests stand in for them
from .experiments import get as get_experiment
from .loader import TensorLoader
from .model import NiN, load_net
from .preprocess import load_test_inputs
from .run_config import run_overrides
from .train import evaluate_split


def evaluation_precision(recorded: str, asked: str | None = None) -> tuple[str, str]:
    """The precision to evaluate a run in on this CPU, and why, when it is
    not the one asked for or recorded: the precision its last epoch was
    evaluated in (or `asked`), except a recorded bf16 on a CPU that only
    emulates it, where fp32 answers in a minute and emulated bf16 takes
    about 13 times as long (see `device.bf16_is_native`)."""
    cpu = torch.device("cpu")
    if asked is not None:
        return device.resolve_precision(asked, cpu), ""
    if recorded == "bf16" and not device.bf16_is_native(cpu):
        return "fp32", "fp32, as this CPU only emulates the bf16 the run was tested in"
    return device.resolve_precision(recorded, cpu), ""


def evaluate_run(experiment: str, seed: int = 0, data_dir=None, cache_dir=None, results_dir=None,
                 precision: str | None = None, subset: int | None = None) -> dict:
    """The test error of `experiment`'s run `seed` (of its smoke run on
    `subset` images, if given) from its weights file, in the precision its
    last epoch was evaluated in (unless told another; see
    `evaluation_precision`), with the record's error beside it."""
    exp = get_experiment(experiment)
    model, record, weights = _trained(experiment, seed, results_dir, subset)
    recorded_precision = record["history"][-1]["precision"]
    precision, why = evaluation_precision(recorded_precision, precision)
    model = model.to(memory_format=torch.channels_last)
    t0 = time.perf_counter()
    test_x, test_y = load_test_inputs(exp, data_dir, cache_dir, subset=subset)
    loader = TensorLoader(test_x, test_y, 500, train=False)
    _, wrong = evaluate_split(model, loader, torch.device("cpu"), precision)
    error = 100.0 * wrong.item() / len(test_y)
    return {"run": weights.stem, "test_error": error, "recorded": record["test_error"],
            "difference": error - record["test_error"], "precision": precision,
            "recorded_precision": recorded_precision, "why_precision": why,
            "seconds": time.perf_counter() - t0, "weights": str(weights)}


def trained_net(experiment: str, seed: int = 0, results_dir=None) -> NiN:
    """The net of a finished run, with its committed weights in fp32, in
    eval mode: the net its record describes, the weights checked against
    their SHA-256. It takes the preprocessed inputs
    `preprocess.load_test_inputs(experiments.get(experiment))` gives."""
    return _trained(experiment, seed, results_dir)[0].eval()


def _trained(experiment: str, seed: int, results_dir, subset: int | None = None) -> tuple[NiN, dict, Path]:
    """A finished run's net with its weights, its record, and the weights
    file; one line saying what to do where either file is missing."""
    name = results.run_name(experiment, seed, run_overrides(get_experiment(experiment), subset=subset))
    record_path = results.record_path(name, results_dir)
    if not record_path.exists():
        raise FileNotFoundError(f"no record {record_path}: the run {name} has not finished "
                                "(see `nin-repro reproduce --status`)")
    record = results.read_record(record_path)
    weights = checkpoint.weights_path(name, results_dir)
    if not weights.exists():
        raise FileNotFoundError(f"no weights {weights}: runs finished before the study kept weights have none; "
                                "retrain the run to get them")
    return _net_of(record, record_path, weights), record, weights


def _net_of(record: dict, record_path, weights) -> NiN:
    """The net `record`'s `config.model` describes, with the weights of
    `weights` in it; one line naming both files where they do not fit."""
    try:
        committed = " ".join(str(Path(f).resolve().relative_to(paths.REPO_ROOT)) for f in (record_path, weights))
        fix = f"restore both from git (git checkout -- {committed}) or train the run again with --restart"
    except ValueError:  # outside the repository: git cannot restore them
        fix = "train the run again with --restart to write both anew"
    return load_net(record["config"].get("model", {}), checkpoint.load_weights(weights), str(record_path),
                    str(weights), fix)
