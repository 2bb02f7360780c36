"""Network In Network (Lin, Chen, Yan, ICLR 2014): mlpconv blocks and heads.

The CIFAR-10 net follows the Caffe model-zoo definition of the paper's net:

    mlpconv 1: conv 5x5,192 -> 1x1,160 -> 1x1,96   | max pool 3/2 (ceil) | dropout
    mlpconv 2: conv 5x5,192 -> 1x1,192 -> 1x1,192  | avg pool 3/2 (ceil) | dropout
    mlpconv 3: conv 3x3,192 -> 1x1,192 -> 1x1,C    | global average pooling

The first author's MNIST net (`mnist_def` of his cuda-convnet release) is the
same structure, narrower, with a max pool after mlpconv 2 and a 5x5 kernel in
mlpconv 3: `block1=(96, 64, 48), block2=(128, 96, 48), block3=(128, 96),
block3_kernel=5, pool2="max"`.

Each convolution is followed by a ReLU except, by default, the last one (on a
CPU the ReLU runs inside the convolution: `MlpConv`). The Caffe definition
also puts a ReLU on the class "confidence maps"; in our runs that let a whole
class map die (zero everywhere, so the class is never predicted and test
error floors near 10%), so we drop it (`final_relu=False`; the book's
deviations page has the measurement). The maps' spatial means are the logits.
Widths, input channels, dropout and the head are parameters, so the MNIST net
and every ablation of the paper are this one class.
"""

from __future__ import annotations

from dataclasses import dataclass, asdict

import torch
from torch import nn

HEADS = ("gap", "fc", "fc_dropout")
POOLS = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}


@dataclass(frozen=True)
class ModelConfig:
    num_classes: int = 10
    in_channels: int = 3
    # (k x k conv width, first 1x1 width, second 1x1 width) for mlpconv 1 and 2;
    # mlpconv 3 is (k x k conv width, 1x1 width) and then num_classes maps.
    block1: tuple[int, int, int] = (192, 160, 96)
    block2: tuple[int, int, int] = (192, 192, 192)
    block3: tuple[int, int] = (192, 192)
    block3_kernel: int = 3
    pool2: str = "avg"  # "avg" (Caffe model zoo's CIFAR-10 net) | "max" (the author's cuda-convnet nets)
    dropout: float = 0.5  # after mlpconv 1 and 2; 0 switches it off (Figure 4)
    head: str = "gap"  # "gap" | "fc" | "fc_dropout" (Table 5)
    input_size: int = 32  # needed only to size the fully connected heads
    init: str = "kaiming"  # "kaiming" (He normal) | "caffe" (Gaussian std 0.05)
    final_relu: bool = False  # Caffe's ReLU on the class maps (see the module docstring)
    # BatchNorm after every convolution but the class-map one: the "fast
    # recipe" of the engineering notes only; the paper's net has none.
    batchnorm: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        d = dict(d)
        for key in ("block1", "block2", "block3"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def mlpconv(in_ch: int, widths: tuple[int, int, int], kernel: int, last_relu: bool = True,
            batchnorm: bool = False, last_batchnorm: bool = True) -> "MlpConv":
    """A k x k convolution followed by two 1x1 convolutions, each with ReLU
    (the last one only if `last_relu`: the class maps' block has none).

    The 1x1 convolutions are a two-layer perceptron applied at every pixel
    ("cascaded cross-channel parametric pooling" in the paper). With
    `batchnorm`, each convolution (the last one only if `last_batchnorm`) is
    followed by BatchNorm, and drops its bias, which BatchNorm would cancel.
    """
    layers = []
    for i, (c_in, c_out, k) in enumerate(zip((in_ch, *widths[:2]), widths, (kernel, 1, 1))):
        last = i == 2
        norm = batchnorm and (last_batchnorm or not last)
        layers.append(nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=not norm))
        if norm:
            layers.append(nn.BatchNorm2d(c_out))
        # Not in place: the same numbers (ReLU's backward reads the sign of its input or of its output,
        # which agree), and faster in bf16 on AMX: x1.127 in every one of 6 rounds side by side with the
        # in-place ReLU (x1.08-x1.16; results/bench/levers_20261202T103305.json), while on an AVX2 Zen 3
        # in fp32 neither was faster (x1.010, rounds x0.89-x1.12; levers_20261202T065650.json).
        layers.append(nn.ReLU() if (last_relu or not last) else nn.Identity())
    return MlpConv(*layers)


class MlpConv(nn.Sequential):
    """An mlpconv block's layers, run in order, except that on a CPU a
    convolution followed directly by a ReLU runs as one oneDNN convolution
    with the ReLU applied as it writes its output (`conv_relu`), instead of
    a second pass over the whole activation. The values and gradients are
    the same (a test compares both paths in fp32 and bf16), and on the Xeon
    with AMX in bf16 the ReLUs as their own modules (`fuse_relu = False`,
    the bench's lever) ran at x0.947 of this, slower in every one of 8 rounds
    (results/bench/levers_20261203T063430.json); on an AMD Zen 3 in fp32
    the two ran level (x1.007, x0.967-x1.058 over 6 rounds;
    results/bench/levers_20261205T234633.json). A Sequential, so the
    parameters keep their names (`features.0.2.weight`)."""

    fuse_relu: bool = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layers = list(self)
        i = 0
        while i < len(layers):
            layer = layers[i]
            if (self.fuse_relu and i + 1 < len(layers) and isinstance(layer, nn.Conv2d)
                    and isinstance(layers[i + 1], nn.ReLU) and can_fuse_relu(layer, x)):
                x = conv_relu(layer, x)
                i += 2
            else:
                x = layer(x)
                i += 1
        return x


def can_fuse_relu(conv: nn.Conv2d, x: torch.Tensor) -> bool:
    """Whether `conv_relu` can run this convolution on this input: a CPU
    tensor, a plain convolution (stride 1, no dilation or groups, zero
    padding), oneDNN present, and bf16 only where oneDNN has bf16 kernels
    (elsewhere torch runs bf16 convolutions through its own fallback)."""
    if x.device.type != "cpu" or not torch.backends.mkldnn.is_available() or torch.compiler.is_compiling():
        return False  # CUDA has its own kernels; torch.compile fuses by itself
    if (conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.groups != 1 or conv.padding_mode != "zeros"
            or isinstance(conv.padding, str)):
        return False
    if conv._forward_hooks or conv._forward_pre_hooks or not hasattr(torch.ops.mkldnn, "_convolution_pointwise"):
        return False  # a hooked convolution (count_macs) runs as its own module, so its hooks fire
    if torch.is_autocast_enabled("cpu"):
        dtype = torch.get_autocast_dtype("cpu")
    elif x.dtype == conv.weight.dtype:
        dtype = x.dtype
    else:
        return False  # let torch's convolution say what is wrong
    if dtype == torch.bfloat16:
        return torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return dtype == torch.float32


class _ConvReLU(torch.autograd.Function):
    """relu(conv(x, w, b)) in one oneDNN convolution (ReLU as a post-op); the
    backward masks the gradient by the output's sign, as ReLU's does, then
    runs the convolution's backward."""

    @staticmethod
    def forward(ctx, x, weight, bias, padding):
        y = torch.ops.mkldnn._convolution_pointwise(x, weight, bias, list(padding), [1, 1], [1, 1], 1,
                                                     "relu", [], "")
        ctx.save_for_backward(x, weight, y)
        ctx.padding = list(padding)
        ctx.bias_sizes = None if bias is None else list(bias.shape)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, weight, y = ctx.saved_tensors
        grad = torch.ops.aten.threshold_backward(grad, y, 0)
        need = ctx.needs_input_grad
        gx, gw, gb = torch.ops.aten.convolution_backward(
            grad, x, weight, ctx.bias_sizes, [1, 1], ctx.padding, [1, 1], False, [0, 0], 1,
            [need[0], need[1], ctx.bias_sizes is not None and need[2]])
        return gx, gw, gb, None


def conv_relu(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """relu(conv(x)) in one pass (see `MlpConv`). Under autocast the input,
    weight and bias are cast as autocast casts them for a convolution, and
    the casts stay in the graph, so gradients reach the fp32 weights."""
    weight, bias = conv.weight, conv.bias
    if torch.is_autocast_enabled("cpu"):
        dtype = torch.get_autocast_dtype("cpu")
        x, weight = x.to(dtype), weight.to(dtype)
        bias = None if bias is None else bias.to(dtype)
        with torch.autocast("cpu", enabled=False):
            return _ConvReLU.apply(x, weight, bias, conv.padding)
    return _ConvReLU.apply(x, weight, bias, conv.padding)


class BitDropout(nn.Module):
    """Dropout whose keep-mask comes from random bits, not one draw per element.

    torch's CPU dropout calls the random generator once per element
    (`bernoulli_`), which costs a large share of the NiN training step on 2
    cores (the book's engineering notes measure it). For p = 0.5, each bit of
    a random byte is an exact fair coin, so one byte serves eight elements:
    the mask has exactly the distribution of `nn.Dropout(0.5)`'s. Other rates
    fall back to `nn.functional.dropout`.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p != 0.5:
            return nn.functional.dropout(x, self.p, training=True)
        return x * keep_mask_half(x).to(x.dtype).mul_(2.0)

    def extra_repr(self) -> str:
        return f"p={self.p}"


_BIT_SHIFTS: dict[torch.device, torch.Tensor] = {}


def keep_mask_half(x: torch.Tensor) -> torch.Tensor:
    """A uint8 tensor of x's shape and memory layout, each entry 0 or 1 with
    probability 1/2, independently, made from x.numel() / 8 random bytes."""
    n = x.numel()
    shifts = _BIT_SHIFTS.get(x.device)
    if shifts is None:
        shifts = _BIT_SHIFTS[x.device] = torch.arange(8, dtype=torch.uint8, device=x.device)
    random_bytes = torch.empty(-(-n // 8), dtype=torch.uint8, device=x.device).random_(0, 256)
    bits = (random_bytes.unsqueeze(1) >> shifts).bitwise_and_(1).view(-1)[:n]
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        b, c, h, w = x.shape  # lay the mask out like x so the multiply streams through memory
        return bits.view(b, h, w, c).permute(0, 3, 1, 2)
    return bits.view(x.shape)


def pooled_size(size: int) -> int:
    """Spatial size after one 3x3 / stride 2 pooling with Caffe's ceil rounding."""
    return -(-(size - 3) // 2) + 1


class NiN(nn.Module):
    def __init__(self, cfg: ModelConfig = ModelConfig()):
        super().__init__()
        if cfg.head not in HEADS:
            raise ValueError(f"unknown head {cfg.head!r}; choose one of {HEADS}")
        if cfg.pool2 not in POOLS:
            raise ValueError(f"unknown pool2 {cfg.pool2!r}; choose one of {tuple(POOLS)}")
        self.cfg = cfg
        c = cfg.num_classes
        self.features = nn.Sequential(
            mlpconv(cfg.in_channels, cfg.block1, 5, batchnorm=cfg.batchnorm),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
            BitDropout(cfg.dropout),
            mlpconv(cfg.block1[2], cfg.block2, 5, batchnorm=cfg.batchnorm),
            POOLS[cfg.pool2](3, stride=2, ceil_mode=True),
            BitDropout(cfg.dropout),
            # The last mlpconv emits one map per class: the confidence maps.
            mlpconv(cfg.block2[2], (*cfg.block3, c), cfg.block3_kernel, last_relu=cfg.final_relu,
                    batchnorm=cfg.batchnorm, last_batchnorm=False),
        )
        if cfg.head == "gap":
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        else:
            side = pooled_size(pooled_size(cfg.input_size))
            layers = [nn.Flatten()]
            if cfg.head == "fc_dropout":
                layers.append(nn.Dropout(0.5))
            layers.append(nn.Linear(c * side * side, c))
            self.head = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                if self.cfg.init == "caffe":
                    nn.init.normal_(m.weight, std=0.05)
                elif self.cfg.init == "kaiming":
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                else:
                    raise ValueError(f"unknown init {self.cfg.init!r}; use 'kaiming' or 'caffe'")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def class_map_layer(self) -> nn.Conv2d:
        """The 1x1 convolution that makes the class maps (Caffe's `cccp6`),
        which the published Caffe recipe trains at a tenth of the base rate."""
        return [m for m in self.features[-1] if isinstance(m, nn.Conv2d)][-1]

    def confidence_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The last mlpconv's output: one map per class (Figure 5)."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def load_net(config: dict, state: dict, config_from: str = "the config", weights_from: str = "the state dict",
             fix: str = "") -> NiN:
    """The net a stored `config` (`ModelConfig.to_dict`'s dict) describes,
    with the weights of `state` in it, after checking that every weight is
    there with its shape: a ValueError of one line naming `config_from` or
    `weights_from` (the files they came from) where they do not fit, with
    `fix` (what to do) after it. `load_state_dict` would say it in a page."""
    then = f"; {fix}" if fix else ""
    try:
        model = NiN(ModelConfig.from_dict(config))
    except (TypeError, ValueError, KeyError) as e:
        first = str(e).splitlines()[0] if str(e) else ""
        raise ValueError(f"{config_from}: config.model describes no net of this study "
                         f"({type(e).__name__}: {first}){then}") from None
    mine = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in state.items()}
    if mine != theirs:
        missing, extra = sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))
        shapes = sorted(k for k in set(mine) & set(theirs) if mine[k] != theirs[k])
        what = "; ".join(f"{n} {', '.join(ks[:3])}{' ...' if len(ks) > 3 else ''}"
                         for n, ks in (("missing", missing), ("unexpected", extra), ("of another shape", shapes))
                         if ks)
        raise ValueError(f"{weights_from} does not fit the net that config.model of {config_from} describes "
                         f"({what}){then}")
    model.load_state_dict(state)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: NiN, input_size: int | None = None) -> int:
    """Multiply-accumulates of one forward pass for one image (convs and linears)."""
    size = input_size or model.cfg.input_size
    macs = 0

    def hook(mod, inp, out):
        nonlocal macs
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            macs += out.shape[1] * out.shape[2] * out.shape[3] * mod.in_channels * k
        elif isinstance(mod, nn.Linear):
            macs += mod.in_features * mod.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            was_training = model.training
            model.eval()
            model(torch.zeros(1, model.cfg.in_channels, size, size))
            model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    return macs


def architecture_table(model: NiN) -> list[dict]:
    """One row per layer with its output shape and parameters, for the book.
    The model runs in eval mode (dropout off, BatchNorm on its running
    statistics) and is left in the mode it had, as `count_macs` leaves it."""
    rows = []
    x = torch.zeros(1, model.cfg.in_channels, model.cfg.input_size, model.cfg.input_size)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for stage in list(model.features) + [model.head]:
                for layer in (stage if isinstance(stage, nn.Sequential) else [stage]):
                    x = layer(x)
                    # a dropout of rate 0 (Figure 4's net) does nothing: the net has no dropout to show
                    if isinstance(layer, (nn.ReLU, nn.Flatten, nn.Identity, nn.BatchNorm2d)) or (
                            isinstance(layer, BitDropout) and layer.p == 0.0):
                        continue
                    rows.append({
                        "layer": repr(layer).split("(")[0] if not isinstance(layer, nn.Conv2d)
                        else f"Conv {layer.kernel_size[0]}x{layer.kernel_size[1]}",
                        "output": "x".join(str(s) for s in x.shape[1:]),
                        "parameters": sum(p.numel() for p in layer.parameters()),
                    })
    finally:
        model.train(was_training)
    return rows
