"""The running clock leaves out the time a process spends stopped (SIGSTOP),
as when a training run is paused while tests run beside it."""

import signal
import subprocess
import sys
import time
from pathlib import Path

from nin_repro import clock

CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from nin_repro.clock import running_seconds
wall, running = time.perf_counter(), running_seconds()
print("ready", flush=True)
while time.perf_counter() - wall < {busy}:
    time.sleep(0.05)
print(time.perf_counter() - wall, running_seconds() - running, flush=True)
"""


def test_a_stopped_process_does_not_count_the_stop():
    """A child runs 12 s of wall time, 6 s of them stopped: its running clock
    says about 6 s (the tolerance is for the machine's scheduling, not a
    speed)."""
    root = str(Path(__file__).resolve().parent.parent)
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(root=root, busy=12.0)], stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(3.0)
    child.send_signal(signal.SIGSTOP)
    time.sleep(6.0)
    child.send_signal(signal.SIGCONT)
    wall, running = map(float, child.stdout.readline().split())
    child.wait(timeout=30)
    assert wall >= 12.0
    assert abs((wall - running) - 6.0) < 1.5, (wall, running)


def test_without_a_stop_the_running_clock_is_the_wall_clock():
    wall, running = time.perf_counter(), clock.running_seconds()
    time.sleep(1.2)  # more than two ticks
    assert abs((time.perf_counter() - wall) - (clock.running_seconds() - running)) < 0.1


def test_a_gap_counts_as_a_stop_only_above_the_threshold():
    assert clock.RunningClock._stop_in(clock.GAP / 2) == 0.0
    assert clock.RunningClock._stop_in(clock.GAP + 3.0) == clock.GAP + 3.0 - clock.TICK
