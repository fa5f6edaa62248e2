"""Code locations and the workspace: user code as the webserver and daemon see it.

`base` holds the JSON-able records and the `CodeLocation` seam; `in_process` imports
user code (only code servers and tests do); `load_workspace` reads workspace.yaml.
"""

from typing import Any

from opgraph.workspace.base import (
    CodeLocation,
    CodeLocationError,
    CodeLocationUnreachable,
    DefinitionNotFound,
    ErrorInfo,
    InputSnapshot,
    JobSnapshot,
    LocationState,
    LocationStatus,
    OpSnapshot,
    OutputSnapshot,
    RunRequestSnapshot,
    ScheduleSnapshot,
    SensorSnapshot,
    TickEvaluation,
    UpstreamOutput,
    Workspace,
)

__all__ = [
    "CodeLocation",
    "CodeLocationError",
    "CodeLocationUnreachable",
    "DefinitionNotFound",
    "ErrorInfo",
    "InputSnapshot",
    "JobSnapshot",
    "LocationState",
    "LocationStatus",
    "OpSnapshot",
    "OutputSnapshot",
    "RunRequestSnapshot",
    "ScheduleSnapshot",
    "SensorSnapshot",
    "TickEvaluation",
    "UpstreamOutput",
    "Workspace",
    "load_workspace",
]


def __getattr__(name: str) -> Any:
    # Lazily: load imports the snapshot builder, which imports this package's base.
    if name == "load_workspace":
        from opgraph.workspace.load import load_workspace

        return load_workspace
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
