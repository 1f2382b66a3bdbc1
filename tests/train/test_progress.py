"""Progress reporting: the reporter's arithmetic on a fake clock, and the CLI's lines without a terminal."""

from __future__ import annotations

import io
import re

import pytest

from snnjax.train.progress import ActiveClock, Progress, Throughput, format_duration
from tests.train.conftest import quick_args


class FakeClock:
    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def reporter(clock: FakeClock, **kw) -> tuple[Progress, io.StringIO]:
    stream = io.StringIO()
    kw = {"total": 1000, "start": 0, "batch_size": 128, "every_s": 20.0, **kw}
    return Progress(stream=stream, tty=False, clock=clock, **kw), stream


def test_format_duration():
    assert [format_duration(s) for s in (0, 42.4, 59.6, 258, 3600, 7512)] == [
        "0s", "42s", "1m00s", "4m18s", "1h00m", "2h05m",
    ]  # fmt: skip


def test_rates_and_eta_count_finished_steps_from_the_first_step_without_pauses():
    clock = FakeClock()
    progress, stream = reporter(clock)
    progress.compiling()
    clock.now += 30.0  # compilation: left out of every rate
    progress.first_step_done(30.0)
    assert progress.eta_s(1) is None and "ETA ?" in progress.line(1)
    clock.now += 35.0
    with progress.clock.paused():  # an evaluation
        clock.now += 1000.0
    assert progress.since_first.steps_per_s(120) == pytest.approx(119 / 35)
    assert progress.eta_s(120) == pytest.approx(880 / (119 / 35))
    progress.report(120, loss=0.41234)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "compiling the train step...",
        "first step done in 30.0s (compilation included)",
        "step 120/1000 (12%)  3.4 steps/s  435 img/s  loss 0.4123  ETA 4m19s",
    ]


def test_a_resumed_run_measures_from_its_own_first_step():
    clock = FakeClock()
    progress, _ = reporter(clock, start=500, total=600, batch_size=10)
    progress.first_step_done(2.0)
    clock.now += 10.0
    assert progress.since_first.rates(551) == {"steps_per_s": 5.0, "images_per_s": 50.0}
    assert progress.eta_s(551) == pytest.approx(49 / 5)
    assert progress.line(551).startswith("step 551/600 (91%)  5.0 steps/s  50.0 img/s  ETA 10s")


def test_due_after_every_s_since_the_last_report():
    clock = FakeClock()
    progress, _ = reporter(clock, every_s=20.0)
    progress.first_step_done(1.0)
    clock.now += 19.9
    assert not progress.due()
    clock.now += 0.2
    assert progress.due()
    progress.report(50)
    assert not progress.due()
    silent, out = reporter(clock, every_s=0.0, enabled=False)
    silent.compiling()
    silent.report(3)
    assert not silent.due() and out.getvalue() == ""


def test_throughput_window_and_active_clock():
    clock = FakeClock(0.0)
    active = ActiveClock(clock)
    window = Throughput(active, batch_size=64)
    assert window.rates(10) == {}
    window.mark(10)
    clock.now = 2.0
    with active.paused():
        clock.now = 50.0
    clock.now = 52.0
    assert active() == pytest.approx(4.0)
    assert window.rates(30) == {"steps_per_s": 5.0, "images_per_s": 320.0}
    window.mark(30)
    assert window.rates(30) == {}  # no step finished since the mark


def test_terminal_bar_shows_the_finished_count_and_postfix():
    clock = FakeClock()
    stream = io.StringIO()
    progress = Progress(100, 10, 8, 20.0, stream=stream, tty=True, clock=clock)
    assert progress.bar is not None and progress.bar.n == 10
    progress.first_step_done(1.5)
    progress.report(40, loss=0.5, accuracy=0.75)
    assert progress.bar.n == 40 and "loss=0.5000" in str(progress.bar) and "acc=0.750" in str(progress.bar)
    progress.close()
    text = stream.getvalue()
    assert "first step done in 1.5s" in text and "step 40/100" not in text  # no plain lines on a terminal


PROGRESS_LINE = re.compile(
    r"^step (\d+)/(\d+) \(\d+%\)  [\d.e+-]+ steps/s  [\d.e+-]+ img/s  loss [\d.]+  ETA \S+$"
)


def progress_steps(stderr: str) -> list[int]:
    return [int(m.group(1)) for line in stderr.splitlines() if (m := PROGRESS_LINE.match(line))]


def test_cli_without_a_terminal_prints_compile_notice_first_step_and_progress_lines(tmp_path, run_main):
    code, _, err = run_main(*quick_args(tmp_path / "run", "--config.train.num_epochs=1"))
    assert code == 0, err
    lines = err.splitlines()
    compile_at = lines.index("compiling the train step...")
    first = [
        i
        for i, line in enumerate(lines)
        if re.fullmatch(r"first step done in \d+\.\ds \(compilation included\)", line)
    ]
    assert len(first) == 1 and first[0] > compile_at
    # the 20 s period never elapses in this short run: a line at the checkpoint of step 22 only, not at
    # every log point (log_every=5)
    assert progress_steps(err) == [22]
    assert "\r" not in err and "it/s" not in err  # no tqdm bar without a terminal


def test_cli_small_progress_period_adds_lines_between_log_points(tmp_path, run_main):
    overrides = ("--config.train.num_epochs=1", "--config.train.log_every=1000")
    quiet = run_main(*quick_args(tmp_path / "quiet", *overrides, "--config.train.progress_every_s=1000"))
    often = run_main(*quick_args(tmp_path / "often", *overrides, "--config.train.progress_every_s=0"))
    assert quiet[0] == 0 and often[0] == 0, quiet[2] + often[2]
    assert progress_steps(quiet[2]) == [22]  # only the checkpoint / evaluation point
    assert progress_steps(often[2]) == list(range(2, 23))  # every step after the first
