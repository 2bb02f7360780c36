"""The six lines that open the book (`abstract`): what was run, the copies
of the data, the headline numbers beside the paper's, the comparisons
decided at full length and what the 30-epoch ones can say, the verdicts,
and what was easy and hard; every number read from the records."""

from __future__ import annotations

import re

from nin_repro import results
from nin_repro.experiments import CIFAR_EPOCHS, EXPERIMENTS, FULL_EPOCHS

from . import comparison, provenance
from .chapters import run_words
from .claims import CLAIMS, Verdict, tally, verdicts
from .cost import all_machine_hours, totals
from .display import listed, shown
from .paper import paper_error
from .tables import copy_rows, mean_std


def _headline(v: Verdict) -> str:
    return v.headline or v.verdict


def compared_copies(results_dir=None) -> list[str]:
    """The copies of the data the CPU-budget rows of the comparisons (Table
    5's heads, Figure 4's dropout) trained on, in words, for the abstract to
    say where its 30-epoch readings come from; how each pair came out is the
    claims table's (`_pair_words`)."""
    records = results.read_records(results_dir)
    copies = []
    for claim in (c for c in CLAIMS if c.kind in ("order", "cut")):
        rows = comparison.compared_rows(records, claim.budget)
        if all(r["n"] for r in rows.values()):
            copies += [provenance.copy_name(r["copy"]) for r in rows.values()
                       if r["copy"] in provenance.DATA_COPIES.values()]
    return list(dict.fromkeys(copies))


def _budget_copies(records: list[dict], epochs: int = CIFAR_EPOCHS) -> str:
    """"of the 8 CIFAR-10 runs of 30 epochs, 7 trained on the JPEG copy, 1
    (without augmentation, seed 2) on the near-lossless copy": the copies the
    CIFAR-10 runs of one length (`epochs`: the CPU budget's by default, or
    the full length's) trained on, read from each record's data source
    (`provenance.copy_groups`), a copy with few runs naming them; "" before any."""
    runs = [r for r in records if r["dataset"] == "cifar10" and provenance.is_protocol_run(r)
            and r["experiment"] in EXPERIMENTS and EXPERIMENTS[r["experiment"]].train.epochs == epochs]
    groups = provenance.copy_groups(runs)
    if not groups:
        return ""
    if len(groups) == 1:
        return f"the {epochs}-epoch CIFAR-10 runs all trained on the {provenance.copy_name(groups[0][0])}"
    parts = [f"{len(rs)}" + (f" ({_runs_named(rs)})" if len(rs) <= 2 else "") + f" on the {provenance.copy_name(copy)}"
             for copy, rs in groups]
    first, *rest = parts
    first = first.replace(" on the ", " trained on the ", 1)
    return f"of the {len(runs)} CIFAR-10 runs of {epochs} epochs, " + ", ".join([first, *rest])


def _runs_named(runs: list[dict]) -> str:
    """"without augmentation, seeds 0 and 1": a few runs, in words."""
    def variant(r):
        return run_words(r["experiment"], length=False) or "without augmentation"
    if len({r["experiment"] for r in runs}) == 1:
        return f"{variant(runs[0])}, seed{'s' if len(runs) > 1 else ''} {listed([r['seed'] for r in runs])}"
    return listed([f"{variant(r)}, seed {r['seed']}" for r in runs])


def _sentence(words: str) -> str:
    return f" {words[0].upper()}{words[1:]}" if words else ""


def abstract(results_dir=None) -> str:
    """Six lines: what was run and n, the copies of the data, the headline
    numbers beside the paper's (lower or higher), the comparisons decided
    at full length and what the 30-epoch ones can say, the verdicts, and
    what was easy and hard. Every number is read from the records, the
    model code or the data copies' description (`results`)."""
    records = results.read_records(results_dir)
    t, all_hours = totals(results_dir), all_machine_hours(results_dir)
    vs = {v.claim.key: v for v in verdicts(results_dir)}
    counts = tally(results_dir)
    full = {r["experiment"]: r
            for r in comparison.summarize(records, ["cifar10_full", "cifar10_aug_full", "cifar100_full",
                                                    "mnist_full"])}
    # CIFAR-100 joins the lines once a full-length run of it has finished (its claim row says the rest)
    cifar100 = full["cifar100_full"]["runs"] if full["cifar100_full"]["n"] else []
    verdict_words = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    not_run = [c.label + f" ({c.claim})" for c in CLAIMS if c.kind == "error" and vs[c.key].verdict.startswith("not run")
               and all(EXPERIMENTS[n].requires_download for n in c.full + c.budget)]  # no copy of its data here
    fills = provenance.NEAR_LOSSLESS_JPEG_FILLS
    copies = [r for r in copy_rows(["cifar10"], results_dir) if r["n"]]
    jpeg = next((r for r in copies if r["copy"] == provenance.JPEG_COPY), None)
    other = next((r for r in copies if r is not jpeg), None)
    cost = (f"; at {jpeg['epochs']} epochs the {provenance.copy_name(provenance.JPEG_COPY)} cost "
            f"{jpeg['ours_mean'] - other['ours_mean']:.1f} points of test error (the same protocol on each copy)"
            if jpeg and other else "")
    budget_copies = _budget_copies(records)
    full_copies = _budget_copies(records, FULL_EPOCHS)

    def against(key, paper_key):
        row, paper = full[key], paper_error(paper_key)
        if row["ours_mean"] is None:
            return f"{_headline(vs[_CLAIM_OF[key]])} against the paper's {paper:.2f}%"
        diff = shown(row["ours_mean"]) - paper
        word = "lower" if diff < 0 else "higher" if diff > 0 else "level"
        return (f"{mean_std(row['ours_mean'], row['ours_std'])}% (n={row['n']}) against {paper:.2f}%, "
                f"{abs(diff):.2f} points {word}")

    comparisons = [v for v in vs.values() if v.claim.kind in ("order", "cut")]
    decided = [v for v in comparisons if v.result]
    copies = compared_copies(results_dir)
    on = f"; the compared rows on the {listed(copies)}" if copies else ""
    lines = [
        # the paper gives no length: 260 epochs is the first author's published schedule (his cuda-convnet
        # README), MNIST's 60 a schedule of ours of the same shape
        f"**What was run.** NiN, re-implemented in PyTorch: CIFAR-10{' and CIFAR-100' * bool(cifar100)} for "
        f"the {FULL_EPOCHS} epochs and schedule the first author published for {'CIFAR-10' if cifar100 else 'it'} "
        "(his release's README; "
        f"the paper gives no length); MNIST, with his MNIST net, for {EXPERIMENTS['mnist_full'].train.epochs} "
        f"epochs on a schedule of ours of the same shape. "
        f"{t['runs']} run{'s' if t['runs'] != 1 else ''} finished in {t['machine_hours']:.0f} machine-hours "
        f"({t['core_hours']:.0f} core-hours; {all_hours:.0f} machine-hours in all, counting the runs in progress, "
        f"superseded or given up) on {listed(t['threads'])}-core CPUs ({listed(t['cpus'])}), in "
        f"{' or '.join(t['precisions'])}; {{doc}}`runs` lists every run. "
        + (f"Not run: {listed(not_run)}, for want of a copy of the data; " if not_run else "Not run: ")
        + "the paper's side experiment of GAP in place of a conventional CNN's fully connected layers "
        "(not among the claims below).",
        f"**Data.** Two copies of CIFAR-10, both from public mirrors: a near-lossless rebuild, all but "
        f"{sum(fills.values())} of its 60,000 images bit-exact (those {sum(fills.values())}, {fills['test']} of "
        f"them test images, filled from the other copy), and an all-{provenance.JPEG_COPY}."
        + (_sentence(full_copies) + "." if full_copies else "")
        + (_sentence(budget_copies) + f"{cost}." if budget_copies else "")
        + (f" {_cifar100_copy(cifar100)}" if cifar100 else ""),
        f"**Headline.** CIFAR-10 without augmentation {against('cifar10_full', 'cifar10')}; with augmentation "
        f"{against('cifar10_aug_full', 'cifar10_aug')}; "
        + (f"CIFAR-100 {against('cifar100_full', 'cifar100')}; " if cifar100 else "")
        + f"MNIST {against('mnist_full', 'mnist')}; ± is the standard deviation over a row's seeds, n "
        "their number.",
        # the comparisons decided at full length first; how each pair came out at 30 epochs is said once, in
        # the budget chapter (the claims table just below gives them too, but only until the full-length runs
        # decide)
        "**Comparisons.** " + "".join(f"At full length, {v.claim.label}'s claim that {v.claim.claim} is "
                                      f"{v.verdict}: {v.result}. " for v in decided)
        + f"At {CIFAR_EPOCHS} epochs (a recipe of our own{on}) the nets are under-trained and decide no "
        "comparison; {doc}`budget` gives how each pair came out"
        + ("." if len(decided) == len(comparisons) else ", and the full-length runs decide the paper's "
                                                         "comparisons, in the claims table below."),
        f"**Verdicts.** Of the paper's {len(CLAIMS)} claims: {verdict_words}.",
        "**Easy, hard.** The net and its recipe came from the paper and the first author's public release "
        "(README, layer and parameter files), which served in place of asking the authors; the hard parts were "
        "a training stalled at chance level without BatchNorm, the length on CPUs and recovering the data "
        "offline ({doc}`summary`).",
    ]
    return "\n".join(f"{i + 1}. {line}" for i, line in enumerate(lines))


_CLAIM_OF = {"cifar10_full": "table1_plain", "cifar10_aug_full": "table1_aug", "cifar100_full": "table2",
             "mnist_full": "table4"}


def _cifar100_copy(runs: list[dict]) -> str:
    """The CIFAR-100 copy its finished runs trained on, as their records'
    data source gives it: from public mirrors, and how many of its images are
    bit-exact, where every source says so."""
    sources = [r.get("data_source", "") for r in runs]
    said = {m.group(1) if (m := re.search(r"all ([\d,]+) images lossless", source)) else None for source in sources}
    mirrors = ", from public mirrors" if all("public mirrors" in source for source in sources) else ""
    exact = f", all {said.pop()} of its images bit-exact" if len(said) == 1 and None not in said else ""
    return f"One copy of CIFAR-100{mirrors}{exact} ({{doc}}`cifar100`)."
