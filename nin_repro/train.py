"""The training loop: data on the device, SGD with the paper's step schedule,
bf16 autocast + channels_last, evaluation, a checkpoint each epoch, resume,
and a run record at the end.

Read top to bottom: `train()` is the whole recipe.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import data, paths, preprocess, results
from .atomic import atomic_path
from .cpu import apply_cpu_settings, cpu_name
from .experiments import Experiment, get as get_experiment
from .loader import TensorLoader
from .model import NiN, count_parameters


class DivergedError(RuntimeError):
    """The loss became NaN or infinite."""


class CheckpointError(RuntimeError):
    """A checkpoint is torn or belongs to another configuration."""


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:N' or 'auto'") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested, but this machine has no CUDA GPU "
                         "(torch.cuda.is_available() is False); use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r}; use 'cpu', 'cuda' or 'auto'")
    return dev


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"cpu ({cpu_name()})"


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=paths.REPO_ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "nin_repro"],
                               cwd=paths.REPO_ROOT, capture_output=True, text=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def learning_rate(cfg, epoch: int, step: int, steps_per_epoch: int) -> float:
    """Linear warm-up, then the base rate divided by 10 at each milestone."""
    progress = epoch + step / steps_per_epoch
    lr = cfg.lr * 0.1 ** sum(epoch >= m for m in cfg.milestones())
    if cfg.warmup_epochs and progress < cfg.warmup_epochs:
        lr *= (progress + 1 / steps_per_epoch) / cfg.warmup_epochs
    return lr


def autocast(dev: torch.device, precision: str):
    if precision not in ("bf16", "fp32"):
        raise ValueError(f"unknown precision {precision!r}; use 'bf16' or 'fp32'")
    return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def evaluate(model, loader: TensorLoader, dev: torch.device, precision: str) -> tuple[float, float]:
    """(mean loss, error %) over the whole split."""
    model.eval()
    loss_sum = torch.zeros((), device=dev)
    wrong = torch.zeros((), device=dev, dtype=torch.long)
    with torch.no_grad(), autocast(dev, precision):
        for x, y in loader:
            logits = model(x).float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            wrong += (logits.argmax(1) != y).sum()
    n = len(loader.labels)
    return loss_sum.item() / n, 100.0 * wrong.item() / n


def load_inputs(exp: Experiment, data_dir=None, cache_dir=None, download=False, subset: int | None = None):
    """Preprocessed float tensors (train, test) and labels, as the experiment says."""
    splits = data.load(exp.dataset, data_dir, cache_dir, download)
    tr_img, tr_lab, te_img, te_lab = splits.train_images, splits.train_labels, splits.test_images, splits.test_labels
    if subset:
        # Smoke runs: the first `subset` training images, and as many test images.
        tr_img, tr_lab = tr_img[:subset], tr_lab[:subset]
        te_img, te_lab = te_img[:subset], te_lab[:subset]
    train_x, test_x = preprocess.prepare(exp.dataset, tr_img, te_img, exp.preprocess)
    return train_x, torch.from_numpy(tr_lab), test_x, torch.from_numpy(te_lab), splits.source


def checkpoint_path(run_name: str, cache_dir=None) -> Path:
    return paths.cache_dir(cache_dir) / "checkpoints" / f"{run_name}.pt"


def save_checkpoint(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, config: dict) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises several types for a torn zip
        raise CheckpointError(f"{path} is torn or unreadable ({type(e).__name__}: {e}); delete it and "
                              "start again without --resume") from e
    if state.get("config") != config:
        raise CheckpointError(f"{path} was written by a run with another configuration; delete it or "
                              "resume with the same experiment, seed and overrides")
    return state


def train(experiment: str | Experiment, seed: int = 0, device: str = "cpu", *, epochs: int | None = None,
          subset: int | None = None, data_dir=None, cache_dir=None, results_dir=None, download: bool = False,
          resume: bool = False, precision: str | None = None, compile: bool | None = None,
          batch_size: int | None = None, write: bool = True, progress: bool = True,
          stop_after_epoch: int | None = None, deadline: float | None = None, log=print) -> dict | None:
    """Train one run of an experiment and return (and write) its record.

    `stop_after_epoch` / `deadline` (a `time.time()` value) end the call early
    after a completed, checkpointed epoch; it then returns None and the run
    continues with `resume=True`."""
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    overrides = {k: v for k, v in dict(epochs=epochs, subset=subset, batch=batch_size).items()
                 if v is not None and not (k == "epochs" and v == exp.train.epochs)}
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs}")
    if subset is not None and subset < 1:
        raise ValueError(f"subset must be a positive integer, got {subset}")
    cfg = replace(exp.train, epochs=epochs or exp.train.epochs, batch_size=batch_size or exp.train.batch_size,
                  precision=precision or exp.train.precision,
                  compile=exp.train.compile if compile is None else compile)
    dev = resolve_device(device)
    settings = apply_cpu_settings() if dev.type == "cpu" else {"threads": torch.get_num_threads()}
    config = {"experiment": exp.name, "dataset": exp.dataset, "preprocess": exp.preprocess,
              "paper_key": exp.paper_key, "model": exp.model.to_dict(), "train": cfg.to_dict(),
              "seed": seed, "overrides": overrides, "description": exp.description}
    run_name = results.record_filename({"experiment": exp.name, "seed": seed, "config": config})[:-5]

    commit = git_commit()  # now: the code that runs, even if the checkout changes meanwhile
    torch.manual_seed(seed)
    train_x, train_y, test_x, test_y, source = load_inputs(exp, data_dir, cache_dir, download, subset)
    train_loader = TensorLoader(train_x, train_y, cfg.batch_size, train=True, translate=cfg.translate,
                                flip=cfg.flip, seed=seed, device=dev, channels_last=cfg.channels_last)
    test_loader = TensorLoader(test_x, test_y, cfg.eval_batch_size, train=False, device=dev,
                               channels_last=cfg.channels_last)
    if len(train_loader) == 0:
        raise ValueError(f"{len(train_y)} training images is fewer than one batch of {cfg.batch_size}")

    model = NiN(exp.model).to(dev)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    # Weight decay on weights and biases alike, as Caffe's solver does.
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    step_fn = torch.compile(model) if cfg.compile else model

    history, start_epoch, wall_before = [], 0, 0.0
    ckpt = checkpoint_path(run_name, cache_dir)
    if resume and ckpt.exists():
        state = load_checkpoint(ckpt, config)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        if dev.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], dev)
        train_loader.generator.set_state(state["loader_rng"])
        history, start_epoch, wall_before = state["history"], state["epoch"], state["wall_seconds"]
        log(f"[{run_name}] resumed from {ckpt} after epoch {start_epoch}")
    elif resume:
        log(f"[{run_name}] no checkpoint at {ckpt}: starting from scratch")

    log(f"[{run_name}] {exp.description}; {count_parameters(model):,} parameters; "
        f"{len(train_y):,} train / {len(test_y):,} test images; device {device_name(dev)}, "
        f"{settings.get('threads')} threads, {cfg.precision}; data {source}")
    steps = len(train_loader)
    t_start = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        loss_sum = torch.zeros((), device=dev)
        wrong = torch.zeros((), device=dev, dtype=torch.long)
        t0 = time.perf_counter()
        bar = tqdm(train_loader, total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch",
                   disable=not progress, leave=False, mininterval=2.0)
        for step, (x, y) in enumerate(bar):
            lr = learning_rate(cfg, epoch, step, steps)
            for group in opt.param_groups:
                group["lr"] = lr
            with autocast(dev, cfg.precision):
                logits = step_fn(x)
                loss = F.cross_entropy(logits.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
            wrong += (logits.detach().argmax(1) != y).sum()
            # Check for divergence every 50 steps (a check forces a GPU sync).
            if (step + 1) % 50 == 0 or step + 1 == steps:
                if not math.isfinite(loss_sum.item()):
                    raise DivergedError(
                        f"[{run_name}] loss became {loss_sum.item()} in epoch {epoch + 1} (step {step + 1}); "
                        f"the last good checkpoint (after epoch {epoch}) is kept at {ckpt}. "
                        "Lower the learning rate or lengthen the warm-up.")
                if progress:
                    seen = (step + 1) * cfg.batch_size
                    bar.set_postfix(loss=f"{loss_sum.item() / (step + 1):.3f}",
                                    img_s=f"{seen / (time.perf_counter() - t0):.0f}")
        train_seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        test_loss, test_error = evaluate(model, test_loader, dev, cfg.precision)
        eval_seconds = time.perf_counter() - t1
        row = {"epoch": epoch + 1, "lr": lr, "train_loss": loss_sum.item() / steps,
               "train_error": 100.0 * wrong.item() / (steps * cfg.batch_size),
               "test_loss": test_loss, "test_error": test_error,
               "seconds": train_seconds + eval_seconds,
               "train_images_per_second": steps * cfg.batch_size / train_seconds,
               "eval_images_per_second": len(test_y) / eval_seconds}
        history.append(row)
        wall = wall_before + time.perf_counter() - t_start
        log(f"[{run_name}] epoch {epoch + 1}/{cfg.epochs}: train loss {row['train_loss']:.4f}, "
            f"train error {row['train_error']:.2f}%, test error {test_error:.2f}%, lr {lr:.4g}, "
            f"{row['train_images_per_second']:.0f} img/s, {row['seconds']:.0f} s")
        save_checkpoint(ckpt, {
            "config": config, "epoch": epoch + 1, "history": history, "wall_seconds": wall,
            "model": model.state_dict(), "optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None,
            "loader_rng": train_loader.generator.get_state()})
        if epoch + 1 < cfg.epochs and ((stop_after_epoch is not None and epoch + 1 >= stop_after_epoch)
                                       or (deadline is not None and time.time() >= deadline)):
            log(f"[{run_name}] stopped after epoch {epoch + 1}/{cfg.epochs}; checkpoint {ckpt}; "
                "continue with --resume")
            return None

    wall = wall_before + time.perf_counter() - t_start
    record = {
        "experiment": exp.name, "dataset": exp.dataset, "seed": seed,
        "test_error": history[-1]["test_error"], "epochs": cfg.epochs,
        "device": device_name(dev), "threads": int(settings.get("threads", torch.get_num_threads())),
        "torch_version": torch.__version__, "python_version": platform.python_version(),
        "git_commit": commit, "wall_seconds": wall,
        "images_per_second": sum(h["train_images_per_second"] for h in history) / len(history),
        "parameters": count_parameters(model), "data_source": source,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": config, "history": history,
    }
    if write:
        path = results.write_record(record, results_dir)
        log(f"[{run_name}] test error {record['test_error']:.2f}% after {cfg.epochs} epochs; record {path}")
    return record

