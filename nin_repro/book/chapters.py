"""Which runs the book shows: the experiments of each chapter (`CHAPTERS`)
and every run the book needs, in the order `nin-repro reproduce` trains them
(`BOOK_PLAN`). The experiments themselves are the library's
(`nin_repro.experiments`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from nin_repro.experiments import EXPERIMENTS


# What the book needs, in the order `nin-repro reproduce` works through it
# (a run with a record is skipped, so the finished ones stay listed: a fresh
# results folder trains them again, and the book shows them): the
# full-length rows already finished (MNIST's three seeds, Table 1's two rows)
# and the CPU-budget CIFAR-10 seed on the lossless copy of the data; then
# the full-length runs that decide the claims of the paper's design, Figure
# 4's (no dropout), Table 5's fully connected head, Table 2 (CIFAR-100) and
# Table 5's head with dropout; then Table 1's second and third seeds, and
# CIFAR-100's; then Table 3's full-length run, which needs the official SVHN
# files (none here: `reproduce` says so and goes on); then the CPU-budget
# rows the book shows, all finished. No new CPU-budget run is planned (the
# 30-epoch protocol has said what it can and decides no claim; CIFAR-100's
# budget row is left to its full-length run), but Table 3's 10-epoch check
# of the SVHN path, which has no data here either.
BOOK_PLAN: list[tuple[str, int]] = list(dict.fromkeys(
    [("mnist_full", 0), ("cifar10_aug_full", 0), ("cifar10_full", 0), ("mnist_full", 1), ("mnist_full", 2),
     ("cifar10", 2)]
    + [("cifar10_nodropout_full", 0), ("cifar10_fc_full", 0), ("cifar100_full", 0), ("cifar10_fc_dropout_full", 0)]
    + [(name, s) for s in (1, 2) for name in ("cifar10_full", "cifar10_aug_full")]
    + [("cifar100_full", 1), ("cifar100_full", 2)]
    + [("svhn_full", 0)]
    + [("mnist", s) for s in (0, 1, 2)] + [("mnist_fast", 0)]
    + [("cifar10_short", 0), ("cifar10", 0), ("cifar10_aug", 0), ("cifar10_fc", 0), ("cifar10_fc_dropout", 0),
       ("cifar10_nodropout", 0), ("cifar10_aug_fast", 0), ("cifar10", 1), ("cifar10_aug", 1)]
    + [("svhn", 0)]
))


@dataclass(frozen=True)
class Chapter:
    """What one chapter of the book shows (the notebook `notebooks/<name>.md`
    of its key in CHAPTERS): the experiments of its rows and the label each
    row carries in the chapter's comparison."""
    budget: tuple[str, ...]          # the CPU-budget rows, in the chapter's order: what retrain=True trains
    full: tuple[str, ...] = ()       # the full-length rows, in the order the chapter gives their progress
    labels: dict[str, str] = field(default_factory=dict)  # a compared row -> its label, in the comparison's order
    also: tuple[str, ...] = ()       # shown beside the rows, outside the comparison; never retrained

    def shows(self) -> tuple[str, ...]:
        """Every experiment the chapter shows."""
        return tuple(dict.fromkeys(self.budget + self.full + self.also))

    def twin(self, name: str) -> str | None:
        """The full-length row this chapter shows beside the CPU-budget row `name`, if any."""
        return f"{name}_full" if f"{name}_full" in self.full else None

    def table(self) -> list[str]:
        """The rows of the chapter's paper-vs-ours table: each CPU-budget row
        under its full-length twin."""
        return [n for name in self.budget for n in (self.twin(name), name) if n]

    def comparison(self, full: bool = False) -> dict[str, str]:
        """The compared rows with their labels, in the comparison's order: the
        CPU-budget rows, or (`full`) the full-length ones."""
        rows = self.full if full else self.budget
        return {n: label for n, label in self.labels.items() if n in rows}


# Which experiments each chapter shows, by notebook name. A chapter's notebook
# reads its lists here; `BOOK_PLAN` trains every experiment a chapter shows.
CHAPTERS: dict[str, Chapter] = {
    "mnist": Chapter(budget=("mnist",), full=("mnist_full",)),
    "cifar10": Chapter(
        budget=("cifar10", "cifar10_aug"), full=("cifar10_aug_full", "cifar10_full"),
        labels={"cifar10_aug": "augmented", "cifar10": "not augmented",
                "cifar10_aug_full": "augmented", "cifar10_full": "not augmented"},
        also=("cifar10_short",)),
    "cifar100": Chapter(budget=("cifar100",), full=("cifar100_full",)),
    "svhn": Chapter(budget=("svhn",), full=("svhn_full",)),
    "table5_heads": Chapter(
        budget=("cifar10_fc", "cifar10_fc_dropout", "cifar10"),
        full=("cifar10_fc_full", "cifar10_fc_dropout_full", "cifar10_full"),
        labels={"cifar10": "GAP", "cifar10_fc_dropout": "FC + dropout", "cifar10_fc": "FC",  # the paper's order
                "cifar10_full": "GAP", "cifar10_fc_dropout_full": "FC + dropout", "cifar10_fc_full": "FC"}),
    "figure4_dropout": Chapter(
        budget=("cifar10", "cifar10_nodropout"), full=("cifar10_full", "cifar10_nodropout_full"),
        labels={"cifar10": "dropout", "cifar10_nodropout": "no dropout",
                "cifar10_full": "dropout", "cifar10_nodropout_full": "no dropout"}),
    # Every table of the paper, full length beside the budget.
    "summary": Chapter(
        budget=("cifar10", "cifar10_aug", "cifar100", "svhn", "mnist", "cifar10_fc", "cifar10_fc_dropout"),
        full=("cifar10_full", "cifar10_aug_full", "cifar100_full", "svhn_full", "mnist_full", "cifar10_fc_full",
              "cifar10_fc_dropout_full")),
    # Time to accuracy: (experiment, recipe) in the order the table lists them;
    # cifar10 (no augmentation) is there for orientation while cifar10_aug has no record.
    "engineering": Chapter(
        budget=("mnist", "mnist_fast", "cifar10_aug", "cifar10_aug_fast", "cifar10"),
        labels={"mnist": "CPU-budget recipe", "mnist_fast": "fast recipe",
                "cifar10_aug": "CPU-budget recipe, augmented", "cifar10_aug_fast": "fast recipe, augmented",
                "cifar10": "CPU-budget recipe, not augmented"}),
}


# A run in words, for prose and legends: the book names runs by what they
# are ("no dropout, 260 epochs") and keeps the code names for commands.
DATASET_WORDS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "svhn": "SVHN", "mnist": "MNIST"}
VARIANT_WORDS = {"aug": "augmented", "nodropout": "no dropout", "fc": "FC head", "fc_dropout": "FC + dropout head",
                 "short": "short check", "fast": "fast recipe", "aug_fast": "fast recipe, augmented"}


def run_words(experiment: str, dataset: bool = False, length: bool = True) -> str:
    """"cifar10_nodropout_full" -> "no dropout, 260 epochs" (with `dataset`:
    "CIFAR-10, no dropout, 260 epochs"): the variant of the paper's net,
    then (unless not `length`) the length its protocol trains."""
    exp = EXPERIMENTS[experiment]
    rest = experiment[len(exp.dataset):].strip("_").removesuffix("full").strip("_")
    words = [DATASET_WORDS.get(exp.dataset, exp.dataset)] if dataset else []
    words += [VARIANT_WORDS.get(rest, rest.replace("_", " "))] if rest else []
    return ", ".join(words + ([f"{exp.train.epochs} epochs"] if length else []))


def run_id_words(run_id: str) -> str:
    """A run's file name in words: "cifar10_full__seed0" -> "CIFAR-10, 260
    epochs, seed 0" (one the registry does not know, as it is)."""
    name, _, rest = run_id.partition("__seed")
    seed = rest.split("__")[0]
    return f"{run_words(name, dataset=True)}, seed {seed}" if name in EXPERIMENTS and seed else run_id
