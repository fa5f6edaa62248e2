"""One daemon part in its thread, and how the controller knows it is still working.

A `PartRunner` runs tick, heartbeat, wait until halted. Any `Exception` - in `tick`, in
`wait`, in writing the heartbeat - is caught: it is recorded on the part's next heartbeat
and the loop goes on after a backoff. So a database cut (whose calls raise once
`storage.reconnect_timeout_seconds` is over) costs a few failed ticks, never the part.

What can still end the thread is a `BaseException` (a `SystemExit` from code the part
runs, a bug in this module). The controller looks at every runner each time it renews its
lease (`check`): a dead thread is restarted, up to `MAX_RESTARTS` times in
`RESTART_WINDOW_SECONDS`; a thread that has not passed its next checkpoint within the time
it announced (its wait or its interval) plus `STUCK_AFTER_SECONDS` is stuck in a call that
nothing can interrupt from outside. (Its heartbeat shows it stale after the liveness grace
already.) Both "too many restarts" and "stuck" are reported back,
and the controller gives up its lease and exits so that a standby (or the supervisor that
restarts the process) takes over with a fresh process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opgraph.daemon.part import Clock, DaemonPart, TickReport

log = logging.getLogger("opgraph.daemon")

MAX_ERRORS_SHOWN = 10
# A part whose thread dies more than this often in the window will die again: the daemon
# hands over to a fresh process instead of looping on restarts.
MAX_RESTARTS = 3
RESTART_WINDOW_SECONDS = 600.0
# After failed ticks the wait doubles from the part's interval up to this (or the interval,
# if longer): a database cut is not hammered by a part that ticks every second, and a queued
# run submitted after the cut still starts within this long.
MAX_BACKOFF_SECONDS = 30.0
# A part counts as stuck only when it has been silent this long past what it announced
# (or the liveness grace, if longer). Shorter would hand over for work that is slow, not
# stuck: a sensor tick evaluates each sensor on its code server for up to 60 s, and a
# storage call rides out an outage for `reconnect_timeout_seconds`; a handover would cut
# such a tick short every time. The UI shows the part stale after the grace already.
STUCK_AFTER_SECONDS = 600.0

Beat = Callable[[str, dict[str, Any]], None]
# What a heartbeat can say of a part (or of the daemon itself): see `PartState.state`.
HEALTHY_STATES = frozenset({"running", "standby", "active"})


@dataclass(frozen=True)
class PartState:
    """A part as its last heartbeat shows it, for the UI's daemon health and `opgraph
    daemon status` alike.

    `state`: running; restarting (its thread died and the daemon restarted it); failing (its
    last ticks raised: it backs off and tries again); stale (no beat within
    `stale_after_seconds`: stuck, or its daemon is gone); failed (the daemon gave up its
    lease over a part); standby or active (the daemon's own beats)."""

    name: str
    daemon_id: str
    state: str
    last_beat: float
    age_seconds: float
    stale_after_seconds: float
    interval_seconds: float | None
    consecutive_failures: int
    restarts: int
    errors: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        on_time = self.age_seconds <= self.stale_after_seconds  # a standby's beats age too
        return self.state in HEALTHY_STATES and on_time and not self.errors

    @property
    def last_error(self) -> str | None:
        return self.errors[-1] if self.errors else None


def part_state(beat: Any, now: float, grace_seconds: float) -> PartState:
    """`beat`: a DaemonHeartbeat. A part beats once per tick, saying when its next beat is
    due (its wait plus the grace: an hourly part is not late after a minute); beats of
    older daemons carry only the interval."""
    info = beat.info or {}
    interval = info.get("interval_seconds")
    due = float(info.get("stale_after_seconds") or (float(interval or 0) + grace_seconds))
    age = max(0.0, now - beat.timestamp)
    failures = int(info.get("consecutive_failures") or 0)
    state = str(info.get("state") or "running")
    if state in ("running", "restarting") and age > due:
        state = "stale"
    elif state == "running" and failures:
        state = "failing"
    return PartState(
        name=str(beat.daemon_type),
        daemon_id=str(beat.daemon_id),
        state=state,
        last_beat=beat.timestamp,
        age_seconds=age,
        stale_after_seconds=due,
        interval_seconds=None if interval is None else float(interval),
        consecutive_failures=failures,
        restarts=int(info.get("restarts") or 0),
        errors=[str(error) for error in info.get("errors") or []],
    )


def backoff_seconds(interval: float, failures: int) -> float:
    """The wait after `failures` failed ticks in a row (0: the part's own interval)."""
    if failures <= 0:
        return interval
    return min(max(interval, 0.5) * 2 ** min(failures - 1, 10), max(interval, MAX_BACKOFF_SECONDS))


class PartRunner:
    def __init__(
        self,
        part: DaemonPart,
        beat: Beat,
        clock: Clock,
        grace_seconds: float,
        stuck_after_seconds: float = STUCK_AFTER_SECONDS,
    ):
        self.part = part
        self.beat = beat
        self.clock = clock
        self.grace_seconds = grace_seconds
        self.slack_seconds = max(grace_seconds, stuck_after_seconds)
        self.thread: threading.Thread | None = None
        self.failures = 0  # failed ticks (or waits) in a row
        self.restarts: deque[float] = deque()  # monotonic times of restarts in the window
        self.restarts_total = 0
        self.death: str | None = None  # what ended the thread, if something did
        self._due = 0.0  # monotonic: the loop must pass its next checkpoint before this
        self._pending_errors: list[str] = []  # errors met outside a tick, for the next beat

    # -- the controller's side ------------------------------------------------------------
    def start(self, halt: threading.Event) -> None:
        self.death = None
        self._expect_within(self.part.interval_seconds)
        self.thread = threading.Thread(
            target=self._run, args=(halt,), name=f"daemon-{self.part.name}", daemon=True
        )
        self.thread.start()

    def check(self, halt: threading.Event) -> str | None:
        """Restart a dead thread; returns why the daemon must give up, or None."""
        if halt.is_set() or self.thread is None:
            return None
        now = time.monotonic()
        if not self.thread.is_alive():
            while self.restarts and now - self.restarts[0] > RESTART_WINDOW_SECONDS:
                self.restarts.popleft()
            died = self.death or "its thread ended"
            if len(self.restarts) >= MAX_RESTARTS:
                return (
                    f"daemon part {self.part.name} died again ({died}) after {len(self.restarts)} "
                    f"restarts in {RESTART_WINDOW_SECONDS:.0f}s"
                )
            log.error("daemon part %s died (%s); restarting it", self.part.name, died)
            self.restarts.append(now)
            self.restarts_total += 1
            self._pending_errors.append(f"restarted after its thread died: {died}")
            self._beat(TickReport(), state="restarting")
            try:
                self.part.close()  # what it held may be what broke it; ticks reopen it
            except Exception as exc:
                log.warning("could not close daemon part %s: %s", self.part.name, exc)
            self.start(halt)
            return None
        if now > self._due:
            late = now - self._due
            return (
                f"daemon part {self.part.name} is stuck: no progress for {late:.0f}s past its "
                f"interval ({self.part.interval_seconds:g}s) plus {self.slack_seconds:g}s"
            )
        return None

    def join(self, timeout: float) -> None:
        if self.thread is not None and time.monotonic() <= self._due:
            self.thread.join(timeout)  # a stuck thread is not waited for: it holds nothing

    # -- the part's thread ----------------------------------------------------------------
    def _run(self, halt: threading.Event) -> None:
        try:
            while not halt.is_set():
                self._once(halt)
        except BaseException as exc:  # the thread ends here; the controller restarts it
            self.death = f"{type(exc).__name__}: {exc}"
            log.exception("daemon part %s thread ended", self.part.name)

    def _once(self, halt: threading.Event) -> None:
        part = self.part
        self._expect_within(part.interval_seconds)
        started = time.monotonic()
        try:
            report = part.tick(self.clock())
            self.failures = 0
        except Exception as exc:  # a bad tick must not end the part
            log.exception("daemon part %s failed", part.name)
            self.failures += 1
            report = TickReport(errors=[f"{type(exc).__name__}: {exc}"])
        report.info["tick_seconds"] = round(time.monotonic() - started, 4)
        if halt.is_set():
            return
        wait = backoff_seconds(part.interval_seconds, self.failures)
        self._expect_within(0)  # the heartbeat is a storage call of its own
        self._beat(report, wait=wait)
        self._expect_within(wait)
        try:
            if self.failures:
                halt.wait(wait)  # not the part's own wait: it may be what fails
            else:
                part.wait(wait, halt)
        except Exception as exc:  # e.g. the NOTIFY wait of the run queue in a database cut
            log.exception("daemon part %s failed while waiting", part.name)
            self.failures += 1
            self._pending_errors.append(f"waiting: {type(exc).__name__}: {exc}")
            backoff = backoff_seconds(part.interval_seconds, self.failures)
            self._expect_within(backoff)
            halt.wait(backoff)

    def _expect_within(self, seconds: float) -> None:
        self._due = time.monotonic() + seconds + self.slack_seconds

    def _beat(self, report: TickReport, wait: float | None = None, state: str = "running") -> None:
        errors = (self._pending_errors + report.errors)[:MAX_ERRORS_SHOWN]
        self._pending_errors = []
        for error in errors:
            log.warning("%s: %s", self.part.name, error)
        interval = self.part.interval_seconds
        info: dict[str, Any] = {
            **report.info,
            "errors": errors,
            "state": state,
            "interval_seconds": interval,
            # The next beat comes after the wait and one tick: later than this, it is late.
            "stale_after_seconds": (interval if wait is None else wait) + self.grace_seconds,
            "consecutive_failures": self.failures,
            "restarts": self.restarts_total,
        }
        try:
            self.beat(self.part.name, info)
        except Exception as exc:  # the beat writer logs its own; this is a last resort
            log.warning("could not write the %s heartbeat: %s", self.part.name, exc)
