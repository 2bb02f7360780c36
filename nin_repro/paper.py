"""The paper's reported test errors (%), in one place (Lin et al. 2014)."""

PAPER_ERRORS = {
    # key: (table, setting, NIN test error %)
    "cifar10": ("Table 1", "CIFAR-10, dropout, no augmentation", 10.41),
    "cifar10_aug": ("Table 1", "CIFAR-10, dropout + augmentation", 8.81),
    "cifar100": ("Table 2", "CIFAR-100, dropout", 35.68),
    "svhn": ("Table 3", "SVHN, dropout", 2.35),
    "mnist": ("Table 4", "MNIST, dropout", 0.47),
    "cifar10_fc": ("Table 5", "mlpconv + fully connected", 11.59),
    "cifar10_fc_dropout": ("Table 5", "mlpconv + fully connected + dropout", 10.88),
    "cifar10_gap": ("Table 5", "mlpconv + global average pooling", 10.41),
}


def paper_error(key: str) -> float | None:
    entry = PAPER_ERRORS.get(key)
    return None if entry is None else entry[2]
