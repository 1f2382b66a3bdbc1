"""StopSignals: the first SIGINT/SIGTERM requests a stop, a second one ends the process at once."""

from __future__ import annotations

import os
import signal
import time

import pytest

from snnjax.train import stop as stop_lib


def _wait_for(condition, timeout: float = 5.0):
    deadline = time.time() + timeout
    while not condition() and time.time() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_first_signal_requests_a_stop_second_exits(monkeypatch, capsys, signum, code):
    exits: list[int] = []
    monkeypatch.setattr(stop_lib.os, "_exit", exits.append)
    before = signal.getsignal(signum)
    with stop_lib.StopSignals() as stop:
        assert not stop.requested(1)
        os.kill(os.getpid(), signum)
        _wait_for(lambda: stop.signum is not None)
        assert stop.requested(2) and not exits
        error = stop.interrupted("saved step 2")
        assert error.exit_code == code and str(error).startswith(signal.Signals(signum).name)
        os.kill(os.getpid(), signum)
        _wait_for(lambda: bool(exits))
        assert exits == [code]
    assert signal.getsignal(signum) is before
    err = capsys.readouterr().err
    assert "stopping after the current step" in err and f"error: {signal.Signals(signum).name} again" in err
