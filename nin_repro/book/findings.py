"""What the chapters say about their numbers, in sentences written from the
run records: how a row compares with the paper, what the copy of the data
did (and which runs of two copies ran alike), the effects of the paper's comparisons (Table 1's augmentation,
Table 5's heads, Figure 4's dropout) beside the rows' noise, and what each
comparison means. The claims and their verdicts are in `claims.py`."""

from __future__ import annotations

import statistics

import pandas as pd

from nin_repro import results
from nin_repro.experiments import EXPERIMENTS

from . import comparison, progress, provenance, tables
from .claims import NOISE_EPOCHS, epoch_spread, last_errors, near_or_past_the_mark, past_the_mark, row_noise
from .chapters import CHAPTERS, run_words
from .display import listed, order_text, printed_cut, short_where, shown
from .paper import DROPOUT_CUT_PERCENT
from .tables import copy_rows, mean_std, missing_status, rows_where


def verdict(experiment: str, results_dir=None) -> str:
    """One sentence on how our runs compare with the paper, from the records."""
    r = comparison.summarize(results.read_records(results_dir), [experiment])[0]
    if r["ours_mean"] is None:
        return f"{run_words(experiment, dataset=True)}: {missing_status(experiment, results_dir)}."
    # the length once: the runs' own where it is not the one the label names
    length = f"{r['epochs']} epochs, " if r["epochs"] != EXPERIMENTS[experiment].train.epochs else ""
    text = (f"{run_words(experiment, dataset=True)}: {mean_std(r['ours_mean'], r['ours_std'])}% test error "
            f"over n={r['n']} seed{'s' if r['n'] > 1 else ''} ({length}"
            f"{60 * r['hours'] / r['n']:.0f} min{' per run' if r['n'] > 1 else ''} on {rows_where(r['runs'])})")
    if r["paper"] is None:
        return text + "."

    d, noise = r["difference"], row_noise(r)
    where = "matches" if abs(d) < 0.005 else f"is {abs(d):.2f} points {'higher than' if d > 0 else 'lower than'}"
    unresolved = (f" (within this row's noise of {noise:.2f} points, the range of its test error over its last "
                  "epochs and over seeds: not a difference these records resolve)" if 0.005 <= abs(d) <= noise else "")
    return text + f"; the paper reports {r['paper']:.2f}%, so ours {where} the paper{unresolved}."


def _row_name(r: dict) -> str:
    """"CIFAR-10 augmented": a summarized row without its length, which the sentence gives."""
    return run_words(r["experiment"], dataset=True).rsplit(", ", 1)[0].replace(", ", " ")


def superseded_note(experiment: str, results_dir=None) -> str:
    """The finished runs of `experiment` that an earlier version of its
    protocol trained and its present version trained again (results/superseded/):
    their errors and why, so that a chapter's table, which counts only the
    protocol as it stands, does not hide them; "" where there are none."""
    runs = sorted((r for r in progress.superseded(results_dir) if r["experiment"] == experiment),
                  key=lambda r: r["seed"])
    if not runs:
        return ""
    seeds = f"Seed{'s' if len(runs) > 1 else ''} {listed([r['seed'] for r in runs])}"
    errors = listed([f"{r['test_error']:.2f}%" for r in runs])
    why = "; ".join(dict.fromkeys(r["superseded_because"] for r in runs))
    return (f"{seeds} first finished at {errors} under an earlier version of this protocol; {why}. The claim "
            "counts only runs of the protocol as it stands ({doc}`runs` keeps the earlier ones).")


def below_paper(experiments: list[str], results_dir=None) -> str:
    """Two sentences for the Discussion where finished rows of `experiments`
    fall below the paper's error: which ones, whether by more than each
    row's noise, which rest on one seed, and that the study tests no cause;
    "" where none does. (`standing`, beside it, says which of the other
    rows rest on one seed; the chapter links the recipe's deviations from
    the paper.)"""
    rows = [r for r in comparison.summarize(results.read_records(results_dir), experiments)
            if r["ours_mean"] is not None and r["paper"] is not None]
    below = [r for r in rows if r["difference"] < 0]
    if not below:
        return ""
    if len(below) == len(rows):
        which = ("every finished full-length row of an error claim ends" if len(rows) > 1
                 else f"the {_row_name(below[0])} row ends")
    else:
        which = f"the {listed([_row_name(r) for r in below])} row{'s end' if len(below) > 1 else ' ends'}"
    # is each gap more than the row's own noise (the range of its last tests, its seeds' spread)?
    beyond = [r for r in below if -r["difference"] > row_noise(r)]
    each = "each " if len(below) > 1 else ""
    if len(beyond) == len(below):
        margin = f"{each}by more than its own noise"
    elif not beyond:
        margin = f"{each}within its own noise"
    else:
        margin = (f"the {listed([_row_name(r) for r in beyond])} row{'s' if len(beyond) > 1 else ''} by more "
                  f"than {'their' if len(beyond) > 1 else 'its'} own noise")
    single = [_row_name(r) for r in below if r["n"] == 1]
    seeds = (f"; the paper gives one number a row, and {listed(single)} rest{'s' if len(single) == 1 else ''} "
             "on one seed here, so a further seed may move the gap" if single else "")
    return (f"{which[0].upper()}{which[1:]} below the paper's error, {margin} (the range of its last tests at the "
            f"final rate, or its seeds' spread){seeds}. The study tests no cause of the gap: the recipe's "
            "differences from the paper's are the candidates.")


def standing(experiments: list[str], results_dir=None) -> str:
    """Where the finished rows of `experiments` stand against the paper, in
    one clause: "reach the paper's error or lower on CIFAR-10 and MNIST, and
    stay above it on ... (by x points); one seed so far on CIFAR-10"."""
    rows = [r for r in comparison.summarize(results.read_records(results_dir), experiments)
            if r["ours_mean"] is not None and r["paper"] is not None]
    if not rows:
        return "have no finished row to set against the paper yet"

    level = [_row_name(r) for r in rows if r["difference"] <= 0]
    above = [f"{_row_name(r)} (by {r['difference']:.2f} points)" for r in rows if r["difference"] > 0]
    # one seed: said here of the rows `below_paper` does not weigh (those not below the paper's error)
    single = [_row_name(r) for r in rows if r["n"] == 1 and r["difference"] >= 0]
    said = ([f"reach the paper's error or lower on {listed(level)}"] if level else []) + (
        [f"stay above it on {listed(above)}" if level else f"stay above the paper's error on {listed(above)}"]
        if above else [])
    return ", and ".join(said) + (f"; one seed so far on {listed(single)}" if single else "")


def _same_setup(groups: dict[str, list[dict]]) -> list[str]:
    """"Like for like on <machine and precision>: A x% (n=k), B y% (n=m).",
    one sentence for each machine and precision that trained runs of two or
    more of `groups` (rows, or copies of the data), in the order they first
    appear."""
    by_setup: dict[str, dict[str, list[float]]] = {}
    for name, runs in groups.items():
        for r in runs:
            by_setup.setdefault(short_where(provenance.run_where(r)), {}).setdefault(name, []).append(r["test_error"])
    return [f"Like for like on {w}: " + ", ".join(f"{n} {sum(e) / len(e):.2f}% (n={len(e)})" for n, e in rows.items())
            + "." for w, rows in by_setup.items() if len(rows) >= 2]


# Comparisons (Table 1's augmentation, Table 5's heads, Figure 4's dropout) ---


# a pair with a row still without a record (its run may be training, or not started): not "not run"
NOT_COMPARED = "not compared yet"


def _needs(rows: dict, names) -> str:
    """"needs a record of X" for a compared pair, naming only the rows
    without one: the other may have finished long before."""
    missing = [run_words(n, dataset=True) for n in names if rows[n]["ours_mean"] is None]
    return f"needs {'records' if len(missing) > 1 else 'a record'} of {' and '.join(missing)}"


def _gap(a: str, b: str, rows: dict) -> tuple[float, float | None, float]:
    """How much lower row `a`'s test error is than row `b`'s, in points: ours
    (between the printed means), the paper's (None where it gives no number
    for one of them), and the larger noise of the two rows."""
    ra, rb = rows[a], rows[b]
    paper = None if None in (ra["paper"], rb["paper"]) else rb["paper"] - ra["paper"]
    return shown(rb["ours_mean"]) - shown(ra["ours_mean"]), paper, max(row_noise(ra), row_noise(rb))


def _difference_line(a: str, b: str, rows: dict, labels: dict) -> str:
    """'A x% vs B y%: A d points lower (the paper: e points lower; noise: n points).'"""
    ra, rb = rows[a], rows[b]
    if ra["ours_mean"] is None or rb["ours_mean"] is None:
        return f"{labels[a]} vs {labels[b]}: {NOT_COMPARED} ({_needs(rows, (a, b))})."

    def side(d):
        return "level with it" if round(d, 2) == 0 else f"{abs(d):.2f} points {'lower' if d > 0 else 'higher'}"

    d, paper_d, noise = _gap(a, b, rows)
    paper = "" if paper_d is None else f"the paper: {side(paper_d)}; "
    within = "within" if abs(d) <= noise else "beyond"
    return (f"{labels[a]} {ra['ours_mean']:.2f}% vs {labels[b]} {rb['ours_mean']:.2f}%: "
            f"{labels[a]} {side(d)} ({paper}the rows' noise is up to "
            f"{noise:.2f} points, so the gap is {within} it).")


def _copies_line(rows: dict, labels: dict) -> list[str]:
    """Rows that trained on different copies of the data (`comparison.copies_apart`):
    which copy each rests on, and that their gaps are not the comparison's."""
    apart = comparison.copies_apart(rows)
    if not apart:
        return []
    copies = ", ".join(f"{labels[n]} on the {provenance.copy_name(c)}" for n, c in apart.items())
    return [f"The rows trained on different copies of the data ({copies}): each gap here holds what the copy "
            "did as well as what the comparison is about, so none answers the paper's question."]


def _where_line(rows: dict, labels: dict) -> list[str]:
    """Where the compared rows trained (machine and precision, as each
    epoch's record names them): once where they all share one; row by row
    where they do not, since a gap between them may then hold the setup's
    effect as well."""
    where = {n: tables.rows_where(rows[n]["runs"]) for n in labels if rows[n]["ours_mean"] is not None}
    if len(where) < 2:
        return []
    if len(set(where.values())) == 1:
        return [f"Every row trained on {next(iter(where.values()))}."]
    return ["The rows trained on different machines or precisions, so a gap may hold the setup's effect too: "
            + ", ".join(f"{labels[n]} ({w})" for n, w in where.items()) + "."]


def _details(rows: dict, labels: dict) -> list[str]:
    """What stands behind a comparison's gaps, row by row: how closely each
    net fit its training set, each row's noise (and which rows rest on one
    seed), and where they trained."""
    return [_fit_line(rows, labels), noise_line(rows, labels)] + _where_line(rows, labels)


def rows_behind(chapters: list[str], results_dir=None) -> str:
    """How closely each CPU-budget row of these chapters' comparisons fit its
    training set and where it trained, said once for all of them (the short
    runs' chapter: the paper's net stands in all three), each row named by
    what sets it apart from the paper's net; each pair's noise is in
    `budget_comparisons`."""
    names = dict.fromkeys(n for chapter in chapters for n in CHAPTERS[chapter].comparison(full=False))
    labels = {n: run_words(n, length=False) or "the paper's net" for n in names}
    rows = _summarized(labels, results_dir)
    if sum(1 for r in rows.values() if r["ours_mean"] is not None) < 2:
        return ""
    return _lines([_fit_line(rows, labels)] + _where_line(rows, labels))


def _fit_line(rows: dict, labels: dict) -> str:
    """Each row's last-epoch training error beside its test error: the distance
    between them is how closely the net fit its training set, the part of the
    error a regularizer (augmentation, dropout, GAP) can remove."""
    fits = []
    for n, label in labels.items():
        if rows[n]["ours_mean"] is None:
            continue
        train = _train_error(rows[n])
        fits.append(f"{label} {train:.2f}% train vs {rows[n]['ours_mean']:.2f}% test "
                    f"(a gap of {shown(rows[n]['ours_mean']) - shown(train):.2f} points)")
    return "At the last epoch (training error taken during it, dropout on): " + "; ".join(fits) + "."


def noise_line(rows: dict, labels: dict) -> str:
    """Each row's noise (`rows`: `_summarized`'s, by name): the seed spread,
    and the range of each run's test error over its last epochs (their
    number said once where every run has the same); a row on one seed is
    marked so, its noise being that range alone."""
    shown_rows = {n: rows[n] for n in labels if rows[n]["ours_mean"] is not None}
    windows = {n: sorted({len(last_errors(x)) for x in r["runs"]}) for n, r in shown_rows.items()}
    lengths = {w for ws in windows.values() for w in ws}
    # one window, of more than one test, for every run: said once, in the line's opening
    shared = next(iter(lengths)) if len(lengths) == 1 and min(lengths) > 1 else None
    parts = []
    for n, r in shown_rows.items():
        # one range per run, named by seed where the row has several
        ranges = listed([f"{epoch_spread(x):.2f}" for x in r["runs"]]) + " points"
        ranges += f" (seeds {listed([x['seed'] for x in r['runs']])})" if len(r["runs"]) > 1 else ""
        tests = windows[n]  # the window each range is over
        window = "-".join(str(t) for t in dict.fromkeys((tests[0], tests[-1])))
        seeds = f"seed std {r['ours_std']:.2f}; " if r["ours_std"] is not None else ""
        spread = (("ranges " if len(r["runs"]) > 1 else "") + ranges if shared
                  else f"range over the last {window} tests {ranges}" if tests[-1] > 1
                  else "one test at the final rate, so no range")
        parts.append(f"{labels[n]}{' (one seed)' if r['n'] == 1 else ''}: {seeds}{spread}")
    if not parts:
        return ""
    # the intro's rule defines the noise in full; this opening only names its parts
    over = f"its last {shared} tests" if shared else f"at most its last {NOISE_EPOCHS} tests"
    return f"Noise (seed spread; each run's range over {over} at the final rate): " + "; ".join(parts) + "."


def _summarized(names, results_dir) -> dict:
    """The rows of `names`, each pooling the runs on the copy of the data they share (`provenance.shared_copy`)."""
    return comparison.compared_rows(results.read_records(results_dir), names)


def _lines(lines: list[str]) -> str:
    return "\n".join(f"- {line}" for line in lines if line)


def copy_effect(experiment: str, results_dir=None) -> str:
    """What the copy of the data did to one protocol's test error: its runs
    on each copy side by side (`tables.copy_rows`), the gap beside the rows'
    noise, the seeds and setups of each side, and, where one machine and
    precision trained both copies, the like-for-like pair."""

    rows = [r for r in copy_rows([experiment], results_dir) if r["n"]]
    if len(rows) < 2:
        has = "runs on one copy of the data only" if rows else "no runs yet"
        return f"{run_words(experiment, dataset=True)} has {has}, so what the copy changes is not measured."
    a, b = rows[:2]
    d = shown(a["ours_mean"]) - shown(b["ours_mean"])
    noise = max(row_noise(a), row_noise(b))

    def side(r):
        seeds = ", ".join(str(x) for x in r["seeds"])
        return (f"on the {provenance.copy_name(r['copy'])} {mean_std(r['ours_mean'], r['ours_std'])}% "
                f"(n={r['n']}, seed{'s' if r['n'] > 1 else ''} {seeds}, on {rows_where(r['runs'])})")

    lower = b if d > 0 else a
    within = "within" if abs(d) <= noise else "beyond"
    text = (f"{run_words(experiment, dataset=True)}: {side(a)}; {side(b)}. "
            f"On the {provenance.copy_name(lower['copy'])} the test error is {abs(d):.2f} points lower, "
            f"{within} the rows' noise of up to {noise:.2f} points.")
    return text + " " + like_for_like_copies(a, b)


def like_for_like_copies(a: dict, b: dict) -> str:
    """The two copies' runs that share a machine and precision, if any."""
    lines = _same_setup({provenance.copy_name(r["copy"]): r["runs"] for r in (a, b)})
    return " ".join(lines) or ("No machine and precision trained both copies, so part of the gap may come "
                               "from the setup.")


def _paper_pairs(names: list[str]) -> list[tuple[str, str]]:
    """The pairs of compared rows (given in the paper's order, lowest error
    first) that a comparison reports: the one pair, or for Table 5's heads GAP
    against each fully connected head, then those two heads."""
    if len(names) == 2:
        return [(names[0], names[1])]
    best, middle, worst = names
    return [(best, worst), (best, middle), (middle, worst)]


def heads_effect(results_dir=None, full: bool = False, details: bool = True) -> str:
    """Table 5's claim, from the records: GAP's test error against each fully
    connected head's, beside the paper's gaps and the rows' noise, and
    whether the paper's order (GAP < FC + dropout < FC) holds here; then,
    with `details`, each row's fit, noise, seeds and setup (`_details`)."""
    labels = CHAPTERS["table5_heads"].comparison(full)
    rows = _summarized(labels, results_dir)
    lines = _copies_line(rows, labels) + [_difference_line(a, b, rows, labels) for a, b in _paper_pairs(list(labels))]
    order = _order_line(rows, labels)
    checkable = sum(r["ours_mean"] is not None for r in rows.values()) >= 2
    return _lines(lines + [order] + (_details(rows, labels) if details and checkable else []))


def heads_order(results_dir=None, full: bool = False) -> str:
    """Whether the paper's order of Table 5's heads holds, in one sentence."""
    labels = CHAPTERS["table5_heads"].comparison(full)
    return _order_line(_summarized(labels, results_dir), labels)


def _order_line(rows: dict, labels: dict) -> str:
    """Whether the paper's order of the heads holds, once every head has a
    record (before, the pairs' lines say how the heads run so far stand)."""
    ours = {n: shown(r["ours_mean"]) for n, r in rows.items() if r["ours_mean"] is not None}  # as printed
    missing = [labels[n] for n in labels if n not in ours]
    if missing:
        return (f"The paper's order (GAP < FC + dropout < FC): checked once {listed(missing)} "
                f"{'has a record' if len(missing) == 1 else 'have records'}.")
    ranked = sorted(ours, key=ours.get)  # a tie keeps the paper's order, and shows as "="
    expected = list(labels)
    strict = all(ours[a] < ours[b] for a, b in zip(ranked, ranked[1:]))
    return (f"The paper's order (GAP < FC + dropout < FC) "
            f"{'holds' if ranked == expected and strict else 'does not hold'} here: "
            f"{order_text(ranked, ours, labels.get)}.")


def budget_comparisons(results_dir=None) -> pd.DataFrame:
    """The CPU-budget protocol's comparisons in one table, a row for each pair
    the paper compares (Table 1's augmentation, each pair of Table 5's heads,
    Figure 4's dropout): how many points lower the first row's test error is
    than the second's, ours beside the paper's, against the larger noise of
    the two rows, and which way that reads."""
    out = []
    for chapter in ("cifar10", "table5_heads", "figure4_dropout"):
        labels = CHAPTERS[chapter].comparison(full=False)
        rows = _summarized(labels, results_dir)
        for a, b in _paper_pairs(list(labels)):
            row = {"compared": f"{labels[a]} vs {labels[b]}", "ours": "", "the paper": "", "noise": "", "reading": ""}
            out.append(row)
            if rows[a]["ours_mean"] is None or rows[b]["ours_mean"] is None:
                row["reading"] = NOT_COMPARED
                continue
            d, paper_d, noise = _gap(a, b, rows)
            row["ours"], row["noise"] = f"{d:.2f}", f"{noise:.2f}"
            if chapter == "figure4_dropout":
                _, cut = printed_cut(rows[b]["ours_mean"], rows[a]["ours_mean"])
                row["ours"] += f" (a {cut:.1f}% cut)" if cut > 0 else ""
                row["the paper"] = f"a cut over {DROPOUT_CUT_PERCENT}%"
                past = past_the_mark(rows[b]["ours_mean"], rows[a]["ours_mean"])
                # a cut beyond the noise is the paper's only once past its mark by more than the noise too
                papers_way = d > 0 and past > noise
                short = (f"a cut, {DROPOUT_CUT_PERCENT}% within the noise" if near_or_past_the_mark(d, past, noise)
                         else f"a cut, short of {DROPOUT_CUT_PERCENT}%")
            else:
                row["the paper"] = "" if paper_d is None else f"{paper_d:.2f}"
                papers_way, short = paper_d is not None and d * paper_d > 0, ""
            row["reading"] = ("rows on different copies of the data" if comparison.copies_apart(rows)
                              else "within the noise" if abs(d) <= noise
                              else "the paper's way" if papers_way
                              else short if d > 0 and short else "not the paper's way")
    return pd.DataFrame(out)


def augmentation_effect(results_dir=None, full: bool = False, details: bool = True) -> str:
    """Table 1's comparison, from the records: what translation + flip did to
    test error (the paper: 1.60 points lower), and each row's final training
    error, since augmentation acts mainly on the part of the test error that
    comes from fitting the training set too closely."""
    labels = CHAPTERS["cifar10"].comparison(full)
    aug, plain = labels
    rows = _summarized(labels, results_dir)
    lines = _copies_line(rows, labels) + [_difference_line(aug, plain, rows, labels)]
    if details and all(rows[n]["ours_mean"] is not None for n in labels):
        lines += _details(rows, labels)
    return _lines(lines)


def dropout_effect(results_dir=None, full: bool = False, details: bool = True) -> str:
    """Figure 4's claim, from the records: the relative cut in test error that
    dropout between the mlpconv layers brings (the paper: more than 20%),
    beside the rows' noise, and how closely each net fit its training set,
    which is what dropout acts on."""
    labels = CHAPTERS["figure4_dropout"].comparison(full)
    with_name, without_name = labels
    rows = _summarized(labels, results_dir)
    with_d, without = rows[with_name], rows[without_name]
    if with_d["ours_mean"] is None or without["ours_mean"] is None:
        return _lines([f"dropout vs no dropout: {NOT_COMPARED} ({_needs(rows, labels)})."])
    noise = max(row_noise(with_d), row_noise(without))
    gap, cut = printed_cut(without["ours_mean"], with_d["ours_mean"])  # the percentage from the unrounded means
    points = shown(without["ours_mean"]) - shown(with_d["ours_mean"])  # the points as the printed means give them
    change = ("no relative change" if round(points, 2) == 0 else
              f"a {abs(cut):.1f}% relative {'reduction' if gap > 0 else 'rise'}")
    line = (f"Test error {without['ours_mean']:.2f}% without dropout, {with_d['ours_mean']:.2f}% with it: "
            f"{change}, {abs(points):.2f} points (the paper: a "
            f"reduction of more than {DROPOUT_CUT_PERCENT}%). The rows' noise is up to "
            f"{noise:.2f} points, so the difference is {'within' if abs(gap) <= noise else 'beyond'} it.")
    past = past_the_mark(without["ours_mean"], with_d["ours_mean"])
    if near_or_past_the_mark(gap, past, noise):  # how far from the paper's mark, against the same noise
        mark = DROPOUT_CUT_PERCENT / 100 * shown(without["ours_mean"])  # from the printed mean, as the points
        side = ("matches it" if round(points - mark, 2) == 0 else
                f"{'passes' if past > 0 else 'falls short of'} it by {abs(points - mark):.2f} points")
        line += (f" A {DROPOUT_CUT_PERCENT}% cut would be {mark:.2f} points: ours {side}, "
                 f"{'within' if abs(past) <= noise else 'beyond'} the noise.")
    return _lines(_copies_line(rows, labels) + [line] + (_details(rows, labels) if details else []))


# Readings: what a comparison means, written from its numbers -----------------

_APART_READING = ("The rows trained on different copies of the data, so there is nothing to read until they "
                  "rest on one.")


def _train_error(row: dict) -> float:
    """The mean of a row's runs' training errors at their last epoch."""
    return statistics.fmean(r["history"][-1]["train_error"] for r in row["runs"])


def _train_noise(rows: dict) -> float:
    """The noise of the rows' training errors, as `row_noise` is of their
    test errors: the widest range of any run's training error over its last
    epochs at the final rate, or of a row's spread over its seeds where that
    is wider. Training errors closer than this are not told apart (at full
    length several heads may all end at 0.00%)."""
    ranges = [epoch_spread(r, "train_error") for row in rows.values() for r in row["runs"]]
    spreads = [statistics.stdev(r["history"][-1]["train_error"] for r in row["runs"])
               for row in rows.values() if len(row["runs"]) > 1]
    return max(ranges + spreads)


def _protocol_words(full: bool, rows: dict) -> str:
    epochs = next(iter(rows.values()))["epochs"]
    return f"At full length ({epochs} epochs)" if full else f"At the CPU budget ({epochs} epochs)"


def _full_status(names: list[str], results_dir) -> str:
    return " ".join(progress_line(n, 0, results_dir) for n in names)


def _heads_why(best: str, gap: str, closest: list[str], labels: dict, full: bool) -> str:
    """Why the head with the lowest test error (`best`) wins, as far as the
    training errors tell (`closest`: the heads fitting their training sets
    most closely, within those errors' noise); "" where they tell nothing."""
    tightest = closest[0] if len(closest) == 1 else None
    if best in closest and not tightest:
        return f"So the training errors cannot say why {labels[best]} is lowest."
    if best != gap and tightest == best:
        return ("Fitting the training set has not cost test error here, so a regularizing head has nothing to "
                "win: " + ("the paper's reading of GAP as a structural regularizer is not borne out at its own "
                           "length." if full else
                           "the paper's argument for GAP, a structural regularizer, predicts its advantage where "
                           "overfitting costs, at the paper's length, not necessarily at this one."))
    if best == gap and tightest == gap:
        return "GAP wins by fitting better, not as a regularizer would, by fitting less closely."
    if best == gap:
        return ("GAP wins while fitting its training set less closely: the reading the paper gives, GAP as a "
                "structural regularizer.")
    return ""


def heads_reading(results_dir=None) -> str:
    """Table 5 in words, after its numbers (`heads_effect`): which head is
    lowest, whether that is beyond the noise, and what the training errors
    say about why."""
    chapter = CHAPTERS["table5_heads"]
    full_names = list(chapter.comparison(full=True))
    full = all(r["n"] for r in _summarized(full_names, results_dir).values())
    labels = chapter.comparison(full)
    rows = _summarized(labels, results_dir)
    if not all(r["n"] for r in rows.values()):
        return ("Not every head has a record yet, so there is nothing to read. "
                + _full_status(full_names, results_dir))
    if comparison.copies_apart(rows):
        return _APART_READING
    gap_name = next(iter(labels))
    means = {n: shown(r["ours_mean"]) for n, r in rows.items()}
    train = {n: shown(_train_error(r)) for n, r in rows.items()}
    noise = max(row_noise(r) for r in rows.values())
    best = min(means, key=means.get)
    # the heads whose training error is the lowest, within the training errors' own noise
    train_noise = _train_noise(rows)
    closest = [n for n in labels if train[n] - min(train.values()) <= train_noise]
    # the numbers are in the lines this follows (`heads_effect`): here, only what they mean
    close = [labels[n] for n in labels if n != best and means[n] - means[best] <= noise]
    within = (f", with {', '.join(close)} within the rows' noise of it (gaps these records cannot resolve)"
              if close else "")
    if closest == [best]:
        fits = " and also fits its training set most closely"
    elif best in closest:
        fits = (" and fits its training set as closely as " + listed([labels[n] for n in closest if n != best])
                + ", within the range of the training errors over the last epochs")
    else:
        fits = (f"; {listed([labels[n] for n in closest])} "
                f"{'fits its training set' if len(closest) == 1 else 'fit their training sets'} most closely")
    # a lead within the noise is not resolved: no reading of why it is there
    why = "" if close else _heads_why(best, gap_name, closest, labels, full)
    out = [f"{_protocol_words(full, rows)}, {labels[best]} has the lowest test error{within}{fits}.", why]
    if full:
        out.append(_one_seed_words(rows, labels))
    else:
        out.append("The full-length runs of the three heads will answer it at the paper's length: "
                   + _full_status(full_names, results_dir))
    return " ".join(filter(None, out))


def dropout_reading(results_dir=None) -> str:
    """Figure 4 in words, after its numbers (`dropout_effect`): what the
    train-test gaps and the noise say of the cut."""
    chapter = CHAPTERS["figure4_dropout"]
    full_names = list(chapter.comparison(full=True))
    full = all(r["n"] for r in _summarized(full_names, results_dir).values())
    labels = chapter.comparison(full)
    rows = _summarized(labels, results_dir)
    with_name, without_name = labels
    if not all(r["n"] for r in rows.values()):
        return "Both rows need records before there is anything to read. " + _full_status(full_names, results_dir)
    if comparison.copies_apart(rows):
        return _APART_READING
    w, wo = rows[with_name], rows[without_name]
    gap_w, gap_wo = (shown(r["ours_mean"]) - shown(_train_error(r)) for r in (w, wo))
    diff, _ = printed_cut(wo["ours_mean"], w["ours_mean"])
    noise = max(row_noise(w), row_noise(wo))
    # the numbers are in the lines this follows (`dropout_effect`): here, only what they mean
    narrows = gap_wo > gap_w
    if abs(diff) <= noise:
        ending = (f"yet the two test errors end close together: the net without dropout has fitted its training "
                  f"set without {'' if full else 'yet '}paying for it in test error." if narrows else
                  "and the two test errors end close together.")
    else:
        ending = (f"and the test errors differ by more than the noise: dropout {'lowers' if diff > 0 else 'raises'} "
                  "the error" + (_mark_words(wo["ours_mean"], w["ours_mean"], noise) if diff > 0 else "."))
    out = [f"{_protocol_words(full, rows)}, dropout {'narrows' if narrows else 'does not narrow'} the gap between "
           "training and test error, " + ending]
    if full:
        out.append(_one_seed_words(rows, labels))
    else:
        out.append(("On this reading, a schedule long enough for overfitting to cost test error is what the "
                    "cut needs; the full-length pair tests it: " if narrows and abs(diff) <= noise else
                    "The full-length pair decides it at the paper's length: ")
                   + _full_status(full_names, results_dir))
    return " ".join(filter(None, out))


def _one_seed_words(rows: dict, labels: dict) -> str:
    """The full-length rows compared that rest on one seed, said plainly:
    their noise holds no spread between seeds; "" where none does."""
    single = [labels[n] for n in labels if rows[n]["n"] == 1]
    if not single:
        return ""
    who = ("Each row rests" if len(single) == len(labels) else
           f"{listed(single)} rest{'s' if len(single) == 1 else ''}")
    return (f"{who[0].upper()}{who[1:]} on one seed (n = 1): the spread between seeds is not measured, only each "
            "run's over its last tests.")


def _mark_words(without: float, with_dropout: float, noise: float) -> str:
    """The end of the reading's sentence on a cut beyond the noise: on which
    side of the paper's mark it falls, and whether the noise can tell."""
    past = past_the_mark(without, with_dropout)
    return (f", past the paper's {DROPOUT_CUT_PERCENT}% mark by more than the noise." if past > noise else
            f", but short of the paper's {DROPOUT_CUT_PERCENT}% mark by more than the noise." if -past > noise else
            f"; whether by more than the paper's {DROPOUT_CUT_PERCENT}% lies within the noise.")


def progress_line(experiment: str, seed: int = 0, results_dir=None) -> str:
    """Where one full-length run stands, in words: finished at x%, in
    progress at epoch k of N (x% so far), given up (and why), or not started;
    a run that has trained, with its hours and where it trained."""
    state, run = progress.run_state(experiment, seed, results_dir)
    total = EXPERIMENTS[experiment].train.epochs
    name = f"{run_words(experiment, dataset=True)}, seed {seed}"
    if state == "finished":
        return (f"{name}: finished, {run['test_error']:.2f}% test error after {run['epochs']} epochs "
                f"({run['wall_seconds'] / 3600:.1f} hours, on {short_where(provenance.run_where(run))}).")
    if state == "in progress":
        last = progress.last_tested(run["history"])
        tested = "not tested yet" if last is None else \
            f"test error {last['test_error']:.2f}% after epoch {last['epoch']}"
        return (f"{name}: in progress, epoch {run['epoch']} of {total}; {tested} "
                f"({run['wall_seconds'] / 3600:.1f} hours so far, on {short_where(provenance.run_where(run))}).")
    attempt = progress.given_up_runs(results_dir).get((experiment, seed))
    if attempt:
        return f"{name}: {progress.given_up_words(attempt)}."
    return f"{name}: not started (epoch 0 of {total})."


def progress_lines(experiments, results_dir=None) -> str:
    """`progress_line` for the first seed of each of `experiments`, as a Markdown list."""
    return _lines([progress_line(name, 0, results_dir) for name in experiments])


def same_epoch_line(runs: list[tuple[str, int]], labels: dict[str, str] | None = None, results_dir=None,
                    where: bool = True) -> str:
    """`same_epoch` in words: each started run's test and training error at
    that epoch and (`where`) where it trained, said to be a reading on the
    way and not the verdict; "" where `same_epoch` finds no such point.
    `labels` names each experiment's setting ("dropout", "no dropout"); a
    page whose `progress_line`s name every run's machines passes
    `where=False`."""
    point = progress.same_epoch(runs, results_dir)
    if point is None:
        return ""
    epoch, rows = point
    train = EXPERIMENTS[rows[0][0]].train
    parts, wheres = [], []
    names = {}
    for experiment, seed, run, h in rows:
        named = labels and experiment in labels
        names[experiment] = labels[experiment] if named else run_words(experiment, dataset=True)
        parts.append(f"{names[experiment]} (seed {seed}) {h['test_error']:.2f}% test error, "
                     f"{h['train_error']:.2f}% training error")
        upto = {**run, "history": [row for row in run["history"] if row["epoch"] <= epoch]}
        wheres.append(short_where(provenance.run_where(upto)))
    ran = (f"every epoch of each on {wheres[0]}" if len(set(wheres)) == 1 else
           "; ".join(f"{names[e]} on {w}" for (e, *_), w in zip(rows, wheres)))
    drops = sum(m >= epoch for m in train.milestones())
    to_come = f"the schedule has {drops} learning-rate drop{'s' if drops != 1 else ''} still to come" if drops \
        else "these runs are in the schedule's last stage"
    return (f"At the same point of the same schedule so far (epoch {epoch} of {train.epochs}, the latest at which "
            f"every started run has a test): {'; '.join(parts)}{f' ({ran})' if where else ''}. A reading on the "
            f"way, not the verdict: the paper's numbers are those at the end of training, and {to_come}.")


def stages_reading(experiment: str, seed: int = 0, results_dir=None) -> str:
    """What the last stage of a finished run says about its length: still
    falling (the mean of its last epochs below the best earlier epoch of the
    stage) or levelled off; "" before the run has finished. The sentence
    names the mean and the best it is compared with, and compares them as
    printed, so that a single low epoch in the tail (the table's 8.09% beside
    an earlier best of 8.13%) does not read as a contradiction."""
    state, run = progress.run_state(experiment, seed, results_dir)
    if state != "finished":
        return ""
    start = tables.stage_bounds(experiment)[-2]
    stage = [h for h in progress.tested(run["history"]) if h["epoch"] > start]
    tail, earlier = stage[-tables.STAGE_TAIL:], stage[:-tables.STAGE_TAIL]
    # its last, best and range are the stage table's, just above: here only what they mean
    stage_words = f"its last stage (epochs {start + 1}-{run['epochs']})"
    if not earlier:
        return f"{stage_words[0].upper()}{stage_words[1:]} is too short to tell whether the error still fell."
    mean = shown(statistics.fmean(h["test_error"] for h in tail))
    best = min(earlier, key=lambda h: h["test_error"])  # the first of equals: where the stage first reached it
    falling = mean < shown(best["test_error"])
    return (f"In {stage_words} the mean of the last {len(tail)} epochs, {mean:.2f}%, was "
            f"{'lower than' if falling else 'no lower than'} the best single epoch before them "
            f"({best['test_error']:.2f}%, epoch {best['epoch']}): "
            + ("the error was still falling, and a longer run would likely end lower." if falling else
               "the error had levelled off at the final rate."))
