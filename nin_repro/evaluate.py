"""`nin-repro evaluate`: check a finished run's headline number without
training: load its committed weights, run the test split through them, and
set the error beside the one its record holds."""

from __future__ import annotations

import time

import torch

from . import checkpoint, results
from .experiments import get as get_experiment
from .loader import TensorLoader
from .model import ModelConfig, NiN
from .run_config import run_overrides


def evaluate_run(experiment: str, seed: int = 0, data_dir=None, cache_dir=None, results_dir=None,
                 precision: str | None = None, subset: int | None = None) -> dict:
    """The test error of `experiment`'s run `seed` (of its smoke run on
    `subset` images, if given) from its weights file, in the precision its
    last epoch was evaluated in (unless told another), with the record's
    error beside it."""
    from .device import resolve_precision
    from .preprocess import load_inputs
    from .train import evaluate

    exp = get_experiment(experiment)
    name = results.run_name(experiment, seed, run_overrides(exp, subset=subset))
    record_path = results.record_path(name, results_dir)
    if not record_path.exists():
        raise FileNotFoundError(f"no record {record_path}: the run {name} has not finished "
                                "(see `nin-repro reproduce --status`)")
    record = results.read_record(record_path)
    weights = checkpoint.weights_path(name, results_dir)
    if not weights.exists():
        raise FileNotFoundError(f"no weights {weights}: runs finished before the study kept weights have none; "
                                "retrain the run to get them")
    precision = resolve_precision(precision or record["history"][-1]["precision"], torch.device("cpu"))
    model = NiN(ModelConfig.from_dict(record["config"]["model"]))
    model.load_state_dict(checkpoint.load_weights(weights))
    model = model.to(memory_format=torch.channels_last)
    t0 = time.perf_counter()
    _, _, test_x, test_y, _ = load_inputs(exp, data_dir, cache_dir, subset=subset)
    loader = TensorLoader(test_x, test_y, 500, train=False)
    _, wrong = evaluate(model, loader, torch.device("cpu"), precision)
    error = 100.0 * wrong.item() / len(test_y)
    return {"run": name, "test_error": error, "recorded": record["test_error"],
            "difference": error - record["test_error"], "precision": precision,
            "seconds": time.perf_counter() - t0, "weights": str(weights)}
