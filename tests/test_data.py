import shutil

import numpy as np
import pytest

from nin_repro import data

MNIST_TRAIN_PER_CLASS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_PER_CLASS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_counts_per_split_and_class(data_dir, cache_dir):
    s = data.load_packed("mnist", data_dir, cache_dir)
    assert s.train_images.shape == (60_000, 28, 28, 1) and s.test_images.shape == (10_000, 28, 28, 1)
    assert np.bincount(s.train_labels).tolist() == MNIST_TRAIN_PER_CLASS
    assert np.bincount(s.test_labels).tolist() == MNIST_TEST_PER_CLASS
    assert s.train_images.dtype == np.uint8 and 0 < s.train_images.mean() < 255


def test_cifar10_counts_per_split_and_class(data_dir, cache_dir):
    s = data.load_packed("cifar10", data_dir, cache_dir)
    assert s.train_images.shape == (50_000, 32, 32, 3) and s.test_images.shape == (10_000, 32, 32, 3)
    assert np.bincount(s.train_labels).tolist() == [5000] * 10
    assert np.bincount(s.test_labels).tolist() == [1000] * 10
    assert s.classes[0] == "airplane" and len(s.classes) == 10
    # the README's statistics of this copy: mean 0.473, std 0.250 over all channels
    assert abs(s.train_images.mean() / 255 - 0.473) < 0.01


def test_decoded_arrays_are_cached_and_reused(data_dir, tmp_path):
    first = data.load_packed("mnist", data_dir, tmp_path)
    cached = list((tmp_path / "decoded").glob("mnist-*.npz"))
    assert len(cached) == 1
    second = data.load_packed("mnist", data_dir, tmp_path)
    assert np.array_equal(first.test_images, second.test_images)


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(data.DataError, match="known datasets: mnist, cifar10"):
        data.load("imagenet", "/nonexistent")


def test_missing_file_says_where_it_looked_and_what_to_do(tmp_path):
    with pytest.raises(data.DataError, match=f"mnist.npz not found in {tmp_path}.*--download"):
        data.load_packed("mnist", tmp_path, tmp_path)


def test_missing_data_dir_setting_is_explained(monkeypatch):
    monkeypatch.delenv("NIN_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="NIN_DATA"):
        data.load("mnist")


def test_checksum_mismatch_is_reported(data_dir, tmp_path):
    shutil.copy(data_dir / "mnist.npz", tmp_path / "mnist.npz")
    (tmp_path / "SHA256SUMS").write_text("0" * 64 + "  mnist.npz\n")
    with pytest.raises(data.DataError, match="SHA-256.*corrupt"):
        data.load_packed("mnist", tmp_path, tmp_path)


def test_corrupt_archive_is_reported(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(data.DataError, match="not a readable numpy archive"):
        data.load_packed("mnist", tmp_path, tmp_path)


def _pack(path, n_train, n_test, size=28):
    import io
    from PIL import Image

    def split(n):
        blobs = []
        for i in range(n):
            buf = io.BytesIO()
            Image.fromarray(np.full((size, size), i % 255, np.uint8)).save(buf, format="PNG")
            blobs.append(np.frombuffer(buf.getvalue(), np.uint8))
        offsets = np.cumsum([0] + [len(b) for b in blobs])
        return np.concatenate(blobs), offsets, (np.arange(n) % 10).astype(np.uint8)

    tb, to, tl = split(n_train)
    sb, so, sl = split(n_test)
    np.savez(path, train_bytes=tb, train_offsets=to, train_labels=tl, test_bytes=sb, test_offsets=so,
             test_labels=sl, classes=np.array([str(i) for i in range(10)]), encoding=np.array("png"),
             source=np.array("synthetic"))


def test_wrong_shape_is_reported(tmp_path):
    _pack(tmp_path / "mnist.npz", 20, 10)
    with pytest.raises(data.DataError, match=r"train split has images \(20, 28, 28, 1\).*expected \(60000"):
        data.load_packed("mnist", tmp_path, tmp_path)
