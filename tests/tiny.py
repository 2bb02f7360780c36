"""A small MNIST experiment that trains in seconds on 2 cores, importable by
the tests and runnable as a script (for tests that kill or launch processes:
`python tests/tiny.py NAME ...`, or under torchrun)."""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nin_repro import experiments  # noqa: E402
from nin_repro.experiments import TrainConfig  # noqa: E402

TINY_MODEL = replace(experiments.MNIST_MODEL, block1=(16, 16, 16), block2=(16, 16, 16), block3=(16, 16),
                     dropout=0.0)


def tiny(name, dropout=0.0, **train_kw):
    kw = dict(epochs=2, batch_size=32, lr=0.05, warmup_epochs=0.5)
    kw.update(train_kw)
    return replace(experiments.get("mnist"), name=name, model=replace(TINY_MODEL, dropout=dropout),
                   train=TrainConfig(**kw))


def main():
    from nin_repro.run_config import resolve_run
    from nin_repro.train import train

    p = argparse.ArgumentParser()
    p.add_argument("name")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--subset", type=int, default=1024)
    p.add_argument("--data-dir")
    p.add_argument("--cache-dir")
    p.add_argument("--results-dir")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--precision", default="auto")
    a = p.parse_args()
    exp = tiny(a.name, dropout=a.dropout, epochs=a.epochs, batch_size=a.batch_size, precision=a.precision)
    from nin_repro.cli import stop_on_sigterm
    from nin_repro.distributed import shutdown

    stop_on_sigterm()  # as the command line does

    run = resolve_run(exp, subset=a.subset, data_dir=a.data_dir, cache_dir=a.cache_dir, results_dir=a.results_dir)
    train(run, resume=a.resume, progress=False)
    shutdown()


if __name__ == "__main__":
    main()


def frozen_clock():
    """A stand-in for a module's `time` whose wall clock never moves (timers
    still run): a budget then passes only by the run's own forecast."""
    import time
    from types import SimpleNamespace

    now = time.time()
    return SimpleNamespace(time=lambda: now, perf_counter=time.perf_counter, strftime=time.strftime)
