"""Graceful stop on SIGTERM / SIGINT: finish the current step, save, exit non-zero.

SLURM, Kubernetes and TPU-VM preemption send SIGTERM; a user presses Ctrl-C (SIGINT). While training,
:class:`StopSignals` turns the first signal into a request the loop polls after every step; the loop then
saves a checkpoint and raises :class:`~snnjax.errors.Interrupted`. A second signal ends the process at
once (exit 130 / 143), still without a traceback.

Signals are read from a wakeup pipe by a small thread, so the second signal acts even while the main
thread is inside a long XLA call. In a multi-process run every process must save the same step: there
SIGTERM is left to JAX's preemption notifier (started by ``jax.distributed.initialize``), SIGINT is
forwarded to it as SIGTERM, and :meth:`StopSignals.requested` asks JAX's preemption sync point, which
all processes reach at the same step.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from jax.experimental import multihost_utils

from snnjax.errors import Interrupted

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def _preemption_service() -> bool:
    from jax._src import distributed

    return (
        distributed.global_state.client is not None
        and distributed.global_state.preemption_sync_manager is not None
    )


class StopSignals:
    """Context manager: while active, SIGINT/SIGTERM request a stop instead of killing the process."""

    def __init__(self):
        self.signum: int | None = None
        self.active = threading.current_thread() is threading.main_thread()
        self._synced = _preemption_service()

    def __enter__(self) -> StopSignals:
        if not self.active:
            return self
        handled = [signal.SIGINT] if self._synced else [signal.SIGINT, signal.SIGTERM]
        self._previous = {s: signal.signal(s, lambda *_: None) for s in handled}
        self._read, write = os.pipe()
        os.set_blocking(write, False)
        self._write = write
        self._previous_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        threading.Thread(target=self._watch, daemon=True, name="snnjax-stop-signals").start()
        return self

    def __exit__(self, *exc):
        if not self.active:
            return
        signal.set_wakeup_fd(self._previous_fd)
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        os.close(self._write)  # ends the watcher thread

    def _watch(self):
        while True:
            try:
                data = os.read(self._read, 16)
            except OSError:
                return
            if not data:
                os.close(self._read)
                return
            for signum in data:
                self._on_signal(signal.Signals(signum))

    def _on_signal(self, signum: signal.Signals):
        if self.signum is not None:
            print(f"error: {signum.name} again: stopped at once without saving", file=sys.stderr, flush=True)
            os._exit(EXIT_CODES.get(signum, 1))
        self.signum = signum
        print(f"{signum.name} received: stopping after the current step (again to stop at once)",
              file=sys.stderr, flush=True)  # fmt: skip
        if self._synced and signum == signal.SIGINT:
            os.kill(os.getpid(), signal.SIGTERM)  # let JAX's preemption notifier agree on the step

    @property
    def pending(self) -> bool:
        """Whether this process may stop before the next step without asking the others (a signal
        arrived and the run is not multi-process)."""
        return self.signum is not None and not self._synced

    def requested(self, step: int) -> bool:
        """Whether to stop after ``step`` (call once per step, on every process)."""
        if self._synced:
            if multihost_utils.reached_preemption_sync_point(step):
                self.signum = self.signum or signal.SIGTERM
                return True
            return False
        return self.signum is not None

    def interrupted(self, message: str) -> Interrupted:
        """The error to raise once the stop was handled (carries the exit code of the signal)."""
        signum = signal.Signals(self.signum or signal.SIGTERM)
        return Interrupted(f"{signum.name}: {message}", exit_code=EXIT_CODES[signum])
