"""The whole split as one tensor on the training device; shuffling and
augmentation are batched tensor ops (no DataLoader, no worker processes).

Random numbers come from a `torch.Generator` owned by the loader, so a run is
reproducible and its state can be checkpointed and restored exactly. That
generator lives on the CPU whatever the device: a run's data stream then
continues when its snapshot moves between a CPU machine and a GPU one (a CUDA
generator's state cannot be restored into a CPU one, nor the other way round).
The draws are a few numbers per image, moved to the device with the batch.
"""

from __future__ import annotations

import torch


def flip(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror left-right the images where `mask` is True."""
    return torch.where(mask[:, None, None, None], images.flip(3), images)


def translate(images: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, pad: int | None = None) -> torch.Tensor:
    """Shift each image by (dx, dy) pixels, filling with zeros (the data mean
    after centring/whitening). Pixels shifted out are dropped. `pad`, if
    given, bounds the shifts (no need to read them back from the device)."""
    n, c, h, w = images.shape
    if pad is None:
        pad = int(max(dx.abs().max().item(), dy.abs().max().item(), 0))
    if pad == 0:
        return images
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
    rows = (torch.arange(h, device=images.device)[None, :] + pad - dy[:, None])  # n x h
    cols = (torch.arange(w, device=images.device)[None, :] + pad - dx[:, None])  # n x w
    idx_n = torch.arange(n, device=images.device)[:, None, None, None]
    idx_c = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[idx_n, idx_c, rows[:, None, :, None], cols[:, None, None, :]]


class TensorLoader:
    """Batches of (images, labels) from tensors resident on `device`."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, *,
                 train: bool, translate: int = 0, flip: bool = False, seed: int = 0,
                 device: str | torch.device = "cpu", channels_last: bool = True):
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.batch_size = batch_size
        self.train = train
        self.max_shift = translate
        self.flip = flip
        self.channels_last = channels_last
        self.generator = torch.Generator()  # on the CPU: see the module's docstring
        self.generator.manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.labels)
        # Training drops the ragged last batch (as Caffe's fixed-size batches);
        # evaluation sees every image.
        return n // self.batch_size if self.train else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.labels)
        order = (torch.randperm(n, generator=self.generator).to(self.device) if self.train
                 else torch.arange(n, device=self.device))
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            x, y = self.images[idx], self.labels[idx]
            if self.train and self.flip:
                x = flip(x, (torch.rand(len(x), generator=self.generator) < 0.5).to(self.device))
            if self.train and self.max_shift:
                s = self.max_shift
                d = torch.randint(-s, s + 1, (2, len(x)), generator=self.generator).to(self.device)
                x = translate(x, d[0], d[1], pad=s)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y
