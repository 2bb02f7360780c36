import shutil

import numpy as np
import pytest

from nin_repro import data, experiments, preprocess

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
    # its flags: 86 training and 23 test images could not be recovered losslessly (the README)
    assert (~s.extra["train_lossless"]).sum() == 86 and (~s.extra["test_lossless"]).sum() == 23
    # its test split grouped by class, as Deviations says: a --subset run's test images are spread over it,
    # so that every class is among them (its first 1,280 images hold two classes)
    assert (np.diff(s.test_labels.astype(int)) >= 0).all()
    smoke_test_labels = preprocess._splits(experiments.get("cifar10"), None, None, False, 1280, s)[3]
    assert np.bincount(smoke_test_labels).tolist() == [128] * 10
    assert len(np.unique(s.test_labels[:1280])) == 2
    assert preprocess.test_subset(10, 20).tolist() == list(range(10))  # asked for more: the whole split


@pytest.fixture(scope="session")
def cifar100(data_dir, cache_dir):
    """The real CIFAR-100 copy, decoded once a session (60,000 WebP images:
    ~20 s; after that the shared cache)."""
    return data.load_packed("cifar100", data_dir, cache_dir)


def test_cifar100_counts_per_split_class_and_superclass(cifar100):
    s = cifar100
    assert s.train_images.shape == (50_000, 32, 32, 3) and s.test_images.shape == (10_000, 32, 32, 3)
    assert np.bincount(s.train_labels, minlength=100).tolist() == [500] * 100
    assert np.bincount(s.test_labels, minlength=100).tolist() == [100] * 100
    assert np.bincount(s.extra["train_coarse_labels"]).tolist() == [2500] * 20
    assert np.bincount(s.extra["test_coarse_labels"]).tolist() == [500] * 20
    assert (s.classes[0], s.classes[-1], len(s.classes)) == ("apple", "worm", 100)
    assert s.extra["coarse_classes"][0] == "aquatic_mammals" and len(s.extra["coarse_classes"]) == 20
    assert s.extra["train_lossless"].all() and s.extra["test_lossless"].all()
    # the test split grouped by class, the training split in the official, interleaved order (Deviations)
    assert (np.diff(s.test_labels.astype(int)) >= 0).all() and not (np.diff(s.train_labels.astype(int)) >= 0).all()
    # the official superclasses: seal (72) among the aquatic mammals (0), oak_tree (52) among the trees (17)
    for fine, coarse in ((72, 0), (52, 17)):
        assert set(s.extra["train_coarse_labels"][s.train_labels == fine]) == {coarse}
    # the published per-channel means of the training split (the README: equal to 1e-10)
    means = s.train_images.reshape(-1, 3).mean(0, dtype=np.float64) / 255
    assert np.abs(means - [0.5070752, 0.4865489, 0.4409178]).max() < 1e-7
    assert "cifar100.npz" in s.source and "sha256" in s.source


def test_cifar100_identical_pairs_are_those_the_data_readme_reports(cifar100):
    """The README: 26 pairs of identical images, 14 within the training split,
    2 within the test split, 10 shared between them; 17 labelled differently
    (seal/otter, girl/baby, snake/worm, ...)."""
    pairs = data.identical_pairs(cifar100)
    assert (pairs.total, pairs.within_train, pairs.within_test, pairs.between) == (26, 14, 2, 10)
    assert len(pairs.conflicting) == 17
    names = [p for p, _ in pairs.conflicts()]
    assert {("otter", "seal"), ("baby", "girl"), ("snake", "worm")} <= set(names)
    assert sum(n for _, n in pairs.conflicts()) == 17


def test_identical_pairs_counts_each_pair_of_copies_by_split_and_label():
    img = lambda v: np.full((1, 2, 2, 1), v, np.uint8)  # noqa: E731
    # train: A, A, A (3 pairs within train), B, C; test: B (1 pair between), D, D (1 pair within test)
    s = data.Splits(np.concatenate([img(1), img(1), img(1), img(2), img(3)]), np.array([0, 0, 1, 2, 2]),
                    np.concatenate([img(2), img(4), img(4)]), np.array([1, 3, 3]), ["a", "b", "c", "d"], "toy")
    pairs = data.identical_pairs(s)
    assert (pairs.within_train, pairs.within_test, pairs.between, pairs.total) == (3, 1, 1, 5)
    # labelled differently: two of A's three pairs (a/b), and B across the splits (c/b)
    assert sorted(tuple(sorted(p)) for p in pairs.conflicting) == [("a", "b"), ("a", "b"), ("b", "c")]
    assert pairs.conflicts() == [(("a", "b"), 2), (("b", "c"), 1)]


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


def _rewrite(path, change=None, **changes):
    """Save the .npz at `path` again with `changes` to its arrays, and
    `change` applied to the dict of them (in place)."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(changes)
    if change:
        change(arrays)
    np.savez(path, **arrays)


def _decoded(cache):
    return list((cache / "decoded").glob("*.npz"))


def _edit_decoded(cache, change):
    """Rewrite the one decoded file in `cache` with `change` applied to its
    arrays (a dict, changed in place), as a damaged cache would be; its path."""
    [cached] = _decoded(cache)
    _rewrite(cached, change)
    return cached


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
    cached = _edit_decoded(tmp_path / "cache", tear)
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
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(data.MissingDataError, match=f"no official files for toy in {tmp_path / 'elsewhere'}"):
        data.load("toy", tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError, match=f"data folder {tmp_path / 'nowhere'} does not exist"):
        data.load("toy", tmp_path / "nowhere")


def test_every_dataset_has_its_reader_and_files():
    for s in data.DATASETS.values():
        assert callable(s.read_official) and s.official_files and s.torchvision_splits


def _pack_cifar100(path, n_train=200, n_test=100):
    """A packed CIFAR-100 as the shared copy is: lossless WebP images, fine
    labels and their superclasses (fine class c in superclass c % 20), lossless flags."""
    import io
    from PIL import Image

    def split(n):
        blobs = []
        for i in range(n):
            buf = io.BytesIO()
            Image.fromarray(np.full((32, 32, 3), (i % 255, 7, 200), np.uint8)).save(buf, format="WEBP", lossless=True)
            blobs.append(np.frombuffer(buf.getvalue(), np.uint8))
        fine = (np.arange(n) % 100).astype(np.uint8)
        return np.concatenate(blobs), np.cumsum([0] + [len(b) for b in blobs]), fine, fine % 20, np.ones(n, bool)

    arrays = {}
    for name, n in (("train", n_train), ("test", n_test)):
        arrays.update(zip((f"{name}_{k}" for k in ("bytes", "offsets", "labels", "coarse_labels", "lossless")),
                          split(n)))
    np.savez(path, **arrays, classes=np.array([f"fine{i}" for i in range(100)]),
             coarse_classes=np.array([f"coarse{i}" for i in range(20)]), encoding=np.array("webp"),
             source=np.array("synthetic"))


@pytest.fixture
def small_cifar100(monkeypatch):
    """The CIFAR-100 spec at 200 training and 100 test images (`_pack_cifar100`'s)."""
    from dataclasses import replace

    monkeypatch.setitem(data.DATASETS, "cifar100", replace(data.DATASETS["cifar100"], train_size=200, test_size=100))


def test_a_packed_cifar100_keeps_its_superclasses_and_lossless_flags(small_cifar100, tmp_path):
    _pack_cifar100(tmp_path / "cifar100.npz")
    for _ in range(2):  # decoded, then read back from the cache: the same
        s = data.load("cifar100", tmp_path, tmp_path / "cache")
        assert s.train_images.shape == (200, 32, 32, 3) and s.train_images[3, 5, 5].tolist() == [3, 7, 200]
        assert s.extra["train_coarse_labels"].dtype == np.int64
        assert s.extra["test_coarse_labels"].tolist() == (np.arange(100) % 20).tolist()
        assert s.extra["coarse_classes"][19] == "coarse19" and s.extra["test_lossless"].all()
    assert len(_decoded(tmp_path / "cache")) == 1


@pytest.mark.parametrize("change, message", [
    (lambda z: {"train_coarse_labels": z["train_coarse_labels"] + 20}, r"train coarse labels outside 0\.\.19"),
    (lambda z: {"test_coarse_labels": z["test_coarse_labels"][:-1]},
     r"test_coarse_labels is uint8 \(99,\), expected \(100,\) integers"),
    (lambda z: {"test_coarse_labels": np.where(np.arange(100) == 5, 6, z["test_coarse_labels"])},
     r"fine class 5 lies in 2 superclasses \[5, 6\], expected exactly one"),
    (lambda z: {"coarse_classes": z["coarse_classes"][:19]}, "19 superclass names, expected 20"),
    (lambda z: {"train_lossless": z["train_lossless"].astype(np.uint8)},
     r"train_lossless is uint8 \(200,\), expected \(200,\) booleans"),
    (lambda z: {"test_labels": z["test_labels"] + 100}, r"test labels outside 0\.\.99"),
    (lambda z: {"classes": z["classes"][:10]}, "10 class names, expected 100"),
    (lambda z: {"encoding": np.array("gif")}, "its images are encoded as 'gif', none of png, jpeg, webp"),
])
def test_an_invalid_packed_cifar100_is_refused_before_decoding_and_caching(small_cifar100, tmp_path, monkeypatch,
                                                                           change, message):
    path = tmp_path / "cifar100.npz"
    _pack_cifar100(path)
    with np.load(path) as z:
        _rewrite(path, **change(z))
    monkeypatch.setattr(data, "_decode", lambda *a: pytest.fail("decoded an invalid file"))
    with pytest.raises(data.DataError, match=rf"^{path}: .*{message}.*copy (it|the file) again\.$"):
        data.load_packed("cifar100", tmp_path, tmp_path / "cache")
    assert not _decoded(tmp_path / "cache")


def test_a_packed_cifar100_without_its_superclasses_is_no_packed_dataset(small_cifar100, tmp_path):
    path = tmp_path / "cifar100.npz"
    _pack_cifar100(path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != "train_coarse_labels"}
    np.savez(path, **arrays)
    with pytest.raises(data.DataError, match=r"lacks the arrays \['train_coarse_labels'\]"):
        data.load_packed("cifar100", tmp_path, tmp_path / "cache")


def test_webp_bytes_that_are_not_an_image_name_the_split_and_index(small_cifar100, tmp_path):
    path = tmp_path / "cifar100.npz"
    _pack_cifar100(path)
    with np.load(path) as z:
        blob, offsets = z["train_bytes"].copy(), z["train_offsets"]
    blob[offsets[150] + 12:offsets[151]] = 0  # past the RIFF header of training image 150
    _rewrite(path, train_bytes=blob)
    with pytest.raises(data.DataError, match=rf"^{path}: train image 150 .*is not a readable image.*copy it again"):
        data.load_packed("cifar100", tmp_path, tmp_path / "cache")
    assert not _decoded(tmp_path / "cache")


def test_webp_images_without_webp_support_in_pillow_say_what_to_install(small_cifar100, tmp_path, monkeypatch):
    from PIL import features

    _pack_cifar100(tmp_path / "cifar100.npz")
    monkeypatch.setattr(features, "check", lambda feature: feature != "webp")
    with pytest.raises(data.DataError, match=r"holds WEBP images, but this Pillow .* without WEBP support: install"):
        data.load_packed("cifar100", tmp_path, tmp_path / "cache")


def test_a_cached_cifar100_missing_its_superclasses_is_decoded_again(small_cifar100, tmp_path):
    _pack_cifar100(tmp_path / "cifar100.npz")
    data.load_packed("cifar100", tmp_path, tmp_path / "cache")
    [cached] = _decoded(tmp_path / "cache")
    with np.load(cached) as z:
        arrays = {k: z[k] for k in z.files if k != "test_coarse_labels"}
    np.savez(cached, **arrays)
    again = data.load_packed("cifar100", tmp_path, tmp_path / "cache")
    assert again.extra["test_coarse_labels"].tolist() == (np.arange(100) % 20).tolist()
    with np.load(cached) as z:
        assert "test_coarse_labels" in z.files
