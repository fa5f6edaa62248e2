"""opgraph: run graphs of Python ops on demand, on schedules and on sensors.

The user API is a source-compatible subset of Dagster's: change `from dagster import`
to `from opgraph import`.
"""

from opgraph.code_pointer import ReconstructableJob, reconstructable
from opgraph.config import Config, Field
from opgraph.config_types import (
    Any,
    Array,
    Bool,
    Dict,
    Enum,
    EnumValue,
    Float,
    Int,
    List,
    Noneable,
    Optional,
    Permissive,
    Selector,
    Shape,
    String,
)
from opgraph.context import OpExecutionContext, build_op_context
from opgraph.dagster_errors import (
    DagsterError,
    DagsterExecutionInterruptedError,
    DagsterExecutionStepExecutionError,
    DagsterInvalidConfigError,
    DagsterInvalidDefinitionError,
    DagsterInvariantViolationError,
    DagsterResourceFunctionError,
    DagsterRunNotFoundError,
    DagsterTypeCheckDidNotPass,
    DagsterTypeCheckError,
    DagsterUnknownResourceError,
    DagsterUserCodeExecutionError,
)
from opgraph.dagster_helpers import (
    DagsterRunStatus,
    ExpectationResult,
    ResourceParam,
    build_resources,
    file_relative_path,
    get_dagster_logger,
    instance_for_test,
    make_values_resource,
    validate_run_config,
    with_resources,
)
from opgraph.dagster_types import (
    DagsterType,
    PythonObjectDagsterType,
    TypeCheck,
    TypeCheckContext,
    usable_as_dagster_type,
)
from opgraph.definitions.graph import GraphDefinition, JobDefinition, graph, job
from opgraph.definitions.io import DynamicOut, DynamicOutput, In, Nothing, Out, Output
from opgraph.definitions.op import OpDefinition, op
from opgraph.definitions_repo import Definitions
from opgraph.env_var import EnvVar
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
from opgraph.hooks import HookContext, HookDefinition, failure_hook, success_hook
from opgraph.instance import OpgraphInstance
from opgraph.io_managers import FilesystemIOManager
from opgraph.metadata import (
    MetadataValue,
    TableColumn,
    TableColumnConstraints,
    TableConstraints,
    TableRecord,
    TableSchema,
)
from opgraph.resources import (
    ConfigurableIOManager,
    ConfigurableResource,
    InitResourceContext,
    InMemoryIOManager,
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
from opgraph.run_status_sensors import (
    RunFailureSensorContext,
    RunStatusSensorContext,
    RunStatusSensorDefinition,
    run_failure_sensor,
    run_status_sensor,
)
from opgraph.schedules import (
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
    schedule,
    sensor,
)

DagsterInstance = OpgraphInstance  # the name Dagster job files and tests pass around

__all__ = [
    "Any",
    "Array",
    "Backoff",
    "Bool",
    "Config",
    "ConfigurableIOManager",
    "ConfigurableResource",
    "DagsterError",
    "DagsterExecutionInterruptedError",
    "DagsterExecutionStepExecutionError",
    "DagsterInstance",
    "DagsterInvalidConfigError",
    "DagsterInvalidDefinitionError",
    "DagsterInvariantViolationError",
    "DagsterResourceFunctionError",
    "DagsterRunNotFoundError",
    "DagsterRunStatus",
    "DagsterType",
    "DagsterTypeCheckDidNotPass",
    "DagsterTypeCheckError",
    "DagsterUnknownResourceError",
    "DagsterUserCodeExecutionError",
    "DefaultScheduleStatus",
    "DefaultSensorStatus",
    "DefinitionError",
    "Definitions",
    "Dict",
    "DynamicOut",
    "DynamicOutput",
    "Enum",
    "EnumValue",
    "EnvVar",
    "EventType",
    "ExecuteJobResult",
    "ExpectationResult",
    "Failure",
    "Field",
    "FilesystemIOManager",
    "Float",
    "GraphDefinition",
    "HookContext",
    "HookDefinition",
    "IOManager",
    "IOManagerDefinition",
    "In",
    "InMemoryIOManager",
    "InitResourceContext",
    "InputContext",
    "Int",
    "Jitter",
    "JobDefinition",
    "List",
    "MetadataValue",
    "Noneable",
    "Nothing",
    "OpDefinition",
    "OpExecutionContext",
    "OpgraphError",
    "OpgraphInstance",
    "Optional",
    "Out",
    "Output",
    "OutputContext",
    "Permissive",
    "PythonObjectDagsterType",
    "ReconstructableJob",
    "ResourceDefinition",
    "ResourceParam",
    "RetryPolicy",
    "RetryRequested",
    "RunConfigError",
    "RunEvent",
    "RunFailureSensorContext",
    "RunRequest",
    "RunStatusSensorContext",
    "RunStatusSensorDefinition",
    "ScheduleDefinition",
    "ScheduleEvaluationContext",
    "Selector",
    "SensorDefinition",
    "SensorEvaluationContext",
    "SensorResult",
    "Shape",
    "SkipReason",
    "StepExecutionError",
    "String",
    "TableColumn",
    "TableColumnConstraints",
    "TableConstraints",
    "TableRecord",
    "TableSchema",
    "TypeCheck",
    "TypeCheckContext",
    "build_op_context",
    "build_resources",
    "build_schedule_context",
    "build_sensor_context",
    "db_io_manager",
    "execute_job",
    "failure_hook",
    "file_relative_path",
    "fs_io_manager",
    "get_dagster_logger",
    "graph",
    "in_process_executor",
    "instance_for_test",
    "io_manager",
    "job",
    "make_values_resource",
    "mem_io_manager",
    "multiprocess_executor",
    "op",
    "reconstructable",
    "resource",
    "run_failure_sensor",
    "run_status_sensor",
    "schedule",
    "sensor",
    "success_hook",
    "usable_as_dagster_type",
    "validate_run_config",
    "with_resources",
]

# -- assets: the names are listed once, in opgraph.assets.api ---------------------------------
from opgraph.assets.api import *  # noqa: E402, F403
from opgraph.assets.api import __all__ as _assets_all  # noqa: E402

__all__ += _assets_all

# -- partitions (issue #16) --------------------------------------------------------------------
from opgraph.partitions.api import *  # noqa: E402, F403
from opgraph.partitions.api import __all__ as _partitions_all  # noqa: E402

__all__ += _partitions_all

# -- declarative automation (issue #16) --------------------------------------------------------
from opgraph.automation import AutomationCondition  # noqa: E402

__all__ += ["AutomationCondition"]
