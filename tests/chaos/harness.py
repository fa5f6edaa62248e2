"""The chaos suite's harness: real `celery worker` processes over PostgreSQL, a run worker
process, faults injected as the run progresses, and the outcome every case asserts.

Every case asserts the same four things (docs/celery.md states them as the guarantee):
the run ends; every step has exactly one STEP_SUCCESS; every step's side effect happened
at least once; a step's side effect happened more than once only if an attempt of that
step was killed after it had started. After the fleet stops, no process of the case's
instance is left. Each case prints its duplicates.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opgraph import reconstructable
from opgraph.submit import create_job_run
from opgraph_storage.records import FINISHED_STATUSES, RunStatus, StepAttemptStatus
from tests.celery_fleet import Fleet
from tests.chaos import jobs

# The executor's knobs for chaos: a silent running attempt is lost after 4 s, and a step
# may be lost many times over (each loss is an infrastructure retry).
EXECUTOR = {"celery": {"heartbeat_timeout_seconds": 4, "max_infra_retries": 30}}
# The bound on a message taken off its queue and never claimed (liveness section).
# Everything alive beats every second and is gone after 3 missed beats (run monitoring acts
# on a silent run worker after 3 s).
LIVENESS = {
    "liveness": {
        "step_unclaimed_timeout_seconds": 4,
        "heartbeat_interval_seconds": 1,
        "missed_heartbeats": 3,
    }
}
RUN_TIMEOUT = 600.0


@dataclass
class Outcome:
    status: RunStatus
    successes: Counter[str]
    effects: Counter[str]
    started_and_lost: Counter[str]  # attempts that began the op and were then lost
    attempts: int
    infra_retries: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)


class Chaos:
    """One case's fleet, run worker and faults."""

    def __init__(self, fleet: Fleet, marker_dir: Path):
        self.fleet = fleet
        self.marker_dir = marker_dir
        jobs.effects_dir(marker_dir).mkdir(parents=True, exist_ok=True)
        self.generation = 0
        self.run_workers: list[subprocess.Popen[bytes]] = []
        self.kills = 0

    @property
    def storage(self) -> Any:
        return self.fleet.instance.storage

    # -- workers ------------------------------------------------------------------------
    def start_worker(self, wait: bool = True, import_seconds: float = 0.0) -> str:
        self.generation += 1
        name = f"c{self.generation}"
        previous = os.environ.get("OPGRAPH_CHAOS_IMPORT_SECONDS")
        os.environ["OPGRAPH_CHAOS_IMPORT_SECONDS"] = str(import_seconds)
        try:
            self.fleet.start_worker(name, wait=wait)
        finally:
            if previous is None:
                del os.environ["OPGRAPH_CHAOS_IMPORT_SECONDS"]
            else:
                os.environ["OPGRAPH_CHAOS_IMPORT_SECONDS"] = previous
        return name

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker's main process and its pool at once (a machine lost)."""
        pids = self.fleet.local.pids(name)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.fleet.workers.pop(name).wait()
        self.kills += 1

    def replace_dead_workers(self) -> None:
        """What a supervisor does (Compose/Kubernetes restart policies, `opgraph dev`)."""
        for name, process in list(self.fleet.workers.items()):
            if process.poll() is not None:
                self.fleet.workers.pop(name)
                self.start_worker(wait=False)

    def worker_of(self, hostname: str | None) -> str | None:
        for name in self.fleet.workers:
            if self.fleet.node(name) == hostname:
                return name
        return None

    # -- the run ------------------------------------------------------------------------
    def start_run(self, op_seconds: float = 0.4) -> str:
        run = create_job_run(
            self.fleet.instance,
            reconstructable(jobs.chaos_job).pointer,
            "chaos_job",
            {"execution": {"config": EXECUTOR}},
            {"test/marker_dir": str(self.marker_dir), "test/op_seconds": str(op_seconds)},
        )
        self.start_run_worker(run.run_id)
        return run.run_id

    def start_run_worker(self, run_id: str, resume: bool = False) -> subprocess.Popen[bytes]:
        log_path = self.fleet.home / "logs" / f"run-worker-{len(self.run_workers)}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-P", "-m", "opgraph.run_worker", run_id]
                + (["--resume"] if resume else []),
                env={**os.environ, "OPGRAPH_HOME": str(self.fleet.home)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.run_workers.append(process)
        return process

    def running(self, run_id: str) -> list[Any]:
        return self.storage.get_step_attempts(run_id, [StepAttemptStatus.RUNNING])

    def wait_for_end(self, run_id: str, act: Callable[[], None] = lambda: None) -> RunStatus:
        """Until the run finished, doing `act` (the faults) and replacing dead workers."""
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            status = self.fleet.instance.get_run(run_id).status
            if status in FINISHED_STATUSES:
                return status
            act()
            self.replace_dead_workers()
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} did not end within {RUN_TIMEOUT:.0f}s: stuck")

    # -- the outcome --------------------------------------------------------------------
    def outcome(self, run_id: str) -> Outcome:
        events = self.storage.get_events(run_id, event_types=["STEP_SUCCESS"])
        effects = Counter(
            {
                path.name: len(path.read_text().splitlines())
                for path in jobs.effects_dir(self.marker_dir).iterdir()
            }
        )
        attempts = self.storage.get_step_attempts(run_id)
        started_and_lost = Counter(
            a.step_key
            for a in attempts
            if a.status is StepAttemptStatus.LOST and a.started_at is not None
        )
        outcome = Outcome(
            status=self.fleet.instance.get_run(run_id).status,
            successes=Counter(e.step_key for e in events),
            effects=effects,
            started_and_lost=started_and_lost,
            attempts=len(attempts),
            infra_retries=sum(1 for a in attempts if a.status is StepAttemptStatus.LOST),
        )
        outcome.duplicates = {key: n - 1 for key, n in effects.items() if n > 1}
        return outcome

    def check(self, run_id: str, case: str) -> Outcome:
        """The guarantee, asserted; the duplicates printed."""
        outcome = self.outcome(run_id)
        print(
            f"\n[chaos] {case} on {self.fleet.broker}: status={outcome.status.value} "
            f"attempts={outcome.attempts} lost={outcome.infra_retries} kills={self.kills} "
            f"duplicates={sum(outcome.duplicates.values())} {outcome.duplicates}"
        )
        assert outcome.status is RunStatus.SUCCESS, self._diagnosis(run_id)
        expected = Counter(dict.fromkeys(jobs.STEP_KEYS, 1))
        assert outcome.successes == expected, (
            f"successes not exactly one per step: {outcome.successes - expected} too many, "
            f"{expected - outcome.successes} missing"
        )
        assert set(outcome.effects) == set(jobs.STEP_KEYS)  # each happened at least once
        for key, extra in outcome.duplicates.items():
            assert extra <= outcome.started_and_lost[key], (
                f"{key}: side effect {extra + 1} times, but only "
                f"{outcome.started_and_lost[key]} of its attempts were killed mid-op"
            )
        return outcome

    def _diagnosis(self, run_id: str) -> str:
        failures = [
            e.message
            for e in self.storage.get_events(run_id)
            if e.event_type in ("STEP_FAILURE", "RUN_FAILURE", "ENGINE_EVENT")
        ]
        return "\n".join(failures[-20:])

    # -- nothing left behind ------------------------------------------------------------
    def stop_everything(self) -> None:
        self.fleet.local.stop_all()
        for process in self.run_workers:
            if process.poll() is None:
                process.kill()
            process.wait()

    def assert_nothing_left(self, timeout: float = 60.0) -> None:
        """No process of this instance (OPGRAPH_HOME) outlives the fleet: no orphaned pool
        process of a killed worker, no op still running."""
        deadline = time.monotonic() + timeout
        left = instance_processes(self.fleet.home)
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = instance_processes(self.fleet.home)
        assert not left, f"processes left behind: {left}"


def instance_processes(home: Path) -> dict[int, str]:
    """Live processes (not zombies) whose environment names `home` as OPGRAPH_HOME."""
    wanted = f"OPGRAPH_HOME={home}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if wanted not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                continue
            found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found
