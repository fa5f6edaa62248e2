"""Code locations and the workspace: user code as the webserver and daemon see it.

`base` holds the JSON-able records and the `CodeLocation` seam; `in_process` imports
user code (only code servers and tests do); `load_workspace` reads workspace.yaml.
"""

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
]
