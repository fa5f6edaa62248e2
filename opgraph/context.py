"""OpExecutionContext: what an op sees as `context`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opgraph.resources import Resources

_python_log = logging.getLogger("opgraph.user")


class OpLogger:
    """`context.log`: each call becomes a LOG event in the run's event log."""

    def __init__(self, emit: Callable[[str, str], None]):
        self._emit = emit

    def _log(self, level: str, msg: Any, *args: Any) -> None:
        text = str(msg) % args if args else str(msg)
        self._emit(level, text)
        _python_log.log(getattr(logging, level, logging.INFO), text)

    def debug(self, msg: Any, *args: Any, **_: Any) -> None:
        self._log("DEBUG", msg, *args)

    def info(self, msg: Any, *args: Any, **_: Any) -> None:
        self._log("INFO", msg, *args)

    def warning(self, msg: Any, *args: Any, **_: Any) -> None:
        self._log("WARNING", msg, *args)

    warn = warning

    def error(self, msg: Any, *args: Any, **_: Any) -> None:
        self._log("ERROR", msg, *args)

    def exception(self, msg: Any, *args: Any, **_: Any) -> None:
        self._log("ERROR", msg, *args)

    def critical(self, msg: Any, *args: Any, **_: Any) -> None:
        self._log("CRITICAL", msg, *args)


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    job_name: str
    tags: dict[str, str] = field(default_factory=dict)
    run_config: dict[str, Any] = field(default_factory=dict)


class OpExecutionContext:
    def __init__(
        self,
        *,
        run: RunInfo,
        op_def: Any,
        step_key: str,
        op_config: Any,
        resources: Resources,
        retry_number: int,
        mapping_key: str | None,
        log: OpLogger,
        instance: Any = None,
    ):
        self.run = run
        self.op_def = op_def
        self.step_key = step_key
        self.op_config = op_config
        self.resources = resources
        self.retry_number = retry_number
        self.log = log
        self.instance = instance
        self._mapping_key = mapping_key
        # Set by the step runner: where log_event sends asset events.
        self.record_event: Callable[[Any], None] | None = None
        self.added_output_metadata: dict[str, dict[str, Any]] = {}
        # Set by the step runner: the job (Dagster's context.job_def) and its partitions
        # definition (None: not partitioned).
        self.job_def: Any = None
        self.partitions_def: Any = None

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def job_name(self) -> str:
        return self.run.job_name

    @property
    def run_tags(self) -> dict[str, str]:
        return self.run.tags

    @property
    def run_config(self) -> dict[str, Any]:
        return self.run.run_config

    @property
    def op(self) -> Any:
        return self.op_def

    def has_tag(self, key: str) -> bool:
        return key in self.run.tags

    def get_tag(self, key: str) -> str | None:
        return self.run.tags.get(key)

    def get_mapping_key(self) -> str | None:
        return self._mapping_key

    # -- partitions (read from the run's tags: opgraph.partitions.tags) -----------------
    @property
    def has_partition_key(self) -> bool:
        from opgraph.partitions import context

        return context.has_partition_key(self.run.tags)

    @property
    def has_partition_key_range(self) -> bool:
        from opgraph.partitions import context

        return context.has_partition_key_range(self.run.tags)

    @property
    def partition_key(self) -> str:
        from opgraph.partitions import context

        return context.partition_key(self.run.tags, self.partitions_def)

    @property
    def partition_key_range(self) -> Any:
        from opgraph.partitions import context

        return context.partition_key_range(self.run.tags, self.partitions_def)

    @property
    def partition_keys(self) -> Any:
        from opgraph.partitions import context

        return context.partition_keys(self.run.tags, self.partitions_def)

    @property
    def partition_time_window(self) -> Any:
        from opgraph.partitions import context

        return context.partition_time_window(self.run.tags, self.partitions_def)

    def log_event(self, event: Any) -> None:
        """Record an AssetMaterialization or AssetObservation in the run's event log."""
        if self.record_event is None:
            return  # a directly invoked op: nowhere to record it
        self.record_event(event)

    def add_output_metadata(
        self, metadata: dict[str, Any], output_name: str = "result", mapping_key: Any = None
    ) -> None:
        self.added_output_metadata.setdefault(output_name, {}).update(metadata)


def build_op_context(
    op_config: Any = None,
    resources: dict[str, Any] | None = None,
    run_tags: dict[str, str] | None = None,
    retry_number: int = 0,
    mapping_key: str | None = None,
    partition_key: str | None = None,
) -> OpExecutionContext:
    """A context for calling an op function directly in a unit test (Dagster's helper)."""
    logs: list[tuple[str, str]] = []
    tags = dict(run_tags or {})
    if partition_key is not None:
        from opgraph.partitions.tags import partition_tags

        tags.update(partition_tags(partition_key))
    return OpExecutionContext(
        run=RunInfo(run_id="direct-invocation", job_name="", tags=tags),
        op_def=None,
        step_key="",
        op_config=op_config,
        resources=Resources(dict(resources or {})),
        retry_number=retry_number,
        mapping_key=mapping_key,
        log=OpLogger(lambda level, msg: logs.append((level, msg))),
    )
