"""One training run, resolved: what is trained (the experiment with the
overrides applied, the seed, the data subset), on which device and with which
folders, every argument checked before any data is read. `train(run)` trains
it; how that call behaves (resume, stop early, write) is `train`'s own
arguments."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import torch

from . import data, distributed, paths, results
from .device import resolve_device, resolve_precision
from .experiments import Experiment, TrainConfig, get as get_experiment

MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class Run:
    experiment: Experiment
    train: TrainConfig         # the experiment's, with the overrides applied
    seed: int
    subset: int | None         # train on the first `subset` images (and test on as many); None: all
    overrides: dict            # what the command line changed in what is trained: part of the run's name
    device: torch.device       # this process's device (under torchrun on GPUs: its own GPU)
    world_size: int            # processes that train the run together (torchrun); 1 alone
    data_dir: str | os.PathLike | None = None     # None: the defaults of `paths`
    cache_dir: str | os.PathLike | None = None
    results_dir: str | os.PathLike | None = None
    download: bool = False     # fetch the official files where no packed copy is found

    @property
    def name(self) -> str:
        """Its record, checkpoint and weights files are named after it."""
        return results.run_name(self.experiment.name, self.seed, self.overrides)

    @property
    def config(self) -> dict:
        """What the checkpoints and the record store of the run: a checkpoint
        resumes only a run of the same configuration."""
        exp = self.experiment
        config = {"experiment": exp.name, "dataset": exp.dataset, "preprocess": exp.preprocess,
                  "paper_key": exp.paper_key, "model": exp.model.to_dict(), "train": self.train.to_dict(),
                  "seed": self.seed, "overrides": self.overrides, "description": exp.description}
        if self.world_size > 1:
            config["world_size"] = self.world_size
        return config


def resolve_run(experiment: str | Experiment, seed: int = 0, *, device: str = "cpu", epochs: int | None = None,
                subset: int | None = None, batch_size: int | None = None, precision: str | None = None,
                compile: bool | None = None, data_dir=None, cache_dir=None, results_dir=None,
                download: bool = False) -> Run:
    """The run of `experiment` these arguments ask for. A bad argument is a
    ValueError here, with one line, before any data is read."""
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    check_numbers(seed, epochs, subset, batch_size)
    paths.check_given(data_dir=data_dir, cache_dir=cache_dir, results_dir=results_dir)
    check_subset(exp, subset, batch_size or exp.train.batch_size)
    overrides = run_overrides(exp, epochs, subset, batch_size)
    cfg = replace(exp.train, epochs=epochs or exp.train.epochs, batch_size=batch_size or exp.train.batch_size,
                  precision=precision or exp.train.precision,
                  compile=exp.train.compile if compile is None else compile)
    dev = resolve_device(device)
    resolve_precision(cfg.precision, dev)  # only to refuse an unknown one now: `train` resolves "auto" itself
    if distributed.launched_by_torchrun() and dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    world_size = distributed.world_size()
    if cfg.batch_size % world_size:
        raise ValueError(f"batch size {cfg.batch_size} is not divisible by the {world_size} processes")
    return Run(exp, cfg, seed, subset, overrides, dev, world_size, data_dir, cache_dir, results_dir, download)


def run_overrides(exp: Experiment, epochs: int | None = None, subset: int | None = None,
                  batch_size: int | None = None) -> dict:
    """What a run changes in what is trained, which is part of its name:
    epochs (only where they differ from the experiment's), subset and batch
    size; precision and compile do not change what is trained."""
    return {k: v for k, v in dict(epochs=epochs, subset=subset, batch=batch_size).items()
            if v is not None and not (k == "epochs" and v == exp.train.epochs)}


def valid_seed(seed) -> bool:
    """A seed torch and numpy both take: an integer from 0 to MAX_SEED (not a bool)."""
    return isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= MAX_SEED


def check_seeds(seeds) -> None:
    """A ValueError, with one line, unless `seeds` is a non-empty list of
    valid seeds: every one checked before the first run starts."""
    if not isinstance(seeds, (list, tuple)) or not seeds or not all(valid_seed(s) for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of integers from 0 to {MAX_SEED}, got {seeds!r}")


def check_numbers(seed, epochs=None, subset=None, batch_size=None) -> None:
    """A ValueError, with one line, unless the seed and the numbers given are valid (None: not given)."""
    if not valid_seed(seed):
        raise ValueError(f"seed must be an integer from 0 to {MAX_SEED}, got {seed!r}")
    for name, value in (("epochs", epochs), ("subset", subset), ("batch size", batch_size)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_subset(exp: Experiment, subset: int | None, batch_size: int) -> None:
    """A ValueError, with one line, for a subset the data cannot give (more
    images than the split holds: the run would train on all of them under a
    subset's name) or too small to fill one batch, said before the data is
    read and preprocessed."""
    if subset is None:
        return
    size = data.spec(exp.dataset).train_size
    if subset > size:
        raise ValueError(f"subset {subset} is more than {exp.dataset}'s {size:,} training images: pass at most "
                         f"{size}, or none to train on all of them")
    if subset < batch_size:
        raise ValueError(f"subset {subset} is fewer images than one batch of {batch_size}: pass a subset of "
                         f"{batch_size} or more, or a batch size of {subset} or less")
