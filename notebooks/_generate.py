"""Writes the book's notebooks (code and prose, no outputs).

The notebooks in this folder are generated: edit this file, run it from the
repository root (`python notebooks/_generate.py`), then `nin-repro render`
to execute them and store their outputs (which nbval checks in CI).
"""
import nbformat as nbf

def md(s): return nbf.v4.new_markdown_cell(s.strip())
def code(s, tags=None):
    c = nbf.v4.new_code_cell(s.strip())
    if tags: c.metadata["tags"] = tags
    return c

PARAMS = '''
retrain = False      # True: train through the library and write run records
epochs = None        # None: the experiment's own protocol
seeds = [0, 1, 2]    # one run per seed
device = "cpu"       # "cpu", "cuda", "cuda:N" or "auto"
data_dir = None      # folder with the datasets (None: $NIN_DATA)
results_dir = None   # where records are read and written (None: results/ of this checkout)
subset = None        # train on the first N images only (smoke runs)
'''

TRAIN = '''
if retrain:
    from nin_repro.train import train
    for name in EXPERIMENTS:
        for seed in seeds:
            train(name, seed=seed, device=device, epochs=epochs, subset=subset,
                  data_dir=data_dir, results_dir=results_dir, progress=False)
else:
    print("retrain=False: showing the committed run records")
'''

def notebook(cells, path):
    nb = nbf.v4.new_notebook()
    stem = path.split("/")[-1].removesuffix(".ipynb")
    for i, cell in enumerate(cells):  # stable ids keep the diffs of regenerated notebooks small
        cell.id = f"{stem}-{i}"
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbf.write(nb, path)

notebook([
    md('''
# Table 4: MNIST

**Question.** The paper reports **0.47%** test error for NiN on MNIST (Table 4),
with dropout, no data augmentation and no preprocessing, using "the same
network structure as CIFAR-10 with fewer feature maps". How close does that
recipe come when it is trained on two CPU cores?

This page renders the committed run records in `results/runs/`. To train
again, run it with papermill and `retrain=True` (see the README).
'''),
    code(PARAMS, tags=["parameters"]),
    code('''
%matplotlib inline
from nin_repro import experiments, report
from nin_repro.model import NiN, architecture_table, count_macs, count_parameters
import pandas as pd

report.check_notebook_params(retrain, epochs, seeds, device, subset)
EXPERIMENTS = ["mnist"]
exp = experiments.get("mnist")
'''),
    md('''
## The network and the protocol

The paper does not give the MNIST widths. We keep the CIFAR-10 structure
(three mlpconv blocks, max pool, average pool, global average pooling) and use
64 feature maps in every layer but the last, which has one map per class.
The table is generated from the model code.
'''),
    code('''
model = NiN(exp.model)
print(f"{count_parameters(model):,} parameters, {count_macs(model) / 1e6:.1f} M multiply-accumulates per image")
print("training:", {k: v for k, v in exp.train.to_dict().items() if k not in ("compile", "eval_batch_size")})
pd.DataFrame(architecture_table(model))
'''),
    md('''
## Training

Only with `retrain=True`; otherwise the committed records are shown.
'''),
    code(TRAIN),
    md('''
## Result: ours vs the paper

Mean ± standard deviation over seeds (n = number of runs); each run is scored
at its final epoch, with no early stopping.
'''),
    code('report.results_table(EXPERIMENTS, results_dir)'),
    code('report.runs_table("mnist", results_dir, protocol_only=not retrain)'),
    md('''
## Learning curves

Training error (dashed) includes dropout; test error (solid) is measured after
each epoch. The learning rate is divided by 10 at 60% and 85% of the run.
'''),
    code('''
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(7, 4))
report.plot_learning_curves("mnist", results_dir, ax=ax, protocol_only=not retrain)
plt.show()
'''),
    md('''
## What it means
'''),
    code('print(report.verdict("mnist", results_dir))'),
    md('''
The gap to the paper, if any, is measured, not estimated. The paper's MNIST
widths, schedule length and initialization are not published; our 64-map net
trains for 15 epochs (the line above gives its measured minutes per seed and
the machine). The book's deviations page lists every choice.
'''),
], "notebooks/mnist.ipynb")

notebook([
    md('''
# Table 1: CIFAR-10

**Question.** NiN reports **10.41%** test error on CIFAR-10 without data
augmentation and **8.81%** with translation and horizontal flipping (Table 1),
after global contrast normalization and ZCA whitening. This page shows the
CIFAR-10 path of the study: the network, the preprocessing, and the runs done
so far on two CPU cores.

The CIFAR-10 copy used here stores every image as a JPEG of quality 75 (see
the data README): a deviation from the official files.
'''),
    code(PARAMS, tags=["parameters"]),
    code('''
%matplotlib inline
from nin_repro import experiments, report
from nin_repro.model import NiN, architecture_table, count_macs, count_parameters
import pandas as pd

report.check_notebook_params(retrain, epochs, seeds, device, subset)
TABLE = ["cifar10", "cifar10_aug"]
EXPERIMENTS = TABLE  # what retrain=True trains
exp = experiments.get("cifar10")
'''),
    md('''
## The network

The Caffe model-zoo definition of the paper's net. The parameter count
matches the paper's net exactly (966,986 for 10 classes); the table comes
from the model code.
'''),
    code('''
model = NiN(exp.model)
print(f"{count_parameters(model):,} parameters, {count_macs(model) / 1e6:.1f} M multiply-accumulates per image")
pd.DataFrame(architecture_table(model))
'''),
    md('''
## Protocol

Preprocessing as in *Maxout Networks*: each image is centred and scaled to
norm 55 (global contrast normalization), then ZCA-whitened with 0.1 added to
the eigenvalues, fitted on the training set only. SGD with momentum 0.9 and
weight decay; the learning rate is divided by 10 twice.

**The CPU protocol.** The paper trains for roughly 300 epochs, many hours per
run on two CPU cores. Every CIFAR-10 run of Tables 1 and 5 and Figure 4 here
uses the same compressed protocol instead: the paper's net, preprocessing and
optimizer, with the step schedule squeezed into E epochs (E below), the same E
for every run, chosen so that one run finishes in about two hours on this
machine with bf16 units. Where a CPU has none (AVX2 only) the library trains
in fp32 and a run takes several times longer; the runs table gives each run's
machine, precision and measured wall time. The learning
curves show how far from convergence each run stopped. The paper-length
protocol is one flag away for GPU users:
`nin-repro train -e cifar10 --epochs 300 --device cuda`.
'''),
    code('''
for name in TABLE + ["cifar10_short"]:
    e = experiments.get(name)
    t = e.train
    print(f"{name:14s} E={t.epochs:3d} lr={t.lr} warm-up={t.warmup_epochs} epoch, lr/10 at epochs "
          f"{list(t.milestones())}, translate={t.translate} flip={t.flip} batch={t.batch_size}  # {e.description}")
'''),
    md('''
## Training

Only with `retrain=True`; otherwise the committed records are shown.
'''),
    code(TRAIN),
    md('''
## Table 1: ours vs the paper
'''),
    code('report.results_table(TABLE, results_dir)'),
    md('''
## The runs

Each seed's final and best test error, cost and provenance, then train and
test error per epoch with the paper's number dotted.
'''),
    code('''
for name in TABLE:
    display(report.runs_table(name, results_dir, protocol_only=not retrain))
'''),
    code(tags=["hide-input"], s='''
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
for ax, name in zip(axes, TABLE):
    report.plot_learning_curves(name, results_dir, ax=ax, log=False, protocol_only=not retrain)
plt.show()
'''),
    code('''
for name in TABLE:
    print(report.verdict(name, results_dir))
print(report.setup_caveat(TABLE, results_dir))
'''),
    md('''
**Did augmentation help?** In the paper translation and flipping cut the
error by 1.6 points. Augmentation can only remove the part of the test error
that comes from fitting the training set too closely, so beside the two rows'
gap the next cell prints each row's training error at its last epoch: the
distance between training and test error is the room augmentation had.
'''),
    code('print(report.augmentation_effect(results_dir))'),
    md('''
**What limits these numbers.** (1) Length: the paper's schedule runs about
300 epochs; here the same schedule is compressed into E = 30, so the net gets
a tenth of the updates; the curves show where each run stood when its
learning rate was cut and when it stopped. (2) Data: the offline CIFAR-10 copy is JPEG
(quality 75), which removes detail that ZCA whitening amplifies. (3) Unknown
settings: the paper publishes neither learning rate nor weight decay nor
initialization; ours are listed on the Method page. What was tried: this one
protocol, untuned, the same for every CIFAR-10 run of the book; the fast
recipe on the Performance page shows how much faster the same architecture
learns with BatchNorm and a one-cycle schedule, outside the paper's tables.
(4) Precision: runs train under bf16 autocast where the CPU has bf16 units and
in fp32 where it has not; the device column names each run's precision, so two
rows that differ in it differ in more than their setting.
'''),
    md('''
## The short run

A 10-epoch run of the no-augmentation protocol proves the CIFAR-10 path on
real data and measures its cost. It is **not** a Table 1 entry.
'''),
    code('report.runs_table("cifar10_short", results_dir, protocol_only=not retrain)'),
    code('''
import matplotlib.pyplot as plt
from nin_repro.paper import paper_error

fig, ax = plt.subplots(figsize=(7, 4))
report.plot_learning_curves("cifar10_short", results_dir, ax=ax, log=False, protocol_only=not retrain)
paper = paper_error("cifar10")
ax.axhline(paper, color="gray", lw=1, ls="-.", label=f"paper, ~300 epochs: {paper}%")
ax.legend(fontsize=7)
plt.show()
'''),
    code('print(report.verdict("cifar10_short", results_dir))'),
], "notebooks/cifar10.ipynb")

RENDER_ONLY = '''
%matplotlib inline
from nin_repro import experiments, report
import pandas as pd

results_dir = None  # where the records are read (None: results/ of this checkout)
'''

notebook([
    md('''
# Method

**Question.** What exactly is trained in this study? Everything on this page
is computed from the library's code: the network drawing, the layer table,
the parameter and multiply-accumulate counts, and the protocol of every
experiment.
'''),
    code(RENDER_ONLY),
    md('''
## The network

Three mlpconv blocks: each a k×k convolution followed by two 1×1
convolutions (a two-layer perceptron applied at every pixel), each with a
ReLU. Max pooling follows the first block and average pooling the second
(3×3, stride 2, output size rounded up as in Caffe), each followed by dropout
0.5. The last block emits one map per class; global average pooling turns
each map into the class score. Box heights show the spatial size of each
layer's output, widths the number of channels (log scale).
'''),
    code('''
import matplotlib.pyplot as plt
from myst_nb import glue
from nin_repro.model import ModelConfig, NiN, architecture_table, count_macs, count_parameters

cifar10_net = NiN(ModelConfig())
ax = report.plot_architecture(cifar10_net)
plt.show()
'''),
    code('''
# NBVAL_IGNORE_OUTPUT
# Values the introduction quotes, computed here and glued into its text.
glue("nin_diagram", ax.figure, display=False)
glue("cifar10_parameters", count_parameters(cifar10_net), display=False)
glue("cifar10_mmacs", count_macs(cifar10_net) / 1e6, display=False)
'''),
    code('pd.DataFrame(architecture_table(NiN(ModelConfig())))'),
    md('''
## Sizes of every network in the study

The CIFAR-10 count matches the paper's net (966,986); the fully connected
heads of Table 5 add a linear layer over the 10 maps of 8×8.
'''),
    code('''
rows = []
for name, e in experiments.EXPERIMENTS.items():
    m = NiN(e.model)
    rows.append({"experiment": name, "dataset": e.dataset, "head": e.model.head, "dropout": e.model.dropout,
                 "parameters": f"{count_parameters(m):,}", "M MACs / image": round(count_macs(m) / 1e6, 1)})
pd.DataFrame(rows).set_index("experiment")
'''),
    md('''
## Preprocessing

- **CIFAR-10 / CIFAR-100**: global contrast normalization (each image centred,
  then scaled to L2 norm 55) and ZCA whitening with 0.1 added to the
  eigenvalues, both as in pylearn2's *Maxout Networks* preprocessing; the
  whitening is fitted on the training set only.
- **SVHN**: local contrast normalization (7×7 Gaussian window).
- **MNIST**: pixels scaled to [0, 1], training mean subtracted.

## Protocol of every experiment

SGD with momentum; the learning rate warms up linearly, then is divided by
10 at the listed epochs (the paper divides it twice "when training accuracy
stops improving"). Augmentation is a random translation (zero fill) and a
horizontal flip, as batched tensor ops on the training device.
'''),
    code('''
rows = []
for name, e in experiments.EXPERIMENTS.items():
    t = e.train
    rows.append({"experiment": name, "preprocess": e.preprocess, "epochs": t.epochs, "batch": t.batch_size,
                 "lr": t.lr, "warm-up epochs": t.warmup_epochs, "lr / 10 at epochs": list(t.milestones()),
                 "momentum": t.momentum, "weight decay": t.weight_decay,
                 "augmentation": f"translate ±{t.translate}, flip" if t.translate or t.flip else "none",
                 "precision": t.precision})
pd.DataFrame(rows).set_index("experiment")
'''),
], "notebooks/method.ipynb")

notebook([
    md('''
# Summary

**Every table of the paper beside ours.** Ours is the mean ± standard
deviation over seeds (n runs), each scored at its final epoch; the
difference is ours minus the paper's, in percentage points; epochs and wall
hours say what each row cost. Rows without a committed run record say so.
'''),
    code(RENDER_ONLY),
    code('report.summary_table(results_dir)'),
    md('''
## In one figure
'''),
    code(tags=["hide-input"], s='''
import matplotlib.pyplot as plt
import numpy as np
from nin_repro import results
from nin_repro.paper import PAPER_ERRORS

rows = results.summarize(results.read_records(results_dir), report.SUMMARY_ORDER)
fig, ax = plt.subplots(figsize=(8, 3.5))
y = np.arange(len(rows))
ax.barh(y + 0.2, [r["paper"] for r in rows], height=0.38, color="#999999", label="paper")
ours = [r["ours_mean"] if r["ours_mean"] is not None else 0 for r in rows]
ax.barh(y - 0.2, ours, height=0.38, color="#4c72b0", label="ours",
        xerr=[r["ours_std"] or 0 for r in rows])
for yi, r in zip(y, rows):
    if r["ours_mean"] is None:
        ax.text(0.3, yi - 0.2, report.missing_status(r["experiment"]), va="center", fontsize=7)
ax.set_yticks(y, [r["setting"] for r in rows], fontsize=8)
ax.invert_yaxis()
ax.set_xlabel("test error (%)")
ax.legend()
plt.show()
'''),
    md('''
## What each row rests on
'''),
    code('''
for name in report.SUMMARY_ORDER:
    print(report.verdict(name, results_dir))
'''),
    md('''
## The paper's claims, checked

Beside its numbers the paper makes three claims that compare rows: data
augmentation lowers the error (Table 1), global average pooling beats fully
connected heads (Table 5), and dropout between mlpconv layers cuts the error
by more than 20% (Figure 4). Each line below is computed from the records of
the rows it compares, and says when they are missing or rest on one seed; the
chapters show the curves behind them.
'''),
    code('''
for effect in (report.augmentation_effect, report.heads_effect, report.dropout_effect):
    print(effect(results_dir), end="\\n\\n")
'''),
    md('''
## Beside later reproductions

The paper is not the only anchor. Others have trained the same CIFAR-10 net
since, with the Caffe settings, with shorter or adapted schedules, with and
without augmentation; what they report depends mostly on how long and with
what schedule they trained. Ours among them, lowest error first (sources as
they report it, accuracies converted to error; a range where a source gives
one):
'''),
    code('report.reproductions_table(results_dir)'),
    code(tags=["hide-input"], s='''
report.plot_reproductions(results_dir)
plt.tight_layout()
plt.show()
'''),
    md('''
Read each row with its training column: a full-length run with the Caffe
settings matches the paper, a Caffe run cut to about 128 epochs ends about 1.5
points above it, and runs whose schedule was changed further spread over
several points. The CPU protocol here trains a tenth of the paper's length.

The paper's numbers come from roughly 300-epoch GPU runs on the official
datasets; ours state their epochs, device and data copy, and the
{doc}`../book/deviations` page lists every difference in setup.
'''),
    md('''
## What is left to run

The runs the book plans that have no record yet, each with what finished
runs of the same experiment cost and where they trained (the machine decides
much of the cost; the {doc}`performance` page measures each kind).
`nin-repro reproduce` works through them in this order, resuming any run
that was interrupted; `nin-repro reproduce --status` says how far an
interrupted one got and how long it has left.
'''),
    code('''
left = report.runs_left_table(results_dir)
print(f"{len(experiments.BOOK_PLAN) - len(left)} of the {len(experiments.BOOK_PLAN)} planned runs have records")
left
'''),
], "notebooks/summary.ipynb")

notebook([
    md('''
# Performance

**How fast does the library train NiN, and what makes it fast?** Two kinds of
measurements, each from a committed record: `nin-repro bench` times the
training step of a plain PyTorch loop and of the library side by side in one
process, with each speed lever switched on one at a time; every training run
records its own images per second. Speeds compare only between rows of the
same device.
'''),
    code(RENDER_ONLY),
    md('''
## Side by side: the loop a user writes first vs the library

The baseline is a torchvision-style dataset with per-image CPU transforms
(random crop with padding, flip, normalize) behind a DataLoader, in fp32 with
NCHW tensors, batch 128. The library keeps the data as one tensor on the
device, augments whole batches at once, and trains with channels-last
tensors, in bf16 autocast where the CPU has native bf16 and in fp32 where it
does not (the record's `library_precision`); the first rows measure both
precisions on every machine. TFLOP/s counts 6 flop per multiply-accumulate of the
forward pass (forward plus backward). glibc's allocator runs with its default
settings for the rows before the two `nin_repro` ones, which keep freed
memory as the package does.
'''),
    code('''
bench = report.latest_bench(results_dir)
if bench is None:
    print(f"{report.NOT_RUN}: no record in results/bench/ (run `nin-repro bench`)")
else:
    print(f"{bench['device']}, {bench['threads']} threads, torch {bench['torch_version']}, "
          f"{bench['steps']} timed steps per row; measured {bench['finished_at']}")
    print(f"n^3 matmul (n=2048 unless said): bf16 {report.matmul_rate(bench, 'bf16')} TFLOP/s, "
          f"fp32 {report.matmul_rate(bench, 'fp32')} TFLOP/s; "
          f"evaluation ({bench.get('library_precision', 'bf16')}, channels-last): "
          f"{bench['eval_images_per_second']:.0f} img/s")
    print(f"instruction set: {report.cpu_kind(bench)}; the library trains in "
          f"{bench.get('library_precision', 'bf16')} here")
'''),
    code('report.bench_table(bench) if bench else None'),
    code(tags=["hide-input"], s='''
import matplotlib.pyplot as plt

if bench:
    df = report.bench_table(bench)
    ax = df["train img/s"].plot.barh(figsize=(8, 0.5 + 0.5 * len(df)), color="#4c72b0")
    ax.set_xlabel("training images per second (whole step)")
    ax.invert_yaxis()
    plt.show()
'''),
    md('''
## What each lever gave

Each ratio divides two rows of the table above, measured one after the other
in the same process. The first rows build up the library's path; the
`lever:` rows switch one more thing on top of it (a ratio below 1 means the
lever slows this CPU down, so the library leaves it off); the `ceiling` row
removes dropout altogether, which bounds what any faster dropout can give.
Rows measured one after the other on this machine vary by a few percent from
run to run (in a record the `ceiling` row can come out slightly below the
row it bounds), so a ratio within a few percent of 1 is not a measured
difference. `torch.compile` and ReLUs out of place are left off: on the
machines measured first neither moved the step by more than that, and a lever
that wins by a little more in one record of one kind of machine does not yet
change the path every machine runs.
'''),
    code('report.lever_table(bench) if bench else None'),
    md('''
## Where the step's time goes

`torch.profiler` over a few training steps of the library's path (batch 128,
real CIFAR-10 images), from the same bench record. The first table is the
operators with the most time of their own; the second splits the
convolutions by layer, with the rate each reaches against the 2048^3 matmul
rate of the same CPU in the same precision (the practical ceiling of its
matrix units), and the path that ran it: oneDNN's kernels, or ATen's own
im2col + GEMM where oneDNN does not take the convolution (bf16 on a CPU
without native bf16).
'''),
    code('''
tables = report.bench_profile_tables(bench) if bench else None
if tables is None:
    print(f"{report.NOT_RUN}: the newest bench record has no profile")
else:
    ops, convs = tables
    conv_share = sum(o["share"] for o in bench["profile"]["top_ops"] if "convolution" in o["op"])
    print(f"convolutions (forward + backward): {100 * conv_share:.0f}% of the step's "
          f"{bench['profile']['step_ms']:.0f} ms (batch {bench['profile']['batch']})")
    display(ops)
    display(convs)
'''),
    md('''
Which kernels oneDNN picks for these convolutions on this CPU
(`ONEDNN_VERBOSE=1` over one step in a child process, same record): the
implementation name says which code path runs (`brg` = the batch-reduce GEMM
kernels, `jit_bf16` = the older direct kernels), and `reorder` rows are the
weight layout conversions each step pays before and after the convolutions.
'''),
    code('''
kernels = report.onednn_table(bench) if bench else None
print(f"{report.NOT_RUN}: the newest bench record has no oneDNN kernel list") if kernels is None else display(kernels)
'''),
    md('''
## Time to accuracy

How long until the test error first drops below a target, in wall minutes of
training and evaluation on this machine (data loading and preprocessing
before the first step not counted), for the paper's recipe and for a **fast
recipe** of the same mlpconv stack. The fast recipe is not the paper's and
never enters its tables: BatchNorm after every convolution but the last, a
one-cycle learning rate (linear up, then linear down to zero), label
smoothing 0.1, Nesterov momentum, batch 256 with learning rate 0.2. The
speed issue's targets: CIFAR-10 with augmentation below 15%, 12% and 10%;
MNIST below 1% and 0.6%. A run that was not done says so; the CIFAR-10 run
without augmentation is listed for orientation.

The minutes are those each run recorded. The MNIST paper-recipe runs shared
the two cores with the test suite for part of their time, so their minutes
are an upper bound on this machine's undisturbed time (each run's images per
second are in the last table of this page); so are the first two epochs of the
CIFAR-10 fast-recipe run (66 and 94 img/s against about 100 for the rest).
Minutes compare recipes only between runs of the same machine and precision,
which the device column names.
'''),
    code('''
for dataset in report.TIME_TARGETS:
    display(report.time_to_accuracy_table(dataset, results_dir))
'''),
    code(tags=["hide-input"], s='''
import matplotlib.pyplot as plt

report.plot_time_to_accuracy(results_dir)
plt.tight_layout()
plt.show()
'''),
    md('''
## The machines this study ran on

The sessions that built this study were handed different two-core machines:
some with native bf16, some with AVX2 only, where the library trains in fp32
(the runs table below gives each run's precision and images per second).
Each row here is the newest bench record of one kind of machine, and its ratio
to the baseline is measured within that record, side by side; a kind of
machine without a bench record has no row.
'''),
    code('report.bench_machines_table(results_dir)'),
    md('''
## Speed of the committed training runs
'''),
    code('report.throughput_table(results_dir)'),
    md('''
## What makes it fast

- **The dataset lives on the training device as one tensor**: shuffling,
  translation and flipping are batched tensor operations; no DataLoader
  worker processes compete with the two cores.
- **Channels-last tensors, and bf16 autocast where it is native**: the
  convolutions run through oneDNN on the CPU's bf16 instructions (on a GPU,
  its tensor cores). A CPU without them (AVX2 only) gets no oneDNN bf16
  convolution at all: PyTorch falls back to its own im2col + GEMM, and the
  step ran 13 times slower than in fp32, so there the library trains in
  fp32 (`precision="auto"`, tested).
- **The allocator keeps freed memory**: the package tells glibc's malloc not
  to hand large buffers back to the operating system after every step
  (`nin_repro/cpu.py`), so activations are not page-faulted in again each step.
- **Dropout draws one random byte per eight elements** (`BitDropout` in
  `nin_repro/model.py`): for p = 0.5 each bit is a fair coin, so the mask has
  exactly the distribution of torch's dropout, which draws one random number
  per element.

## On a GPU

No GPU was lent to the sessions that built this study, so there are no GPU
rows here; the training loop's CUDA path is the same code (`--device cuda`),
and the project's H100 calibration, quoted from the speed issue for
orientation and not measured by this study, gives about 20k images/s for fp32
eager at batch 128 and about 98k for bf16 + `torch.compile` at batch 512.

## What this CPU cannot give

The speed issue asked for 800 images/s on two cores (8x the baseline), a
figure set on a machine whose matrix units (Intel AMX) run a bf16 matmul at
about 1.9 TFLOP/s. Most of this study's machines were AMD EPYCs without AMX,
some with AVX-512 bf16, some with AVX2 only; one session had an Intel Xeon
with AMX (the machines table above). The newest bench record's matmul rates
are printed at the top of this page, and the profile's second table shows
how close each convolution runs to them. Take
the fastest rate any single operation reached on this CPU (the matmul or the
fastest convolution of the profile) as a practical ceiling: divided by the
step's cost per image, it says how many images per second the step could
reach if every part of it ran that fast (a soft bound: a better kernel could
raise it, nothing in the training loop around the kernels can).
'''),
    code('''
if bench:
    rates = [bench["matmul_2048_tflops"][bench.get("library_precision", "bf16")]]
    if bench.get("profile"):
        rates += [r[k] for r in bench["profile"]["convolutions"] for k in ("forward_tflops", "backward_tflops")]
    ceiling = max(rates)
    bound = ceiling * 1e12 / (bench["step_gflop_per_image"] * 1e9)
    best = max(r["images_per_second"] for r in bench["rows"])
    base = bench["rows"][0]["images_per_second"]
    print(f"step cost {bench['step_gflop_per_image']:.2f} GFLOP per image; fastest single operation "
          f"{ceiling:.2f} TFLOP/s, so at most {bound:.0f} img/s; best measured: {best:.0f} img/s "
          f"({100 * best / bound:.0f}% of that, x{best / base:.2f} the baseline)")
    lib = max(r["images_per_second"] for r in bench["rows"] if r["config"].startswith("nin_repro:"))
    print(f"the speed issue's target on {bench['device']} ({report.cpu_kind(bench)}), against the library's "
          f"path ({lib:.0f} img/s): 800 img/s {'reached' if lib >= 800 else 'not reached'}; "
          f"x8 the baseline {'reached' if lib >= 8 * base else 'not reached'} (x{lib / base:.2f})")
'''),
], "notebooks/performance.ipynb")

SETUP = '''
%matplotlib inline
from nin_repro import experiments, report
import pandas as pd

report.check_notebook_params(retrain, epochs, seeds, device, subset)
EXPERIMENTS = {names}  # what retrain=True trains
'''

notebook([
    md('''
# Table 5: global average pooling vs fully connected heads

**Question.** Is global average pooling (GAP) a better head than fully
connected layers on top of the same mlpconv stack? The paper (Table 5,
CIFAR-10, no augmentation): fully connected 11.59%, fully connected +
dropout 10.88%, GAP 10.41%. GAP has no parameters; the paper reads it as a
structural regularizer.

All three runs share the CPU protocol (same epochs and schedule); the GAP row
is the Table 1 no-augmentation run. They were trained in different sessions,
not always on the same kind of machine: the device column and the "setup"
line under the curves say whether they also shared machine and precision.
'''),
    code(PARAMS, tags=["parameters"]),
    code(SETUP.format(names='["cifar10_fc", "cifar10_fc_dropout", "cifar10"]')),
    code(TRAIN),
    md('''
## Ours vs the paper, with each head's size
'''),
    code('report.heads_table(results_dir)'),
    md('''
**The answer, from the records.** Each fully connected head against GAP,
beside the gap the paper reports, and whether the paper's order of the three
heads holds here:
'''),
    code('print(report.heads_effect(results_dir))'),
    md('''
## How each head learned

Train and test error per epoch. A head that is still falling steeply at the
last epoch was cut short by the CPU protocol, and its final error says less
about the head than about the budget.
'''),
    code(tags=["hide-input"], s='''
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 3, figsize=(12, 3.2), sharey=True)
for ax, name in zip(axes, ["cifar10_fc", "cifar10_fc_dropout", "cifar10"]):
    report.plot_learning_curves(name, results_dir, ax=ax, log=False, protocol_only=not retrain)
    ax.set_title(f"{report.HEADS[name]} head ({name})", fontsize=9)  # the descriptions overlap at this width
plt.show()
'''),
    code('''
for name in ["cifar10_fc", "cifar10_fc_dropout", "cifar10"]:
    print(report.verdict(name, results_dir))
print(report.setup_caveat(["cifar10_fc", "cifar10_fc_dropout", "cifar10"], results_dir))
'''),
    md('''
## What it means

The paper's gaps between heads are about one point (FC 11.59%, FC + dropout
10.88%, GAP 10.41%), measured at roughly 300 epochs, and the paper explains
them by overfitting: fully connected layers fit the training set too closely,
GAP has no parameters to do so. The training-error line above is that
argument's test: a regularizing head keeps its training error closer to its
test error. Ours are measured after
the CPU protocol's epochs (the table's epochs column), from as many seeds as
its n column says, and, where the setup line above says so, on different
machines and precisions. While n is 1, read a gap of that size as a question
the records cannot settle yet, not as a refutation or a confirmation: more
seeds (`nin-repro reproduce --only cifar10 cifar10_fc cifar10_fc_dropout
--seeds 1 2`) or the paper-length schedule on a GPU (`--epochs`) would.
'''),
], "notebooks/table5_heads.ipynb")

notebook([
    md('''
# Figure 4: dropout between mlpconv layers

**Question.** How much does dropout (p = 0.5) after the first two mlpconv
layers help? The paper's Figure 4 shows training and test error on CIFAR-10
with and without it; dropout cuts the test error by more than 20% (relative).
Both runs here share the CPU protocol, no augmentation; the "setup" line
under the numbers says whether they also shared machine and precision.
'''),
    code(PARAMS, tags=["parameters"]),
    code(SETUP.format(names='["cifar10", "cifar10_nodropout"]')),
    code(TRAIN),
    md('''
## Error per epoch, with and without dropout

The paper's figure: without dropout the training error falls faster and the
test error stops following it. Here the dashed lines are training error and
the solid ones test error; the gap between a run's two lines is how much it
overfits, so the question is whether the no-dropout gap opens wider.
'''),
    code(tags=["hide-input"], s='''
import matplotlib.pyplot as plt

report.plot_dropout_curves(results_dir)
plt.show()
'''),
    code('''
print(report.dropout_effect(results_dir))
print(report.setup_caveat(["cifar10", "cifar10_nodropout"], results_dir))
'''),
    md('''
## Reading it

Dropout acts on the distance between a run's two lines: it keeps the net
from fitting its training set too closely. So read the relative cut beside
the second line above, each run's training error at its last epoch next to
its test error. Where dropout narrows that gap by much while the two test
errors end close together, the net without dropout has fitted its training
set without yet paying for it in test error, and the net with dropout has not
finished fitting its own. The paper-length schedule (about 300 epochs, see
the deviations page) is ten times longer: long enough, on this reading, for
overfitting to cost the net without dropout its test error. That the
compressed schedule is what separates our cut from the paper's is a
hypothesis this study has not tested: testing it takes the paper-length
schedule (`--epochs`), more than a two-core session holds.
'''),
], "notebooks/figure4_dropout.ipynb")

notebook([
    md('''
# Figure 5: class confidence maps

**Question.** With global average pooling, each map of the last mlpconv layer
belongs to one class and its mean is that class's score. Do the maps behave
as confidence maps, strongest for the true class and over the object? The
paper's Figure 5 says yes.

Below, each row is a CIFAR-10 test image (true class → predicted class):
the first correctly classified image of each class, then a few misclassified
ones,
then its ten maps on one colour scale; the true class's map is framed green,
a wrong prediction's red. The maps come from a trained checkpoint (kept out
of git); `nin-repro figure5 RUN` stores the small grid shown here in
`results/figures/`.
'''),
    code(PARAMS, tags=["parameters"]),
    code('''
%matplotlib inline
from nin_repro import report
from nin_repro.figures import extract_confidence_maps, load_confidence_maps, plot_confidence_maps

report.check_notebook_params(retrain, epochs, seeds, device, subset)
RUN = "cifar10__seed0"  # the run whose checkpoint the maps come from
if retrain:
    extract_confidence_maps(RUN, data_dir=data_dir, results_dir=results_dir)
'''),
    code('''
fig_data = load_confidence_maps(results_dir)
if fig_data is None:
    print(f"{report.NOT_RUN}: no results/figures/confidence_maps.npz (run `nin-repro figure5 {RUN}`)")
else:
    print(f"maps of run {fig_data['run']} after epoch {int(fig_data['epoch'])} of {int(fig_data['epochs'])} "
          f"(its checkpoint, evaluated here in fp32: {float(fig_data['test_error']):.2f}% test error): "
          f"one correctly classified test image "
          f"per class, then misclassified ones")
'''),
    code(tags=["hide-input"], s='''
import matplotlib.pyplot as plt

if fig_data is not None:
    plot_confidence_maps(fig_data)
    plt.show()
'''),
], "notebooks/figure5_maps.ipynb")

for name, table, title, paper_text, prep in [
    ("cifar100", "Table 2", "CIFAR-100", "**35.68%** test error on CIFAR-100 (Table 2), with the CIFAR-10 network "
     "ending in 100 maps, GCN + ZCA, dropout and no augmentation",
     "The data path reads the official `cifar-100-python/` files (or downloads them with `--download`); "
     "the net has 984,356 parameters; preprocessing is the CIFAR-10 one."),
    ("svhn", "Table 3", "SVHN", "**2.35%** test error on SVHN (Table 3), with local contrast normalization, "
     "dropout and no augmentation",
     "The data path reads the official `train_32x32.mat`, `extra_32x32.mat` and `test_32x32.mat` (or downloads "
     "them); 400 images per class of `train` and 200 per class of `extra` are held out for validation, as in "
     "the paper, and the remaining 598,388 images train the net; local contrast normalization, 7x7 Gaussian window."),
]:
    notebook([
        md(f'''
# {table}: {title}

**Question.** The paper reports {paper_text}. No offline copy of {title}
exists on the machines this study runs on, so the row below stays empty until
someone with the data (or internet access) runs it; the whole path is tested
on small synthetic files in the official format.

{prep}
'''),
        code(PARAMS, tags=["parameters"]),
        code(SETUP.format(names=f'["{name}"]')),
        code(TRAIN),
        code(f'report.results_table(["{name}"], results_dir)'),
        code(f'print(report.verdict("{name}", results_dir))'),
        md(f'''
To run it with the data: `nin-repro train --experiment {name} --seed 0 --download`
(or put the official files in the data folder), then `nin-repro render`.
'''),
    ], f"notebooks/{name}.ipynb")
