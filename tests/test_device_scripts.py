"""The scripts that take the full-length runs to a lent GPU machine and back
(README, "A lent GPU"): `.ci/device_prepare` packs the datasets into parts
that travel one per call, `.ci/device_run` stashes them there, joins and
checks them, runs the GPU tests and continues the plan, and
`.ci/device_collect` brings the records and snapshots home, checked. Played
here end to end on a copy of the tree without its git folder, as the GPU
machine gets it, with the CPU standing in for the GPU and a budget of zero
minutes (nothing trains: the path, not the training, is under test).
`.ci/device_collect`'s refusals are tried on archives made here."""

import os
import shutil
import socket
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
    for script in (".ci/device_prepare", ".ci/device_run", ".ci/device_collect", ".gitignore"):  # as in this checkout
        shutil.copy(REPO / script, here / script)
    # a run in progress, committed (whatever the study's own runs are doing)
    snapshot = checkpoint.snapshot_path("t_dev__seed0", here / "results")
    checkpoint.save(snapshot, {"epoch": 3, "model": {"w": torch.arange(5.0)}})
    subprocess.run(["git", "add", "-f", "results/checkpoints"], cwd=here, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "t"], cwd=here, check=True)
    env = {**os.environ, "NIN_DATA": str(data_dir), "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
           "NIN_CACHE": str(tmp_path / "cache_here")}  # not the user's: a training of theirs would refuse collecting
    # What a write killed midway leaves (sparse: 200 MiB that take no disk) is neither carried nor counted...
    with open(snapshot.with_name(f".{snapshot.name}.k3j_x9q2.tmp"), "wb") as f:
        f.truncate(200 * 2**20)
    # ...and a tracked file deleted here, the last one listed, is passed over (once it ended the script).
    last = _bash(["-c", "(git ls-files; git ls-files --others --exclude-standard) | sort -u | tail -1"], here,
                 env).stdout.strip()
    (here / last).unlink()
    said = _bash([".ci/device_prepare"], here, env).stdout
    subprocess.run(["git", "checkout", "-q", "--", last], cwd=here, check=True)
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
    assert "reproduce exited" in done.stdout and "results archived in" in done.stdout
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

    # There again, the data stashed: reproduce fails, and no snapshot was committed (git carries no empty
    # folder). The results as they stand still come back.
    shutil.rmtree(there / ".devdata")
    shutil.rmtree(there / "results" / "checkpoints")
    out_again = tmp_path / "out_again"
    out_again.mkdir()
    done = _bash([".ci/device_run", "train", "-1"], there, {**env_there, "OUT": str(out_again)},  # -1: --hours < 0
                 ok=False)
    assert done.returncode == 2  # the call fails as reproduce did, and still brings the results back
    assert "nin-repro: error: --hours must be" in (out_again / "reproduce.log").read_text()
    assert "reproduce exited 2; results archived in" in done.stdout
    with tarfile.open(out_again / "checkpoints.tar") as t:
        assert t.getnames() == ["results/checkpoints"]
    with tarfile.open(out_again / "records.tgz") as t:
        assert any(n.startswith("results/runs/") and n.endswith(".json") for n in t.getnames())


def test_stray_temporary_files_are_ignored():
    """What atomic.py's write leaves when killed midway (`.NAME.XXXXXXXX.tmp`)
    is no result: git ignores it (so it neither travels nor is committed); the
    snapshot itself is not ignored."""
    def ignored(path):
        return subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO).returncode == 0

    assert ignored("results/checkpoints/.cifar10_aug_full__seed0.pt.k3j_x9q2.tmp")
    assert ignored("results/runs/.cifar10__seed0.json.ab12cd34.tmp")
    assert not ignored("results/checkpoints/cifar10_aug_full__seed0.pt")


def _collect_setup(tmp_path, ours, theirs, their_weights=()):
    """A tree holding .ci/device_collect and snapshots of the runs in `ours`
    ({run: epochs}), and a device call's files: snapshots of the runs in
    `theirs`, weights of the runs in `their_weights` and a record. Returns
    (tree, folder of the call's files, environment)."""
    here = tmp_path / "here"
    (here / ".ci").mkdir(parents=True)
    shutil.copy(REPO / ".ci" / "device_collect", here / ".ci")
    for run, epochs in ours.items():
        checkpoint.save(checkpoint.snapshot_path(run, here / "results"), {"epoch": epochs, "mine": torch.ones(3)})
    there = tmp_path / "there"
    for run, epochs in theirs.items():
        checkpoint.save(checkpoint.snapshot_path(run, there / "results"), {"epoch": epochs})
    for run in their_weights:
        checkpoint.save(checkpoint.weights_path(run, there / "results"), {"w": torch.zeros(2)})
    (there / "results" / "runs").mkdir(parents=True)
    (there / "results" / "runs" / "new__seed0.json").write_text("{}")
    (there / "results" / "checkpoints").mkdir(parents=True, exist_ok=True)
    out = tmp_path / "out"
    out.mkdir()
    with tarfile.open(out / "records.tgz", "w:gz") as t:
        t.add(there / "results" / "runs", arcname="results/runs")
        if their_weights:
            t.add(there / "results" / "weights", arcname="results/weights")
    with tarfile.open(out / "checkpoints.tar", "w") as t:
        t.add(there / "results" / "checkpoints", arcname="results/checkpoints")
    env = {**os.environ, "NIN_CACHE": str(tmp_path / "cache"),
           "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    return here, out, env


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_collect_keeps_snapshots_of_runs_that_did_not_come_back(tmp_path):
    """Snapshots are replaced run by run: one that came back replaces ours, a
    run that finished there loses its snapshot here, any other stays. A lock
    left by a process that is gone does not stop it."""
    here, out, env = _collect_setup(tmp_path, ours={"a__seed0": 3, "b__seed0": 7, "c__seed0": 2},
                                    theirs={"a__seed0": 4}, their_weights=["c__seed0"])
    gone = subprocess.Popen(["true"])
    gone.wait()
    lock = tmp_path / "cache" / "checkpoints" / "b__seed0.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(f"{gone.pid} {socket.gethostname()}\n")
    b = checkpoint.snapshot_path("b__seed0", here / "results")
    b_before = b.read_bytes()
    said = _bash([".ci/device_collect", str(out)], here, env).stdout
    assert checkpoint.load(checkpoint.snapshot_path("a__seed0", here / "results")) == {"epoch": 4}
    assert b.read_bytes() == b_before and checkpoint.load(b)["epoch"] == 7
    assert f"kept {b.relative_to(here)}" in said
    assert not checkpoint.snapshot_path("c__seed0", here / "results").exists()
    assert checkpoint.weights_path("c__seed0", here / "results").exists()
    assert (here / "results" / "runs" / "new__seed0.json").exists()


def test_collect_refuses_to_replace_a_snapshot_with_fewer_epochs(tmp_path):
    here, out, env = _collect_setup(tmp_path, ours={"a__seed0": 5, "b__seed0": 1}, theirs={"a__seed0": 3,
                                                                                          "b__seed0": 2})
    before = _files(here / "results")
    refused = _bash([".ci/device_collect", str(out)], here, env, ok=False)
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines() == [
        "results/checkpoints/a__seed0.pt holds 5 epochs, the one that came back only 3: replacing it would lose "
        "epochs (move it away first to take in the one that came back); nothing was replaced"]
    assert _files(here / "results") == before


def test_collect_refuses_while_a_training_runs_here(tmp_path):
    """A run training here (its lock names a live process on this host) would
    write its own snapshot and record: stop it first."""
    here, out, env = _collect_setup(tmp_path, ours={"a__seed0": 1}, theirs={"a__seed0": 2})
    lock = tmp_path / "cache" / "checkpoints" / "z__seed0.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(f"{os.getpid()} {socket.gethostname()}\n")  # this test's process: alive
    before = _files(here / "results")
    refused = _bash([".ci/device_collect", str(out)], here, env, ok=False)
    assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1
    assert f"z__seed0 is training here (lock {lock}): stop the local run first" in refused.stderr
    assert _files(here / "results") == before
