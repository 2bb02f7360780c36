"""The scripts that take the full-length runs to a lent GPU machine and back
(README, "A lent GPU"): `.ci/device_prepare` packs the datasets into parts
that travel one per call, `.ci/device_run` stashes them there, joins and
checks them, runs the GPU tests and continues the plan, and
`.ci/device_collect` brings the records and snapshots home, checked. Played
here end to end on a copy of the tree without its git folder, as the GPU
machine gets it, with the CPU standing in for the GPU and a budget of zero
minutes (nothing trains: the path, not the training, is under test)."""

import os
import shutil
import subprocess
import sys
import tarfile

import pytest
import torch

from conftest import REPO
from nin_repro import checkpoint


def _bash(args, cwd, env, ok=True):
    done = subprocess.run(["bash", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if ok and done.returncode != 0:
        raise AssertionError(f"{args} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def test_the_data_travels_in_parts_and_the_results_come_back_checked(data_dir, tmp_path):
    if not (data_dir / "cifar10.npz").exists():
        pytest.skip(f"no cifar10.npz in {data_dir}")
    here = tmp_path / "here"
    subprocess.run(["git", "clone", "-q", str(REPO), str(here)], check=True)
    for script in ("device_prepare", "device_run", "device_collect"):  # as they are in this checkout
        shutil.copy(REPO / ".ci" / script, here / ".ci" / script)
    # a run in progress, committed (whatever the study's own runs are doing)
    snapshot = checkpoint.snapshot_path("t_dev__seed0", here / "results")
    checkpoint.save(snapshot, {"epoch": 3, "model": {"w": torch.arange(5.0)}})
    subprocess.run(["git", "add", "-f", "results/checkpoints"], cwd=here, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "t"], cwd=here, check=True)
    env = {**os.environ, "NIN_DATA": str(data_dir), "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    said = _bash([".ci/device_prepare"], here, env).stdout
    parts = sorted((here / ".devdata").glob("data.tar.*"))
    assert len(parts) >= 3 and f"{len(parts)} parts of at most" in said  # 150 MB of data, 64 MiB a call
    assert all(p.stat().st_size <= 51 * 2**20 for p in parts)
    commit = (here / ".devdata" / "COMMIT").read_text().strip()
    assert len(commit) >= 40
    assert subprocess.run(["git", "status", "--porcelain"], cwd=here, capture_output=True, text=True).stdout \
        .count(".devdata") == 0  # ignored: the parts travel only where a call carries them

    # There: the tree without .git, one part carried per call.
    there = tmp_path / "there"
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=here,
                           capture_output=True, text=True, check=True).stdout.split()  # what travels
    for f in files:
        (there / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(here / f, there / f)
    out = tmp_path / "out"
    out.mkdir()
    env_there = {**env, "OUT": str(out), "NIN_DEVICE": "cpu", "NIN_DATA": "", "NIN_CACHE": ""}
    for i, part in enumerate(parts):
        shutil.rmtree(there / ".devdata", ignore_errors=True)  # a carried path replaces what was there
        (there / ".devdata").mkdir()
        shutil.copy(part, there / ".devdata")
        shutil.copy(here / ".devdata" / "COMMIT", there / ".devdata")
        last = i == len(parts) - 1
        done = _bash([".ci/device_run", "train", "0"] if last else [".ci/device_run", "stash"], there, env_there)
    assert "cifar10.npz: OK" in done.stdout and "mnist.npz: OK" in done.stdout
    assert "reproduce exited" in done.stdout
    assert (out / "gpu_tests.log").exists() and "experiment" in (out / "reproduce.log").read_text()
    with tarfile.open(out / "records.tgz") as t:
        assert any(n.startswith("results/runs/") and n.endswith(".json") for n in t.getnames())

    # Home again: the snapshots as they stand there replace ours, after their checksums match.
    snapshot.unlink()
    _bash([".ci/device_collect", str(out)], here, env)
    assert snapshot.exists()
    assert subprocess.run(["git", "status", "--porcelain", "results"], cwd=here, capture_output=True,
                          text=True).stdout == ""  # nothing trained there: everything as committed
    # A snapshot damaged on the way is refused, and nothing here is replaced.
    bad = tmp_path / "bad"
    with tarfile.open(out / "checkpoints.tar") as t:
        t.extractall(bad)
    with open(bad / "results" / "checkpoints" / snapshot.name, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01")
    with tarfile.open(out / "checkpoints.tar", "w") as t:
        t.add(bad / "results", arcname="results")
    before = snapshot.read_bytes()
    refused = _bash([".ci/device_collect", str(out)], here, env, ok=False)
    assert refused.returncode != 0 and "checksum mismatch; nothing was replaced" in refused.stderr
    assert snapshot.read_bytes() == before
