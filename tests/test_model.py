import pytest
import torch

from nin_repro.experiments import MNIST_MODEL
from nin_repro.book.paper import CAFFE_ZOO_MMACS, CAFFE_ZOO_PARAMETERS
from nin_repro.model import NiN, ModelConfig, count_macs, count_parameters, architecture_table, pooled_size


# The model-zoo Caffe definition's convolutions: (kernel, in, out, output side).
CAFFE_CIFAR10_CONVS = [(5, 3, 192, 32), (1, 192, 160, 32), (1, 160, 96, 32),
                       (5, 96, 192, 16), (1, 192, 192, 16), (1, 192, 192, 16),
                       (3, 192, 192, 8), (1, 192, 192, 8), (1, 192, 10, 8)]


def test_cifar10_net_has_the_model_zoo_nets_parameter_count():
    weights_and_biases = sum(k * k * cin * cout + cout for k, cin, cout, _ in CAFFE_CIFAR10_CONVS)
    assert count_parameters(NiN(ModelConfig(num_classes=10))) == weights_and_biases == CAFFE_ZOO_PARAMETERS
    # 100 classes: the last 1x1 layer has 90 more maps, each 192 weights and a bias
    assert count_parameters(NiN(ModelConfig(num_classes=100))) == weights_and_biases + 90 * (192 + 1)


def test_forward_cost_matches_the_model_zoo_net():
    macs = sum(k * k * cin * cout * side * side for k, cin, cout, side in CAFFE_CIFAR10_CONVS)
    assert count_macs(NiN(ModelConfig())) == macs
    assert round(macs / 1e6, 1) == CAFFE_ZOO_MMACS


@pytest.mark.parametrize("head", ["gap", "fc", "fc_dropout"])
def test_heads_give_one_logit_per_class(head):
    model = NiN(ModelConfig(head=head, num_classes=10))
    assert model(torch.randn(4, 3, 32, 32)).shape == (4, 10)


def test_fc_head_adds_a_linear_layer_over_the_8x8_maps():
    gap = count_parameters(NiN(ModelConfig(head="gap")))
    fc = count_parameters(NiN(ModelConfig(head="fc")))
    assert fc - gap == 10 * 8 * 8 * 10 + 10


@pytest.mark.parametrize("final_relu", [False, True])
def test_confidence_maps_average_to_the_logits(final_relu):
    model = NiN(ModelConfig(final_relu=final_relu)).eval()
    x = torch.randn(2, 3, 32, 32)
    maps = model.confidence_maps(x)
    assert maps.shape == (2, 10, 8, 8)
    # with Caffe's ReLU the maps are non-negative; without it, logits can be negative
    assert bool((maps >= 0).all()) == final_relu
    torch.testing.assert_close(maps.mean(dim=(2, 3)), model(x))


def test_mnist_net_shapes_and_size():
    model = NiN(MNIST_MODEL)
    assert model.confidence_maps(torch.randn(3, 1, 28, 28)).shape == (3, 10, 7, 7)
    assert count_parameters(model) == 162_506


def test_pooling_rounds_up_like_caffe():
    assert pooled_size(32) == 16 and pooled_size(16) == 8 and pooled_size(28) == 14 and pooled_size(14) == 7


def test_dropout_switch():
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(0)
    model = NiN(ModelConfig(dropout=0.0)).train()
    torch.testing.assert_close(model(x), model(x))  # no randomness left in training mode
    with_dropout = NiN(ModelConfig(dropout=0.5)).train()
    assert not torch.equal(with_dropout(x), with_dropout(x))


def test_unknown_head_and_init_are_rejected():
    with pytest.raises(ValueError, match="unknown head"):
        NiN(ModelConfig(head="maxout"))
    with pytest.raises(ValueError, match="unknown init"):
        NiN(ModelConfig(init="xavier"))


def test_architecture_table_sums_to_the_parameter_count():
    model = NiN(ModelConfig())
    rows = architecture_table(model)
    assert sum(r["parameters"] for r in rows) == count_parameters(model)
    assert rows[-1]["layer"] == "AdaptiveAvgPool2d" and rows[-1]["output"] == "10x1x1"


@pytest.mark.parametrize("training", [True, False])
def test_architecture_table_leaves_the_model_in_the_mode_it_had(training):
    model = NiN(ModelConfig(batchnorm=True)).train(training)
    architecture_table(model)
    assert all(m.training == training for m in model.modules())


def test_bit_dropout_keeps_half_and_rescales():
    """The bit-mask dropout: every entry is either 0 or 2x its input, about
    half are kept, each position is kept about half the time over draws
    (no stuck bits), the gradient is the same mask, eval is the identity."""
    from nin_repro.model import BitDropout

    torch.manual_seed(0)
    drop = BitDropout(0.5).train()
    x = torch.rand(64, 96, 16, 16).add_(0.5).requires_grad_()
    y = drop(x)
    kept = y != 0
    torch.testing.assert_close(y[kept], 2 * x[kept])
    assert abs(kept.float().mean().item() - 0.5) < 0.005
    y.backward(torch.ones_like(y))
    torch.testing.assert_close(x.grad, 2.0 * kept.float())
    # each of the 8 bit positions of a byte, and each element, is a fair coin
    draws = torch.stack([drop(torch.ones(8, 1000)) != 0 for _ in range(400)]).float()
    per_position = draws.mean(0)
    assert per_position.min() > 0.38 and per_position.max() < 0.62
    # neighbours (bits of one byte) are independent: P(both kept) ~ 1/4
    assert abs((draws[:, 0, :-1] * draws[:, 0, 1:]).mean().item() - 0.25) < 0.01
    drop.eval()
    assert torch.equal(drop(x), x)


def test_bit_dropout_mask_follows_the_input_layout_and_seed():
    from nin_repro.model import BitDropout, keep_mask_half

    x = torch.randn(4, 12, 5, 5).to(memory_format=torch.channels_last)
    mask = keep_mask_half(x)
    assert mask.shape == x.shape and mask.stride() == x.stride()
    assert BitDropout(0.5).train()(x).is_contiguous(memory_format=torch.channels_last)
    torch.manual_seed(3)
    a = keep_mask_half(x)
    torch.manual_seed(3)
    assert torch.equal(a, keep_mask_half(x))
    # other rates use torch's dropout; invalid rates are refused
    torch.manual_seed(0)
    y = BitDropout(0.25).train()(torch.ones(10000))
    assert abs((y == 0).float().mean().item() - 0.25) < 0.03
    with pytest.raises(ValueError, match="dropout rate"):
        BitDropout(1.0)


def test_the_default_net_uses_the_fast_dropout_and_no_batchnorm():
    from nin_repro.model import BitDropout

    kinds = [type(m) for m in NiN(ModelConfig()).modules()]
    assert kinds.count(BitDropout) == 2 and torch.nn.Dropout not in kinds
    assert torch.nn.BatchNorm2d not in kinds


def test_batchnorm_variant_normalizes_every_conv_but_the_class_maps():
    model = NiN(ModelConfig(batchnorm=True))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 8 and [c.bias is None for c in convs] == [True] * 8 + [False]
    # BatchNorm adds a scale and shift per channel, the convs drop their biases
    base = NiN(ModelConfig())
    assert count_parameters(model) == count_parameters(base) + sum(n.num_features for n in norms)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_the_authors_small_nets_have_their_published_shapes():
    """mnist_def and svhn_def of the first author's cuda-convnet release: the
    widths, a 5x5 kernel in mlpconv 3, max pools, GAP over 7x7 (MNIST) and
    8x8 (SVHN) maps; the MNIST net has about 350k parameters."""
    import torch

    from nin_repro.experiments import get
    from nin_repro.model import NiN, count_parameters

    mnist, svhn = NiN(get("mnist_full").model), NiN(get("svhn").model)
    assert count_parameters(mnist) == 349_674
    convs = [m for m in mnist.features.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [96, 64, 48, 128, 96, 48, 128, 96, 10]
    assert [c.kernel_size[0] for c in convs] == [5, 1, 1, 5, 1, 1, 5, 1, 1]
    assert isinstance(mnist.features[4], torch.nn.MaxPool2d)
    assert mnist.confidence_maps(torch.zeros(1, 1, 28, 28)).shape == (1, 10, 7, 7)
    convs = [m for m in svhn.features.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [128, 96, 64, 320, 256, 128, 384, 256, 10]
    assert svhn.confidence_maps(torch.zeros(1, 3, 32, 32)).shape == (1, 10, 8, 8)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("relus", ["own module, not in place", "own module, in place"])
def test_relus_fused_into_their_convolutions_train_exactly_as_relu_modules(precision, relus):
    """On a CPU the library runs each ReLU inside the convolution before it
    (MlpConv), and ReLU modules, where they run, are not in place, because
    each is faster on some CPUs (model.py); neither may change anything but
    speed: the same weights after a few SGD steps, to the bit, in either
    precision, against ReLUs as their own modules, in place or not."""
    import copy

    from nin_repro.model import MlpConv

    torch.manual_seed(0)
    ours = NiN(ModelConfig()).to(memory_format=torch.channels_last)
    assert all(not m.inplace for m in ours.modules() if isinstance(m, torch.nn.ReLU))
    theirs = copy.deepcopy(ours)
    for m in theirs.modules():
        if isinstance(m, MlpConv):
            m.fuse_relu = False
        if isinstance(m, torch.nn.ReLU):
            m.inplace = relus.endswith(", in place")
    x = torch.randn(8, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.arange(8) % 10
    losses = {}
    for name, model in (("ours", ours), ("theirs", theirs)):
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        torch.manual_seed(1)  # the same dropout masks on both sides
        for _ in range(3):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.setdefault(name, []).append(loss.item())
    assert losses["ours"] == losses["theirs"]
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters()))
    assert [k for k, _ in ours.named_parameters()] == [k for k, _ in theirs.named_parameters()]


def test_relus_run_inside_their_convolutions_where_onednn_can_take_them():
    """The fused path is the one taken on a CPU in fp32 (and in bf16 where
    oneDNN has bf16 kernels): a ReLU module's forward does not run then; a
    convolution that is watched by a hook runs as its own module."""
    from nin_repro.model import can_fuse_relu, mlpconv

    block = mlpconv(3, (8, 6, 4), 3)
    x = torch.randn(2, 3, 8, 8)
    relu_calls = []
    for m in block:
        if isinstance(m, torch.nn.ReLU):
            m.register_forward_hook(lambda *_: relu_calls.append(1))
    conv = block[0]
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this torch has no oneDNN")
    assert can_fuse_relu(conv, x)
    with torch.no_grad():
        fused = block(x)
    assert relu_calls == []  # all three convolutions ran with their ReLUs fused
    block.fuse_relu = False
    with torch.no_grad():
        separate = block(x)
    assert len(relu_calls) == 3 and torch.equal(fused, separate)
    handle = conv.register_forward_hook(lambda *_: None)
    assert not can_fuse_relu(conv, x)
    handle.remove()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert can_fuse_relu(conv, x) == torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert not can_fuse_relu(conv, x.double())  # a dtype the convolution's weights are not in
    assert not can_fuse_relu(torch.nn.Conv2d(3, 8, 3, stride=2), x)


def test_load_net_builds_the_configs_net_with_its_weights_or_says_in_one_line_what_does_not_fit():
    from nin_repro.model import load_net

    cfg = ModelConfig(in_channels=1, block1=(8, 8, 8), block2=(8, 8, 8), block3=(8, 8), input_size=28)
    torch.manual_seed(0)
    trained = NiN(cfg).state_dict()
    net = load_net(cfg.to_dict(), trained)
    assert net.cfg == cfg and all(torch.equal(v, trained[k]) for k, v in net.state_dict().items())
    # a weight of another shape, one missing and one unexpected: named, in one line, with what to do
    wrong = {**trained, "features.0.0.weight": torch.zeros(8, 3, 5, 5), "head.extra": torch.zeros(1)}
    del wrong["features.6.0.bias"]
    with pytest.raises(ValueError) as e:
        load_net(cfg.to_dict(), wrong, "runs/x.json", "weights/x.pt", "train it again")
    assert str(e.value) == ("weights/x.pt does not fit the net that config.model of runs/x.json describes "
                            "(missing features.6.0.bias; unexpected head.extra; of another shape "
                            "features.0.0.weight); train it again")
    # the CIFAR-10 net's weights in the MNIST net's config: every convolution of another shape
    with pytest.raises(ValueError, match=r"^the state dict does not fit .*of another shape .* \.\.\.\)$"):
        load_net(cfg.to_dict(), NiN(ModelConfig()).state_dict())
    with pytest.raises(ValueError, match=r"^c.json: config.model describes no net of this study \(TypeError: "):
        load_net({**cfg.to_dict(), "width": 3}, trained, config_from="c.json")
    with pytest.raises(ValueError, match=r"unknown head 'maxout'"):
        load_net({**cfg.to_dict(), "head": "maxout"}, trained)

