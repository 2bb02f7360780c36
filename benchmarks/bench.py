"""The speed benchmark behind the book's engineering notes.

    python benchmarks/bench.py                 # every configuration, profile, oneDNN kernels
    python benchmarks/bench.py --steps 10 --only baseline nin_repro

Same as `nin-repro bench`: it times the training step of the loop a user
writes first (DataLoader + torchvision transforms, fp32, NCHW) and of the
library side by side in one process, one speed lever at a time, and writes
results/bench/bench_<time>.json, which the engineering notes render. Run it
on a quiet machine: anything else on the cores shows up in the numbers.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nin_repro.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
