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


def test_decoded_arrays_are_cached_and_reused(data_dir, tmp_path, monkeypatch):
    first = data.load_packed("mnist", data_dir, tmp_path)
    cached = list((tmp_path / "decoded").glob("mnist-*.npz"))
    assert len(cached) == 1
    monkeypatch.setattr(data, "_decode_packed", lambda *a: pytest.fail("decoded again instead of read from the cache"))
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


@pytest.fixture
def small_mnist(monkeypatch):
    """The MNIST spec at 20 training and 10 test images, so that a synthetic
    packed file (`_pack`) is a complete dataset."""
    from dataclasses import replace

    monkeypatch.setitem(data.DATASETS, "mnist", replace(data.DATASETS["mnist"], train_size=20, test_size=10))


def _rewrite(path, **changes):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(changes)
    np.savez(path, **arrays)


def _decoded(cache):
    return list((cache / "decoded").glob("*.npz"))


def test_a_synthetic_packed_file_loads_and_caches(small_mnist, tmp_path):
    _pack(tmp_path / "mnist.npz", 20, 10)
    s = data.load_packed("mnist", tmp_path, tmp_path / "cache")
    assert s.train_images.shape == (20, 28, 28, 1) and s.test_labels.tolist() == list(range(10))
    assert len(_decoded(tmp_path / "cache")) == 1


def test_bytes_that_are_not_an_image_name_the_file_split_and_index(small_mnist, tmp_path):
    path = tmp_path / "mnist.npz"
    _pack(path, 20, 10)
    with np.load(path) as z:
        blob, offsets = z["test_bytes"].copy(), z["test_offsets"]
    blob[offsets[3]:offsets[4]] = 7  # image 3 of the test split: no PNG any more
    _rewrite(path, test_bytes=blob)
    with pytest.raises(data.DataError, match=rf"{path}: test image 3 .*is not a readable image.*copy it again"):
        data.load_packed("mnist", tmp_path, tmp_path / "cache")
    assert not _decoded(tmp_path / "cache")


def test_images_of_another_size_name_the_file(small_mnist, tmp_path):
    path = tmp_path / "mnist.npz"
    _pack(path, 20, 10, size=32)
    with pytest.raises(data.DataError, match=rf"{path}: the train split has images \(20, 32, 32, 1\).*"
                                             r"expected \(20, 28, 28, 1\)"):
        data.load_packed("mnist", tmp_path, tmp_path / "cache")
    # one image of another size among the right ones is found while decoding, by index
    _pack(path, 20, 10)
    _pack(tmp_path / "big.npz", 20, 10, size=32)
    with np.load(path) as z, np.load(tmp_path / "big.npz") as big:
        blobs = [z["train_bytes"][a:b] for a, b in zip(z["train_offsets"][:-1], z["train_offsets"][1:])]
        blobs[5] = big["train_bytes"][big["train_offsets"][5]:big["train_offsets"][6]]
    _rewrite(path, train_bytes=np.concatenate(blobs), train_offsets=np.cumsum([0] + [len(b) for b in blobs]))
    with pytest.raises(data.DataError, match=rf"{path}: train image 5 is 32 x 32 pixels, expected 28 x 28"):
        data.load_packed("mnist", tmp_path, tmp_path / "cache")
    assert not _decoded(tmp_path / "cache")


@pytest.mark.parametrize("change, message", [
    (lambda z: {"train_labels": z["train_labels"][:-1]}, r"train split has images \(20, .*labels \(19,\)"),
    (lambda z: {"test_labels": z["test_labels"] + 10}, r"test labels outside 0\.\.9"),
    (lambda z: {"test_labels": z["test_labels"].astype(np.float32)}, "test labels are float32, not integers"),
    (lambda z: {"train_offsets": z["train_offsets"][:-1]}, r"train_offsets do not cut train_bytes into images"),
    (lambda z: {"test_offsets": z["test_offsets"][::-1]}, r"test_offsets do not cut test_bytes"),
    (lambda z: {"classes": z["classes"][:9]}, "9 class names, expected 10"),
])
def test_an_invalid_packed_file_is_refused_before_decoding_and_caching(small_mnist, tmp_path, monkeypatch,
                                                                        change, message):
    path = tmp_path / "mnist.npz"
    _pack(path, 20, 10)
    with np.load(path) as z:
        _rewrite(path, **change(z))
    monkeypatch.setattr(data, "_decode", lambda *a: pytest.fail("decoded an invalid file"))
    with pytest.raises(data.DataError, match=rf"{path}: .*{message}"):
        data.load_packed("mnist", tmp_path, tmp_path / "cache")
    assert not _decoded(tmp_path / "cache")


@pytest.mark.parametrize("tear", [
    lambda arrays: arrays.pop("classes"),                                        # an array missing
    lambda arrays: arrays.update(train_images=arrays["train_images"][:5]),       # not the dataset's shape
])
def test_a_cache_file_missing_an_array_is_decoded_again(small_mnist, tmp_path, tear):
    _pack(tmp_path / "mnist.npz", 20, 10)
    first = data.load_packed("mnist", tmp_path, tmp_path / "cache")
    [cached] = _decoded(tmp_path / "cache")
    with np.load(cached) as z:
        arrays = {k: z[k] for k in z.files}
    tear(arrays)
    np.savez(cached, **arrays)
    again = data.load_packed("mnist", tmp_path, tmp_path / "cache")
    assert again.classes == first.classes and np.array_equal(again.train_images, first.train_images)
    with np.load(cached) as z:
        assert set(z.files) == set(data.CACHE_KEYS) | {data.CACHE_SUM} and len(z["train_images"]) == 20


def test_a_new_dataset_is_one_spec_with_its_reader(monkeypatch, tmp_path):
    """Adding a dataset touches DATASETS only: `load` finds its files, calls
    its reader and checks what it returns against the spec."""
    def read_toy(files):
        x = np.load(files[0])
        return data.OfficialArrays(x[:6], np.arange(6) % 3, x[6:], np.arange(2) % 3, ["a", "b", "c"])

    toy = data.DatasetSpec("toy", 3, (4, 4, 1), 6, 2, None, "Toy", official_files=("toy/images.npy",),
                           read_official=read_toy)
    monkeypatch.setitem(data.DATASETS, "toy", toy)
    (tmp_path / "toy").mkdir()
    np.save(tmp_path / "toy" / "images.npy", np.zeros((8, 4, 4, 1), np.uint8))
    s = data.load("toy", tmp_path)
    assert s.train_images.shape == (6, 4, 4, 1) and s.test_labels.dtype == np.int64 and s.classes[2] == "c"
    with pytest.raises(data.DataError, match="no official files for toy there"):
        data.load("toy", tmp_path / "elsewhere")


def test_every_dataset_has_its_reader_and_files():
    for s in data.DATASETS.values():
        assert callable(s.read_official) and s.official_files and s.torchvision_splits
