"""The official file formats (what torchvision downloads), on small synthetic
files: CIFAR-10/100 python pickles, MNIST idx, SVHN .mat with the paper's
train/extra validation split. No offline copy of SVHN exists here, so these
are the tests of its path."""

import pickle

import numpy as np
import pytest

from nin_repro import data, experiments

rng = np.random.default_rng(0)


def cifar_rows(n):
    """Images whose red channel is 200, green 100, blue 0, as 3072-byte rows."""
    img = np.zeros((n, 3, 32, 32), np.uint8)
    img[:, 0], img[:, 1] = 200, 100
    img[:, 0, 0, 0] = np.arange(n) % 256  # a per-image marker in the top-left red pixel
    return img.reshape(n, 3072)


def write_cifar100(root, n_train=300, n_test=100):
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for split, n in (("train", n_train), ("test", n_test)):
        with open(folder / split, "wb") as f:
            pickle.dump({"data": cifar_rows(n), "fine_labels": list(np.arange(n) % 100),
                         "coarse_labels": list(np.arange(n) % 20)}, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"class{i}" for i in range(100)]}, f)


def write_cifar10(root, n=60):
    """Five training batches and a test batch; each batch's images carry its
    number in the green channel and its labels start at its number, so the
    order in which the batches are joined shows."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for b, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], start=1):
        rows = cifar_rows(n).reshape(n, 3, 32, 32)
        rows[:, 1] = b
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rows.reshape(n, 3072), "labels": list((np.arange(n) + b) % 10)}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                     "ship", "truck"]}, f)


def write_idx(path, array):
    header = np.array([0, 0, 8, array.ndim], np.uint8).tobytes() + np.array(array.shape, ">u4").tobytes()
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_svhn(root, per_class_train=410, per_class_extra=205, n_test=50):
    from scipy.io import savemat

    root.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", 10 * per_class_train), ("extra", 10 * per_class_extra), ("test", n_test)):
        labels = np.arange(n) % 10 + 1  # the official files label digit 0 as 10
        x = np.zeros((32, 32, 3, n), np.uint8)
        x[:, :, 0, :] = (labels % 10) * 20  # red channel encodes the digit
        x[0, 1, 2, :] = 77                  # row 0, column 1, blue: checks the axis order
        savemat(root / f"{name}_32x32.mat", {"X": x, "y": labels.reshape(-1, 1)})


def test_cifar100_official_pickles(tmp_path):
    write_cifar100(tmp_path)
    s = data.load("cifar100", tmp_path)
    assert s.train_images.shape == (300, 32, 32, 3) and s.test_images.shape == (100, 32, 32, 3)
    assert (s.train_images[..., 0] >= 0).all() and s.train_images[5, 10, 10].tolist() == [200, 100, 0]
    assert s.train_images[7, 0, 0, 0] == 7  # rows are read as channel planes, then moved to H x W x C
    assert s.train_labels.max() == 99 and len(s.classes) == 100 and s.classes[3] == "class3"


def test_cifar10_official_pickles(tmp_path):
    write_cifar10(tmp_path)
    s = data.load("cifar10", tmp_path)
    assert s.train_images.shape == (300, 32, 32, 3) and s.classes[-1] == "truck"
    assert s.train_images[::60, 5, 5, 1].tolist() == [1, 2, 3, 4, 5]  # data_batch_1 to _5, in order
    assert s.test_images[:, 5, 5, 1].tolist() == [6] * 60 and s.test_images.shape == (60, 32, 32, 3)
    assert s.train_labels[:3].tolist() == [1, 2, 3] and s.train_labels[60:63].tolist() == [2, 3, 4]
    assert s.test_labels[:3].tolist() == [6, 7, 8]
    assert s.train_images[7, 0, 0, 0] == 7 and s.train_images[5, 10, 10, 0] == 200


def test_mnist_official_idx(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    imgs = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    write_idx(raw / "train-images-idx3-ubyte", imgs)
    write_idx(raw / "train-labels-idx1-ubyte", np.arange(30) % 10)
    write_idx(raw / "t10k-images-idx3-ubyte", imgs[:10])
    write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(10))
    s = data.load("mnist", tmp_path)
    assert s.train_images.shape == (30, 28, 28, 1) and np.array_equal(s.train_images[..., 0], imgs)
    assert s.test_labels.tolist() == list(range(10))


def test_svhn_official_mat_and_the_papers_validation_split(tmp_path):
    write_svhn(tmp_path)
    s = data.load("svhn", tmp_path)
    # validation: 400 per class from train, 200 per class from extra; the rest trains
    assert len(s.extra["validation_labels"]) == 6000
    assert np.bincount(s.extra["validation_labels"]).tolist() == [600] * 10
    assert len(s.train_labels) == 10 * (410 + 205) - 6000
    assert s.train_images.shape[1:] == (32, 32, 3) and s.test_images.shape == (50, 32, 32, 3)
    # label 10 is digit 0, and the image axes are in place
    assert set(s.train_labels.tolist()) == set(range(10))
    assert all(s.train_images[i, 5, 5, 0] == s.train_labels[i] * 20 for i in range(len(s.train_labels)))
    assert (s.train_images[:, 0, 1, 2] == 77).all()


def test_svhn_split_is_deterministic_and_disjoint():
    train, extra = np.arange(4100) % 10, np.arange(2050) % 10
    keep1, valid1 = data.svhn_paper_split(train, extra)
    keep2, valid2 = data.svhn_paper_split(train, extra)
    assert np.array_equal(valid1, valid2) and not set(keep1) & set(valid1)
    assert len(keep1) + len(valid1) == 6150


def test_svhn_split_refuses_too_few_images():
    with pytest.raises(data.DataError, match="only 10 images of class"):
        data.svhn_paper_split(np.arange(100) % 10, np.arange(2000) % 10)


def test_missing_official_files_say_what_to_do(tmp_path):
    # the folder it looked in, and a remedy every command can follow (only `train` has --download)
    with pytest.raises(data.MissingDataError, match=rf"svhn: no official files for svhn in {tmp_path}\. .*"
                                                    r"`nin-repro train \.\.\. --download` fetches them"):
        data.load("svhn", tmp_path)
    # a dataset with a packed copy names it too
    with pytest.raises(data.MissingDataError, match=rf"cifar100.npz not found in {tmp_path}, nor its official "
                                                    r"files\. .*--download"):
        data.load("cifar100", tmp_path)
    # some of the files there: the message names those missing, not "no official files"
    (tmp_path / "train_32x32.mat").write_bytes(b"")
    with pytest.raises(data.MissingDataError, match=rf"official files missing under {tmp_path}: "
                                                    r"extra_32x32\.mat, test_32x32\.mat"):
        data.load("svhn", tmp_path)


def test_corrupt_official_file_is_reported(tmp_path):
    write_cifar100(tmp_path)
    (tmp_path / "cifar-100-python" / "train").write_bytes(b"not a pickle")
    with pytest.raises(data.DataError, match="unreadable"):
        data.load("cifar100", tmp_path)


@pytest.mark.parametrize("experiment, writer", [("cifar100", write_cifar100), ("svhn", write_svhn),
                                                 ("svhn_full", write_svhn)])
def test_the_table_experiments_train_on_the_official_format(experiment, writer, tmp_path):
    from nin_repro.run_config import resolve_run
    from nin_repro.train import train

    writer(tmp_path / "data")
    run = resolve_run(experiment, epochs=1, subset=128, data_dir=tmp_path / "data", cache_dir=tmp_path / "cache",
                      results_dir=tmp_path / "results")
    record = train(run, progress=False, log=lambda *_: None)
    assert record["dataset"] == experiment.removesuffix("_full") and len(record["history"]) == 1
    assert record["parameters"] == (984_356 if experiment == "cifar100" else 1_986_026)  # svhn_def
    # its own recipe (rates, warm-up, tests), cut to one epoch
    length = ("epochs", "milestones", "lr_drop_epochs")
    assert {k: v for k, v in record["config"]["train"].items() if k not in length} == \
        {k: v for k, v in experiments.get(experiment).train.to_dict().items() if k not in length}


def test_a_subset_larger_than_a_users_own_official_files_is_refused_before_training(tmp_path, monkeypatch):
    """Official files may hold fewer images than the dataset (a user's own
    set): a subset beyond them would train on all of them under its name."""
    import nin_repro.train as train_module
    from nin_repro.run_config import resolve_run

    write_cifar10(tmp_path / "data")  # 5 batches of 60: 300 training images
    monkeypatch.setattr(train_module, "train_epoch", lambda *a, **k: pytest.fail("an epoch was trained"))
    run = resolve_run("cifar10", epochs=1, subset=400, data_dir=tmp_path / "data", cache_dir=tmp_path / "cache",
                      results_dir=tmp_path / "results")
    with pytest.raises(ValueError, match="subset 400 is more than the 300 training images in the data "
                                         r"\(official cifar10 files at .*\): pass at most 300"):
        train_module.train(run, progress=False, log=lambda *_: None)
    assert not (tmp_path / "results" / "runs").exists()
