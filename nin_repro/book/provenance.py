"""Which runs count, on what data, and where they trained: the runs a
table rests on (those of their protocol as it stands), the copy of the data
each trained on and how runs group by it, and the machines and precisions
of each stretch of a run's epochs. The records themselves (schema, files)
are `nin_repro.results`'s."""

from __future__ import annotations

from nin_repro import results
from nin_repro.experiments import EXPERIMENTS, recipe_changes


def _spans(record: dict, key) -> list[list]:
    """[value, first epoch, last epoch] for each stretch of epochs with one `key(row)`."""
    spans = []
    for h in record["history"]:
        value = key(h)
        if spans and spans[-1][0] == value:
            spans[-1][2] = h["epoch"]
        else:
            spans.append([value, h["epoch"], h["epoch"]])
    return spans


# The CIFAR-10 copies the study has trained on, by the start of their SHA-256
# (see the data folder's README): runs of the 30-epoch protocol trained on a
# JPEG (quality 75) copy; later runs on a near-lossless one (59,891 of 60,000
# images bit-exact).
JPEG_COPY = "JPEG copy (quality 75)"
DATA_COPIES = {"54356694fbb1a8f3": JPEG_COPY,
               "393f6a5dbfc8b440": "near-lossless copy (99.8% of images bit-exact)"}


# The near-lossless copy's images that no lossless mirror held, by split,
# filled from the JPEG copy (the data folder's README, which flags each).
NEAR_LOSSLESS_JPEG_FILLS = {"train": 86, "test": 23}


# Runs on the official files (torchvision's layout) name the folder they
# read; wherever it lies, it holds the same data.
OFFICIAL_FILES = "official files"


def data_copy(record: dict) -> str:
    """Which copy of the dataset a run trained on, in words."""
    source = record.get("data_source", "")
    for digest, words in DATA_COPIES.items():
        if f"sha256 {digest}" in source:
            return words
    if source.startswith("official ") and " files at " in source:
        return OFFICIAL_FILES
    return source or "not recorded"


def copy_label(copy: str | None) -> str:
    """A data copy of `DATA_COPIES` in two or three words ("JPEG copy",
    "near-lossless copy"), for a table's protocol column or a legend; "" for
    any other (a dataset the study has one copy of, or no copy at all)."""
    return copy.split(" (")[0] if copy in DATA_COPIES.values() else ""


def copy_name(copy: str) -> str:
    """A copy in words for a sentence or a legend: `copy_label`'s short
    name of a known copy, any other as the record names it."""
    return copy_label(copy) or copy


def run_machines(record: dict) -> str:
    """Where a run trained: the machine its epochs name (CPU name and
    instruction set), or, for a run resumed on another kind of machine, each
    machine with its epochs."""
    spans = _spans(record, lambda h: h["machine"])
    if len(spans) == 1:
        return spans[0][0]
    return "; ".join(f"{m}: {epoch_span(a, b)}" for m, a, b in spans)


def where_spans(record: dict) -> list[tuple[str, str, int, int]]:
    """(machine, precision, first epoch, last epoch) for each stretch of a
    run's epochs trained on one kind of machine in one precision."""
    return [(m, p, a, b) for (m, p), a, b in _spans(record, lambda h: (h["machine"], h["precision"]))]


def run_where(record: dict) -> str:
    """Machine(s) and precision of a run. The same CPU name can be machines of
    different speed and numerics (bf16 on AVX512-BF16/AMX, fp32 on AVX2): the
    precision tells them apart wherever a run's error or cost is shown. A run
    that moved names each machine and precision with its epochs."""
    spans = where_spans(record)
    if len(spans) == 1:
        return f"{run_machines(record)}, {spans[0][1]}"
    return "; ".join(f"{m}, {p}: {epoch_span(a, b)}" for m, p, a, b in spans)


def epoch_span(first: int, last: int) -> str:
    """"epochs 1-175", or "epoch 176" for a stretch of one epoch."""
    return f"epoch {first}" if first == last else f"epochs {first}-{last}"


def protocol_changes(record: dict) -> list[str]:
    """How the protocol a record's run followed differs from its
    experiment's protocol as the registry defines it now, one "setting:
    then -> now" each ("warmup_epochs: 1.0 -> 5.0"): a run of an earlier
    version of the protocol, which no table counts and `reproduce` trains
    again. Empty where they agree; for a run with overrides (not a protocol
    run in any case), an experiment no longer in the registry, or a config
    part the record does not keep. Compared as `experiments.recipe_changes`
    compares (so a checkpoint resumes across the same settings; the
    precision is not compared: a record names the one `auto` picked)."""
    exp = EXPERIMENTS.get(record["experiment"])
    if exp is None or record["config"].get("overrides"):
        return []
    now = {"dataset": exp.dataset, "preprocess": exp.preprocess, "train": exp.train.to_dict(),
           "model": exp.model.to_dict()}
    return [f"{key}: {was} -> {value}" for _, key, was, value in recipe_changes(record["config"], now)]


def is_protocol_run(record: dict) -> bool:
    """A full run of its experiment's protocol as it stands: no epoch or
    subset overrides, and no setting changed since (`protocol_changes`)."""
    return not record["config"].get("overrides") and not protocol_changes(record)


def protocol_runs(records: list[dict], experiments) -> list[dict]:
    """The records of `experiments` (a name or several) that follow their
    protocol (no epoch, subset or batch overrides): the runs a table rests on."""
    names = {experiments} if isinstance(experiments, str) else set(experiments)
    return [r for r in records if r["experiment"] in names and is_protocol_run(r)]


def earlier_runs(experiment: str, results_dir=None) -> str:
    """What a planned run will cost, as measured: the wall time of each
    finished protocol run of the same experiment, with where it trained."""
    records = protocol_runs(results.read_records(results_dir), experiment)
    return "; ".join(f"seed {r['seed']} took {r['wall_seconds'] / 3600:.1f} h on {run_where(r)}"
                     for r in records)


def copy_groups(runs: list[dict]) -> list[tuple[str, list[dict]]]:
    """Runs grouped by the copy of the data they trained on (`data_copy`):
    the copy with the most runs first and, between copies with as many, the
    one whose latest run finished last. A row pools the runs of one copy
    only: the copy can move the test error by more than the seeds do (the
    CIFAR-10 chapter measures it for the budget protocol)."""
    groups: dict[str, list[dict]] = {}
    for r in runs:
        groups.setdefault(data_copy(r), []).append(r)
    return sorted(groups.items(), key=lambda kv: (len(kv[1]), max(r.get("finished_at", "") for r in kv[1])),
                  reverse=True)


def shared_copy(records: list[dict], experiments) -> str | None:
    """The copy of the data on which every one of `experiments` has protocol
    runs (the one with the most runs among them, then the newer), so that
    rows compared with each other rest on the same data; None where they
    share none."""
    groups = [dict(copy_groups(protocol_runs(records, name))) for name in experiments]
    shared = set.intersection(*(set(g) for g in groups)) if groups else set()
    pooled = copy_groups([r for g in groups for c, runs in g.items() if c in shared for r in runs])
    return pooled[0][0] if pooled else None
