"""Training progress for a person watching: a tqdm bar on a terminal, plain periodic lines elsewhere.

Without a terminal (a batch job, ``nohup``, a pipe) stderr gets one line per report, e.g.
``step 120/1000 (12%)  3.4 steps/s  435 img/s  loss 0.4123  ETA 4m18s``. Rates and the ETA count only
finished steps (whose results the caller has fetched), measured from the end of the first step (so
compilation is left out) on an :class:`ActiveClock` that skips the time spent evaluating and saving.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from tqdm import tqdm

Clock = Callable[[], float]


class ActiveClock:
    """Seconds of ``clock`` less the time spent inside :meth:`paused` blocks."""

    def __init__(self, clock: Clock = time.monotonic):
        self._clock = clock
        self._paused = 0.0

    def __call__(self) -> float:
        return self._clock() - self._paused

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        began = self._clock()
        try:
            yield
        finally:
            self._paused += self._clock() - began


class Throughput:
    """Steps and images per second since a mark on a clock."""

    def __init__(self, clock: Clock, batch_size: int):
        self.clock = clock
        self.batch_size = batch_size
        self.step: int | None = None
        self.time = 0.0

    def mark(self, step: int):
        """Measures from ``step`` (finished) now on."""
        self.step, self.time = step, self.clock()

    def steps_per_s(self, step: int) -> float | None:
        """Finished steps per second from the mark to ``step`` (None before a mark or without time)."""
        if self.step is None:
            return None
        seconds = self.clock() - self.time
        return (step - self.step) / seconds if step > self.step and seconds > 0 else None

    def rates(self, step: int) -> dict[str, float]:
        """``{steps_per_s, images_per_s}`` from the mark to ``step`` ({} if unknown)."""
        rate = self.steps_per_s(step)
        return {} if rate is None else {"steps_per_s": rate, "images_per_s": rate * self.batch_size}


def format_duration(seconds: float) -> str:
    """``42s``, ``4m18s`` or ``2h05m``."""
    seconds = max(round(seconds), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _rate(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 1 else f"{value:.2g}"


class Progress:
    """Reports the finished step count of a run of ``total`` steps that starts at ``start``.

    The caller reports whenever :meth:`due` says ``every_s`` seconds have passed, at checkpoints, and on a
    terminal at every log point; it fetches (or waits for) the step results first, so the count is of
    finished steps.
    """

    def __init__(
        self,
        total: int,
        start: int,
        batch_size: int,
        every_s: float,
        *,
        stream: TextIO | None = None,
        tty: bool | None = None,
        clock: Clock = time.monotonic,
        enabled: bool = True,
    ):
        self.total, self.start, self.every_s = total, start, every_s
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = tty if tty is not None else _isatty(self.stream)
        self._wall = clock
        self.clock = ActiveClock(clock)
        self.since_first = Throughput(self.clock, batch_size)
        self._last_report = clock()
        self.bar = None
        if enabled and self.tty:
            self.bar = tqdm(total=total, initial=start, desc="train", file=self.stream, dynamic_ncols=True)

    def note(self, message: str):
        """A line of its own (above the bar on a terminal)."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def compiling(self):
        self.note("compiling the train step...")

    def first_step_done(self, seconds: float):
        """The first step of this process finished ``seconds`` after it was started."""
        self.since_first.mark(self.start + 1)
        self.note(f"first step done in {seconds:.1f}s (compilation included)")
        self._last_report = self._wall()

    def due(self) -> bool:
        """Whether ``every_s`` seconds passed since the last report."""
        return self.enabled and self._wall() - self._last_report >= self.every_s

    def eta_s(self, finished: int) -> float | None:
        """Seconds left at the rate of the steps finished since the first one (None if unknown)."""
        rate = self.since_first.steps_per_s(finished)
        return None if not rate else (self.total - finished) / rate

    def line(self, finished: int, loss: float | None = None) -> str:
        """``step 120/1000 (12%)  3.4 steps/s  435 img/s  loss 0.4123  ETA 4m18s``."""
        parts = [f"step {finished}/{self.total} ({100 * finished // max(self.total, 1)}%)"]
        rates = self.since_first.rates(finished)
        if rates:
            parts += [f"{_rate(rates['steps_per_s'])} steps/s", f"{_rate(rates['images_per_s'])} img/s"]
        if loss is not None:
            parts.append(f"loss {loss:.4f}")
        eta = self.eta_s(finished)
        parts.append("ETA " + (format_duration(eta) if eta is not None else "?"))
        return "  ".join(parts)

    def report(self, finished: int, loss: float | None = None, accuracy: float | None = None):
        """Shows ``finished`` steps done (and the latest loss / accuracy)."""
        self._last_report = self._wall()
        if not self.enabled:
            return
        if self.bar is None:
            print(self.line(finished, loss), file=self.stream, flush=True)
            return
        self.bar.n = finished
        if loss is not None and accuracy is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", acc=f"{accuracy:.3f}", refresh=False)
        self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
