"""Read the datasets: verify, decode once, cache uint8 arrays.

Two sources, one result (uint8 images N x H x W x C, int64 labels):
- the packed offline copies (`cifar10.npz`, `mnist.npz`: every image's original
  PNG/JPEG bytes plus offsets, see the data folder's README) in the data
  directory (`--data-dir` or `NIN_DATA`);
- torchvision's official files, downloaded when the user has internet
  (`download=True`) or already lying in the data directory in their official
  layout (`cifar-10-batches-py/`, `cifar-100-python/`, `MNIST/raw/`, SVHN's
  `*_32x32.mat`).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import paths
from .atomic import atomic_path


class DataError(RuntimeError):
    """A dataset file is missing, corrupt or not what it should be."""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    num_classes: int
    image_shape: tuple[int, int, int]  # H, W, C
    train_size: int
    test_size: int
    packed_file: str | None  # offline copy in the data directory, if one exists
    torchvision_class: str


DATASETS = {
    "mnist": DatasetSpec("mnist", 10, (28, 28, 1), 60_000, 10_000, "mnist.npz", "MNIST"),
    "cifar10": DatasetSpec("cifar10", 10, (32, 32, 3), 50_000, 10_000, "cifar10.npz", "CIFAR10"),
    "cifar100": DatasetSpec("cifar100", 100, (32, 32, 3), 50_000, 10_000, None, "CIFAR100"),
    # SVHN: `train` + `extra` less the paper's validation images (`svhn_paper_split`).
    "svhn": DatasetSpec("svhn", 10, (32, 32, 3), 598_388, 26_032, None, "SVHN"),
}


@dataclass
class Splits:
    train_images: np.ndarray  # uint8, N x H x W x C
    train_labels: np.ndarray  # int64, N
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: list[str]
    source: str
    extra: dict = field(default_factory=dict)


def spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return DATASETS[name]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def expected_checksum(path: Path) -> str | None:
    """The file's line in the SHA256SUMS beside it, if there is one."""
    sums = path.parent / "SHA256SUMS"
    if not sums.exists():
        return None
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == path.name:
            return parts[0].lower()
    return None


def verify_checksum(path: Path) -> str:
    digest = sha256(path)
    expected = expected_checksum(path)
    if expected is not None and digest != expected:
        raise DataError(
            f"{path}: SHA-256 is {digest}, but {path.parent / 'SHA256SUMS'} says {expected}. "
            "The file is corrupt or was changed: copy it again from the shared data folder "
            "(or delete it and use --download)."
        )
    return digest


def _decode(encoded: np.ndarray, offsets: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    from PIL import Image

    h, w, c = shape
    out = np.empty((len(offsets) - 1, h, w, c), dtype=np.uint8)
    for i in range(len(offsets) - 1):
        img = Image.open(io.BytesIO(encoded[offsets[i]:offsets[i + 1]].tobytes()))
        arr = np.asarray(img.convert("L" if c == 1 else "RGB"))
        out[i] = arr.reshape(h, w, c)
    return out


def _check_split(s: DatasetSpec, split: str, images: np.ndarray, labels: np.ndarray, where: Path,
                 exact_count: bool = True) -> None:
    """Shapes and labels as the dataset's spec says; the image count too for
    the packed copies (official files may be a user's subset)."""
    n = s.train_size if split == "train" else s.test_size
    shape_ok = images.shape[1:] == s.image_shape and labels.shape == (len(images),)
    if not shape_ok or (exact_count and len(images) != n):
        raise DataError(
            f"{where}: the {split} split has images {images.shape} and labels {labels.shape}, "
            f"expected ({n}, {', '.join(map(str, s.image_shape))}) and ({n},). "
            "The file is not the dataset this project expects: copy it again."
        )
    if labels.min() < 0 or labels.max() >= s.num_classes:
        raise DataError(f"{where}: {split} labels outside 0..{s.num_classes - 1}; copy the file again.")


def load_packed(name: str, data_dir: str | os.PathLike | None = None,
                cache_dir: str | os.PathLike | None = None) -> Splits:
    """Load a packed offline copy; the decoded arrays are cached by checksum."""
    s = spec(name)
    if s.packed_file is None:
        raise DataError(f"there is no packed offline copy of {name}; use its official files (download=True)")
    folder = paths.data_dir(data_dir)
    path = folder / s.packed_file
    if not path.exists():
        raise DataError(
            f"{s.packed_file} not found in {folder}. Point --data-dir / NIN_DATA at the folder "
            "holding the packed datasets (here: ../shared/data), or pass --download to fetch "
            "the official files with torchvision."
        )
    digest = verify_checksum(path)
    cached = paths.cache_dir(cache_dir) / "decoded" / f"{name}-{digest[:16]}.npz"
    if cached.exists():
        try:
            with np.load(cached) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError):
            cached.unlink()  # a torn cache file: decode again below
            return load_packed(name, data_dir, cache_dir)
        classes = [str(c) for c in arrays.pop("classes")]
        source = str(arrays.pop("source"))
    else:
        try:
            with np.load(path, allow_pickle=False) as z:
                raw = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise DataError(f"{path} is not a readable numpy archive ({e}); copy it again.") from e
        missing = {"train_bytes", "train_offsets", "train_labels", "test_bytes", "test_offsets",
                   "test_labels", "classes"} - set(raw)
        if missing:
            raise DataError(f"{path} lacks the arrays {sorted(missing)}; it is not a packed dataset.")
        arrays = {}
        for split in ("train", "test"):
            arrays[f"{split}_images"] = _decode(raw[f"{split}_bytes"], raw[f"{split}_offsets"], s.image_shape)
            arrays[f"{split}_labels"] = raw[f"{split}_labels"].astype(np.int64)
        classes = [str(c) for c in raw["classes"]]
        source = f"{path.name} ({str(raw.get('source', 'unknown source'))}; sha256 {digest[:16]})"
        with atomic_path(cached) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, classes=np.array(classes), source=np.array(source), **arrays)
    for split in ("train", "test"):
        _check_split(s, split, arrays[f"{split}_images"], arrays[f"{split}_labels"], path)
    return Splits(arrays["train_images"], arrays["train_labels"], arrays["test_images"],
                  arrays["test_labels"], classes, source)


# The official files, in the layout torchvision downloads them to.
OFFICIAL_FILES = {
    "mnist": ["MNIST/raw/train-images-idx3-ubyte", "MNIST/raw/train-labels-idx1-ubyte",
              "MNIST/raw/t10k-images-idx3-ubyte", "MNIST/raw/t10k-labels-idx1-ubyte"],
    "cifar10": [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)] + ["cifar-10-batches-py/test_batch",
                                                                             "cifar-10-batches-py/batches.meta"],
    "cifar100": ["cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta"],
    "svhn": ["train_32x32.mat", "extra_32x32.mat", "test_32x32.mat"],
}

# SVHN validation split of the paper (after Goodfellow et al.): 400 images per
# class from `train` and 200 per class from `extra`; the rest is training data.
SVHN_VALID_PER_CLASS = {"train": 400, "extra": 200}


def download_official(name: str, root: Path) -> None:
    """Fetch the official files with torchvision (needs internet)."""
    import torchvision

    cls = getattr(torchvision.datasets, spec(name).torchvision_class)
    if name == "svhn":
        for split in ("train", "extra", "test"):
            cls(str(root), split=split, download=True)
    else:
        for train in (True, False):
            cls(str(root), train=train, download=True)


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")  # the official CIFAR files are Python 2 pickles


def _read_idx(path: Path) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.uint8)
    ndim = raw[3]
    dims = raw[4:4 + 4 * ndim].view(">u4").astype(int)
    return raw[4 + 4 * ndim:].reshape(dims)


def _read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    mat = loadmat(path)
    x = np.ascontiguousarray(mat["X"].transpose(3, 0, 1, 2))  # 32 x 32 x 3 x N -> N x 32 x 32 x 3
    y = mat["y"].reshape(-1).astype(np.int64) % 10            # label 10 means digit 0
    return x, y


def svhn_paper_split(train_labels: np.ndarray, extra_labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices into train+extra (concatenated): (training, validation), the
    validation set being 400 per class from train and 200 per class from extra,
    drawn with a fixed seed."""
    rng = np.random.default_rng(seed)
    valid = []
    for offset, labels, per_class in ((0, train_labels, SVHN_VALID_PER_CLASS["train"]),
                                      (len(train_labels), extra_labels, SVHN_VALID_PER_CLASS["extra"])):
        for c in range(10):
            idx = np.flatnonzero(labels == c)
            if len(idx) < per_class:
                raise DataError(f"SVHN: only {len(idx)} images of class {c} to draw {per_class} validation "
                                "images from; the files are incomplete")
            valid.append(offset + rng.choice(idx, per_class, replace=False))
    valid = np.sort(np.concatenate(valid))
    keep = np.ones(len(train_labels) + len(extra_labels), dtype=bool)
    keep[valid] = False
    return np.flatnonzero(keep), valid


def load_official(name: str, root: str | os.PathLike) -> Splits:
    """The official files under `root` (see OFFICIAL_FILES)."""
    s = spec(name)
    root = Path(root)
    missing = [f for f in OFFICIAL_FILES[name] if not (root / f).exists()]
    if missing:
        raise DataError(f"{name}: official files missing under {root}: {', '.join(missing)}")
    extra = {}
    try:
        if name == "mnist":
            f = [root / p for p in OFFICIAL_FILES[name]]
            tx, ty, vx, vy = (_read_idx(p) for p in f)
            tx, vx = tx[..., None], vx[..., None]
            classes = [str(i) for i in range(10)]
        elif name == "cifar10":
            batches = [_unpickle(root / f"cifar-10-batches-py/data_batch_{i}") for i in range(1, 6)]
            test = _unpickle(root / "cifar-10-batches-py/test_batch")
            tx = np.concatenate([b["data"] for b in batches])
            ty = np.concatenate([b["labels"] for b in batches])
            vx, vy = test["data"], np.asarray(test["labels"])
            classes = list(_unpickle(root / "cifar-10-batches-py/batches.meta")["label_names"])
        elif name == "cifar100":
            train, test = _unpickle(root / "cifar-100-python/train"), _unpickle(root / "cifar-100-python/test")
            tx, ty = train["data"], np.asarray(train["fine_labels"])
            vx, vy = test["data"], np.asarray(test["fine_labels"])
            classes = list(_unpickle(root / "cifar-100-python/meta")["fine_label_names"])
        else:  # svhn
            (trx, trl), (exx, exl), (vx, vy) = (_read_svhn_mat(root / f) for f in OFFICIAL_FILES[name])
            keep, valid = svhn_paper_split(trl, exl)
            allx, ally = np.concatenate([trx, exx]), np.concatenate([trl, exl])
            tx, ty = allx[keep], ally[keep]
            extra = {"validation_images": allx[valid], "validation_labels": ally[valid]}
            classes = [str(i) for i in range(10)]
    except (OSError, ValueError, KeyError, EOFError, pickle.UnpicklingError) as e:
        raise DataError(f"{name}: the official files under {root} are unreadable ({type(e).__name__}: {e}); "
                        "download them again") from e
    if name in ("cifar10", "cifar100"):  # rows of 3072 bytes: 1024 red, 1024 green, 1024 blue
        tx = tx.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        vx = vx.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    out = Splits(np.ascontiguousarray(tx, dtype=np.uint8), ty.astype(np.int64),
                 np.ascontiguousarray(vx, dtype=np.uint8), vy.astype(np.int64), classes,
                 f"official {name} files at {root}", extra)
    _check_split(s, "train", out.train_images, out.train_labels, root, exact_count=False)
    _check_split(s, "test", out.test_images, out.test_labels, root, exact_count=False)
    return out


def load(name: str, data_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
         download: bool = False) -> Splits:
    """The dataset from the data directory: the packed copy if there is one,
    else the official files (fetched into the data directory, or into the
    cache when none is set, with `download`)."""
    s = spec(name)
    if download and not (data_dir or os.environ.get("NIN_DATA")):
        folder = paths.cache_dir(cache_dir) / "official"
    else:
        folder = paths.data_dir(data_dir)
    if s.packed_file and (folder / s.packed_file).exists():
        return load_packed(name, folder, cache_dir)
    if download:
        download_official(name, folder)
    try:
        return load_official(name, folder)
    except DataError as e:
        if "missing" not in str(e):
            raise
        what = f"{s.packed_file} not found in {folder}, nor" if s.packed_file else "no"
        raise DataError(
            f"{name}: {what} official files for {name} there. Point --data-dir / NIN_DATA "
            f"at a folder holding them (here: ../shared/data), or pass --download to fetch them."
        ) from None
