"""The interfaces the core drives and plugins implement.

The instance, the daemon and the CLI hand runs to a `RunCoordinator` (decides *when* a run
goes: now, or when the queue has room) and a `RunLauncher` (decides *where* its run worker
starts: a local subprocess, a Celery task, ...), ask the launcher whether a run worker is
alive, stop a run's remote step attempts through a `StepTerminator`, and show the
machines of a `WorkerFleet`. The classes that
implement them live in plugins (`opgraph_launchers`, `opgraph_celery`, or your own
package) and are found through entry points (see `opgraph.plugins`); this module names
none of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from opgraph.errors import OpgraphError
from opgraph.instance_config import TagConcurrencyLimit
from opgraph_storage.records import RunRecord, StepAttempt

if TYPE_CHECKING:
    from opgraph_storage.stats import InstanceStats  # SQLAlchemy: not for `import opgraph`

# Tags a launcher writes on the run it started: where its run worker runs.
WORKER_NICENESS_ENV = "OPGRAPH_RUN_WORKER_NICENESS"  # set by a launcher, applied by the worker
RUN_WORKER_PID_TAG = "opgraph/run_worker_pid"
RUN_WORKER_HOST_TAG = "opgraph/run_worker_host"
# The worker process's start time (Linux clock ticks since boot): with the pid it tells
# the worker apart from a later process that got the same pid.
RUN_WORKER_START_TAG = "opgraph/run_worker_start"
RUN_WORKER_TAG_PREFIX = "opgraph/run_worker_"


class RunStatusError(OpgraphError):
    """The run is not in a status that allows the requested step (e.g. launching it twice)."""


class WorkerHealth(StrEnum):
    RUNNING = "RUNNING"
    DEAD = "DEAD"
    UNKNOWN = "UNKNOWN"  # e.g. the worker runs on another machine


@dataclass(frozen=True)
class QueueLimits:
    """How a queuing coordinator wants the daemon's run queue to dequeue."""

    max_concurrent_runs: int = 10  # -1: no limit; 0: paused
    tag_concurrency_limits: tuple[TagConcurrencyLimit, ...] = ()
    dequeue_interval_seconds: float = 5.0


class RunCoordinator(ABC):
    """Constructed as `cls(instance=..., **config)` from instance.yaml's `run_coordinator`."""

    def queue_limits(self) -> QueueLimits | None:
        """The limits the daemon dequeues QUEUED runs within; None for a coordinator that
        launches on submit and queues nothing."""
        return None

    @abstractmethod
    def submit_run(self, run: RunRecord) -> RunRecord:
        """Take a NOT_STARTED run: launch it now or queue it. Returns the updated run."""

    @abstractmethod
    def cancel_run(self, run_id: str) -> bool:
        """Cancel a live run; True if its status moved (to CANCELED or CANCELING)."""

    def close(self) -> None:  # noqa: B027 - most coordinators hold nothing
        """Release what the coordinator holds (the instance calls this when disposed)."""


class RunLauncher(ABC):
    """Constructed as `cls(instance=..., **config)` from instance.yaml's `run_launcher`."""

    # Capability flags: callers check these instead of catching NotImplementedError.
    supports_terminate: bool = False
    supports_health_check: bool = False
    supports_resume: bool = False
    supports_relaunch: bool = False

    @abstractmethod
    def launch_run(self, run: RunRecord) -> RunRecord:
        """Start a run worker for a NOT_STARTED or QUEUED run (status -> STARTING)."""

    def terminate(self, run_id: str) -> bool:
        """Stop the run worker by force; True if there was one to stop."""
        return False

    def check_run_worker_health(self, run: RunRecord) -> WorkerHealth:
        return WorkerHealth.UNKNOWN

    def resume_run(self, run: RunRecord) -> RunRecord:
        """Start a new run worker for a STARTED run whose worker died; it continues from
        the event log (`python -m opgraph.run_worker ID --resume`). Only where
        `supports_resume`: the daemon's run monitoring calls it."""
        raise NotImplementedError(f"{type(self).__name__} cannot resume runs")

    def relaunch_run(self, run: RunRecord) -> bool:
        """Start the run worker of a STARTING run whose launch was cut short (the launching
        process died after RUN_STARTING, before it recorded a worker); False, doing
        nothing, if a worker is recorded. Only where `supports_relaunch`: the daemon's run
        monitoring calls it. Should a worker from the cut-short launch exist after all, the
        first of the two to store RUN_START runs the run and the other runs nothing."""
        raise NotImplementedError(f"{type(self).__name__} cannot relaunch runs")

    def prepare(self) -> None:  # noqa: B027 - most launchers need nothing ahead of time
        """Get ready before the first launch in a long-lived process (e.g. start the warm
        parent that run workers fork from). The daemon calls it once at start."""

    def close(self) -> None:  # noqa: B027 - most launchers hold nothing
        """Release what the launcher holds, e.g. broker connections (the instance calls
        this when disposed)."""


class StepTerminator(Protocol):
    """Stops a remote step attempt (one row of the step-attempt table) where it runs.

    Run monitoring calls it before it resumes or fails a run whose worker died, so that no
    step of the old worker runs on beside the new one. Executors that run steps remotely
    register one through the `opgraph.step_terminators` entry point."""

    def revoke(self, attempt: StepAttempt, terminate: bool) -> None:
        """Drop the attempt's message; `terminate`: also kill the process running it."""


# -- worker fleets -----------------------------------------------------------------------------
@dataclass
class ActiveOp:
    run_id: str
    step_key: str
    attempt_id: str
    started_at: float | None


@dataclass
class WorkerInfo:
    name: str  # the worker's node name, e.g. w1@host
    queues: list[str] = field(default_factory=list)
    concurrency: int | None = None
    pid: int | None = None
    active: list[ActiveOp] = field(default_factory=list)
    last_heartbeat: float | None = None
    responding: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class QueueInfo:
    name: str
    depth: int | None  # None when the broker cannot say
    consumers: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class WorkerFleet(ABC):
    """The machines an executor plugin runs steps on, as GraphQL and the UI see them. Plugins register a factory `build(instance) -> WorkerFleet` under the
    `opgraph.worker_fleets` entry point; the webserver asks every installed fleet."""

    @abstractmethod
    def workers(self, timeout: float) -> list[WorkerInfo]:
        """Every worker that answers within `timeout`, and those whose heartbeat is recent."""

    @abstractmethod
    def queues(self, workers: list[WorkerInfo]) -> list[QueueInfo]:
        """Each queue with its depth and the workers (of `workers`) consuming it."""

    def owns_heartbeat(self, name: str) -> bool:
        """Whether a heartbeat row is one of this fleet's workers (they share the table
        with the daemon's parts); such rows are not shown as daemon parts."""
        return False

    @abstractmethod
    def drain(self, worker_name: str) -> list[str] | None:
        """Stop the worker taking new work; the queues it stopped consuming, empty if it did
        not answer, None if the worker is not one of this fleet's."""


class MetricsSource(Protocol):
    """A plugin's part of the webserver's `/metrics` (entry point `opgraph.metrics`, a
    factory `build(instance)`; built once per webserver process)."""

    def owns_heartbeat(self, name: str) -> bool:
        """Whether a heartbeat row is the plugin's own (e.g. a worker's), not a daemon part's."""
        ...

    def collect(self, stats: InstanceStats) -> Iterable[Any]:
        """Prometheus metric families; `stats` are the storage figures of this scrape."""
        ...
