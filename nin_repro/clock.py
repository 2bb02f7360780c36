"""Seconds a process has been running: wall time less the spans it spent
stopped. On the study's 2-core machines a long training run is paused
(SIGSTOP, later SIGCONT) while tests run beside it; a plain wall clock would
count each pause into the epoch it fell in (an epoch measured 1055 s with a
pause in it against 594 s without), and into every images-per-second and
machine-hours figure built from it. A daemon thread ticks every `TICK`
seconds; a gap of more than `GAP` seconds between two ticks means the whole
process was stopped, and that gap is left out."""

from __future__ import annotations

import threading
import time

TICK = 0.5
GAP = 5.0  # far above any scheduling delay of a ticking thread, far below a pause for tests


class RunningClock:
    def __init__(self):
        self._lock = threading.Lock()
        self._last_tick = time.perf_counter()
        self.stopped = 0.0  # seconds spent stopped so far
        threading.Thread(target=self._tick, name="running-clock", daemon=True).start()

    def _tick(self) -> None:
        while True:
            time.sleep(TICK)
            with self._lock:
                now = time.perf_counter()
                self.stopped += self._stop_in(now - self._last_tick)
                self._last_tick = now

    @staticmethod
    def _stop_in(gap: float) -> float:
        return gap - TICK if gap > GAP else 0.0

    def __call__(self) -> float:
        """perf_counter() less the time stopped, a stop the ticker has not
        yet seen included (so the clock never runs backwards)."""
        with self._lock:
            now = time.perf_counter()
            return now - self.stopped - self._stop_in(now - self._last_tick)


_clock: RunningClock | None = None


def running_seconds() -> float:
    """A perf_counter()-like reading that does not advance while the process is stopped."""
    global _clock
    if _clock is None:
        _clock = RunningClock()
    return _clock()
