"""The engineering notes (an appendix of the book): how fast the library
trains NiN on the machines of this study, from the bench records in
results/bench/ and the speed each run recorded; and time to accuracy, the
CPU-budget recipe against the fast recipe of the same architecture."""

from __future__ import annotations

import json

import pandas as pd

from nin_repro import paths, results
from nin_repro.experiments import EXPERIMENTS

from . import progress, provenance
from .chapters import CHAPTERS
from .display import short_where, unbroken
from .tables import NOT_RUN


# Time to accuracy: the test errors each recipe is timed to, per dataset
# (CIFAR-10: on the way to the paper's 8.81%; MNIST: 1% and near the paper's 0.47%).
TIME_TARGETS = {"cifar10": (15.0, 12.0, 10.0), "mnist": (1.0, 0.6)}
# The runs timed, each with its recipe: the engineering chapter's rows.
TIME_RUNS = CHAPTERS["engineering"].labels


def elapsed_minutes(record: dict) -> list[float]:
    """Training + evaluation minutes since the first step, at the end of each
    epoch (data loading and preprocessing before the first step excluded)."""
    out, total = [], 0.0
    for h in record["history"]:
        total += h["seconds"]
        out.append(total / 60)
    return out


def time_to_error(record: dict, target: float) -> tuple[float, int] | None:
    """(minutes, epoch) when the test error first went below `target`, or None."""
    for minutes, h in zip(elapsed_minutes(record), record["history"]):
        if h["test_error"] is not None and h["test_error"] < target:
            return minutes, h["epoch"]
    return None



def time_to_accuracy_table(dataset: str, results_dir=None) -> pd.DataFrame:
    """One row per run of `dataset` in TIME_RUNS: wall minutes (and epoch)
    until the test error first dropped below each target."""
    recs = results.read_records(results_dir)
    rows = []
    for name, recipe in TIME_RUNS.items():
        if EXPERIMENTS[name].dataset != dataset:
            continue
        runs = provenance.protocol_runs(recs, name)
        if not runs:
            rows.append({"run": f"{recipe} ({name})", "length": NOT_RUN,
                         **{f"< {t:g}%": "" for t in TIME_TARGETS[dataset]}, "best (%)": "",
                         "machine": ""})
        for r in runs:
            cells = {}
            for t in TIME_TARGETS[dataset]:
                hit = time_to_error(r, t)
                cells[f"< {t:g}%"] = f"{hit[0]:.1f} min (epoch {hit[1]})" if hit else "not reached"
            rows.append({"run": f"{recipe} ({name}), seed {r['seed']}",
                         "length": f"{elapsed_minutes(r)[-1]:.1f} min, {r['epochs']} epochs", **cells,
                         "best (%)": round(min(h["test_error"] for h in progress.tested(r["history"])), 2),
                         "machine": short_where(provenance.run_where(r))})
    return pd.DataFrame(rows).set_index("run")


def latest_bench(results_dir=None) -> dict | None:
    """The newest `nin-repro bench` record in results/bench/, if any."""
    records = all_benches(results_dir)
    return records[-1] if records else None


def bench_table(record: dict) -> pd.DataFrame:
    mm = record["matmul_tflops"]
    return pd.DataFrame([{
        "configuration": r["config"], "train img/s": round(r["images_per_second"], 1),
        "× baseline": round(r["speedup_vs_baseline"], 2) if r.get("speedup_vs_baseline") else "",
        "TFLOP/s": round(r["tflops"], 3),
        "of matmul, same precision": f"{100 * r['tflops'] / mm[r['precision']]:.0f}%",
        "peak RSS (MiB)": round(r["peak_rss_mib"]),
    } for r in record["rows"]]).set_index("configuration")


def cpu_kind(record: dict) -> str:
    """The instruction set a bench ran on: stored since the records say it;
    for older ones, read off the oneDNN kernels it ran (their names carry it).
    AMX only shows in the kernels (`avx512_core_amx`, or `avx10_1_512_amx` in
    newer oneDNN): torch names an AMX CPU's capability AVX512, as it does a
    Zen 4's, and the matrix units make a different machine."""
    impls = " ".join(k["implementation"] for k in record.get("onednn_kernels") or [])
    if record.get("cpu_capability"):
        return (record["cpu_capability"] + (" + AMX" if "_amx" in impls else "")
                + (", native bf16" if record.get("bf16_native") else ", no native bf16"))
    if "_amx" in impls:
        return "AVX512 + AMX (from its oneDNN kernels), native bf16"
    if "avx512_core_bf16" in impls:
        return "AVX512 (from its oneDNN kernels), native bf16"
    return "instruction set not recorded"  # as the run records appendix says it


def all_benches(results_dir=None) -> list[dict]:
    """Every bench record, oldest first (their file names carry the time)."""
    return _bench_files("bench_*.json", BENCH_FIELDS, ("config", "images_per_second", "precision"),
                        "`nin-repro bench`", results_dir)


def _bench_files(pattern: str, fields: tuple, row_fields: tuple, command: str, results_dir=None) -> list[dict]:
    """The records in results/bench/ named like `pattern`, oldest first,
    each checked for `fields` and its rows for `row_fields`."""

    records = []
    for f in sorted((paths.results_dir(results_dir) / "bench").glob(pattern)):
        try:
            record = json.loads(f.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise results.RecordError(f"{f}: not valid JSON ({e}); restore it from git or rerun {command}") from e
        missing = [k for k in fields if k not in record] if isinstance(record, dict) else ["(not an object)"]
        missing += [f"rows[{i}].{k}" for i, row in enumerate(record.get("rows") or []) if isinstance(row, dict)
                    for k in row_fields if k not in row] if not missing else []
        if missing:
            raise results.RecordError(f"{f}: not a bench record of the current format (lacks {', '.join(missing)}); "
                                      f"restore it from git or rerun {command}")
        records.append(record)
    return records


# What every bench record holds (older records were migrated once to this format).
BENCH_FIELDS = ("device", "threads", "cpu_capability", "bf16_native", "library_precision", "matmul_tflops",
                "matmul_size", "finished_at", "rows", "profile", "onednn_kernels")


def matmul_rate(record: dict, precision: str) -> str:
    """A bench record's matmul rate, with its size where it is not 2048^3
    (an emulated dtype is measured smaller)."""
    n, rate = record["matmul_size"][precision], record["matmul_tflops"][precision]
    # an emulated bf16 can measure below 0.005 TFLOP/s, which two decimals would print as 0.00
    shown = f"{rate:.2f}" if rate >= 0.005 else f"{rate:.1g}" if rate > 0 else "0"
    return shown + (f" (n={n})" if n != 2048 else "")


def row_rate(record: dict, prefix: str) -> float | None:
    """Images per second of a bench record's first row whose configuration
    starts with `prefix`, or None."""
    return next((x["images_per_second"] for x in record["rows"] if x["config"].startswith(prefix)), None)


def bench_machines_table(results_dir=None) -> pd.DataFrame:
    """The newest bench of each kind of machine the study ran on: the same code
    is several times faster or slower depending on the CPU's instructions, so
    each machine's ratio is taken within its own record."""
    newest = {}
    for r in all_benches(results_dir):
        newest[(r["device"], cpu_kind(r), r["threads"])] = r
    rows = []
    for (device, kind, threads), r in newest.items():
        base = row_rate(r, "baseline")
        lib = [x["images_per_second"] for x in r["rows"] if x["config"].startswith("nin_repro:")]
        rows.append({"machine": f"{short_where(device)}, {kind}, {threads} threads",
                     "library precision": r["library_precision"],
                     "bf16 / fp32 matmul TFLOP/s": " / ".join(matmul_rate(r, p) for p in ("bf16", "fp32")),
                     "baseline img/s": round(base, 1) if base else NOT_RUN,
                     "library img/s (best)": round(max(lib), 1) if lib else NOT_RUN,
                     "× baseline": f"x{max(lib) / base:.2f}" if base and lib else "",
                     "measured": unbroken(r["finished_at"][:10])})
    if not rows:
        return pd.DataFrame({"status": [f"{NOT_RUN}: no record in results/bench/ (run `nin-repro bench`)"]})
    df = pd.DataFrame(rows).set_index("machine")
    threads = {t for _, _, t in newest}
    if len(threads) == 1:  # said once, in the header: in every cell it wrapped the machine onto a second line
        n = threads.pop()
        df.index = df.index.str.removesuffix(f", {n} threads")
        df.index.name = f"machine ({n} threads each)"
    return df


def bench_profile_tables(record: dict) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The bench record's profile of the library step: top operators, and
    each convolution's time and TFLOP/s against the measured bf16 matmul rate."""
    prof = record.get("profile")
    if not prof:
        return None
    ops = pd.DataFrame([{"operator": o["op"], "ms per step": round(o["ms_per_step"], 1),
                         "share of step": f"{100 * o['share']:.1f}%"} for o in prof["top_ops"]]).set_index("operator")
    precision = prof["precision"]
    mm = record["matmul_tflops"][precision]
    convs = pd.DataFrame([{
        "convolution": r["layer"] + (f" (x{r['layers']})" if r["layers"] > 1 else ""),
        "path": ", ".join(r["paths"]),
        "fwd ms": round(r["forward_ms"], 1), "bwd ms": round(r["backward_ms"], 1),
        "fwd TFLOP/s": round(r["forward_tflops"], 3), "bwd TFLOP/s": round(r["backward_tflops"], 3),
        f"bwd, of {precision} matmul": f"{100 * r['backward_tflops'] / mm:.0f}%",
    } for r in prof["convolutions"]]).set_index("convolution")
    return ops, convs


def ceiling(record: dict) -> dict:
    """The practical ceiling of one bench record: the fastest rate any single
    operation reached on its CPU (the matmul, or the fastest convolution of
    the profile) divided by the step's cost per image, against the best
    speed measured and the library's own path. Rows are found by their
    names: a record of `nin-repro bench --only ...` may lack the baseline or
    the library's rows, and then "baseline" or "library" is None."""
    rates = [record["matmul_tflops"][record["library_precision"]]]
    if record.get("profile"):
        rates += [r[k] for r in record["profile"]["convolutions"] for k in ("forward_tflops", "backward_tflops")]
    top = max(rates)
    bound = top * 1e12 / (record["step_gflop_per_image"] * 1e9)
    # the library as the runs train it, at the protocols' batch (a row names its batch); the bench also
    # times a larger batch, faster and never trained with, so the fastest row is that only where none names it
    lib = [r for r in record["rows"] if r["config"].startswith("nin_repro:")]
    at_batch = [r for r in lib if f"batch {PROTOCOL_BATCH}," in r["config"] + ","]
    library = max((r["images_per_second"] for r in at_batch or lib), default=None)
    return {"gflop_per_image": record["step_gflop_per_image"], "fastest_tflops": top, "bound": bound,
            "best": max((r["images_per_second"] for r in record["rows"]), default=None),
            "library": library, "library_batch": PROTOCOL_BATCH if at_batch else None,
            "baseline": row_rate(record, "baseline")}


# The batch every protocol of the paper's nets trains with (Method), the one the library's speed is quoted at.
PROTOCOL_BATCH = EXPERIMENTS["cifar10_full"].train.batch_size


def ceiling_text(record: dict) -> str:
    """The engineering chapter's line on the step's ceiling: what the
    library reached against the bound and the baseline, or a plain sentence
    where the record did not measure one of them."""
    c = ceiling(record)
    head = (f"At {c['gflop_per_image']:.2f} GFLOP per image, the fastest single operation "
            f"({c['fastest_tflops']:.2f} TFLOP/s) bounds the step at {c['bound']:.0f} images/s")
    if c["library"] is None:
        return f"{head}; this bench did not measure the library's path."
    at = f" at the protocols' batch of {c['library_batch']}" if c["library_batch"] else ""
    reached = (f"{head}; the library reached {c['library']:.0f}{at} ({100 * c['library'] / c['bound']:.0f}% of that "
               "bound")
    if c["baseline"] is None:
        return f"{reached}); this bench did not measure the baseline."
    return f"{reached}, x{c['library'] / c['baseline']:.2f} the baseline)."
