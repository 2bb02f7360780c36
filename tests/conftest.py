import os
from dataclasses import replace
from pathlib import Path

import pytest

from nin_repro import data

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    # CI must stay under 25 minutes on the slowest kind of machine: every run
    # lists its slowest tests, so a log shows what to trim (unless --durations is given)
    if config.option.durations is None:
        config.option.durations = 15


def _data_dir() -> Path:
    return Path(os.environ.get("NIN_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = _data_dir()
    if not (path / "mnist.npz").exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide the datasets: {path} has no mnist.npz (set NIN_DATA)")
        pytest.skip(f"no datasets at {path}; set NIN_DATA")
    return path


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """Decoded datasets are cached by checksum, so sharing the user's cache is
    safe and saves ~20 s of decoding; checkpoints of tests go elsewhere."""
    value = os.environ.get("NIN_CACHE")
    return Path(value) if value else tmp_path_factory.mktemp("cache")


@pytest.fixture
def small_mnist(monkeypatch):
    """The MNIST spec at 20 training and 10 test images, so that a synthetic
    packed file (`test_data._pack`) is a complete dataset."""
    monkeypatch.setitem(data.DATASETS, "mnist", replace(data.DATASETS["mnist"], train_size=20, test_size=10))
