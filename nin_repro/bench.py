"""`nin-repro bench`: the training step's speed, side by side in one process.

- baseline: what a user writes first: a torchvision-style Dataset with CPU
  transforms (random crop with padding, flip, normalize) behind a DataLoader,
  fp32, NCHW, batch 128;
- nin_repro: the library's path (tensor-resident data, batched augmentation,
  channels-last, malloc kept, and the precision the library picks for this
  machine: bf16 autocast where the CPU has native bf16, else fp32), batch 128
  and 256;
- the levers in between, one at a time, so each one's share is measured.
Images/s count the whole step (data, augmentation, forward, backward, update).
The allocator setting of `device.py` is switched per row (glibc's defaults for
the baseline, as a plain script has them).

`nin-repro bench --levers` measures the levers the library could still take
(`SIDE_BY_SIDE`) in alternating rounds against the library's path, so that a
few percent can be told from the machine's drift (`run_levers`).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile
from torch.utils.data import DataLoader, Dataset

from . import checkpoint, data, paths, preprocess
from .atomic import atomic_write_text
from .device import apply_cpu_settings, bf16_is_native, cpu_name, resolve_precision, set_malloc_tuning
from .loader import TensorLoader
from .model import BitDropout, MlpConv, NiN, ModelConfig, count_macs
from .train import git_commit

STEP_FLOP_PER_MAC = 6  # forward (2 flop per MAC) + backward (twice the forward)


def matmul_tflops(dtype=torch.bfloat16, n: int = 2048, repeats: int = 5,
                  max_seconds: float = 10.0) -> tuple[float, int]:
    """The rate of an n^3 matmul, and the n measured. A 512^3 one first
    estimates the time, so a dtype the CPU emulates (bf16 without native
    instructions: minutes per 2048^3 matmul) is measured at the largest size
    that fits `max_seconds`."""
    small = torch.randn(512, 512, dtype=dtype)
    small @ small
    t = time.perf_counter()
    small @ small
    per_flop = (time.perf_counter() - t) / (2 * 512 ** 3)
    while n > 512 and 2 * n ** 3 * per_flop > max_seconds / (repeats + 1):
        n //= 2
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n ** 3 * repeats / (time.perf_counter() - t) / 1e12, n


def _time_steps(model, opt, batches, steps: int, warmup: int, bf16: bool,
                max_seconds: float | None = None) -> float:
    """Images per second over `steps` training steps after `warmup` ones, or
    over fewer (at least 2) once `max_seconds` have passed: bf16 on a CPU that
    emulates it runs ~13x slower, and its rows need not take 13x as long."""
    model.train()
    seen, t0 = 0, None
    for i, (x, y) in enumerate(batches):
        if i == warmup:
            t0, seen = time.perf_counter(), 0
        elif (max_seconds is not None and t0 is not None and i - warmup >= 2
              and time.perf_counter() - t0 > max_seconds):
            break
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += len(y)
        if i + 1 == warmup + steps:
            break
    return seen / (time.perf_counter() - t0)


def _with_levers(model: NiN, dropout: str = "bits", relu_inplace: bool | None = None,
                 fuse_relu: bool = True) -> NiN:
    """The model with one lever switched: dropout as the library does it
    ("bits"), as torch does it ("torch": `nn.Dropout`, one random draw per
    element) or removed ("none": the ceiling for any dropout fix); each ReLU
    fused into its convolution (the library's path) or run as its own module
    (`fuse_relu=False`), then in place or not (None: as the library builds
    them, not in place)."""
    if relu_inplace is not None and fuse_relu:
        raise ValueError("an in-place ReLU is a ReLU run as its own module: pass fuse_relu=False with it")
    for seq in model.modules():
        if isinstance(seq, MlpConv):
            seq.fuse_relu = fuse_relu
        if not isinstance(seq, torch.nn.Sequential):
            continue
        for i, m in enumerate(seq):
            if isinstance(m, BitDropout) and dropout != "bits":
                seq[i] = torch.nn.Dropout(m.p) if dropout == "torch" else torch.nn.Identity()
            elif isinstance(m, torch.nn.ReLU) and relu_inplace is not None:
                m.inplace = relu_inplace
    return model


def _baseline_batches(images, labels, batch: int):
    """torchvision transforms on each image, a DataLoader collating them."""
    import torchvision.transforms.v2 as T  # the baseline's alone: importing torchvision costs each command a second

    tf = T.Compose([T.ToImage(), T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(),
                    T.ToDtype(torch.float32, scale=True), T.Normalize([0.49, 0.48, 0.45], [0.25, 0.24, 0.26])])

    class Images(Dataset):
        def __len__(self):
            return len(labels)

        def __getitem__(self, i):
            return tf(images[i]), int(labels[i])

    while True:
        yield from DataLoader(Images(), batch_size=batch, shuffle=True, num_workers=0, drop_last=True)


def _library_batches(x, y, batch: int, channels_last: bool):
    loader = TensorLoader(x, y, batch, train=True, translate=4, flip=True, channels_last=channels_last)
    while True:
        yield from loader


def profile_step(x, y, batch: int = 128, steps: int = 6, warmup: int = 2, precision: str | None = None,
                 config: ModelConfig | None = None) -> dict:
    """Where the library's training step spends its time (torch.profiler):
    the top operators' shares, and each convolution's forward and backward
    time and TFLOP/s (the same shapes summed: two 192->192 1x1 layers share one),
    for the net of `config` (the CIFAR-10 net if None)."""
    precision = resolve_precision(precision or "auto", torch.device("cpu"))  # as onednn_kernels
    config = config or ModelConfig()
    torch.manual_seed(0)
    model = NiN(config).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    batches = _library_batches(x, y, batch, True)
    bf16 = precision == "bf16"
    _time_steps(model, opt, batches, steps=1, warmup=warmup, bf16=bf16)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        _time_steps(model, opt, batches, steps=steps, warmup=0, bf16=bf16)
    # The profiler's "self" times; the shares are of the operators' total.
    ops = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in ops)
    top = sorted(ops, key=lambda e: -e.self_cpu_time_total)[:8]
    per_step_ms = lambda us: us / 1e3 / steps  # noqa: E731
    # A convolution runs through oneDNN (`mkldnn_convolution`, its backward
    # inside `convolution_backward`) or, where oneDNN does not take it (bf16
    # on a CPU without native bf16, some tiny shapes), through ATen's own
    # im2col + GEMM (`_slow_conv2d_*`); both are counted, and the path is named.
    # A convolution with its ReLU fused (`model.conv_relu`) is oneDNN's `_convolution_pointwise`.
    conv_ops = {"aten::mkldnn_convolution": ("forward", "oneDNN"), "aten::_slow_conv2d_forward": ("forward", "ATen"),
                "mkldnn::_convolution_pointwise": ("forward", "oneDNN, ReLU fused"),
                "aten::convolution_backward": ("backward", None), "aten::_slow_conv2d_backward": ("backward", "ATen")}
    convs: dict[str, dict] = {}
    for e in prof.key_averages(group_by_input_shape=True):
        if e.key not in conv_ops:
            continue
        kind, path = conv_ops[e.key]
        shapes = e.input_shapes
        inp, weight = (shapes[0], shapes[1]) if kind == "forward" else (shapes[1], shapes[2])
        c_out, c_in, kh, kw = weight
        n, _, h, w = inp
        layer = f"{kh}x{kw} conv {c_in}->{c_out} at {h}x{w}"
        row = convs.setdefault(layer, {"layer": layer, "layers": 0, "paths": [], "forward_ms": 0.0,
                                       "backward_ms": 0.0, "_macs": n * c_out * h * w * c_in * kh * kw,
                                       "_in_channels": c_in})
        if kind == "forward":
            row["layers"] += e.count // steps
        if path and path not in row["paths"]:
            row["paths"].append(path)
        row[f"{kind}_ms"] += per_step_ms(e.self_cpu_time_total)
    for row in convs.values():
        macs = row.pop("_macs") * row["layers"]
        # backward computes the weight gradient, plus the input gradient except for the first layer,
        # the only one that reads the images' channels (3 for CIFAR, 1 for MNIST; the others read 48 or more)
        first = row.pop("_in_channels") == config.in_channels
        for kind, flop in (("forward", 2 * macs), ("backward", 2 * macs * (1 if first else 2))):
            row[f"{kind}_tflops"] = flop / (row[f"{kind}_ms"] / 1e3) / 1e12 if row[f"{kind}_ms"] else 0.0
    return {"batch": batch, "steps": steps, "precision": precision, "step_ms": per_step_ms(total),
            "top_ops": [{"op": e.key, "share": e.self_cpu_time_total / total,
                         "ms_per_step": per_step_ms(e.self_cpu_time_total)} for e in top],
            "convolutions": sorted(convs.values(), key=lambda r: -(r.get("forward_ms", 0) + r.get("backward_ms", 0)))}


ONEDNN_MARK = "nin_repro: timed step"


def _onednn_probe(batch: int = 128, steps: int = 3, precision: str = "bf16") -> None:
    """Run in a child process with ONEDNN_VERBOSE=1: a few library steps on
    random data, with a marker line before the last one."""
    apply_cpu_settings()
    torch.manual_seed(0)
    model = NiN(ModelConfig()).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))
    for i in range(steps):
        if i == steps - 1:
            print(ONEDNN_MARK, flush=True)
        _time_steps(model, opt, iter([(x, y)] * 1), steps=1, warmup=0, bf16=precision == "bf16")
    sys.stdout.flush()


def parse_onednn_verbose(text: str) -> list[dict]:
    """oneDNN's verbose lines after the marker, summed by (primitive,
    implementation, propagation): which kernels one training step runs."""
    after = text.split(ONEDNN_MARK)[-1]
    groups: dict[tuple, dict] = {}
    for line in after.splitlines():
        f = line.split(",")
        # onednn_verbose,v1,primitive,exec,cpu,<primitive>,<impl>,<prop>,<mds>,<attrs>,<aux>,<problem>,<ms>
        if len(f) < 13 or f[0] != "onednn_verbose" or f[3] != "exec":
            continue
        key = (f[5], f[6], f[7])
        g = groups.setdefault(key, {"primitive": f[5], "implementation": f[6], "propagation": f[7],
                                    "calls": 0, "ms": 0.0})
        g["calls"] += 1
        g["ms"] += float(f[-1])
    return sorted(groups.values(), key=lambda g: -g["ms"])


def onednn_kernels(batch: int = 128, precision: str | None = None, log=print) -> list[dict] | None:
    """Which oneDNN kernels the library's step runs on this CPU, and their time
    (in the precision the library picks here, unless told another); None,
    said in a line, if the probe's process fails: the bench's rows, minutes
    of measuring, are still written."""
    precision = resolve_precision(precision or "auto", torch.device("cpu"))

    env = {**os.environ, "ONEDNN_VERBOSE": "1"}
    code = f"from nin_repro.bench import _onednn_probe; _onednn_probe({batch}, precision={precision!r})"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        log(f"warning: the oneDNN kernel probe failed ({last}); the record has no kernel list")
        return None
    return parse_onednn_verbose(done.stdout)


def bench_configs(precision: str) -> dict[str, tuple]:
    """The rows, in order: name -> (batches, precision, channels_last, batch,
    malloc kept, model levers, compile). The first rows build the library's
    path up one lever at a time, in both precisions; from the allocator row on,
    the rows run in `precision`, the one the library picks for this machine.
    The baseline and the rows up to the allocator use torch's dropout, the
    rows up to the bit-mask dropout in-place ReLUs, and the rows before the
    library's ReLUs as their own modules, as a plain script would; the
    `lever:` rows switch one more thing each."""
    p, unfused = precision, {"fuse_relu": False}
    torch_dropout, inplace = {"dropout": "torch", "relu_inplace": True, **unfused}, {"relu_inplace": True, **unfused}
    return {
        "baseline: DataLoader + CPU transforms, fp32, NCHW, batch 128":
            ("baseline", "fp32", False, 128, False, torch_dropout, False),
        "tensor-resident data, fp32, NCHW, batch 128": ("library", "fp32", False, 128, False, torch_dropout, False),
        "tensor-resident data, fp32, channels-last, batch 128, glibc malloc defaults":
            ("library", "fp32", True, 128, False, torch_dropout, False),
        "tensor-resident data, bf16, NCHW, batch 128": ("library", "bf16", False, 128, False, torch_dropout, False),
        "tensor-resident data, bf16, channels-last, batch 128, glibc malloc defaults":
            ("library", "bf16", True, 128, False, torch_dropout, False),
        f"+ malloc keeps freed memory ({p}, channels-last, torch dropout)":
            ("library", p, True, 128, True, torch_dropout, False),
        f"+ dropout mask from random bits, {p}, batch 128, ReLU in place":
            ("library", p, True, 128, True, inplace, False),
        f"+ ReLU not in place, {p}, batch 128": ("library", p, True, 128, True, unfused, False),
        f"nin_repro: + ReLU fused into its convolution, {p}, batch 128": ("library", p, True, 128, True, {}, False),
        "lever: torch.compile (default mode)": ("library", p, True, 128, True, {}, True),
        "ceiling: dropout removed": ("library", p, True, 128, True, {"dropout": "none"}, False),
        f"nin_repro: batch 256, {p}": ("library", p, True, 256, True, {}, False),
    }


def _bench_inputs(data_dir=None, cache_dir=None):
    """The first 4096 CIFAR-10 training images, as uint8 images and labels
    (the baseline's input) and as one normalised float tensor (the
    library's): enough for every row's steps; the pipeline's cost per image
    does not depend on how many there are."""
    splits = data.load("cifar10", data_dir, cache_dir)
    images, labels = splits.train_images[:4096], splits.train_labels[:4096]
    x = preprocess.to_float_nchw(images)
    return images, labels, (x - x.mean()) / x.std(), torch.from_numpy(labels)


def run_bench(steps: int = 20, warmup: int = 3, data_dir=None, cache_dir=None, results_dir=None,
              configs: list[str] | None = None, profile: bool = True, row_seconds: float | None = 45.0,
              eval_images: int | None = None, matmul_seconds: float = 10.0, log=print) -> dict:
    """Each configuration's training speed side by side (`steps` timed steps
    after `warmup`, or fewer once `row_seconds` have passed), the library's
    evaluation speed over `eval_images` images (all the bench's 4,096 if
    None), the machine's matmul rates (each within `matmul_seconds`), and a
    profile of one step; written to results/bench/ and returned."""
    checkpoint.writable_folder(paths.results_dir(results_dir) / "bench", "bench records")  # now, not after minutes
    cpu = torch.device("cpu")
    precision = resolve_precision("auto", cpu)
    all_configs = bench_configs(precision)
    chosen = {k: v for k, v in all_configs.items() if not configs or any(c in k for c in configs)}
    # Refused before anything is measured: a record without rows would break the engineering chapter.
    if not chosen:
        raise ValueError(f"no configuration's name contains any of {configs}; the configurations are: "
                         f"{'; '.join(all_configs)}")
    if not (isinstance(steps, int) and steps >= 1 and isinstance(warmup, int) and warmup >= 0):
        raise ValueError(f"need at least 1 timed step after 0 or more warm-up steps, got {steps} and {warmup}")
    settings = apply_cpu_settings()
    log(f"{cpu_name()}, {torch.backends.cpu.get_cpu_capability()}: native bf16 {bf16_is_native(cpu)}, "
        f"so the library trains in {precision}")
    images, labels, x, y = _bench_inputs(data_dir, cache_dir)
    macs = count_macs(NiN(ModelConfig()))
    rows = []
    for name, (kind, row_precision, cl, batch, keep_memory, levers, compiled) in chosen.items():
        set_malloc_tuning(keep_memory)
        torch.manual_seed(0)
        model = _with_levers(NiN(ModelConfig()), **levers)
        if cl:
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        batches = _baseline_batches(images, labels, batch) if kind == "baseline" else _library_batches(x, y, batch, cl)
        ips = _time_steps(torch.compile(model) if compiled else model, opt, batches, steps,
                          warmup + (3 if compiled else 0), row_precision == "bf16", row_seconds)
        rows.append({"config": name, "precision": row_precision, "images_per_second": ips,
                     "malloc_kept": keep_memory, "tflops": ips * macs * STEP_FLOP_PER_MAC / 1e12,
                     "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
        log(f"{ips:8.1f} img/s  {name}")
    set_malloc_tuning(True)  # the library's setting again
    # Evaluation speed of the library's path (forward only, channels-last).
    model = NiN(ModelConfig()).to(memory_format=torch.channels_last).eval()
    ev = TensorLoader(x[:eval_images], y[:eval_images], 500, train=False)
    t = time.perf_counter()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        for xb, _ in ev:
            model(xb)
    eval_ips = len(y[:eval_images]) / (time.perf_counter() - t)
    measured = {"bf16": matmul_tflops(torch.bfloat16, max_seconds=matmul_seconds),
                "fp32": matmul_tflops(torch.float32, max_seconds=matmul_seconds)}
    # matmul_size says what size was measured (an emulated dtype runs a smaller one).
    mm = {k: rate for k, (rate, _) in measured.items()}
    mm_size = {k: n for k, (_, n) in measured.items()}
    prof = profile_step(x, y, precision=precision) if profile else None
    kernels = onednn_kernels(precision=precision, log=log) if profile else None
    base = next((r["images_per_second"] for r in rows if r["config"].startswith("baseline")), None)
    for r in rows:
        r["speedup_vs_baseline"] = r["images_per_second"] / base if base else None

    record = {"kind": "bench", "device": f"cpu ({cpu_name()})", "threads": settings["threads"],
              "cpu_capability": torch.backends.cpu.get_cpu_capability(), "bf16_native": bf16_is_native(cpu),
              "library_precision": precision,
              "malloc_tuned": settings.get("malloc"), "torch_version": torch.__version__,
              "python_version": platform.python_version(), "git_commit": git_commit(),
              "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "steps": steps, "warmup": warmup,
              "row_seconds": row_seconds, "matmul_tflops": mm,
              "matmul_size": mm_size,
              "eval_images_per_second": eval_ips, "step_gflop_per_image": macs * STEP_FLOP_PER_MAC / 1e9,
              "rows": rows, "profile": prof, "onednn_kernels": kernels}
    out = paths.results_dir(results_dir) / "bench" / f"bench_{time.strftime('%Y%m%dT%H%M%S')}.json"
    atomic_write_text(out, json.dumps(record, indent=1) + "\n")
    log(f"eval {eval_ips:.0f} img/s; bf16 matmul {mm['bf16']:.2f} TFLOP/s, fp32 {mm['fp32']:.2f}; record {out}")
    return record


# Levers measured in alternating rounds against the library's path: what
# each changes (model levers as `_with_levers` takes them, the batch).
SIDE_BY_SIDE = {
    "ReLU as its own operation after each convolution, not fused into it": ({"fuse_relu": False}, 128),
    "dropout removed (the ceiling of any dropout fix)": ({"dropout": "none"}, 128),
    "batch 256 instead of 128": ({}, 256),
}


def run_levers(levers: list[str] | None = None, rounds: int = 6, steps: int = 4, data_dir=None, cache_dir=None,
               results_dir=None, log=print) -> dict:
    """Each lever of `SIDE_BY_SIDE` (or those whose name contains one of
    `levers`) against the library's path, in alternating rounds of `steps`
    training steps (library, lever, then lever, library, ...), both nets
    from the same initial weights, in the precision the library picks here.
    What drifts while they run (another tenant on the host, the clock) falls
    on both sides alike; rows measured one after the other, as `run_bench`'s,
    differ by several percent between runs. Writes
    results/bench/levers_<time>.json and returns it."""
    chosen = [k for k in SIDE_BY_SIDE if not levers or any(w.lower() in k.lower() for w in levers)]
    if not chosen:
        raise ValueError(f"no lever matches {levers}; the levers are: {'; '.join(SIDE_BY_SIDE)}")
    if rounds < 2 or steps < 1:
        raise ValueError(f"need at least 2 rounds of at least 1 step, got {rounds} rounds of {steps}")
    checkpoint.writable_folder(paths.results_dir(results_dir) / "bench", "bench records")  # now, not after minutes
    settings = apply_cpu_settings()
    set_malloc_tuning(True)  # the library's setting (a `run_bench` row before may have switched it)
    cpu = torch.device("cpu")
    precision = resolve_precision("auto", cpu)
    bf16 = precision == "bf16"
    _, _, x, y = _bench_inputs(data_dir, cache_dir)
    rows = []
    for lever in chosen:
        changes, batch = SIDE_BY_SIDE[lever]
        nets = {}
        for side, (model_levers, side_batch) in (("library", ({}, 128)), ("lever", (changes, batch))):
            torch.manual_seed(0)
            model = _with_levers(NiN(ModelConfig()), **model_levers).to(memory_format=torch.channels_last)
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
            batches = _library_batches(x, y, side_batch, True)
            _time_steps(model, opt, batches, steps=1, warmup=1, bf16=bf16)  # allocations, kernel choice
            nets[side] = (model, opt, batches)
        ips = {"library": [], "lever": []}
        for r in range(rounds):
            for side in ("library", "lever") if r % 2 == 0 else ("lever", "library"):
                ips[side].append(_time_steps(*nets[side], steps=steps, warmup=0, bf16=bf16))
        ratios = [b / a for a, b in zip(ips["library"], ips["lever"])]
        ratio = sum(ips["lever"]) / sum(ips["library"])
        rows.append({"lever": lever, "batch": batch, "library_images_per_second": ips["library"],
                     "lever_images_per_second": ips["lever"], "ratio": ratio,
                     "ratio_low": min(ratios), "ratio_high": max(ratios)})
        log(f"x{ratio:.3f} (x{min(ratios):.3f}-x{max(ratios):.3f} over {rounds} rounds)  {lever}")
    record = {"kind": "levers", "device": f"cpu ({cpu_name()})", "threads": settings["threads"],
              "cpu_capability": torch.backends.cpu.get_cpu_capability(), "bf16_native": bf16_is_native(cpu),
              "library_precision": precision, "malloc_tuned": settings.get("malloc"),
              "torch_version": torch.__version__, "python_version": platform.python_version(),
              "git_commit": git_commit(), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "rounds": rounds, "steps_per_round": steps, "rows": rows}
    out = paths.results_dir(results_dir) / "bench" / f"levers_{time.strftime('%Y%m%dT%H%M%S')}.json"
    atomic_write_text(out, json.dumps(record, indent=1) + "\n")
    log(f"record {out}")
    return record
