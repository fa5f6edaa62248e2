"""opgraph: run graphs of Python ops on demand, on schedules and on sensors.

The user API is a source-compatible subset of Dagster's: change `from dagster import`
to `from opgraph import`.
"""

from opgraph.code_pointer import ReconstructableJob, reconstructable
from opgraph.config import Config, Field
from opgraph.context import OpExecutionContext, build_op_context
from opgraph.definitions.graph import GraphDefinition, JobDefinition, graph, job
from opgraph.definitions.io import DynamicOut, DynamicOutput, In, Nothing, Out, Output
from opgraph.definitions.op import OpDefinition, op
from opgraph.definitions_repo import Definitions
from opgraph.errors import (
    DefinitionError,
    Failure,
    OpgraphError,
    RetryRequested,
    RunConfigError,
    StepExecutionError,
)
from opgraph.events import EventType, RunEvent
from opgraph.execute import ExecuteJobResult, execute_job
from opgraph.executors import in_process_executor, multiprocess_executor
from opgraph.instance import OpgraphInstance
from opgraph.resources import (
    ConfigurableIOManager,
    ConfigurableResource,
    InitResourceContext,
    InputContext,
    IOManager,
    IOManagerDefinition,
    OutputContext,
    ResourceDefinition,
    db_io_manager,
    fs_io_manager,
    io_manager,
    mem_io_manager,
    resource,
)
from opgraph.retries import Backoff, Jitter, RetryPolicy
from opgraph.schedules import (
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
    schedule,
    sensor,
)

DagsterInstance = OpgraphInstance  # the name Dagster job files and tests pass around

__all__ = [
    "Backoff",
    "Config",
    "ConfigurableIOManager",
    "ConfigurableResource",
    "DagsterInstance",
    "DefaultScheduleStatus",
    "DefaultSensorStatus",
    "DefinitionError",
    "Definitions",
    "DynamicOut",
    "DynamicOutput",
    "EventType",
    "ExecuteJobResult",
    "Failure",
    "Field",
    "GraphDefinition",
    "IOManager",
    "IOManagerDefinition",
    "In",
    "InitResourceContext",
    "InputContext",
    "Jitter",
    "JobDefinition",
    "Nothing",
    "OpDefinition",
    "OpExecutionContext",
    "OpgraphError",
    "OpgraphInstance",
    "Out",
    "Output",
    "OutputContext",
    "ReconstructableJob",
    "ResourceDefinition",
    "RetryPolicy",
    "RetryRequested",
    "RunConfigError",
    "RunEvent",
    "RunRequest",
    "ScheduleDefinition",
    "ScheduleEvaluationContext",
    "SensorDefinition",
    "SensorEvaluationContext",
    "SkipReason",
    "StepExecutionError",
    "build_op_context",
    "build_schedule_context",
    "build_sensor_context",
    "db_io_manager",
    "execute_job",
    "fs_io_manager",
    "graph",
    "in_process_executor",
    "io_manager",
    "job",
    "mem_io_manager",
    "multiprocess_executor",
    "op",
    "reconstructable",
    "resource",
    "schedule",
    "sensor",
]
