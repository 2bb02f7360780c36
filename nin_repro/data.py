"""Read the datasets: verify, decode once, cache uint8 arrays.

Two sources, one result (uint8 images N x H x W x C, int64 labels):
- the packed offline copies (`cifar10.npz`, `cifar100.npz`, `mnist.npz`: every
  image's original PNG/JPEG/WebP bytes plus offsets, see the data folder's
  README) in the data directory (`--data-dir` or `NIN_DATA`);
- torchvision's official files, downloaded when the user has internet
  (`download=True`) or already lying in the data directory in their official
  layout (`cifar-10-batches-py/`, `cifar-100-python/`, `MNIST/raw/`, SVHN's
  `*_32x32.mat`).
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import pickle
import urllib.error
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
from PIL import Image, __version__, features

from . import paths
from .atomic import atomic_path
from .errors import NinReproError


class DataError(NinReproError, RuntimeError):
    """A dataset file is missing, corrupt or not what it should be."""


class MissingDataError(DataError):
    """A dataset's files are not in the data folder (as opposed to there but
    corrupt): `summary` says which, in a few words, without the remedy."""

    def __init__(self, summary: str, remedy: str):
        super().__init__(f"{summary}. {remedy}")
        self.summary = summary


# What to do about a missing dataset, in every command: only `train` has --download.
FETCH_HINT = ("Point --data-dir / NIN_DATA at the folder holding the packed datasets (here: ../shared/data), or at "
              "one holding the official files (with internet, `nin-repro train ... --download` fetches them)")


def existing_data_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The data folder given (`data_dir`, else NIN_DATA), which must be a
    folder that exists: a mistyped one is said before anything runs. None
    where none is given (the commands that read data say what to pass)."""
    if data_dir is None and not os.environ.get("NIN_DATA"):
        return None
    return paths.existing_folder(paths.data_dir(data_dir), "data", "--data-dir (default: NIN_DATA)")


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset, with everything that reads it: adding a dataset is adding
    one of these (and its reader), nothing else."""
    name: str
    num_classes: int
    image_shape: tuple[int, int, int]  # H, W, C
    train_size: int
    test_size: int
    packed_file: str | None  # offline copy in the data directory, if one exists
    torchvision_class: str
    # The official files, in the layout torchvision downloads them to, and
    # the function reading them: (paths of official_files) -> OfficialArrays.
    official_files: tuple[str, ...]
    read_official: Callable[[list[Path]], "OfficialArrays"]
    # One torchvision constructor keyword per split to download: (keyword, value).
    torchvision_splits: tuple[tuple[str, object], ...] = (("train", True), ("train", False))
    # What the packed copy holds beside images and labels, kept in
    # `Splits.extra` and checked before decoding: per-image `*_lossless` flags
    # (CIFAR-10's copy has 109 lossy images), and for CIFAR-100 its
    # superclasses (`*_coarse_labels`, `coarse_classes`: this many of them,
    # each fine class inside exactly one).
    lossless_flags: bool = False
    coarse_classes: int = 0

    def packed_extra(self) -> tuple[str, ...]:
        """The arrays of the packed copy (and its decoded cache) kept in `Splits.extra`."""
        return (("train_lossless", "test_lossless") if self.lossless_flags else ()) + \
            (("train_coarse_labels", "test_coarse_labels", "coarse_classes") if self.coarse_classes else ())


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
    try:
        lines = sums.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{sums} is no list of checksums (not text): copy it again from the shared data folder, "
                        "or delete it to load the data unchecked") from None
    for line in lines:
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
            "(or delete it and fetch the official files: `nin-repro train ... --download`, with internet)."
        )
    return digest


# The arrays of a packed copy (see the data folder's README), and of its decoded cache.
PACKED_KEYS = ("train_bytes", "train_offsets", "train_labels", "test_bytes", "test_offsets", "test_labels", "classes")
CACHE_KEYS = ("train_images", "train_labels", "test_images", "test_labels", "classes", "source")


def _decode_one(encoded: np.ndarray, offsets: np.ndarray, i: int, channels: int, where: Path,
                split: str) -> np.ndarray:
    """Image `i` of a packed split, H x W x `channels` uint8."""
    try:
        img = Image.open(io.BytesIO(encoded[offsets[i]:offsets[i + 1]].tobytes()))
        arr = np.asarray(img.convert("L" if channels == 1 else "RGB"))
    except Exception as e:  # whatever Pillow raises, these bytes are no image it can read
        raise DataError(f"{where}: {split} image {i} (bytes {offsets[i]}..{offsets[i + 1]}) is not a readable "
                        f"image ({type(e).__name__}: {e}); the file is corrupt: copy it again.") from e
    return arr.reshape(*arr.shape[:2], channels)


def _decode(encoded: np.ndarray, offsets: np.ndarray, s: DatasetSpec, where: Path, split: str) -> np.ndarray:
    h, w, c = s.image_shape
    out = np.empty((len(offsets) - 1, h, w, c), dtype=np.uint8)
    for i in range(len(out)):
        arr = _decode_one(encoded, offsets, i, c, where, split)
        if arr.shape != (h, w, c):
            raise DataError(f"{where}: {split} image {i} is {arr.shape[0]} x {arr.shape[1]} pixels, expected "
                            f"{h} x {w} as every {s.name} image. The file is not the dataset this project "
                            "expects: copy it again.")
        out[i] = arr
    return out


def _check_split(s: DatasetSpec, split: str, images_shape: tuple[int, ...], labels: np.ndarray, where: Path,
                 exact_count: bool = True) -> None:
    """Shapes and labels as the dataset's spec says; the image count too for
    the packed copies (official files may be a user's subset)."""
    n = s.train_size if split == "train" else s.test_size
    images_shape = tuple(images_shape)
    shape_ok = images_shape[1:] == s.image_shape and labels.shape == images_shape[:1]
    if not shape_ok or (exact_count and images_shape[0] != n):
        raise DataError(
            f"{where}: the {split} split has images {images_shape} and labels {labels.shape}, "
            f"expected ({n}, {', '.join(map(str, s.image_shape))}) and ({n},). "
            "The file is not the dataset this project expects: copy it again."
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where}: {split} labels are {labels.dtype}, not integers; copy the file again.")
    if labels.size and (labels.min() < 0 or labels.max() >= s.num_classes):
        raise DataError(f"{where}: {split} labels outside 0..{s.num_classes - 1}; copy the file again.")


def _check_packed(s: DatasetSpec, raw: dict, path: Path) -> None:
    """What can be checked before decoding (seconds) and caching (55 MB for
    CIFAR-10): the offsets, the counts, the labels, the class names and each
    split's first image."""
    for split in ("train", "test"):
        encoded, offsets, labels = (raw[f"{split}_{k}"] for k in ("bytes", "offsets", "labels"))
        if (encoded.ndim != 1 or offsets.ndim != 1 or not len(offsets) or not np.issubdtype(offsets.dtype, np.integer)
                or offsets[0] != 0 or offsets[-1] != encoded.size or (np.diff(offsets) <= 0).any()):
            raise DataError(f"{path}: {split}_offsets do not cut {split}_bytes into images (they must rise from 0 "
                            f"to its length, {encoded.size}); the file is corrupt: copy it again.")
        count = len(offsets) - 1
        first = _decode_one(encoded, offsets, 0, s.image_shape[2], path, split).shape if count else s.image_shape
        _check_split(s, split, (count, *first), labels, path)
    if raw["classes"].shape != (s.num_classes,):
        raise DataError(f"{path}: {raw['classes'].size} class names, expected {s.num_classes}; "
                        "it is not the dataset this project expects: copy it again.")
    _check_extra(s, raw, path)


# The encodings a packed copy may hold (the data folder's README), by the
# Pillow feature that decodes each (None: every Pillow build has it).
ENCODINGS = {"png": None, "jpeg": None, "webp": "webp"}


def _check_encoding(raw: dict, path: Path) -> None:
    """A packed copy's `encoding` is one this Pillow decodes: a Pillow built
    without libwebp would otherwise report every WebP image as corrupt."""
    if "encoding" not in raw:
        return  # the images themselves say what they are; Pillow reads them or names the one it cannot
    encoding = str(raw["encoding"])
    if encoding not in ENCODINGS:
        raise DataError(f"{path}: its images are encoded as {encoding!r}, none of {', '.join(ENCODINGS)}; "
                        "it is not a packed dataset of this project: copy it again.")
    if ENCODINGS[encoding] and not features.check(ENCODINGS[encoding]):
        raise DataError(f"{path} holds {encoding.upper()} images, but this Pillow ({__version__}) was built "
                        f"without {encoding.upper()} support: install a Pillow wheel that has it "
                        "(pip install --force-reinstall pillow).")


def _check_extra(s: DatasetSpec, arrays: dict, where: Path) -> None:
    """The arrays of `s.packed_extra()` (in a packed copy or its decoded
    cache, beside the checked `*_labels`): one lossless flag per image; one
    superclass per image, in range, with its names, and every fine class
    inside exactly one superclass (as in the official files)."""
    for split in ("train", "test"):
        n = len(arrays[f"{split}_labels"])
        if s.lossless_flags:
            flags = arrays[f"{split}_lossless"]
            if flags.dtype != bool or flags.shape != (n,):
                raise DataError(f"{where}: {split}_lossless is {flags.dtype} {flags.shape}, expected ({n},) "
                                "booleans, one per image; the file is corrupt: copy it again.")
        if s.coarse_classes:
            coarse = arrays[f"{split}_coarse_labels"]
            if not np.issubdtype(coarse.dtype, np.integer) or coarse.shape != (n,):
                raise DataError(f"{where}: {split}_coarse_labels is {coarse.dtype} {coarse.shape}, expected ({n},) "
                                "integers, one per image; the file is corrupt: copy it again.")
            if n and (coarse.min() < 0 or coarse.max() >= s.coarse_classes):
                raise DataError(f"{where}: {split} coarse labels outside 0..{s.coarse_classes - 1}; "
                                "the file is corrupt: copy it again.")
    if not s.coarse_classes:
        return
    if arrays["coarse_classes"].shape != (s.coarse_classes,):
        raise DataError(f"{where}: {arrays['coarse_classes'].size} superclass names, expected {s.coarse_classes}; "
                        "it is not the dataset this project expects: copy it again.")
    fine = np.concatenate([arrays["train_labels"], arrays["test_labels"]]).astype(np.int64)
    coarse = np.concatenate([arrays["train_coarse_labels"], arrays["test_coarse_labels"]]).astype(np.int64)
    pairs = np.unique(fine * s.coarse_classes + coarse)  # each (fine, coarse) pair that occurs
    per_fine = np.bincount(pairs // s.coarse_classes, minlength=s.num_classes)
    if (per_fine != 1).any():
        c = int(np.flatnonzero(per_fine != 1)[0])
        inside = (pairs[pairs // s.coarse_classes == c] % s.coarse_classes).tolist()
        raise DataError(f"{where}: fine class {c} lies in {len(inside)} superclasses {inside}, expected exactly "
                        "one; the file is corrupt: copy it again.")


def _decode_packed(s: DatasetSpec, path: Path, digest: str) -> dict:
    """The packed copy at `path`, checked, decoded into the cache's arrays."""
    try:
        with np.load(path, allow_pickle=False) as z:
            raw = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"{path} is not a readable numpy archive ({e}); copy it again.") from e
    missing = set(PACKED_KEYS + s.packed_extra()) - set(raw)
    if missing:
        raise DataError(f"{path} lacks the arrays {sorted(missing)}; it is not a packed dataset.")
    _check_encoding(raw, path)
    _check_packed(s, raw, path)
    arrays = {}
    for split in ("train", "test"):
        arrays[f"{split}_images"] = _decode(raw[f"{split}_bytes"], raw[f"{split}_offsets"], s, path, split)
        arrays[f"{split}_labels"] = raw[f"{split}_labels"].astype(np.int64)
    arrays["classes"] = np.array([str(c) for c in raw["classes"]])
    for key in s.packed_extra():
        arrays[key] = raw[key].astype(np.int64) if key.endswith("_labels") else raw[key]
    arrays["source"] = np.array(f"{path.name} ({str(raw.get('source', 'unknown source'))}; sha256 {digest[:16]})")
    return arrays


CACHE_SUM = "arrays_sha256"  # the cache's own array: the checksum of all the others


def _arrays_sha256(arrays: dict) -> str:
    """SHA-256 of a decoded cache's arrays: each one's name, dtype, shape and bytes."""
    h = hashlib.sha256()
    for key in sorted(k for k in arrays if k != CACHE_SUM):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key} {a.dtype.str} {a.shape}\n".encode())
        h.update(a.tobytes() if a.dtype.kind in "US" else memoryview(a).cast("B"))
    return h.hexdigest()


def _read_cache(cached: Path, s: DatasetSpec) -> dict | None:
    """The decoded arrays, or None if the cache file is torn, stale or
    changed (unreadable, an array missing, not the dataset's shapes or
    dtypes, not the checksum it was written with): decoded again. Its
    shapes alone would pass a cache whose images were zeroed, or stored as
    floats, and the run would train on them."""
    try:
        with np.load(cached) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None
    if set(CACHE_KEYS + s.packed_extra()) - set(arrays) or CACHE_SUM not in arrays:
        return None
    try:
        for split in ("train", "test"):
            _check_split(s, split, arrays[f"{split}_images"].shape, arrays[f"{split}_labels"], cached)
        _check_extra(s, arrays, cached)
    except DataError:
        return None
    if any(arrays[f"{split}_images"].dtype != np.uint8 or arrays[f"{split}_labels"].dtype != np.int64
           for split in ("train", "test")):
        return None
    if str(arrays.pop(CACHE_SUM)) != _arrays_sha256(arrays):
        return None
    return arrays


def load_packed(name: str, data_dir: str | os.PathLike | None = None,
                cache_dir: str | os.PathLike | None = None) -> Splits:
    """Load a packed offline copy; the decoded arrays are cached by checksum."""
    s = spec(name)
    if s.packed_file is None:
        raise DataError(f"there is no packed offline copy of {name}; use its official files (download=True)")
    folder = paths.data_dir(data_dir)
    path = folder / s.packed_file
    if not path.exists():
        raise MissingDataError(f"{s.packed_file} not found in {folder}", FETCH_HINT + ".")
    if not path.is_file():
        raise DataError(f"{path} is not a file (a folder?): copy {s.packed_file} again from the shared data folder")
    digest = verify_checksum(path)
    cached = paths.cache_dir(cache_dir) / "decoded" / f"{name}-{digest[:16]}.npz"
    arrays = _read_cache(cached, s) if cached.exists() else None
    if arrays is None:
        cached.unlink(missing_ok=True)  # a torn, stale or changed cache file: decode again
        arrays = _decode_packed(s, path, digest)
        with atomic_path(cached) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays, **{CACHE_SUM: np.array(_arrays_sha256(arrays))})
    classes = [str(c) for c in arrays.pop("classes")]
    source = str(arrays.pop("source"))
    return Splits(arrays["train_images"], arrays["train_labels"], arrays["test_images"],
                  arrays["test_labels"], classes, source, _extra(s, arrays))


def _extra(s: DatasetSpec, arrays: dict) -> dict:
    """`Splits.extra` of a packed copy: its `packed_extra` arrays, names as a list of strings."""
    return {k: [str(c) for c in arrays[k]] if k == "coarse_classes" else arrays[k] for k in s.packed_extra()}


@dataclass(frozen=True)
class IdenticalPairs:
    """The pairs of images of a dataset that are identical pixel for pixel."""
    within_train: int
    within_test: int
    between: int                         # one image in each split
    conflicting: list[tuple[str, str]]   # the two class names of each pair labelled differently

    @property
    def total(self) -> int:
        return self.within_train + self.within_test + self.between

    def conflicts(self) -> list[tuple[tuple[str, str], int]]:
        """Each pair of class names that identical images carry, alphabetically
        within the pair, with how many pairs carry it: the most frequent first."""
        counts = Counter(tuple(sorted(p)) for p in self.conflicting)
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def identical_pairs(s: Splits) -> IdenticalPairs:
    """Every pair of identical images within and between the two splits (an
    image present k times makes k(k-1)/2 pairs), found by sorting the images'
    raw bytes: a property of the dataset, which a test set that shares images
    with its training set turns into a few free answers."""
    images = np.concatenate([s.train_images, s.test_images])
    rows = np.ascontiguousarray(images.reshape(len(images), -1))
    _, group, count = np.unique(rows.view(np.dtype((np.void, rows.shape[1]))).ravel(),
                                return_inverse=True, return_counts=True)
    group = group.ravel()
    labels = np.concatenate([s.train_labels, s.test_labels])
    in_test = np.arange(len(images)) >= len(s.train_images)
    members: dict[int, list[int]] = {}
    for i in np.flatnonzero(count[group] > 1):
        members.setdefault(int(group[i]), []).append(int(i))
    kinds, conflicting = Counter(), []
    for same in members.values():
        for a, b in combinations(same, 2):
            kinds[int(in_test[a]) + int(in_test[b])] += 1  # 0: both train, 1: one each, 2: both test
            if labels[a] != labels[b]:
                conflicting.append((s.classes[labels[a]], s.classes[labels[b]]))
    return IdenticalPairs(kinds[0], kinds[2], kinds[1], conflicting)


# SVHN validation split of the paper (after Goodfellow et al.): 400 images per
# class from `train` and 200 per class from `extra`; the rest is training data.
SVHN_VALID_PER_CLASS = {"train": 400, "extra": 200}


def download_official(name: str, root: Path) -> None:
    """Fetch the official files with torchvision (needs internet)."""
    import torchvision  # only to download: importing it costs every command a second

    s = spec(name)
    cls = getattr(torchvision.datasets, s.torchvision_class)
    try:
        for keyword, value in s.torchvision_splits:
            cls(str(root), **{keyword: value}, download=True)
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, RuntimeError) as e:
        # Not a full disk or a folder to fix: the network. (URLError is an OSError, which the
        # command line would otherwise answer with "free the space or fix the folder".) MNIST's
        # reader tries each mirror and raises a RuntimeError of several lines after the last one;
        # its first and last lines name the file and the last mirror's failure.
        lines = [line.strip() for line in str(getattr(e, "reason", e)).splitlines() if line.strip()]
        why = " ".join(dict.fromkeys([lines[0], lines[-1]])) if lines else ""
        raise DataError(f"{name}: the official files could not be downloaded into {root} "
                        f"({type(e).__name__}: {why}); no internet access: copy the official "
                        f"files into {root}, or rerun with network") from e


class OfficialArrays(NamedTuple):
    """What a dataset's reader returns: images N x H x W x C, labels, class names."""
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: list[str]
    extra: dict | None = None


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")  # the official CIFAR files are Python 2 pickles


def _read_idx(path: Path) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.uint8)
    ndim = raw[3]
    dims = raw[4:4 + 4 * ndim].view(">u4").astype(int)
    return raw[4 + 4 * ndim:].reshape(dims)


def _read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat  # SVHN's .mat files alone need scipy

    mat = loadmat(path)
    x = np.ascontiguousarray(mat["X"].transpose(3, 0, 1, 2))  # 32 x 32 x 3 x N -> N x 32 x 32 x 3
    y = mat["y"].reshape(-1).astype(np.int64) % 10            # label 10 means digit 0
    return x, y


def _cifar_images(rows: np.ndarray) -> np.ndarray:
    """Rows of 3072 bytes (1024 red, 1024 green, 1024 blue) as N x 32 x 32 x 3."""
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def _read_mnist(files: list[Path]) -> OfficialArrays:
    tx, ty, vx, vy = (_read_idx(p) for p in files)
    return OfficialArrays(tx[..., None], ty, vx[..., None], vy, [str(i) for i in range(10)])


def _read_cifar10(files: list[Path]) -> OfficialArrays:
    *batches, test, meta = (_unpickle(p) for p in files)
    return OfficialArrays(_cifar_images(np.concatenate([b["data"] for b in batches])),
                          np.concatenate([b["labels"] for b in batches]),
                          _cifar_images(test["data"]), np.asarray(test["labels"]), list(meta["label_names"]))


def _read_cifar100(files: list[Path]) -> OfficialArrays:
    train, test, meta = (_unpickle(p) for p in files)
    return OfficialArrays(_cifar_images(train["data"]), np.asarray(train["fine_labels"]),
                          _cifar_images(test["data"]), np.asarray(test["fine_labels"]),
                          list(meta["fine_label_names"]))


def _read_svhn(files: list[Path]) -> OfficialArrays:
    (trx, trl), (exx, exl), (vx, vy) = (_read_svhn_mat(p) for p in files)
    keep, valid = svhn_paper_split(trl, exl)
    allx, ally = np.concatenate([trx, exx]), np.concatenate([trl, exl])
    return OfficialArrays(allx[keep], ally[keep], vx, vy, [str(i) for i in range(10)],
                          {"validation_images": allx[valid], "validation_labels": ally[valid]})


def svhn_paper_split(train_labels: np.ndarray, extra_labels: np.ndarray,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
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


DATASETS = {
    "mnist": DatasetSpec("mnist", 10, (28, 28, 1), 60_000, 10_000, "mnist.npz", "MNIST",
                         official_files=("MNIST/raw/train-images-idx3-ubyte", "MNIST/raw/train-labels-idx1-ubyte",
                                         "MNIST/raw/t10k-images-idx3-ubyte", "MNIST/raw/t10k-labels-idx1-ubyte"),
                         read_official=_read_mnist),
    "cifar10": DatasetSpec("cifar10", 10, (32, 32, 3), 50_000, 10_000, "cifar10.npz", "CIFAR10",
                           official_files=tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6))
                           + ("cifar-10-batches-py/test_batch", "cifar-10-batches-py/batches.meta"),
                           read_official=_read_cifar10, lossless_flags=True),
    "cifar100": DatasetSpec("cifar100", 100, (32, 32, 3), 50_000, 10_000, "cifar100.npz", "CIFAR100",
                            official_files=("cifar-100-python/train", "cifar-100-python/test",
                                            "cifar-100-python/meta"),
                            read_official=_read_cifar100, lossless_flags=True, coarse_classes=20),
    # SVHN: `train` + `extra` less the paper's validation images (`svhn_paper_split`).
    "svhn": DatasetSpec("svhn", 10, (32, 32, 3), 598_388, 26_032, None, "SVHN",
                        official_files=("train_32x32.mat", "extra_32x32.mat", "test_32x32.mat"),
                        read_official=_read_svhn,
                        torchvision_splits=(("split", "train"), ("split", "extra"), ("split", "test"))),
}


def load_official(name: str, root: str | os.PathLike) -> Splits:
    """The official files under `root` (the spec's `official_files`), read by the spec's reader."""
    s = spec(name)
    root = Path(root)
    missing = [f for f in s.official_files if not (root / f).exists()]
    if missing:
        raise MissingDataError(f"{name}: official files missing under {root}: {', '.join(missing)}",
                               FETCH_HINT + ".")
    try:
        a = s.read_official([root / f for f in s.official_files])
    except Exception as e:  # a damaged file fails in whatever way its parser does (scipy's MatReadError,
        # an IndexError in a short idx header, a TypeError in a pickle of something else)
        raise DataError(f"{name}: the official files under {root} are unreadable ({type(e).__name__}: {e}); "
                        "download them again") from e
    out = Splits(np.ascontiguousarray(a.train_images, dtype=np.uint8), np.asarray(a.train_labels, dtype=np.int64),
                 np.ascontiguousarray(a.test_images, dtype=np.uint8), np.asarray(a.test_labels, dtype=np.int64),
                 a.classes, f"official {name} files at {root}", a.extra or {})
    _check_split(s, "train", out.train_images.shape, out.train_labels, root, exact_count=False)
    _check_split(s, "test", out.test_images.shape, out.test_labels, root, exact_count=False)
    return out


def load(name: str, data_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
         download: bool = False) -> Splits:
    """The dataset from the data directory: the packed copy if there is one,
    else the official files (fetched into the data directory, or into the
    cache when none is set, with `download`)."""
    s = spec(name)
    if download and data_dir is None and not os.environ.get("NIN_DATA"):
        folder = paths.cache_dir(cache_dir) / "official"
    elif download:
        folder = paths.data_dir(data_dir)  # created by the download where it is missing
    else:
        folder = existing_data_dir(data_dir) or paths.data_dir(data_dir)  # (the latter: none given, says what to)
    if s.packed_file and (folder / s.packed_file).exists():
        return load_packed(name, folder, cache_dir)
    if download:
        download_official(name, folder)
    try:
        return load_official(name, folder)
    except MissingDataError:
        if any((folder / f).exists() for f in s.official_files):
            raise  # some are there: its message names the ones that are not
        what = f"{s.packed_file} not found in {folder}, nor its official files" if s.packed_file else \
            f"no official files for {name} in {folder}"
        raise MissingDataError(f"{name}: {what}", FETCH_HINT + ".") from None
