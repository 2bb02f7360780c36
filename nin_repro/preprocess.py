"""Input preprocessing, fitted on the training split only.

- CIFAR-10/100: global contrast normalization + ZCA whitening, as in
  *Maxout Networks* (Goodfellow et al. 2013, pylearn2's
  `make_cifar10_gcn_whitened.py`): per image, subtract its mean and scale its
  norm to 55; then ZCA with 0.1 added to the eigenvalues.
- SVHN: local contrast normalization (see `local_contrast_normalize`).
- MNIST: none beyond subtracting the training mean (the paper: "no
  preprocessing"), with pixels in [0, 1] (`scale`, the CPU-budget runs) or in
  their raw 0-255 units (`raw`, the full-length runs: cuda-convnet, which the
  author trained with, feeds raw pixel values; with the published Gaussian
  init of std 0.05, inputs in [0, 1] left the author's MNIST net at loss
  2.30 for a whole 20,000-image pilot epoch at rate 0.1, raw units reached
  18% test error in the same steps).
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import checkpoint, data, paths

GCN_SCALE = 55.0  # pylearn2's GlobalContrastNormalization(scale=55.)
ZCA_BIAS = 0.1    # pylearn2's ZCA(filter_bias=0.1)


def to_float_nchw(images: np.ndarray) -> torch.Tensor:
    """uint8 N x H x W x C -> float32 N x C x H x W in [0, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)


def global_contrast_normalize(x: torch.Tensor, scale: float = GCN_SCALE, eps: float = 1e-8) -> torch.Tensor:
    """Per image: subtract its mean, then scale it to L2 norm `scale`."""
    flat = x.reshape(len(x), -1)
    flat = flat - flat.mean(dim=1, keepdim=True)
    norm = flat.norm(dim=1, keepdim=True)
    norm = torch.where(norm < eps, torch.ones_like(norm), norm)  # a flat image stays zero
    return (flat * (scale / norm)).reshape(x.shape)


@dataclass
class ZCA:
    mean: torch.Tensor    # D
    matrix: torch.Tensor  # D x D, symmetric

    @classmethod
    def fit(cls, x: torch.Tensor, bias: float = ZCA_BIAS) -> "ZCA":
        flat = x.reshape(len(x), -1).double()
        mean = flat.mean(dim=0)
        centred = flat - mean
        cov = centred.T @ centred / len(flat)
        eigvals, eigvecs = torch.linalg.eigh(cov)
        eigvals = eigvals.clamp_min(0)
        matrix = (eigvecs * (eigvals + bias).rsqrt()) @ eigvecs.T
        return cls(mean.float(), matrix.float())

    def __call__(self, x: torch.Tensor, chunk: int = 10_000) -> torch.Tensor:
        flat = x.reshape(len(x), -1)
        out = torch.empty_like(flat)
        for i in range(0, len(flat), chunk):
            out[i:i + chunk] = (flat[i:i + chunk] - self.mean) @ self.matrix
        return out.reshape(x.shape)


def local_contrast_normalize(x: torch.Tensor, kernel_size: int = 7, sigma: float = 7 / 4,
                             eps: float = 1e-4) -> torch.Tensor:
    """LCN per channel (as pylearn2's for SVHN in *Maxout Networks*): subtract a
    Gaussian-weighted local mean, divide by the local standard deviation where
    it exceeds its image-wide mean."""
    c = x.shape[1]
    ax = torch.arange(kernel_size, dtype=torch.float32) - (kernel_size - 1) / 2
    g1 = torch.exp(-(ax ** 2) / (2 * sigma ** 2))
    g = torch.outer(g1, g1)
    g = (g / g.sum()).expand(c, 1, kernel_size, kernel_size).contiguous()
    pad = kernel_size // 2
    conv = lambda t: torch.nn.functional.conv2d(  # noqa: E731
        torch.nn.functional.pad(t, (pad,) * 4, mode="reflect"), g, groups=c)
    centred = x - conv(x)
    std = conv(centred ** 2).sqrt()
    floor = std.mean(dim=(2, 3), keepdim=True)
    return centred / torch.maximum(torch.maximum(std, floor), torch.tensor(eps))


def fit_preprocessing(name: str, train_images: np.ndarray, method: str, zca_cache: Path | None = None):
    """The preprocessing `method` with its statistics fitted on the training
    split only: a function from uint8 images (N x H x W x C) to the net's
    float32 inputs (N x C x H x W). The ZCA fit (a covariance and an
    eigendecomposition in float64: about 10 s on two cores) is kept in
    `zca_cache`, when given, under the training images' checksum, so that
    a resumed run, an evaluation or a figure does not fit it again."""
    if method in ("scale", "raw"):
        unit = 255.0 if method == "raw" else 1.0  # raw: cuda-convnet's 0-255 pixel values
        mean = (to_float_nchw(train_images) * unit).mean()
        return lambda images: to_float_nchw(images) * unit - mean
    if method == "gcn_zca":
        zca = _fit_zca(lambda: global_contrast_normalize(to_float_nchw(train_images)), train_images, zca_cache)
        return lambda images: zca(global_contrast_normalize(to_float_nchw(images)))
    if method == "lcn":  # in chunks: SVHN's 598k images would need tens of GB at once
        return lambda images: torch.cat([local_contrast_normalize(c) for c in to_float_nchw(images).split(10_000)])
    raise ValueError(f"unknown preprocessing {method!r} for {name}; use 'scale', 'raw', 'gcn_zca' or 'lcn'")


def _fit_zca(train, train_images: np.ndarray, folder: Path | None) -> ZCA:
    """`ZCA.fit(train())`, or the fit an earlier process left in `folder`
    for the same training images (a cache file that is torn, corrupt or of
    another shape is fitted again and replaced, and a line on stderr says
    so: like a corrupt checkpoint in `checkpoint.newest`, never passed over
    in silence). `train` is called only for a fit: a cached one needs no
    training split in floats."""
    if folder is None:
        return ZCA.fit(train())
    digest = hashlib.sha256(np.ascontiguousarray(train_images).data).hexdigest()[:16]
    path = Path(folder) / f"zca-{digest}-gcn{GCN_SCALE:g}-bias{ZCA_BIAS:g}.pt"
    size = int(np.prod(train_images.shape[1:]))
    if path.exists():
        then = "the ZCA is fitted again and replaces it"
        try:
            state = checkpoint.load(path, then)
            if state["mean"].shape == (size,) and state["matrix"].shape == (size, size):
                return ZCA(state["mean"], state["matrix"])
            problem = f"{path} holds a ZCA for images of another size (these have {size} values); {then}"
        except checkpoint.CheckpointError as e:
            problem = str(e)
        except (KeyError, AttributeError) as e:
            problem = f"{path} is not a ZCA fit ({type(e).__name__}: {e}); {then}"
        print(f"warning: {problem}", file=sys.stderr)
    zca = ZCA.fit(train())
    checkpoint.save(path, {"mean": zca.mean, "matrix": zca.matrix})  # checksummed and atomic, as a run's state
    return zca


def prepare(name: str, train_images: np.ndarray, test_images: np.ndarray, method: str,
            zca_cache: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Both splits as float32 N x C x H x W tensors, preprocessed with statistics
    of the training split only."""
    transform = fit_preprocessing(name, train_images, method, zca_cache)
    return transform(train_images), transform(test_images)


def test_subset(n_test: int, subset: int) -> np.ndarray:
    """The indices of the test images a `subset` run tests: `subset` of the
    `n_test` (all, where it asks for as many or more), evenly spaced."""
    return np.linspace(0, n_test, num=min(subset, n_test), endpoint=False).astype(np.int64)


def _splits(exp, data_dir, cache_dir, download: bool, subset: int | None, splits: data.Splits | None = None):
    if splits is None:
        splits = data.load(exp.dataset, data_dir, cache_dir, download)
    tr_img, tr_lab, te_img, te_lab = splits.train_images, splits.train_labels, splits.test_images, splits.test_labels
    if subset:
        # Smoke runs: the first `subset` training images, and as many test images spread evenly over the
        # test split: the offline CIFAR copies' test splits are grouped by class, and their first images
        # would hold one or two classes only
        tr_img, tr_lab = tr_img[:subset], tr_lab[:subset]
        keep = test_subset(len(te_lab), subset)
        te_img, te_lab = te_img[keep], te_lab[keep]
    return tr_img, tr_lab, te_img, te_lab, splits.source


def load_inputs(exp, data_dir=None, cache_dir=None, download=False, subset: int | None = None):
    """Preprocessed float tensors (train, test) and labels, as the experiment says."""
    tr_img, tr_lab, te_img, te_lab, source = _splits(exp, data_dir, cache_dir, download, subset)
    train_x, test_x = prepare(exp.dataset, tr_img, te_img, exp.preprocess, paths.cache_dir(cache_dir) / "zca")
    return train_x, torch.from_numpy(tr_lab), test_x, torch.from_numpy(te_lab), source


def load_test_inputs(exp, data_dir=None, cache_dir=None, subset: int | None = None,
                     splits: data.Splits | None = None):
    """The test split only, preprocessed with the training split's
    statistics, and its labels: what an evaluation or a figure of a trained
    net reads (the training split is not transformed). `splits`: the
    dataset as the caller already loaded it (else it is loaded here)."""
    tr_img, _, te_img, te_lab, _ = _splits(exp, data_dir, cache_dir, False, subset, splits)
    transform = fit_preprocessing(exp.dataset, tr_img, exp.preprocess, paths.cache_dir(cache_dir) / "zca")
    return transform(te_img), torch.from_numpy(te_lab)
