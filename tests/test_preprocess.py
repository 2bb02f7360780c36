import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from nin_repro import data
from nin_repro.preprocess import GCN_SCALE, ZCA, global_contrast_normalize, local_contrast_normalize, prepare


def test_gcn_centres_each_image_and_sets_its_norm():
    x = torch.rand(16, 3, 8, 8) * 255
    y = global_contrast_normalize(x).reshape(16, -1)
    torch.testing.assert_close(y.mean(1), torch.zeros(16), atol=1e-4, rtol=0)
    torch.testing.assert_close(y.norm(dim=1), torch.full((16,), GCN_SCALE), rtol=1e-4, atol=0)


def test_gcn_leaves_a_flat_image_at_zero():
    assert torch.equal(global_contrast_normalize(torch.full((1, 3, 4, 4), 7.0)), torch.zeros(1, 3, 4, 4))


@pytest.fixture(scope="module")
def cifar_patches(data_dir, cache_dir):
    """Real CIFAR-10 training images, 8x8 crops (192 dims) so the test is quick."""
    splits = data.load_packed("cifar10", data_dir, cache_dir)
    x = torch.from_numpy(splits.train_images[:20000, 12:20, 12:20]).permute(0, 3, 1, 2).float()
    return global_contrast_normalize(x)


def test_zca_whitened_real_training_data_has_identity_covariance(cifar_patches):
    zca = ZCA.fit(cifar_patches, bias=1e-6)
    w = zca(cifar_patches).reshape(len(cifar_patches), -1).double()
    cov = torch.cov(w.T)
    # GCN removes one direction (the per-image mean), so one eigenvalue is 0.
    eig = torch.linalg.eigvalsh(cov)
    assert eig[0] < 1e-3
    torch.testing.assert_close(eig[1:], torch.ones(len(eig) - 1, dtype=torch.float64), atol=1e-3, rtol=0)


def test_zca_with_the_paper_bias_shrinks_only_weak_directions(cifar_patches):
    flat = cifar_patches.reshape(len(cifar_patches), -1).double()
    lam = torch.linalg.eigvalsh(torch.cov(flat.T, correction=0))
    w = ZCA.fit(cifar_patches)(cifar_patches).reshape(len(flat), -1).double()
    got = torch.linalg.eigvalsh(torch.cov(w.T, correction=0))
    torch.testing.assert_close(got, (lam / (lam + 0.1)).sort().values, atol=2e-3, rtol=0)


def test_zca_matrix_is_symmetric():
    zca = ZCA.fit(torch.randn(500, 12) @ torch.randn(12, 12))
    torch.testing.assert_close(zca.matrix, zca.matrix.T)


def test_prepare_scale_centres_with_training_mean_only():
    train = np.full((4, 2, 2, 1), 255, np.uint8)
    test = np.zeros((2, 2, 2, 1), np.uint8)
    tr, te = prepare("mnist", train, test, "scale")
    assert tr.shape == (4, 1, 2, 2) and torch.all(tr == 0) and torch.all(te == -1)


def test_prepare_rejects_unknown_method():
    with pytest.raises(ValueError, match="unknown preprocessing"):
        prepare("mnist", np.zeros((1, 2, 2, 1), np.uint8), np.zeros((1, 2, 2, 1), np.uint8), "pca")


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.floats(0.5, 200))
def test_gcn_is_invariant_to_brightness_and_contrast(n, c, gain):
    torch.manual_seed(n * 10 + c)
    x = torch.rand(n, c, 6, 6)
    torch.testing.assert_close(global_contrast_normalize(x * gain + 3.0), global_contrast_normalize(x),
                               atol=1e-3, rtol=1e-3)


def test_lcn_subtracts_the_local_mean_and_divides_by_the_local_std_floored_at_its_image_mean():
    i, j = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    checker = ((i + j) % 2 * 2 - 1).float()  # +-1; reflect padding keeps the pattern at the borders
    # Its local mean is a fixed fraction of itself and its local std the same
    # everywhere, so LCN maps any brightness and contrast of it back to +-1.
    for gain, offset in ((1.0, 0.0), (5.0, 3.0), (0.2, -1.0)):
        torch.testing.assert_close(local_contrast_normalize((gain * checker + offset).expand(2, 3, 32, 32)),
                                   checker.expand(2, 3, 32, 32), atol=1e-4, rtol=1e-4)
    # A ramp equals its (symmetric) local mean away from the borders: nothing is left there,
    # where subtracting the image's mean would leave the ramp itself.
    ramp = local_contrast_normalize(j.float().expand(1, 1, 32, 32))[0, 0]
    assert ramp[:, 4:-4].abs().max() < 1e-3 and ramp.abs().max() > 0.1
    # A faint patch beside a strong one is divided by the image's mean std, not
    # by its own tiny one (which would blow its noise up to the strong patch's scale).
    mixed = local_contrast_normalize(torch.where(j < 16, checker, 0.01 * checker).expand(1, 1, 32, 32))[0, 0]
    assert mixed[:, :10].abs().min() > 0.9
    assert mixed[:, 22:].abs().max() < 0.05


def _old_gcn_zca(train_images, test_images):
    """GCN + ZCA as `prepare` computed it before the fit was cached: the
    reference the cached path must match to the bit."""
    from nin_repro.preprocess import to_float_nchw

    train, test = global_contrast_normalize(to_float_nchw(train_images)), global_contrast_normalize(
        to_float_nchw(test_images))
    zca = ZCA.fit(train)
    return zca(train), zca(test)


def test_the_zca_fit_is_kept_by_the_training_images_checksum_and_changes_no_number(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (300, 6, 6, 3), dtype=np.uint8)
    test = rng.integers(0, 256, (50, 6, 6, 3), dtype=np.uint8)
    want_train, want_test = _old_gcn_zca(train, test)
    tr, te = prepare("cifar10", train, test, "gcn_zca", zca_cache=tmp_path)
    assert torch.equal(tr, want_train) and torch.equal(te, want_test)
    [cached] = tmp_path.glob("zca-*.pt")
    assert (tmp_path / (cached.name + ".sha256")).exists()
    # a second process with the same training images reads the fit instead of fitting again
    monkeypatch.setattr(ZCA, "fit", classmethod(lambda cls, x, bias=0.1: pytest.fail("fitted again")))
    tr2, te2 = prepare("cifar10", train, test, "gcn_zca", zca_cache=tmp_path)
    assert torch.equal(tr2, want_train) and torch.equal(te2, want_test)
    # other training images: another file, fitted for them
    monkeypatch.undo()
    other = train.copy()
    other[0, 0, 0, 0] ^= 1
    prepare("cifar10", other, test, "gcn_zca", zca_cache=tmp_path)
    assert len(list(tmp_path.glob("zca-*.pt"))) == 2


def test_a_corrupt_zca_cache_file_is_fitted_again_and_replaced(tmp_path, capsys):
    rng = np.random.default_rng(1)
    train = rng.integers(0, 256, (200, 4, 4, 3), dtype=np.uint8)
    want_train, want_test = _old_gcn_zca(train, train[:10])
    prepare("cifar10", train, train[:10], "gcn_zca", zca_cache=tmp_path)
    assert capsys.readouterr().err == ""  # a fresh fit: nothing to say
    [cached] = tmp_path.glob("zca-*.pt")
    cached.write_bytes(cached.read_bytes()[:100])  # torn
    tr, te = prepare("cifar10", train, train[:10], "gcn_zca", zca_cache=tmp_path)
    assert torch.equal(tr, want_train) and torch.equal(te, want_test)
    # not in silence: one line naming the file and that it is fitted again
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"warning: {cached} is corrupt") and line.endswith("the ZCA is fitted again and replaces it")
    from nin_repro import checkpoint

    assert set(checkpoint.load(cached)) == {"mean", "matrix"}  # replaced by a sound fit
    # a sound file of another shape says so too
    checkpoint.save(cached, {"mean": torch.zeros(3), "matrix": torch.zeros(3, 3)})
    prepare("cifar10", train, train[:10], "gcn_zca", zca_cache=tmp_path)
    [line] = capsys.readouterr().err.splitlines()
    assert line == f"warning: {cached} holds a ZCA for images of another size (these have 48 values); " \
                   "the ZCA is fitted again and replaces it"
    prepare("cifar10", train, train[:10], "gcn_zca", zca_cache=tmp_path)
    assert capsys.readouterr().err == ""  # the sound fit it wrote is read without a word


@pytest.mark.parametrize("method", ["scale", "raw", "gcn_zca", "lcn"])
def test_the_test_split_alone_is_what_both_splits_give(method, tmp_path, monkeypatch):
    """`load_test_inputs` (evaluation, figures) transforms only the test
    split, with the same statistics as `load_inputs` (training)."""
    from nin_repro import experiments, preprocess

    rng = np.random.default_rng(2)
    channels = 1 if method in ("scale", "raw") else 3
    fake = data.Splits(rng.integers(0, 256, (120, 8, 8, channels), dtype=np.uint8), np.arange(120) % 10,
                       rng.integers(0, 256, (30, 8, 8, channels), dtype=np.uint8), np.arange(30) % 10,
                       [str(i) for i in range(10)], "fake")
    monkeypatch.setattr(data, "load", lambda *a, **k: fake)
    from dataclasses import replace

    exp = replace(experiments.get("cifar10"), preprocess=method)
    _, _, test_x, test_y, _ = preprocess.load_inputs(exp, cache_dir=tmp_path)
    alone_x, alone_y = preprocess.load_test_inputs(exp, cache_dir=tmp_path)
    assert torch.equal(alone_x, test_x) and torch.equal(alone_y, test_y)
