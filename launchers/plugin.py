"""What this package adds to opgraph, named by its entry points (setup.cfg):
`run_coordinator: immediate | queued` and `run_launcher: subprocess`, with the models of
their options. Light on purpose: reading instance.yaml imports this module, not the
launchers themselves."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from opgraph.instance_config import TagConcurrencyLimit
from opgraph.plugins import ComponentPlugin


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImmediateCoordinatorConfig(_Strict):
    """Launches every submitted run at once; no options."""


class QueuedCoordinatorConfig(_Strict):
    max_concurrent_runs: int = Field(
        10, ge=-1, description="Runs in progress at once; -1 means no limit, 0 pauses dequeuing."
    )
    tag_concurrency_limits: list[TagConcurrencyLimit] = Field(
        default_factory=list, description="Further limits on runs carrying given tags."
    )
    dequeue_interval_seconds: float = Field(
        5.0, gt=0, description="How often the daemon looks at the queue."
    )


class SubprocessLauncherConfig(_Strict):
    terminate_grace_seconds: float = Field(
        10.0, ge=0, description="After SIGTERM, wait this long before sending SIGKILL."
    )
    warm_start: bool = Field(
        True,
        description="Fork run workers from a warm parent that has imported opgraph already "
        "(Linux); false starts a new interpreter per run.",
    )
    worker_niceness: int = Field(
        0,
        ge=0,
        le=19,
        description="Run workers (and the ops they run) at this niceness (0-19): on a "
        "machine shared with the webserver and the daemon, a burst of runs then leaves them "
        "the CPU they need to answer. 0 runs them as any other process.",
    )


IMMEDIATE_COORDINATOR = ComponentPlugin(
    module=f"{__package__}.coordinators",
    class_name="ImmediateRunCoordinator",
    config_model=ImmediateCoordinatorConfig,
    default=True,
)
QUEUED_COORDINATOR = ComponentPlugin(
    module=f"{__package__}.coordinators",
    class_name="QueuedRunCoordinator",
    config_model=QueuedCoordinatorConfig,
)
SUBPROCESS_LAUNCHER = ComponentPlugin(
    module=f"{__package__}.subprocess_launcher",
    class_name="SubprocessRunLauncher",
    config_model=SubprocessLauncherConfig,
    default=True,
)
