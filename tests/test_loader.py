import torch
from hypothesis import given, settings, strategies as st

from nin_repro.loader import TensorLoader, flip, translate


def test_flip_mirrors_only_masked_images():
    x = torch.arange(2 * 1 * 2 * 3, dtype=torch.float32).reshape(2, 1, 2, 3)
    y = flip(x, torch.tensor([True, False]))
    assert torch.equal(y[0], x[0].flip(-1)) and torch.equal(y[1], x[1])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(1, 3), st.integers(2, 9), st.integers(2, 9))
def test_flip_is_an_involution(n, c, h, w):
    x = torch.randn(n, c, h, w)
    mask = torch.rand(n) < 0.5
    assert torch.equal(flip(flip(x, mask), mask), x)


def test_translate_moves_content_by_the_shift():
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 1.0
    y = translate(x, torch.tensor([1]), torch.tensor([-2]))  # right 1, up 2
    assert y[0, 0, 0, 3] == 1.0 and y.sum() == 1.0


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(4, 10), st.integers(0, 3), st.data())
def test_translate_keeps_content_within_bounds(n, size, max_shift, draw):
    x = torch.rand(n, 2, size, size) + 0.1  # strictly positive: zeros mark the filled border
    dx = torch.tensor(draw.draw(st.lists(st.integers(-max_shift, max_shift), min_size=n, max_size=n)))
    dy = torch.tensor(draw.draw(st.lists(st.integers(-max_shift, max_shift), min_size=n, max_size=n)))
    y = translate(x, dx, dy)
    assert y.shape == x.shape
    for i in range(n):
        a, b = int(dx[i]), int(dy[i])
        # every pixel that stays in the frame is the original pixel, moved by the shift
        src = x[i, :, max(0, -b):size - max(0, b), max(0, -a):size - max(0, a)]
        dst = y[i, :, max(0, b):size - max(0, -b), max(0, a):size - max(0, -a)]
        assert torch.equal(src, dst)
        # and the rest is zero fill
        assert torch.count_nonzero(y[i]) == src.numel()


def test_training_batches_cover_a_permutation_and_drop_the_ragged_end():
    images = torch.arange(10, dtype=torch.float32).reshape(10, 1, 1, 1)
    loader = TensorLoader(images, torch.arange(10), batch_size=4, train=True, seed=1, channels_last=False)
    labels = torch.cat([y for _, y in loader])
    assert len(loader) == 2 and len(labels) == 8 and len(set(labels.tolist())) == 8
    for x, y in loader:
        assert torch.equal(x.flatten(), y.float())  # images and labels stay paired


def test_evaluation_sees_every_image_in_order():
    loader = TensorLoader(torch.zeros(10, 1, 2, 2), torch.arange(10), batch_size=4, train=False)
    assert torch.equal(torch.cat([y for _, y in loader]), torch.arange(10))


def test_same_seed_same_batches_and_augmentation():
    x = torch.randn(64, 3, 8, 8)

    def batches(seed):
        loader = TensorLoader(x, torch.arange(64), 16, train=True, translate=2, flip=True, seed=seed)
        return torch.cat([b for b, _ in loader])

    assert torch.equal(batches(3), batches(3))
    assert not torch.equal(batches(3), batches(4))


def test_channels_last_output():
    loader = TensorLoader(torch.randn(8, 3, 4, 4), torch.zeros(8, dtype=torch.long), 4, train=True, translate=1)
    x, _ = next(iter(loader))
    assert x.is_contiguous(memory_format=torch.channels_last)


def test_the_data_stream_is_drawn_on_the_cpu_whatever_the_device():
    """Order, flips and shifts come from a CPU generator, so a snapshot's
    loader state continues on a GPU machine and back ("meta" stands in for a
    GPU here: no value ever has to come back from the device)."""
    images, labels = torch.rand(64, 3, 8, 8), torch.arange(64)
    on_cpu = TensorLoader(images, labels, 16, train=True, translate=2, flip=True, seed=3)
    elsewhere = TensorLoader(images, labels, 16, train=True, translate=2, flip=True, seed=3, device="meta")
    assert elsewhere.generator.device.type == "cpu"
    cpu_batches, other_batches = list(on_cpu), list(elsewhere)
    assert all(x.device.type == "meta" for x, _ in other_batches) and len(other_batches) == len(cpu_batches)
    assert torch.equal(on_cpu.generator.get_state(), elsewhere.generator.get_state())


def test_a_bound_on_the_shifts_changes_nothing_but_the_padding():
    x = torch.rand(6, 2, 7, 7)
    dx, dy = torch.tensor([0, 1, -1, 2, 0, -2]), torch.tensor([1, 0, -2, 2, -1, 0])
    assert torch.equal(translate(x, dx, dy), translate(x, dx, dy, pad=4))
