"""The paper's reported test errors (%), in one place (Lin et al. 2014), and
what later reproductions of its CIFAR-10 net report."""

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple


class PaperError(NamedTuple):
    table: str      # the paper's table
    setting: str    # the row, in words
    error: float    # NIN's test error (%)


PAPER_ERRORS = {key: PaperError(*entry) for key, entry in {
    "cifar10": ("Table 1", "CIFAR-10, dropout, no augmentation", 10.41),
    "cifar10_aug": ("Table 1", "CIFAR-10, dropout + augmentation", 8.81),
    "cifar100": ("Table 2", "CIFAR-100, dropout", 35.68),
    "svhn": ("Table 3", "SVHN, dropout", 2.35),
    "mnist": ("Table 4", "MNIST, dropout", 0.47),
    "cifar10_fc": ("Table 5", "mlpconv + fully connected", 11.59),
    "cifar10_fc_dropout": ("Table 5", "mlpconv + fully connected + dropout", 10.88),
    "cifar10_gap": ("Table 5", "mlpconv + global average pooling", 10.41),
}.items()}


# Figure 4's claim (Section 4.6): dropout between the mlpconv layers cuts the
# CIFAR-10 test error by more than this much, relative to the error without it.
DROPOUT_CUT_PERCENT = 20


# The paper states no parameter count. The public Caffe model-zoo definition
# of its CIFAR-10 net ("NIN CIFAR10" gist by the first author; ../shared/paper.md)
# has this many parameters and multiply-accumulates per 32x32 image: a check of
# our model against that definition, not against the paper.
CAFFE_ZOO_PARAMETERS = 966_986
CAFFE_ZOO_MMACS = 222.5

# Where the full-length protocol's settings come from (the Method page cites them).
SOURCES = {
    "length": "the first author's cuda-convnet release (`mavenlin/cuda-convnet`, `NIN/README`)",
    "rates": ("the Caffe model-zoo solver of the net (the \"NIN CIFAR10\" gist, mirrored in "
              "`natanielruiz/net-archive`, `nin-cifar10/solver.prototxt`)"),
    "groups": "the PyTorch port that reached 89.64% accuracy (`jiecaoyu/pytorch-nin-cifar10`, `original.py`)",
    "mnist": "the first author's MNIST net (`NIN/mnist_def` in the same cuda-convnet release)",
}


# The first author's CIFAR-100 layer parameters (mavenlin/cuda-convnet,
# NIN/cifar-100_params; ../shared/paper.md), the same on every layer; read-only,
# as it is `as_sgd`'s default: a caller's change would alter every later call.
AUTHOR_CIFAR100_PARAMS = MappingProxyType({"epsW": 0.01, "epsB": 0.02, "momentum": 0.9, "wc": 0.001, "coeff": 2})


def as_sgd(params: Mapping = AUTHOR_CIFAR100_PARAMS) -> dict:
    """cuda-convnet's rates as plain SGD with weight decay: a step is
    inc = mom*inc + epsW*(coeff*mean_grad) - epsW*wc*W, so the weights' rate
    is epsW*coeff (the biases' epsB*coeff), the decay wc/coeff, and each step
    takes epsW*wc of every weight away."""
    return {"lr": params["epsW"] * params["coeff"], "bias_lr": params["epsB"] * params["coeff"],
            "weight_decay": params["wc"] / params["coeff"], "decay_per_step": params["epsW"] * params["wc"],
            "momentum": params["momentum"]}


def paper_error(key: str | None) -> float | None:
    """The paper's test error (%) for `key`, None where the paper reports none."""
    entry = PAPER_ERRORS.get(key)
    return None if entry is None else entry.error


# The first author's own account of one CIFAR-10 run (no augmentation) of
# the paper's length: mavenlin/cuda-convnet, NIN/README. (epoch, test error %,
# his words.)
AUTHOR_CIFAR10_MILESTONES = [
    (200, 14.0, "after 200 epochs, the test error is around 14%"),
    (230, 10.7, "near 10.7% after lr/10 to epoch 230"),
    (260, 10.4, "10.4% after lr/100 to epoch 260"),
]


class Reproduction(NamedTuple):
    """A later reproduction's CIFAR-10 test error: a range where its source
    reports one (accuracies converted to error, 100 - accuracy)."""
    source: str
    low: float
    high: float
    augmentation: str
    training: str


# From ../shared/paper.md ("Later reproductions", and the issue threads it cites).
LATER_REPRODUCTIONS = [
    Reproduction("jiecaoyu/pytorch-nin-cifar10", 10.36, 10.36, "no", "Caffe settings, GCN + ZCA"),
    Reproduction("purine/purine2 #19 (Caffe)", 11.8, 12.0, "not stated",
                 "40k + 5k + 5k iterations at lr 0.05 / 0.005 / 0.0005 (about 128 epochs at batch 128)"),
    Reproduction("Jasonlee1995/NIN", 12.3, 12.3, "yes", "without dropout (reports NiN with dropout hard to train)"),
    Reproduction("jiecaoyu/XNOR-Net-PyTorch #59, pytorch-nin-cifar10 #5", 14.0, 19.0, "not stated",
                 "learning rate and batch size adapted"),
    Reproduction("osmr/imgclsmob (pytorchcv)", 7.43, 7.43, "yes",
                 "same net, modern schedule (also CIFAR-100 28.39, SVHN 3.76)"),
]
