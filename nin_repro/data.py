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
    # SVHN: `train` + `extra` are pooled and split by `svhn_split` (the paper's protocol).
    "svhn": DatasetSpec("svhn", 10, (32, 32, 3), 604_388, 26_032, None, "SVHN"),
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


def _check_split(s: DatasetSpec, split: str, images: np.ndarray, labels: np.ndarray, where: Path) -> None:
    n = s.train_size if split == "train" else s.test_size
    if images.shape != (n, *s.image_shape) or labels.shape != (n,):
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


def load_torchvision(name: str, root: str | os.PathLike, download: bool = False) -> Splits:
    """Official files through torchvision (downloaded when `download`)."""
    import torchvision

    s = spec(name)
    cls = getattr(torchvision.datasets, s.torchvision_class)
    root = Path(root)
    try:
        if name == "svhn":
            parts = {sp: cls(str(root), split=sp, download=download) for sp in ("train", "extra", "test")}
            train = [parts["train"], parts["extra"]]
            test = parts["test"]
            classes = [str(i) for i in range(10)]
        else:
            train = [cls(str(root), train=True, download=download)]
            test = cls(str(root), train=False, download=download)
            classes = list(test.classes)
    except RuntimeError as e:
        raise DataError(
            f"{name}: official files not found under {root} ({e}). Pass --download with internet "
            f"access, or put the official files there."
        ) from e

    def arrays(ds):
        if name == "svhn":  # N x C x H x W, labels already 0..9 (torchvision maps 10 -> 0)
            return ds.data.transpose(0, 2, 3, 1), np.asarray(ds.labels)
        x = ds.data.numpy() if hasattr(ds.data, "numpy") else ds.data
        if x.ndim == 3:
            x = x[..., None]
        y = ds.targets.numpy() if hasattr(ds.targets, "numpy") else np.asarray(ds.targets)
        return x, y

    tr = [arrays(d) for d in train]
    tx, ty = arrays(test)
    extra = {}
    if name == "svhn":
        extra["train_part_sizes"] = [len(y) for _, y in tr]
    out = Splits(np.ascontiguousarray(np.concatenate([x for x, _ in tr])).astype(np.uint8),
                 np.concatenate([y for _, y in tr]).astype(np.int64),
                 np.ascontiguousarray(tx).astype(np.uint8), ty.astype(np.int64),
                 classes, f"torchvision.datasets.{s.torchvision_class} at {root}", extra)
    if name != "svhn":
        _check_split(s, "train", out.train_images, out.train_labels, root)
        _check_split(s, "test", out.test_images, out.test_labels, root)
    return out


def load(name: str, data_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
         download: bool = False) -> Splits:
    """The dataset from the data directory: the packed copy if there is one,
    else the official files (downloaded into the data directory with `download`)."""
    s = spec(name)
    if download:
        root = (paths.data_dir(data_dir) if (data_dir or os.environ.get("NIN_DATA"))
                else paths.cache_dir(cache_dir) / "torchvision")
        return load_torchvision(name, root, download=True)
    folder = paths.data_dir(data_dir)
    if s.packed_file and (folder / s.packed_file).exists():
        return load_packed(name, folder, cache_dir)
    try:
        return load_torchvision(name, folder, download=False)
    except DataError:
        what = f"{s.packed_file} not found in {folder}, nor" if s.packed_file else "no"
        raise DataError(
            f"{name}: {what} official torchvision files for {name} there. Point --data-dir / NIN_DATA "
            f"at a folder holding them (here: ../shared/data), or pass --download to fetch them."
        ) from None
